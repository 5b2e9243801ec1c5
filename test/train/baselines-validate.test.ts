// The two baselines end to end as a user runs them: a small synthetic cohort written as DICOM, ingested
// into a work folder, validated by name (cv10 and leave-one-site-out) beside each other on identical
// splits, each fold's model saved, and the report written. Small on purpose (24 exams); the shipped
// recipes unchanged.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { ingest } from "../../src/cohort/index.ts";
import type { ExamFeatures } from "../../src/features/types.ts";
import { writeReport } from "../../src/report/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import { setNumThreads } from "../../src/torch/index.ts";
import { loadTrainedModel } from "../../src/train/index.ts";
import { foldFilePaths } from "../../src/validate/index.ts";
import { prepareRecipe, validateWorkdir } from "../../src/validate/workdir.ts";
import { scratchDir } from "../fixtures/scratch.ts";

setNumThreads(1);

const tmp = scratchDir("liverstiff-baselines-");
const RECIPES = ["baseline-ridge", "baseline-clinical"];
let result: Awaited<ReturnType<typeof validateWorkdir>>;

interface Row {
  [column: string]: string;
}

before(async () => {
  const cohort = join(tmp, "cohort");
  const work = join(tmp, "work");
  await synthesize({ out: cohort, exams: 24, sites: 3, seed: 99, workers: 1 });
  const { prep } = prepareRecipe("baseline-ridge");
  await ingest({
    roots: [join(cohort, "dicom")],
    labelsCsv: join(cohort, "labels.csv"),
    workdir: work,
    prep,
  });
  result = await validateWorkdir({
    workdir: work,
    recipes: RECIPES,
    schemes: ["cv10", "loso"],
    outDir: join(tmp, "run"),
    bootstrapResamples: 20,
    saveModels: true,
  });
});

describe("baselines through validate on a small work folder", () => {
  it("predicts every exam once per scheme and recipe, on identical splits", () => {
    const csv = readFileSync(join(tmp, "run", "predictions.csv"), "utf8")
      .trim()
      .split("\n");
    const cols = csv[0]!.split(",");
    const rows: Row[] = csv
      .slice(1)
      .map((l) => Object.fromEntries(l.split(",").map((v, i) => [cols[i]!, v])));
    const exams = new Set(rows.map((r) => r.exam_id));
    assert.ok(exams.size >= 20, `${exams.size} usable exams`);
    for (const recipe of RECIPES)
      for (const scheme of ["cv10", "loso"]) {
        const mine = rows.filter((r) => r.recipe === recipe && r.scheme === scheme);
        assert.equal(mine.length, exams.size, `${recipe} ${scheme}`);
        const other = rows.filter((r) => r.recipe !== recipe && r.scheme === scheme);
        const foldOf = new Map(other.map((r) => [r.exam_id, r.fold]));
        for (const r of mine) assert.equal(r.fold, foldOf.get(r.exam_id), "the same fold for both recipes");
      }
    for (const r of rows) {
      const p = [r.p_ge_2_5, r.p_ge_3_0, r.p_ge_3_5, r.p_ge_4_0, r.p_ge_5_0].map(Number);
      assert.ok(p.every((v) => v >= 0 && v <= 1));
      if (r.recipe === "baseline-ridge") {
        for (let k = 1; k < 5; k++) assert.ok(p[k]! <= p[k - 1]!, "ridge: monotone");
        assert.ok(Number(r.kpa_pred) > 0);
      } else assert.equal(r.kpa_pred, "", "the clinical baseline predicts no kPa");
    }
    const sites = [...new Set(rows.filter((r) => r.scheme === "loso").map((r) => r.fold))];
    assert.equal(sites.length, 3);
  });

  it("leave-one-site-out: the clinical fold model never uses the test site; cv10 uses a seen site", () => {
    const probe = (site: string): ExamFeatures => ({
      examId: `probe-${site}`,
      patientKey: "probe",
      site,
      ageYears: 60,
      sex: "F",
      slices: 1,
      featureDim: 1,
      roles: {},
    });
    const run = join(tmp, "run");
    const loso = result.metrics.schemes.find((s) => s.recipe === "baseline-clinical" && s.scheme === "loso")!;
    for (const fold of loso.folds) {
      const m = loadTrainedModel(foldFilePaths(run, "baseline-clinical", "loso", fold.fold).model);
      try {
        const [own, never] = m.predict([probe(fold.fold), probe("never-seen")]);
        assert.deepEqual(own!.probabilities, never!.probabilities, `fold ${fold.fold}`);
      } finally {
        m.dispose();
      }
    }
    const cv = loadTrainedModel(foldFilePaths(run, "baseline-clinical", "cv10", "1").model);
    try {
      const [seen, never] = cv.predict([probe(loso.folds[0]!.fold), probe("never-seen")]);
      assert.notDeepEqual(seen!.probabilities, never!.probabilities);
    } finally {
      cv.dispose();
    }
  });

  it("the report renders both baselines beside each other", async () => {
    const { path } = await writeReport(join(tmp, "run"));
    const html = readFileSync(path, "utf8");
    for (const r of RECIPES) assert.ok(html.includes(r), `${r} in the report`);
  });

  it("reports both baselines in the metrics, with their recipes in the manifest", () => {
    const names = new Set(result.metrics.schemes.map((s) => s.recipe));
    for (const r of RECIPES) assert.ok(names.has(r));
    const manifest = JSON.parse(readFileSync(join(tmp, "run", "manifest.json"), "utf8"));
    const text = JSON.stringify(manifest);
    assert.match(text, /"kind":"baseline-ridge"/);
    assert.match(text, /"kind":"baseline-clinical"/);
  });
});
