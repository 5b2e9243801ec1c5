// The parts of deploy/ that need no engine: validation keeping fold models (and resuming), the ensemble's
// arithmetic and category rule, pooled cut-offs, out-of-distribution and volume warnings, bundle checks.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { ExamRecord, SeriesRecord } from "../../src/cohort/index.ts";
import { Rng, writeFileAtomic } from "../../src/core/index.ts";
import {
  type BundleManifest,
  categoryOf,
  combine,
  pooledCutoffs,
  readBundleManifest,
} from "../../src/deploy/index.ts";
import { modelRoles } from "../../src/deploy/predict.ts";
import { distributionWarnings, summarizeTrainingSet, volumeWarnings } from "../../src/deploy/summary.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../../src/features/types.ts";
import { youden } from "../../src/stats/index.ts";
import { foldFilePaths, type PredictionRow, runValidation } from "../../src/validate/index.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "ls-deploy-unit-"));
  dirs.push(d);
  return d;
}

function cohort(n: number): ExamFeatures[] {
  const rng = new Rng(5);
  return Array.from({ length: n }, (_, i) => {
    const kpa = Math.exp(rng.normal(Math.log(2.8), 0.35));
    return {
      examId: `E${i}`,
      patientKey: `P${i}`,
      site: ["A", "B", "C"][i % 3]!,
      studyDate: `2015-01-${String(1 + (i % 28)).padStart(2, "0")}`,
      kpa,
      slices: 1,
      featureDim: 1,
      roles: { t2: Float32Array.of(Math.log(kpa) + rng.normal(0, 0.2)) },
    };
  });
}

describe("runValidation with saveModels", () => {
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  let calls = 0;
  const runner = {
    name: "fake",
    fingerprint: "fake-1",
    train(train: ExamFeatures[]) {
      calls++;
      const offset = train.length / 1000;
      return {
        predict: (exams: ExamFeatures[]) =>
          exams.map((e) => ({
            examId: e.examId,
            probabilities: THRESHOLDS_KPA.map((t) => sigmoid(6 * (e.roles.t2![0]! + offset - Math.log(t)))),
          })),
        save: (path: string) => writeFileAtomic(path, `model trained on ${train.length} exams\n`),
      };
    },
  };
  const exams = cohort(60);
  const options = (outDir: string, saveModels: boolean) => ({
    examsFor: () => exams,
    recipes: [runner],
    schemes: ["cv10" as const],
    outDir,
    seed: 3,
    bootstrapResamples: 100,
    saveModels,
  });

  it("keeps each fold's model with its sha256, and retrains only a fold whose model file went missing", async () => {
    const out = tmp();
    calls = 0;
    const first = await runValidation(options(out, true));
    assert.equal(first.trainedFolds, 10);
    const p1 = foldFilePaths(out, "fake", "cv10", "1");
    assert.ok(existsSync(p1.model));
    const fold1 = JSON.parse(readFileSync(p1.json, "utf8"));
    assert.match(fold1.modelSha256, /^[0-9a-f]{64}$/);
    rmSync(foldFilePaths(out, "fake", "cv10", "4").model);
    writeFileSync(foldFilePaths(out, "fake", "cv10", "7").model, "edited");
    calls = 0;
    const again = await runValidation(options(out, true));
    assert.equal(again.trainedFolds, 2);
    assert.equal(again.resumedFolds, 8);
    assert.equal(calls, 2);
    assert.deepEqual(again.rows, first.rows);
    assert.ok(existsSync(foldFilePaths(out, "fake", "cv10", "4").model));
  });

  it("without saveModels writes fold files as before and resumes without model files", async () => {
    const out = tmp();
    await runValidation(options(out, false));
    const p1 = foldFilePaths(out, "fake", "cv10", "1");
    assert.ok(!existsSync(p1.model));
    assert.equal(JSON.parse(readFileSync(p1.json, "utf8")).modelSha256, undefined);
    const again = await runValidation(options(out, false));
    assert.equal(again.resumedFolds, 10);
  });
});

describe("ensemble", () => {
  const cutoffs: [number, number, number, number, number] = [0.5, 0.4, 0.3, 0.2, 0.1];

  it("averages the members, gives their range and the geometric-mean kPa, and averages attention", () => {
    const p = combine(
      "E1",
      [
        {
          examId: "E1",
          probabilities: [0.9, 0.6, 0.3, 0.2, 0.05],
          kpaPred: 2,
          attention: { t2: [0.25, 0.75] },
        },
        {
          examId: "E1",
          probabilities: [0.7, 0.4, 0.2, 0.1, 0.01],
          kpaPred: 8,
          attention: { t2: [0.75, 0.25] },
        },
      ],
      ["1", "2"],
      cutoffs,
    );
    assert.ok(Math.abs(p.thresholds[0]!.probability - 0.8) < 1e-12);
    assert.deepEqual(p.thresholds[1]!.interval, [0.4, 0.6]);
    assert.ok(Math.abs(p.thresholds[1]!.sd - Math.sqrt(0.02)) < 1e-12);
    assert.ok(Math.abs(p.kpaPred!.value - 4) < 1e-12);
    assert.deepEqual(p.kpaPred!.interval, [2, 8]);
    assert.deepEqual(p.attention, { t2: [0.5, 0.5] });
    // 0.8 > 0.5, 0.5 > 0.4, 0.25 < 0.3, 0.15 < 0.2, 0.03 < 0.1: category >= 3.0 kPa.
    assert.equal(p.category.thresholdKpa, 3);
    assert.equal(p.category.label, ">= 3.0 kPa");
    assert.deepEqual(
      p.members.map((m) => m.fold),
      ["1", "2"],
    );
  });

  it("names the category by the highest threshold with every threshold up to it above its cut-off", () => {
    assert.equal(categoryOf([0.9, 0.8, 0.7, 0.6, 0.5], cutoffs).thresholdKpa, 5);
    // 2.5 below its cut-off: "< 2.5 kPa", whatever the higher thresholds say (they are listed as ignored).
    const gap = categoryOf([0.45, 0.8, 0.7, 0.6, 0.5], cutoffs);
    assert.equal(gap.thresholdKpa, null);
    assert.deepEqual(gap.ignoredKpa, [3, 3.5, 4, 5]);
    const none = categoryOf([0.4, 0.3, 0.2, 0.1, 0.05], cutoffs);
    assert.equal(none.thresholdKpa, null);
    assert.equal(none.label, "< 2.5 kPa");
    assert.equal(none.cutoff, 0.5);
  });

  it("drops kPa when a member has none, and attention when a member has none", () => {
    const p = combine(
      "E",
      [
        { examId: "E", probabilities: [0.5, 0.5, 0.5, 0.5, 0.5], kpaPred: 3 },
        { examId: "E", probabilities: [0.5, 0.5, 0.5, 0.5, 0.5] },
      ],
      ["1", "2"],
      cutoffs,
    );
    assert.equal(p.kpaPred, null);
    assert.equal(p.attention, null);
  });
});

describe("pooled cut-offs", () => {
  it("are Youden's on the pooled out-of-fold rows, 0.5 for a one-class threshold", () => {
    const rng = new Rng(9);
    const rows = Array.from({ length: 80 }, (_, i) => {
      const kpa = 2 + rng.uniform() * 2.8; // never >= 5.0
      const p = Math.min(1, Math.max(0, (kpa - 2) / 3 + rng.normal(0, 0.15)));
      return { kpa, probabilities: [p, p, p, p, p], fold: String(i % 10) } as unknown as PredictionRow;
    });
    const c = pooledCutoffs(rows);
    const expected = youden(
      rows.map((r) => (r.kpa >= 3 ? 1 : 0)),
      rows.map((r) => r.probabilities[1]),
    ).threshold;
    assert.equal(c[1], Math.min(1, Math.max(0, expected)));
    assert.equal(c[4], 0.5);
  });
});

describe("warnings", () => {
  const exam = (over: Partial<ExamRecord>): ExamRecord => ({
    examId: "E",
    patientKey: "P",
    site: "A",
    siteSource: "labels",
    studyInstanceUid: "1.2",
    vendor: "Siemens",
    model: "Aera",
    fieldStrengthT: 1.5,
    ageYears: 50,
    kpa: 3,
    usable: true,
    roles: ["t1_in", "t1_opp", "t2"],
    ...over,
  });
  const series = (step: number): SeriesRecord[] =>
    (["t1_in", "t1_opp", "t2"] as const).map((role) => ({
      examId: "E",
      seriesInstanceUid: `S-${role}`,
      role,
      reasons: [],
      chosen: true,
      frames: 20,
      dims: [256, 256, 20] as [number, number, number],
      spacingMm: [1.5, 1.5, step] as [number, number, number],
    }));
  const feats = (v: number): ExamFeatures => ({
    examId: "E",
    patientKey: "P",
    site: "A",
    slices: 2,
    featureDim: 2,
    roles: { t2: Float32Array.of(v, -v, v, -v) },
  });
  const training = [exam({ examId: "A1", ageYears: 30 }), exam({ examId: "A2", ageYears: 70 })];
  const summary = summarizeTrainingSet(training, (id) => series(id === "A1" ? 5 : 8), [
    { ...feats(1), examId: "A1" },
    { ...feats(1.2), examId: "A2" },
  ]);

  it("summarises the training set", () => {
    assert.deepEqual(summary.vendors, { Siemens: 2 });
    assert.deepEqual(summary.fieldStrengthsT, { "1.5": 2 });
    assert.deepEqual(summary.protocol.t2?.sliceStepMm, { min: 5, max: 8 });
    assert.deepEqual(summary.ageYears, { min: 30, max: 70, median: 50, missing: 0 });
  });

  it("is silent for an exam like the training ones", () => {
    assert.deepEqual(
      distributionWarnings(exam({}), series(6), feats(1.1), summary, ["t1_in", "t1_opp", "t2"]),
      [],
    );
  });

  it("flags vendor, field strength, protocol, age, a missing optional role and a feature outlier", () => {
    const w = distributionWarnings(
      exam({ vendor: "GE", fieldStrengthT: 3, ageYears: 9, roles: ["t1_in", "t2"] }),
      series(10).filter((s) => s.role !== "t1_opp"),
      feats(50),
      summary,
      ["t1_in", "t1_opp", "t2"],
    );
    const codes = w.map((x) => x.code).sort();
    assert.deepEqual(codes, [
      "age_outside",
      "feature_outlier",
      "field_strength_outside",
      "missing_optional_role",
      "protocol_outside",
      "protocol_outside",
      "vendor_unseen",
    ]);
    assert.match(
      w.find((x) => x.code === "protocol_outside")!.message,
      /slice step 10 mm is outside the training range 5-8 mm/,
    );
    assert.match(w.find((x) => x.code === "missing_optional_role")!.message, /no t1_opp series/);
  });

  it("flags blank slices and non-finite voxels", () => {
    const v = new Float32Array(3 * 4).map((_, i) => (i < 4 ? 0 : i));
    v[9] = Number.NaN;
    const w = volumeWarnings("t2", v, 3);
    assert.equal(w.length, 2);
    assert.match(w[0]!.message, /1 voxels are not finite/);
    assert.match(w[1]!.message, /slice 1 of 3 is blank/);
    assert.deepEqual(volumeWarnings("t2", Float32Array.of(1, 2, 3, 4), 1), []);
  });
});

describe("bundle checks", () => {
  it("refuses a bundle.json that lacks a section, naming it", () => {
    const d = tmp();
    mkdirSync(join(d, "b"));
    writeFileSync(
      join(d, "b", "bundle.json"),
      JSON.stringify({ format: "liverstiff-bundle", formatVersion: 3, recipe: {}, members: [] }),
    );
    assert.throws(() => readBundleManifest(join(d, "b")), /no integrity digest or file list/);
    writeFileSync(join(d, "b", "bundle.json"), JSON.stringify({ format: "something-else" }));
    assert.throws(() => readBundleManifest(join(d, "b")), /not a liverstiff model bundle/);
    assert.throws(() => readBundleManifest(d), /bundle\.json is missing/);
  });
});

describe("roles a bundle's model reads", () => {
  const manifest = (head: Record<string, unknown>) =>
    ({ recipe: { head }, preparation: { roles: ["t1_in", "t1_opp", "t2"] } }) as unknown as BundleManifest;

  it("liverstiff: every role of head.roles present; the absent ones are optional", () => {
    const m = manifest({ kind: "liverstiff", roles: ["t1_in", "t1_opp", "t2"] });
    assert.deepEqual(modelRoles(m, ["t1_opp", "t2"]), {
      used: ["t1_opp", "t2"],
      optional: ["t1_in", "t1_opp", "t2"],
    });
  });

  it("deepliver2: t2 and t1 = t1_in when present, else t1_opp; nothing optional", () => {
    const m = manifest({ kind: "deepliver2", inputs: ["t2", "t1"] });
    assert.deepEqual(modelRoles(m, ["t1_in", "t1_opp", "t2"]), { used: ["t1_in", "t2"], optional: [] });
    assert.deepEqual(modelRoles(m, ["t1_opp", "t2"]).used, ["t1_opp", "t2"]);
  });
});
