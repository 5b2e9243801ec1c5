import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { codeCommit, LiverstiffError } from "../../core/index.ts";
import { optionalInteger } from "../options.ts";
import { progressReporter } from "../progress.ts";

/** One series of a synthetic exam with its organ mask on the series' own grid. */
export interface LabelledSeries {
  accession: string;
  role: string;
  volume: import("../../volume/index.ts").Volume;
  mask: import("../../segment/index.ts").OrganMask;
}

/**
 * Every T1w in-phase, opposed-phase and T2w series of a synthetic cohort folder (as `liverstiff synth`
 * writes it: dicom/ and labelmaps/<accession>.nii.gz), stacked into volumes, each with its label map
 * moved onto its grid. Exams without a label map are skipped; a series that cannot be stacked is an error.
 */
export async function readSyntheticExams(cohortDir: string): Promise<LabelledSeries[]> {
  const { indexDicom, pickSeriesForRoles, readFramePixels, clearPixelCache, SERIES_ROLES } = await import(
    "../../dicom/index.ts"
  );
  const { assembleVolume } = await import("../../volume/index.ts");
  const { maskOnVolume, readOrganMaskNifti } = await import("../../segment/index.ts");
  const index = await indexDicom([join(cohortDir, "dicom")]);
  const out: LabelledSeries[] = [];
  for (const patient of index.patients) {
    for (const study of patient.studies) {
      const accession = study.accessionNumber ?? "";
      const labelPath = join(cohortDir, "labelmaps", `${accession}.nii.gz`);
      if (!accession || !existsSync(labelPath)) continue;
      const labels = readOrganMaskNifti(labelPath, "synthetic");
      const { chosen } = pickSeriesForRoles(study.series);
      for (const role of SERIES_ROLES) {
        const choice = chosen[role];
        if (!choice) continue;
        const { volume } = await assembleVolume(choice.frames, { readPixels: readFramePixels });
        out.push({ accession, role, volume, mask: maskOnVolume(labels, volume) });
      }
      clearPixelCache();
    }
  }
  return out;
}

export function register(program: Command): void {
  const seg = program
    .command("segment")
    .description("Organ segmentation (liver, spleen) of axial MR slices: train the network, or run it.");
  seg
    .command("train")
    .description(
      "Train the segmentation network on its own synthetic cohort (its own seed, label maps only; no " +
        "stiffness labels, no hidden truth). Writes DIR/liverstiff-seg-v1.safetensors and its manifest " +
        "(.json: config, sha256, reproducing command, cohort seed, losses).",
    )
    .requiredOption("--out <dir>", "folder to write the weights and manifest into (created if absent)")
    .option("--exams <n>", "exams in the training cohort (default 120)")
    .option("--seed <n>", "synth seed of the training cohort (default 770001)")
    .option("--train-seed <n>", "training seed: initialisation, batches, augmentation (default 1)")
    .option("--steps <n>", "optimisation steps (default 1200)")
    .option("--batch <n>", "slices per step (default 16)")
    .option("--threads <n>", "libtorch threads (default 2; the weights depend on it)")
    .option("--workdir <dir>", "keep the training cohort here (default: a temporary folder)")
    .action(async (opts: SegmentTrainCliOptions) => {
      const progress = progressReporter();
      const result = await segmentTrain({
        out: opts.out,
        exams: optionalInteger("--exams", opts.exams),
        cohortSeed: optionalInteger("--seed", opts.seed),
        trainSeed: optionalInteger("--train-seed", opts.trainSeed),
        steps: optionalInteger("--steps", opts.steps),
        batch: optionalInteger("--batch", opts.batch),
        threads: optionalInteger("--threads", opts.threads),
        workdir: opts.workdir,
        onProgress: progress.sink,
      }).finally(progress.stop);
      const m = result.manifest;
      process.stdout.write(
        [
          `wrote ${result.weights} (${(m.bytes / 1e3).toFixed(0)} kB, sha256 ${m.sha256})`,
          `manifest: ${result.weights.replace(/\.safetensors$/, "")}.json`,
          `time: synth ${result.seconds.synth} s, read ${result.seconds.read} s, train ${result.seconds.train} s`,
        ].join("\n") + "\n",
      );
    });
  seg
    .command("run")
    .description("Label a NIfTI volume (liver 1, spleen 2) and write the mask as NIfTI (uint8, same grid).")
    .requiredOption("--volume <file>", "input volume (.nii or .nii.gz)")
    .requiredOption("--out <file>", "mask to write (.nii.gz)")
    .option("--weights <file>", "weights file (default: the shipped liverstiff-seg-v1)")
    .action(async (opts: { volume: string; out: string; weights?: string }) => {
      const { readNifti, writeNifti, makeVolume } = await import("../../volume/index.ts");
      const { loadSegmenter, organVolumesMl } = await import("../../segment/index.ts");
      if (!existsSync(opts.volume)) throw new LiverstiffError("volume not found", { file: opts.volume });
      const { volume } = readNifti(opts.volume);
      const segmenter = loadSegmenter(opts.weights);
      try {
        const mask = segmenter.segment(volume);
        writeNifti(opts.out, makeVolume(Float32Array.from(mask.labels), mask.dims, mask.affine), {
          datatype: "int16",
        });
        const ml = organVolumesMl(mask);
        process.stdout.write(
          `wrote ${opts.out}: liver ${ml.liver.toFixed(0)} mL, spleen ${ml.spleen.toFixed(0)} mL\n`,
        );
      } finally {
        segmenter.dispose();
      }
    });
}

interface SegmentTrainCliOptions {
  out: string;
  exams?: string;
  seed?: string;
  trainSeed?: string;
  steps?: string;
  batch?: string;
  threads?: string;
  workdir?: string;
}

/** The training cohort's synth seed: no evaluation cohort uses it (they use 20240601, 20261203/4, 1-100). */
export const SEGMENT_COHORT_SEED = 770001;
export const SEGMENT_COHORT_EXAMS = 120;

export interface SegmentTrainOptions {
  /** Folder for liverstiff-seg-v1.safetensors and its manifest (created if absent). */
  out: string;
  exams?: number;
  cohortSeed?: number;
  trainSeed?: number;
  steps?: number;
  batch?: number;
  threads?: number;
  /** Keep the synthetic cohort here (reused when it holds the same seed and size). */
  workdir?: string;
  onProgress?: import("../../core/index.ts").ProgressSink;
}

/** Synthesizes the training cohort, reads it through DICOM -> volume, trains, writes weights + manifest. */
export async function segmentTrain(o: SegmentTrainOptions): Promise<{
  weights: string;
  manifest: import("../../segment/index.ts").SegmenterManifest;
  seconds: { synth: number; read: number; train: number };
}> {
  const { mkdirSync, mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { synthesize } = await import("../../synth/index.ts");
  const seg = await import("../../segment/index.ts");
  const exams = o.exams ?? SEGMENT_COHORT_EXAMS;
  const cohortSeed = o.cohortSeed ?? SEGMENT_COHORT_SEED;
  const forbidden = [20240601, 20261203, 20261204];
  if (forbidden.includes(cohortSeed) || (cohortSeed >= 1 && cohortSeed <= 100))
    throw new LiverstiffError("--seed is an evaluation cohort's seed; the training cohort needs its own", {
      seed: cohortSeed,
    });
  if (exams === undefined || exams < 1)
    throw new LiverstiffError("--exams must be a positive integer", { exams });
  mkdirSync(o.out, { recursive: true });
  const weights = join(o.out, `${seg.DEFAULT_SEGMENTER_NAME}.safetensors`);
  const temp = o.workdir === undefined;
  const root = o.workdir ?? mkdtempSync(join(tmpdir(), "liverstiff-segment-"));
  const cohortDir = join(root, "cohort");
  const progress = o.onProgress ?? (() => {});
  try {
    const t0 = performance.now();
    const manifestPath = join(cohortDir, "manifest.json");
    let reuse = false;
    if (existsSync(manifestPath)) {
      const m = JSON.parse(readFileSync(manifestPath, "utf8")) as { seed?: unknown; exams?: unknown };
      reuse = m.seed === cohortSeed && m.exams === exams;
    }
    if (!reuse)
      await synthesize({ out: cohortDir, exams, seed: cohortSeed, workers: 2, force: true }, progress);
    const t1 = performance.now();
    const series = await readSyntheticExams(cohortDir);
    const bank = seg.buildSliceBank(series);
    const t2 = performance.now();
    const trained = seg.trainSegNet(bank, {
      steps: o.steps,
      batch: o.batch,
      seed: o.trainSeed,
      threads: o.threads,
      onProgress: progress,
    });
    const t3 = performance.now();
    try {
      const h = trained.hyper;
      // The weights file's metadata must not depend on where it is written (two runs, same bytes).
      const args =
        `--exams ${exams} --seed ${cohortSeed} --train-seed ${h.seed} --steps ${h.steps} ` +
        `--batch ${h.batch} --threads ${h.threads}`;
      const stable = {
        arguments: args,
        cohort: {
          generator: "liverstiff synth",
          seed: cohortSeed,
          exams,
          examsWithLabelMaps: new Set(series.map((s) => s.accession)).size,
          series: series.length,
          slices: bank.count,
          roles: ["t1_in", "t1_opp", "t2"],
        },
        labelsUsed: "organ label maps only (no stiffness labels, no truth files)",
        hyper: h,
        loss: lossSummary(trained.losses),
      };
      const round = (ms: number) => Math.round(ms / 100) / 10;
      const seconds = { synth: reuse ? 0 : round(t1 - t0), read: round(t2 - t1), train: round(t3 - t2) };
      const manifest = seg.writeSegmenter(
        trained.model,
        weights,
        {
          command: `liverstiff segment train --out ${o.out} ${args}`,
          ...stable,
          seconds,
          codeVersion: codeCommit(),
        },
        stable,
      );
      return { weights, manifest, seconds };
    } finally {
      trained.model.dispose();
    }
  } finally {
    if (temp) rmSync(root, { recursive: true, force: true });
  }
}

/** First and last 20-step means, and every 50th step's 10-step mean (a loss curve a reader can check). */
function lossSummary(losses: number[]): Record<string, unknown> {
  const mean = (a: number[]) =>
    Math.round((a.reduce((s, x) => s + x, 0) / Math.max(1, a.length)) * 1e4) / 1e4;
  const curve: [number, number][] = [];
  for (let s = 50; s <= losses.length; s += 50) curve.push([s, mean(losses.slice(s - 10, s))]);
  return { first20: mean(losses.slice(0, 20)), last20: mean(losses.slice(-20)), curve };
}
