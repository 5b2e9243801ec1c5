// `predict --cam-out`: a small bundle trained on a synthetic cohort predicts three of its exams from DICOM
// and writes one Grad-CAM map per exam and role. The map's affine is the prepared grid's (the source
// series resampled onto the map's grid is the prepared slices), and the exam's label map, which shares the
// series' grid, overlays it: on the map's grid the body label covers the bright pixels of the slices.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadPrepared, openCatalog, preparedAffine, resolvePrep } from "../../src/cohort/index.ts";
import { loadBundle, type PredictReport, predictExams, trainBundle } from "../../src/deploy/index.ts";
import { readFramePixels, type SeriesRole } from "../../src/dicom/index.ts";
import { assembleVolume, readNifti, resampleToGrid, type Volume } from "../../src/volume/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { type ExplainCohort, explainCohort } from "./cohort.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const tmp = scratchDir("liverstiff-cam-predict-");
let cohort: ExplainCohort;
let report: PredictReport;
let firstExamDir = "";
const predictWork = join(tmp, "predict-work");
const camDir = join(tmp, "cams");

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

before(async () => {
  cohort = await explainCohort(tmp, { exams: 30, seed: 31, organs: false });
  const recipe = JSON.parse(readFileSync(join(ROOT, "recipes", "liverstiff.json"), "utf8"));
  recipe.name = "ours-small";
  recipe.training = { ...recipe.training, maxEpochs: 15, patience: 5 };
  recipe.head = { ...recipe.head, ensemble: 1 };
  writeFileSync(join(tmp, "ours-small.json"), JSON.stringify(recipe));
  await trainBundle({
    workdir: cohort.workdir,
    recipe: join(tmp, "ours-small.json"),
    out: join(tmp, "bundle"),
    bootstrapResamples: 20,
    jobs: 1,
  });
  const site = readdirSync(join(cohort.dir, "dicom")).sort()[0]!;
  const exams = readdirSync(join(cohort.dir, "dicom", site))
    .sort()
    .slice(0, 3);
  firstExamDir = join(cohort.dir, "dicom", site, exams[0]!);
  const bundle = loadBundle(join(tmp, "bundle"));
  try {
    report = await predictExams({
      inputs: exams.map((e) => join(cohort.dir, "dicom", site, e)),
      bundle,
      workdir: predictWork,
      camDir,
    });
  } finally {
    bundle.dispose();
  }
});

async function sourceVolume(examId: string, role: SeriesRole): Promise<Volume> {
  const catalog = openCatalog(predictWork);
  try {
    const src = catalog.roleSources(examId).find((s) => s.role === role)!;
    return (await assembleVolume(src.frames, { readPixels: readFramePixels })).volume;
  } finally {
    catalog.close();
  }
}

describe("predict --cam-out", () => {
  it("writes one float32 map per predicted exam and role, explaining the reported 3.0 kPa probability", () => {
    const predicted = report.exams.filter((e) => e.status === "predicted");
    assert.equal(predicted.length, 3);
    for (const e of predicted) {
      assert.ok(e.cam, `${e.examId}: ${JSON.stringify(e.warnings)}`);
      assert.equal(e.cam.thresholdKpa, 3.0);
      assert.ok(Math.abs(e.cam.probability - e.thresholds![1]!.probability) < 1e-4);
      assert.deepEqual(Object.keys(e.cam.files).sort(), ["t1_in", "t1_opp", "t2"]);
      for (const [role, path] of Object.entries(e.cam.files)) {
        assert.equal(path, join(camDir, e.accession!, `${role}.nii.gz`));
        const img = readNifti(path);
        assert.equal(img.sidecar?.thresholdKpa, 3.0);
        assert.deepEqual(img.volume.dims, [128, 128, 9]);
        assert.ok(img.volume.data.every((v) => v >= 0));
        assert.ok(
          img.volume.data.some((v) => v > 0),
          "a map that is not all zero",
        );
      }
    }
  });

  it("lies on the prepared grid: its affine is the prepared slices' own, in patient space", async () => {
    const prep = resolvePrep(cohort.recipe.preparation);
    for (const e of report.exams.filter((x) => x.cam)) {
      const prepared = loadPrepared(predictWork, e.examId, cohort.prepName);
      for (const [role, path] of Object.entries(e.cam!.files) as [SeriesRole, string][]) {
        const map = readNifti(path).volume;
        const source = await sourceVolume(e.examId, role);
        const expected = preparedAffine(source, { ...prep, size: 128 });
        for (let i = 0; i < 16; i++)
          assert.ok(Math.abs(map.affine[i]! - expected[i]!) < 1e-3, `${role} affine[${i}]`);
        // The source series resampled onto the map's grid is the prepared slices (z-scored).
        const onMap = resampleToGrid(source, map.affine, map.dims, { fill: 0 });
        const r = correlation(onMap.data, prepared.roles[role]!);
        assert.ok(r > 0.99, `${role}: correlation ${r}`);
      }
    }
  });

  it("overlays the exam's label map: the body label covers the bright pixels on the map's grid", () => {
    for (const e of report.exams.filter((x) => x.cam)) {
      const prepared = loadPrepared(predictWork, e.examId, cohort.prepName);
      const labels = readNifti(join(cohort.dir, "labelmaps", `${e.accession}.nii.gz`)).volume;
      const map = readNifti(e.cam!.files.t2!).volume;
      const onMap = resampleToGrid(labels, map.affine, map.dims, { interpolation: "nearest", fill: 0 });
      const t2 = prepared.roles.t2!;
      let inside = 0;
      let nIn = 0;
      let outside = 0;
      let nOut = 0;
      for (let i = 0; i < t2.length; i++) {
        if (onMap.data[i]! > 0) {
          inside += t2[i]!;
          nIn++;
        } else {
          outside += t2[i]!;
          nOut++;
        }
      }
      assert.ok(nIn > 0.1 * t2.length && nOut > 0.1 * t2.length);
      assert.ok(inside / nIn - outside / nOut > 1, `body ${inside / nIn}, air ${outside / nOut}`);
    }
  });

  it("--occlusion: occlusion maps beside the Grad-CAM maps, on the same grid, explaining the same logit", async () => {
    const bundle = loadBundle(join(tmp, "bundle"));
    const dir = join(tmp, "cams-occlusion");
    let r: PredictReport;
    const t0 = performance.now();
    try {
      r = await predictExams({
        inputs: [firstExamDir],
        bundle,
        workdir: join(tmp, "predict-work-occlusion"),
        camDir: dir,
        occlusion: true,
      });
    } finally {
      bundle.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    const e = r.exams[0]!;
    assert.ok(e.occlusion, JSON.stringify(e.warnings));
    assert.ok(Math.abs(e.occlusion.logit - e.cam!.logit) < 1e-3, `${e.occlusion.logit} vs ${e.cam!.logit}`);
    assert.deepEqual(Object.keys(e.occlusion.files).sort(), ["t1_in", "t1_opp", "t2"]);
    for (const [role, path] of Object.entries(e.occlusion.files) as [SeriesRole, string][]) {
      assert.equal(path, join(dir, e.accession!, `${role}.occlusion.nii.gz`));
      const occ = readNifti(path);
      const cam = readNifti(e.cam!.files[role]!);
      assert.equal(occ.sidecar?.kind, "liverstiff-occlusion");
      assert.deepEqual(occ.volume.dims, cam.volume.dims);
      assert.deepEqual(occ.volume.affine, cam.volume.affine);
      assert.ok(occ.volume.data.every((v) => v >= 0 && Number.isFinite(v)));
    }
    process.stdout.write(`# occlusion maps of one exam (3 roles x 9 slices) in ${seconds.toFixed(1)} s\n`);
  });
});
