import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { headlineTable } from "../../src/cli/headline.ts";
import type { ExamFeatures } from "../../src/features/types.ts";
import { auroc } from "../../src/stats/index.ts";
import {
  assertPatientDisjoint,
  crossValidationFolds,
  leaveOneSiteOutFolds,
  type RecipeRunner,
  runValidation,
  type SplitExam,
  temporalFold,
} from "../../src/validate/index.ts";
import { withScratchDir } from "../fixtures/scratch.ts";
import { cohort, fakeRunner } from "./helpers.ts";

function toSplit(exams: ExamFeatures[]): SplitExam[] {
  return exams.map((e) => ({
    examId: e.examId,
    patientKey: e.patientKey,
    site: e.site,
    studyDate: e.studyDate,
    kpa: e.kpa!,
  }));
}

test("every scheme keeps patients on one side and covers the cohort as it should", () => {
  const exams = cohort(300, 1);
  const split = toSplit(exams);
  const patientOf = new Map(split.map((e) => [e.examId, e.patientKey]));
  const folds = crossValidationFolds(split, { seed: 7 });
  assert.equal(folds.length, 10);
  const tested = folds.flatMap((f) => f.test).sort();
  assert.deepEqual(tested, split.map((e) => e.examId).sort(), "cv10 tests every exam exactly once");
  for (const f of folds) {
    assertPatientDisjoint(f, (id) => patientOf.get(id)!);
    assert.equal(f.train.length + f.val.length + f.test.length, split.length);
    const valShare = f.val.length / (f.train.length + f.val.length);
    assert.ok(valShare > 0.06 && valShare < 0.14, `inner validation share ${valShare}`);
  }
  // Stratification: each fold's share of >= 3.0 kPa exams stays near the cohort's.
  const share = (ids: string[]) =>
    ids.filter((id) => split.find((e) => e.examId === id)!.kpa >= 3).length / ids.length;
  const overall = share(split.map((e) => e.examId));
  for (const f of folds) assert.ok(Math.abs(share(f.test) - overall) < 0.12, `fold ${f.name}`);

  const { fold, info } = temporalFold(split, { seed: 7 });
  assertPatientDisjoint(fold, (id) => patientOf.get(id)!);
  const dateOf = new Map(split.map((e) => [e.examId, e.studyDate!]));
  assert.ok(fold.train.every((id) => dateOf.get(id)! < info.splitDate));
  assert.ok(fold.test.every((id) => dateOf.get(id)! >= info.splitDate));
  const trainPatients = new Set([...fold.train, ...fold.val].map((id) => patientOf.get(id)));
  assert.ok(fold.test.every((id) => !trainPatients.has(patientOf.get(id))));

  const loso = leaveOneSiteOutFolds(split, { seed: 7 });
  assert.deepEqual(
    loso.map((f) => f.name),
    ["A", "B", "C", "D"],
  );
  const siteOf = new Map(split.map((e) => [e.examId, e.site]));
  for (const f of loso) {
    assertPatientDisjoint(f, (id) => patientOf.get(id)!);
    assert.ok(f.test.every((id) => siteOf.get(id) === f.name));
    assert.ok([...f.train, ...f.val].every((id) => siteOf.get(id) !== f.name));
  }
});

test("assertPatientDisjoint catches a leak", () => {
  assert.throws(
    () =>
      assertPatientDisjoint({ scheme: "cv10", name: "1", train: ["a"], val: [], test: ["b"] }, () => "same"),
    /a patient appears on two sides/,
  );
});

test("validation end to end: outputs, determinism, resume after an interruption", async () => {
  const exams = cohort(160, 2);
  await withScratchDir("ls-validate-", async (dir) => {
    const run = (outDir: string, runners: RecipeRunner[]) =>
      runValidation({
        examsFor: () => exams,
        recipes: runners,
        schemes: ["cv10", "temporal", "loso"],
        outDir,
        seed: 42,
        bootstrapResamples: 200,
      });
    const first = await run(join(dir, "a"), [fakeRunner("good", 0), fakeRunner("noisy", 0.6)]);
    assert.equal(first.trainedFolds, 2 * (10 + 1 + 4));
    const csv = readFileSync(join(dir, "a", "predictions.csv"), "utf8")
      .trim()
      .split("\n");
    assert.equal(
      csv[0],
      "accession,patient_id,site,recipe,scheme,fold,kpa,p_ge_2_5,p_ge_3_0,p_ge_3_5,p_ge_4_0,p_ge_5_0,kpa_pred,exam_id,cutoff_2_5,cutoff_3_0,cutoff_3_5,cutoff_4_0,cutoff_5_0",
    );
    assert.equal(csv.length - 1, first.rows.length);
    // cv10 pools one prediction per exam per recipe.
    assert.equal(first.rows.filter((r) => r.scheme === "cv10" && r.recipe === "good").length, exams.length);
    // The metrics agree with a direct AUROC of the pooled predictions.
    const cv = first.rows.filter((r) => r.scheme === "cv10" && r.recipe === "good");
    const m = first.metrics.schemes.find((s) => s.scheme === "cv10" && s.recipe === "good")!;
    assert.equal(m.thresholds[1]!.thresholdKpa, 3);
    const direct = auroc(
      cv.map((r) => (r.kpa >= 3 ? 1 : 0)),
      cv.map((r) => r.probabilities[1]),
    );
    assert.equal(m.thresholds[1]!.auc, direct);
    assert.ok(m.thresholds[1]!.auc > 0.85);
    assert.ok(m.thresholds[1]!.aucBootstrapCi95[0] < direct && direct < m.thresholds[1]!.aucBootstrapCi95[1]);
    assert.equal(m.folds.length, 10);
    assert.ok(m.foldAuc && m.foldAuc.sd >= 0);
    assert.ok(m.kpa && m.kpa.pearson.r > 0.5);
    const good = first.metrics.schemes.find((s) => s.scheme === "cv10" && s.recipe === "good")!;
    const noisy = first.metrics.schemes.find((s) => s.scheme === "cv10" && s.recipe === "noisy")!;
    assert.ok(good.thresholds[1]!.auc > noisy.thresholds[1]!.auc);
    const cmp = first.metrics.comparisons.find((c) => c.scheme === "cv10" && c.thresholdKpa === 3)!;
    assert.ok(cmp.p < 0.05 && cmp.aucA > cmp.aucB);

    // Same seed, same predictions.
    const second = await run(join(dir, "b"), [fakeRunner("good", 0), fakeRunner("noisy", 0.6)]);
    assert.deepEqual(second.rows, first.rows);

    // Interrupted run: remove some finished folds (as if killed before they were written), re-run.
    const foldDir = join(dir, "b", "folds", "noisy", "cv10");
    for (const f of readdirSync(foldDir).slice(0, 4)) rmSync(join(foldDir, f));
    rmSync(join(dir, "b", "metrics.json"));
    const runners = [fakeRunner("good", 0), fakeRunner("noisy", 0.6)];
    const resumed = await run(join(dir, "b"), runners);
    assert.equal(resumed.trainedFolds, 4);
    assert.equal(runners[0]!.calls, 0);
    assert.deepEqual(resumed.rows, first.rows);
    // Equal up to wall-clock fields (creation time, seconds per fold).
    const strip = (x: typeof first.metrics) =>
      JSON.parse(JSON.stringify({ ...x, createdAt: "" }, (k, v) => (k === "seconds" ? 0 : v)));
    assert.deepEqual(strip(resumed.metrics), strip(first.metrics));
  });
});

test("the oracle is reported on each scheme's own test exams (temporal tests a subset)", async () => {
  const exams = cohort(120, 3);
  await withScratchDir("ls-validate-oracle-", async (dir) => {
    // A stand-in oracle whose value encodes how many exams it was asked about.
    const oracleOf = (ids: string[]) => [0, ids.length / 1000, 0, 0, 0];
    const result = await runValidation({
      examsFor: () => exams,
      recipes: [fakeRunner("good", 0)],
      schemes: ["cv10", "temporal"],
      outDir: dir,
      seed: 42,
      bootstrapResamples: 50,
      oracle: { source: "test", aucOf: oracleOf },
    });
    const nTemporal = result.rows.filter((r) => r.scheme === "temporal").length;
    assert.ok(nTemporal > 0 && nTemporal < exams.length);
    assert.deepEqual(result.metrics.oracle?.aucByThreshold, [0, exams.length / 1000, 0, 0, 0]);
    assert.deepEqual(result.metrics.oracle?.byScheme, {
      cv10: [0, exams.length / 1000, 0, 0, 0],
      temporal: [0, nTemporal / 1000, 0, 0, 0],
    });
    const table = headlineTable(result.metrics, "json");
    const temporal = table.rows.find((r) => r.scheme === "temporal")!;
    assert.equal(temporal.oracle_auc, nTemporal / 1000);
    assert.equal(temporal.fraction_of_oracle, temporal.auc / (nTemporal / 1000));
  });
});
