// `npm run bench -- segment [exams]`: the shipped segmenter's inference time per slice and per series
// on synthetic exams read through DICOM (grid resampling, network, mapping back, all included), its Dice
// per organ there, and its liver Dice on TotalSegmentator's real MR example when the shared samples are
// present. Last line: one JSON object.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSyntheticExams } from "../src/cli/commands/segment.ts";
import { dice, loadSegmenter, ORGAN_LABELS, readOrganMaskNifti } from "../src/segment/index.ts";
import { synthesize } from "../src/synth/index.ts";
import { getNumThreads, setNumThreads } from "../src/torch/index.ts";
import { readNifti } from "../src/volume/index.ts";

const exams = Number(process.argv[2] ?? 8);
setNumThreads(2);
const dir = mkdtempSync(join(tmpdir(), "liverstiff-bench-segment-"));
try {
  await synthesize({ out: dir, exams, seed: 770523, workers: 2, force: true });
  const series = await readSyntheticExams(dir);
  const seg = loadSegmenter();
  try {
    seg.segment(series[0].volume); // warm-up
    let slices = 0;
    const scores = { liver: [] as number[], spleen: [] as number[] };
    const t0 = performance.now();
    for (const s of series) {
      const mask = seg.segment(s.volume);
      slices += s.volume.dims[2];
      scores.liver.push(dice(mask.labels, s.mask.labels, ORGAN_LABELS.liver));
      scores.spleen.push(dice(mask.labels, s.mask.labels, ORGAN_LABELS.spleen));
    }
    const ms = performance.now() - t0;
    const mean = (a: number[]) => Math.round((a.reduce((x, y) => x + y, 0) / a.length) * 1000) / 1000;
    const samples = join(import.meta.dirname, "../../shared/data/dicom-samples");
    let realLiverDice: number | null = null;
    if (existsSync(join(samples, "abd_totalseg_example_mr_sm.nii.gz"))) {
      const image = readNifti(join(samples, "abd_totalseg_example_mr_sm.nii.gz")).volume;
      const truth = readOrganMaskNifti(
        join(samples, "abd_totalseg_example_seg_mr_labels.nii.gz"),
        "totalsegmentator",
      );
      const mask = seg.segment(image);
      realLiverDice = Math.round(dice(mask.labels, truth.labels, ORGAN_LABELS.liver) * 1000) / 1000;
    } else {
      console.log("shared samples absent: no real-MR Dice");
    }
    const msPerSlice = ms / slices;
    const figures = {
      bench: "segment",
      threads: getNumThreads(),
      series: series.length,
      slices,
      msPerSlice: Math.round(msPerSlice * 100) / 100,
      msPerSeries: Math.round(ms / series.length),
      // A 600-exam cohort, 3 series each, at this cohort's slices per series.
      cohort600Seconds: Math.round((600 * 3 * (slices / series.length) * msPerSlice) / 100) / 10,
      diceLiver: mean(scores.liver),
      diceSpleen: mean(scores.spleen),
      realLiverDice,
    };
    console.log(JSON.stringify(figures));
  } finally {
    seg.dispose();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
