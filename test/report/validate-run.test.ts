// The report on a run folder written by validate/ itself (runValidation with two stand-in recipes), so
// that a drift in validate/'s outputs (metrics.json, manifest.json, predictions.csv) shows up here.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Rng } from "../../src/core/index.ts";
import type { ExamFeatures } from "../../src/features/types.ts";
import { THRESHOLDS_KPA } from "../../src/features/types.ts";
import { writeReport } from "../../src/report/index.ts";
import { type RecipeRunner, runValidation } from "../../src/validate/index.ts";
import { attr, ci3, findAll, findOne, parseHtml, text } from "./helpers.ts";

function cohort(nPatients: number): ExamFeatures[] {
  const rng = new Rng(611);
  const sites = ["north", "south", "east", "west"];
  const exams: ExamFeatures[] = [];
  for (let p = 0; p < nPatients; p++) {
    const site = sites[p % 4];
    const base = Math.exp(rng.normal(Math.log(2.9), 0.4));
    const repeats = rng.bernoulli(0.15) ? 2 : 1;
    for (let r = 0; r < repeats; r++) {
      const kpa = base * Math.exp(rng.normal(0, 0.05));
      exams.push({
        examId: `${site}/E${p}-${r}`,
        patientKey: `P${p}`,
        site,
        studyDate: `${2012 + rng.int(11)}-0${1 + rng.int(9)}-1${rng.int(10)}`,
        ageYears: 6 + rng.int(78),
        sex: rng.bernoulli(0.5) ? "M" : "F",
        vendor: site === "north" ? "GE" : "Siemens",
        fieldStrengthT: site === "east" ? 3 : 1.5,
        kpa,
        slices: 1,
        featureDim: 1,
        roles: { t2: Float32Array.of(Math.log(kpa)) },
      });
    }
  }
  return exams;
}

/** A stand-in recipe: probabilities from the feature plus per-exam noise (deterministic per exam). */
function runner(name: string, noise: number, regress: boolean): RecipeRunner {
  return {
    name,
    fingerprint: `stand-in/${name}/${noise}`,
    train: () => ({
      predict: (exams) =>
        exams.map((e) => {
          const z = e.roles.t2![0] + Rng.derive(name, e.examId).normal(0, noise);
          return {
            examId: e.examId,
            probabilities: THRESHOLDS_KPA.map((t) => 1 / (1 + Math.exp(-6 * (z - Math.log(t))))),
            ...(regress ? { kpaPred: Math.exp(z) } : {}),
          };
        }),
    }),
  };
}

test("a run folder written by validate/ renders: every scheme, the comparison, the manifest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "liverstiff-report-validate-"));
  try {
    const exams = cohort(160);
    const result = await runValidation({
      examsFor: () => exams,
      recipes: [runner("deepliver2", 0.3, false), runner("liverstiff", 0.15, true)],
      schemes: ["cv10", "temporal", "loso"],
      outDir: dir,
      seed: 7,
      bootstrapResamples: 200,
      manifest: { codeVersion: "test", dataFingerprint: "sha256:abc" },
    });
    const { path } = await writeReport(dir);
    const html = readFileSync(path, "utf8");
    const doc = parseHtml(html);
    assert.ok(!html.includes("[object Object]"), "no object printed as text");
    assert.ok(!/\bNaN\b|undefined/.test(text(findOne(doc, "main"))), "no NaN or undefined in the text");
    for (const m of result.metrics.schemes) {
      const t = m.thresholds.find((x) => x.thresholdKpa === 3.0)!;
      const row = findOne(findOne(doc, "table", { "data-table": "headline" }), "tr", {
        "data-recipe": m.recipe,
      });
      assert.ok(text(findOne(row, "td", { "data-col": m.scheme })).startsWith(ci3(t.auc, t.aucDelongCi95)));
      for (const x of m.thresholds) {
        assert.equal(
          findAll(doc, "figure", { "data-plot": `roc-${m.scheme}-${x.thresholdKpa.toFixed(1)}` }).length,
          1,
        );
      }
    }
    const comparisons = findAll(findOne(doc, "table", { "data-table": "comparison" }), "tr").filter(
      (r) => attr(r, "data-threshold") !== undefined,
    );
    assert.equal(comparisons.length, result.metrics.comparisons.length);
    const temporal = result.metrics.schemes.find((s) => s.scheme === "temporal")!.temporal!;
    assert.match(
      text(findOne(doc, "section", { id: "scheme-temporal" })),
      new RegExp(`Split date ${temporal.splitDate}`),
    );
    const manifest = findOne(doc, "table", { "data-table": "manifest" });
    const field = (name: string) => text(findOne(findOne(manifest, "tr", { "data-field": name }), "td"));
    assert.equal(field("Recipes"), "deepliver2, liverstiff");
    assert.equal(field("Seed"), "7");
    assert.equal(field("Data fingerprint"), "sha256:abc");
    // The kPa scatter comes from predictions.csv, for the recipe that regresses only.
    assert.equal(findAll(doc, "figure", { "data-plot": "kpa-loso" }).length, 1);
    assert.match(text(findOne(doc, "figure", { "data-plot": "kpa-loso" })), /liverstiff/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
