import type { Command } from "commander";
import { LiverstiffError } from "../../core/index.ts";
import { addDistributedOptions, type DistributedCliOptions, joinProcessGroup } from "../distributed.ts";
import { optionalInteger } from "../options.ts";
import { progressReporter } from "../progress.ts";

interface PretrainCliOptions extends DistributedCliOptions {
  out: string;
  exams?: string;
  seed?: string;
  steps?: string;
  batch?: string;
  workdir?: string;
  workers?: string;
  threads?: string;
  objective?: string;
  planes?: string;
  normalize?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command("pretrain")
    .description(
      "Pretrain the default encoder (liverstiff-cnn-v1) self-supervised on an independent synthetic cohort " +
        "(its own seed; no labels, no hidden truth): contrastive learning with anatomical positives. Writes " +
        "the weights (safetensors, float16) and a manifest (<out>.json) with the sha256 and how they were made.",
    )
    .requiredOption(
      "--out <file>",
      "weights file to write, e.g. assets/encoders/liverstiff-cnn-v1.safetensors",
    )
    .option("--exams <n>", "exams in the pretraining cohort (default 240)")
    .option("--seed <n>", "training seed: initialisation, sampling, augmentation (default 1)")
    .option("--steps <n>", "optimisation steps (default 200)")
    .option("--batch <n>", "exams per step, two views each (default 24)")
    .option(
      "--workdir <dir>",
      "keep the pretraining cohort and its catalog here (default: a temporary folder)",
    )
    .option("--workers <n>", "synth worker threads (default 2; the cohort does not depend on it)")
    .option(
      "--threads <n>",
      "libtorch threads while training (default 2); the weights are bit-identical for a given seed and thread count",
    )
    .option("--objective <name>", "contrastive, or contrastive+masked (adds masked-patch reconstruction)")
    .option(
      "--planes <which>",
      "slices prepared at mm (400 mm field of view) or mm+pixels (also 256-px crops)",
    )
    .option("--normalize <mode>", "intensity normalisation: zscore (default), zscore-body or percentile");
  addDistributedOptions(cmd).action(async (opts: PretrainCliOptions) => {
    const options = {
      out: opts.out,
      exams: optionalInteger("--exams", opts.exams),
      seed: optionalInteger("--seed", opts.seed),
      steps: optionalInteger("--steps", opts.steps),
      batch: optionalInteger("--batch", opts.batch),
      workdir: opts.workdir,
      workers: optionalInteger("--workers", opts.workers),
      threads: optionalInteger("--threads", opts.threads),
      objective: opts.objective as "contrastive" | "contrastive+masked" | undefined,
      planes: opts.planes as "mm" | "mm+pixels" | undefined,
      normalize: normalizeOption(opts.normalize),
    };
    const { pretrain } = await import("../../features/pretrain.ts");
    const group = await joinProcessGroup(opts);
    const progress = progressReporter();
    const result = await pretrain({ ...options, group, onProgress: progress.sink }).finally(() => {
      progress.stop();
      group?.close();
    });
    const m = result.manifest;
    const s = result.seconds;
    if (!m) {
      process.stdout.write(`rank ${group?.rank}: trained; rank 0 writes ${result.out}\n`);
      return;
    }
    process.stdout.write(
      [
        `wrote ${result.out} (${(m.bytes / 1e6).toFixed(2)} MB, sha256 ${m.sha256})`,
        `manifest: ${result.out.replace(/\.safetensors$/, "")}.json`,
        `time: synth ${s.synth} s, ingest ${s.ingest} s, train ${s.train} s, total ${s.total.toFixed(1)} s`,
        `loss: first 10 steps ${mean(result.losses.slice(0, 10)).toFixed(3)}, last 10 ${mean(result.losses.slice(-10)).toFixed(3)}`,
      ].join("\n") + "\n",
    );
  });
}

function mean(a: number[]): number {
  return a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
}

function normalizeOption(v: string | undefined): "zscore" | "zscore-body" | "percentile" | undefined {
  if (v === undefined || v === "zscore" || v === "zscore-body" || v === "percentile") return v;
  throw new LiverstiffError(`--normalize must be zscore, zscore-body or percentile, got ${v}`, {
    normalize: v,
  });
}
