// Organ measures: volumetry against voxel counts, masks on another grid, and masks given as
// TotalSegmentator-style NIfTI files used by ingest (with an exam whose mask is missing).
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { gzipSync } from "fflate";
import {
  ensureOrganMeasures,
  ingest,
  maskOnGrid,
  measureOrgans,
  openCatalog,
  readOrganMeasures,
} from "../../src/cohort/index.ts";
import { ORGAN_LABELS, type OrganMask } from "../../src/segment/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import { makeVolume, readNifti } from "../../src/volume/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-organs-");

/** A 40 x 40 x 10 volume, 2 x 2 x 5 mm voxels, with a bright body and a liver box and spleen box. */
function phantom() {
  const dims: [number, number, number] = [40, 40, 10];
  const affine = [2, 0, 0, -40, 0, 2, 0, -40, 0, 0, 5, 0, 0, 0, 0, 1];
  const data = new Float32Array(40 * 40 * 10);
  const labels = new Uint8Array(data.length);
  for (let k = 0; k < 10; k++)
    for (let j = 0; j < 40; j++)
      for (let i = 0; i < 40; i++) {
        const p = i + 40 * (j + 40 * k);
        data[p] = i > 2 && i < 37 && j > 2 && j < 37 ? 100 + ((i * 7 + j * 3) % 5) : 1;
        if (i >= 5 && i < 20 && j >= 10 && j < 30 && k >= 2 && k < 8) labels[p] = ORGAN_LABELS.liver;
        if (i >= 25 && i < 32 && j >= 12 && j < 20 && k >= 3 && k < 7) labels[p] = ORGAN_LABELS.spleen;
      }
  const volume = makeVolume(data, dims, affine);
  const mask: OrganMask = { dims, affine, labels };
  return { volume, mask };
}

describe("measureOrgans", () => {
  it("measures liver and spleen volumes as voxel counts times the voxel volume", () => {
    const { volume, mask } = phantom();
    const m = measureOrgans({ t2: volume, t1_in: volume }, mask);
    const voxelMl = (2 * 2 * 5) / 1000;
    assert.equal(m.liver_ml, 15 * 20 * 6 * voxelMl);
    assert.equal(m.spleen_ml, 7 * 8 * 4 * voxelMl);
    // A body of 34 x 34 pixels of 4 mm^2 on every slice.
    assert.ok(Math.abs(m.body_area_cm2 - (34 * 34 * 4) / 100) < 1e-9);
    assert.ok(Number.isFinite(m.t2_liver_spread) && Number.isFinite(m.t1_liver_fine_texture));
    // The box liver lies entirely on the patient's right of the medial line: share 0 or small.
    assert.ok(m.liver_medial_share >= 0 && m.liver_medial_share <= 1);
  });

  it("is NaN where a role or the liver is missing, and never throws", () => {
    const { volume, mask } = phantom();
    const none = measureOrgans({ t2: volume }, { ...mask, labels: new Uint8Array(mask.labels.length) });
    assert.equal(none.liver_ml, 0);
    assert.ok(Number.isNaN(none.t2_liver_spread));
    const noT1 = measureOrgans({ t2: volume }, mask);
    assert.ok(Number.isNaN(noT1.t1_liver_spread));
    assert.ok(Number.isFinite(noT1.t2_liver_spread));
  });

  it("reads a mask on another grid through patient coordinates", () => {
    const { volume, mask } = phantom();
    // The same labels at twice the in-plane resolution (1 x 1 mm), same field of view.
    const fine = new Uint8Array(80 * 80 * 10);
    for (let k = 0; k < 10; k++)
      for (let j = 0; j < 80; j++)
        for (let i = 0; i < 80; i++)
          fine[i + 80 * (j + 80 * k)] = mask.labels[(i >> 1) + 40 * ((j >> 1) + 40 * k)]!;
    const fineMask: OrganMask = {
      dims: [80, 80, 10],
      affine: [1, 0, 0, -40.5, 0, 1, 0, -40.5, 0, 0, 5, 0, 0, 0, 0, 1],
      labels: fine,
    };
    const onGrid = maskOnGrid(fineMask, volume);
    let same = 0;
    for (let i = 0; i < onGrid.length; i++) if (onGrid[i] === mask.labels[i]) same++;
    assert.ok(same / onGrid.length > 0.99, `agreement ${same / onGrid.length}`);
  });
});

describe("ingest --masks (TotalSegmentator-style label maps)", () => {
  const cohort = join(tmp, "cohort");
  const masks = join(tmp, "masks");
  const work = join(tmp, "work");
  let accessions: string[] = [];
  before(async () => {
    await synthesize({ out: cohort, exams: 3, seed: 5151, workers: 1 });
    mkdirSync(masks);
    accessions = readdirSync(join(cohort, "labelmaps"))
      .filter((f) => f.endsWith(".nii.gz"))
      .map((f) => f.replace(".nii.gz", ""))
      .sort();
    // Re-code the synthetic maps (liver 4, spleen 5) to TotalSegmentator's MR codes (liver 5, spleen 1);
    // the last exam gets no mask file.
    for (const acc of accessions.slice(0, -1)) {
      const src = readFileSync(join(cohort, "labelmaps", `${acc}.nii.gz`));
      const { gunzipSync } = await import("fflate");
      const raw = gunzipSync(src);
      const out = Uint8Array.from(raw);
      for (let i = 352; i < out.length; i++)
        out[i] = raw[i] === 4 ? 5 : raw[i] === 5 ? 1 : raw[i] === 1 ? 9 : raw[i]!;
      writeFileSync(join(masks, `${acc}.nii.gz`), gzipSync(out));
    }
  });

  it("measures the exams that have a mask file and counts the one that has none", async () => {
    const s = await ingest({
      roots: [join(cohort, "dicom")],
      labelsCsv: join(cohort, "labels.csv"),
      workdir: work,
      prep: { slices: 3, size: 32 },
      masks: { kind: "files", dir: masks, convention: "totalsegmentator" },
    });
    assert.equal(s.usable, 3);
    assert.equal(s.organs?.measured, 2);
    assert.deepEqual(s.organs?.missing, { "no-mask-file": 1 });
    const cat = openCatalog(work);
    try {
      for (const e of cat.usableExams()) {
        const m = readOrganMeasures(work, e.examId);
        const acc = e.accessionNumber!;
        if (acc === accessions.at(-1)) {
          assert.equal(m, undefined);
          continue;
        }
        assert.ok(m, `measures for ${acc}`);
        // The liver volume equals the synthetic label map's liver voxels times its voxel volume.
        const truth = readNifti(join(cohort, "labelmaps", `${acc}.nii.gz`)).volume;
        const liverVoxels = truth.data.reduce((a, v) => a + (v === 4 ? 1 : 0), 0);
        const voxelMl = (truth.spacing[0] * truth.spacing[1] * truth.spacing[2]) / 1000;
        assert.ok(
          Math.abs(m.measures.liver_ml - liverVoxels * voxelMl) < 1e-6 * liverVoxels * voxelMl + 1e-9,
        );
        assert.ok(m.measures.spleen_ml > 0);
        assert.equal(m.source, "files:totalsegmentator");
      }
    } finally {
      cat.close();
    }
    // A re-run reuses every measure.
    const again = await ingest({
      roots: [join(cohort, "dicom")],
      labelsCsv: join(cohort, "labels.csv"),
      workdir: work,
      prep: { slices: 3, size: 32 },
      masks: { kind: "files", dir: masks, convention: "totalsegmentator" },
    });
    assert.equal(again.organs?.reused, 2);
    assert.equal(again.organs?.measured, 0);
  });

  it("measures exams without an MRE label too (what predict ingests)", async () => {
    const unlabelled = join(tmp, "work-unlabelled");
    const s = await ingest({
      roots: [join(cohort, "dicom")],
      workdir: unlabelled,
      prep: { slices: 3, size: 32 },
      masks: { kind: "files", dir: masks, convention: "totalsegmentator" },
    });
    assert.equal(s.organs?.measured, accessions.length - 1);
    assert.deepEqual(s.organs?.missing, { "no-mask-file": 1 });
  });

  it("refuses a mask file without any liver voxel, naming the file, and keeps the other exams", async () => {
    const noLiver = join(tmp, "masks-no-liver");
    mkdirSync(noLiver);
    const acc = accessions[0]!;
    const { gunzipSync } = await import("fflate");
    const raw = gunzipSync(readFileSync(join(cohort, "labelmaps", `${acc}.nii.gz`)));
    const out = Uint8Array.from(raw);
    // Liver (4) and its nodules (14) become background; the spleen (5) stays.
    for (let i = 352; i < out.length; i++) if (raw[i] === 4 || raw[i] === 14) out[i] = 0;
    writeFileSync(join(noLiver, `${acc}.nii.gz`), gzipSync(out));
    const cat = openCatalog(work);
    try {
      const s = await ensureOrganMeasures(cat, { kind: "files", dir: noLiver, convention: "synthetic" });
      assert.equal(s.measured, 0);
      assert.deepEqual(s.missing, { "organ-error": 1, "no-mask-file": accessions.length - 1 });
      assert.equal(s.errors.length, 1);
      assert.match(s.errors[0]!.reason, /no liver voxel/);
      assert.ok(s.errors[0]!.reason.includes(`${acc}.nii.gz`), s.errors[0]!.reason);
    } finally {
      cat.close();
    }
  });
});
