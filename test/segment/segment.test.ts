// The organ segmenter: the shipped network's Dice on held-out synthetic exams (read through DICOM like any
// hospital's), masks on the volume's own grid, deterministic training, the label-map readers (written here,
// and TotalSegmentator's own example when the shared samples are present), and refused weights.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type LabelledSeries, readSyntheticExams } from "../../src/cli/commands/segment.ts";
import { LiverstiffError } from "../../src/core/index.ts";
import {
  buildSliceBank,
  DEFAULT_SEGMENTER_PATH,
  dice,
  keepLargestComponents,
  loadSegmenter,
  manifestPathFor,
  ORGAN_LABELS,
  organVolumesMl,
  readOrganMaskNifti,
  type SegNetConfig,
  trainSegNet,
  writeSegmenter,
} from "../../src/segment/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import { makeVolume, readNifti, writeNifti } from "../../src/volume/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-segment-");

/** Held-out exams: a synth seed that neither the training cohort (770001) nor any evaluation cohort uses. */
const HELD_OUT_SEED = 770417;
let heldOut: LabelledSeries[] = [];

before(async () => {
  const dir = join(tmp, "cohort");
  await synthesize({ out: dir, exams: 3, seed: HELD_OUT_SEED, workers: 1, force: true });
  heldOut = await readSyntheticExams(dir);
});

describe("shipped segmenter on held-out synthetic exams", () => {
  it("reaches Dice >= 0.85 for liver and for spleen, on the volume's own grid", () => {
    assert.equal(heldOut.length, 9, "3 exams x (T1w in-phase, opposed-phase, T2w)");
    const seg = loadSegmenter();
    try {
      const scores = { liver: [] as number[], spleen: [] as number[] };
      for (const s of heldOut) {
        const mask = seg.segment(s.volume);
        assert.deepEqual(mask.dims, s.volume.dims);
        assert.deepEqual(mask.affine, s.volume.affine);
        assert.equal(mask.labels.length, s.volume.data.length);
        scores.liver.push(dice(mask.labels, s.mask.labels, ORGAN_LABELS.liver));
        scores.spleen.push(dice(mask.labels, s.mask.labels, ORGAN_LABELS.spleen));
      }
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      const msg = `liver ${scores.liver.map((d) => d.toFixed(3))}, spleen ${scores.spleen.map((d) => d.toFixed(3))}`;
      assert.ok(mean(scores.liver) >= 0.85, msg);
      assert.ok(mean(scores.spleen) >= 0.85, msg);
      assert.ok(Math.min(...scores.liver, ...scores.spleen) >= 0.7, msg);
    } finally {
      seg.dispose();
    }
  });
});

describe("training", () => {
  const tiny: SegNetConfig = { channels: [4, 8], inputSize: 32, fovMm: 400, classes: 3 };
  function trainTo(dir: string, seed: number): Buffer {
    const bank = buildSliceBank(heldOut.slice(0, 2), tiny);
    const { model, losses } = trainSegNet(bank, { config: tiny, steps: 3, batch: 4, seed, threads: 2 });
    try {
      assert.equal(losses.length, 3);
      assert.ok(losses.every(Number.isFinite));
      const path = join(dir, "w.safetensors");
      writeSegmenter(model, path, { seed }, { seed });
      return readFileSync(path);
    } finally {
      model.dispose();
    }
  }

  it("gives the same weight bytes twice for one seed and thread count, other bytes for another seed", () => {
    const a = trainTo(mkdtempSync(join(tmp, "a-")), 5);
    const b = trainTo(mkdtempSync(join(tmp, "b-")), 5);
    const c = trainTo(mkdtempSync(join(tmp, "c-")), 6);
    assert.ok(a.equals(b), "same seed, same bytes");
    assert.ok(!a.equals(c), "another seed, other weights");
  });
});

describe("label-map readers", () => {
  // A 4 x 3 x 2 map with an oblique-free but non-trivial affine (voxel sizes 2, 3, 5 mm, RAS storage).
  const dims: [number, number, number] = [4, 3, 2];
  const affine = [-2, 0, 0, 10, 0, -3, 0, 20, 0, 0, 5, -30, 0, 0, 0, 1];
  const codes = Float32Array.from({ length: 24 }, (_, v) => [0, 5, 1, 2, 4, 14, 5, 0][v % 8]);

  it("maps TotalSegmentator MR codes (liver 5, spleen 1) and keeps the geometry in LPS", () => {
    const path = join(tmp, "ts.nii.gz");
    writeNifti(path, makeVolume(codes, dims, affine), { datatype: "int16" });
    const mask = readOrganMaskNifti(path, "totalsegmentator");
    assert.deepEqual(mask.dims, dims);
    for (let i = 0; i < 16; i++) assert.ok(Math.abs(mask.affine[i] - affine[i]) < 1e-4, `affine[${i}]`);
    const want = Array.from(codes, (c) => (c === 5 ? 1 : c === 1 ? 2 : 0));
    assert.deepEqual(Array.from(mask.labels), want);
    const ml = organVolumesMl(mask);
    assert.ok(Math.abs(ml.liver - (want.filter((l) => l === 1).length * 30) / 1000) < 1e-9);
  });

  it("maps the synthetic cohort's codes (liver 4 and its nodules 14, spleen 5)", () => {
    const path = join(tmp, "syn.nii.gz");
    writeNifti(path, makeVolume(codes, dims, affine), { datatype: "int16" });
    const mask = readOrganMaskNifti(path, "synthetic");
    const want = Array.from(codes, (c) => (c === 4 || c === 14 ? 1 : c === 5 ? 2 : 0));
    assert.deepEqual(Array.from(mask.labels), want);
  });

  it("refuses an unknown convention and a missing file with the file named", () => {
    const path = join(tmp, "syn.nii.gz");
    assert.throws(() => readOrganMaskNifti(path, "nnunet" as "synthetic"), LiverstiffError);
    assert.throws(
      () => readOrganMaskNifti(join(tmp, "absent.nii.gz"), "synthetic"),
      (e: unknown) => e instanceof LiverstiffError && /not found/.test(e.message),
    );
  });

  const samples = join(import.meta.dirname, "../../../shared/data/dicom-samples");
  const example = join(samples, "abd_totalseg_example_seg_mr_labels.nii.gz");
  it("reads TotalSegmentator's own MR example onto its image's grid", (t) => {
    if (!existsSync(example)) {
      t.skip(`shared samples absent (${example}); the TotalSegmentator example cannot be read`);
      return;
    }
    const raw = readNifti(example).volume;
    const image = readNifti(join(samples, "abd_totalseg_example_mr_sm.nii.gz")).volume;
    const mask = readOrganMaskNifti(example, "totalsegmentator");
    assert.deepEqual(mask.dims, image.dims);
    assert.deepEqual(mask.affine, image.affine);
    const count = (a: ArrayLike<number>, x: number) => Array.from(a).filter((v) => v === x).length;
    assert.equal(count(mask.labels, ORGAN_LABELS.liver), count(raw.data, 5));
    assert.equal(count(mask.labels, ORGAN_LABELS.spleen), count(raw.data, 1));
    assert.ok(count(raw.data, 5) > 10_000, "the example's liver is large");
  });
});

describe("post-processing and refused weights", () => {
  it("keeps only each organ's largest connected component", () => {
    // 5 x 1 x 1: liver, liver, background, liver (island), spleen.
    const labels = Uint8Array.from([1, 1, 0, 1, 2]);
    keepLargestComponents(labels, [5, 1, 1]);
    assert.deepEqual(Array.from(labels), [1, 1, 0, 0, 2]);
  });

  it("refuses weights whose sha256 differs from their manifest, and weights without one", () => {
    const path = join(tmp, "edited.safetensors");
    copyFileSync(DEFAULT_SEGMENTER_PATH, path);
    copyFileSync(manifestPathFor(DEFAULT_SEGMENTER_PATH), manifestPathFor(path));
    const bytes = readFileSync(path);
    bytes[bytes.length - 5] ^= 0x01;
    writeFileSync(path, bytes);
    assert.throws(
      () => loadSegmenter(path),
      (e: unknown) =>
        e instanceof LiverstiffError && /sha256 differs/.test(e.message) && e.context.file === path,
    );
    const lone = join(tmp, "lone.safetensors");
    copyFileSync(DEFAULT_SEGMENTER_PATH, lone);
    assert.throws(
      () => loadSegmenter(lone),
      (e: unknown) => e instanceof LiverstiffError && /no manifest/.test(e.message),
    );
  });
});
