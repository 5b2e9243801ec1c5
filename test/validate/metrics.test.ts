// The journal-reviewer statistics of metrics.json on small, hand-checkable prediction rows: paired
// comparisons clustered by patient, the share of attainable gain, counts behind proportions, decision
// curves, subgroup confounding and the cohort table.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { headlineTable } from "../../src/cli/headline.ts";
import { Catalog, type ExamRecord, type SeriesRecord } from "../../src/cohort/index.ts";
import { delongPaired } from "../../src/stats/index.ts";
import { catalogFlow, cohortFlow, cohortSummaries } from "../../src/validate/cohort.ts";
import {
  compareRecipes,
  cutoffCounts,
  oracleShare,
  schemeMetrics,
  subgroupConfounding,
} from "../../src/validate/metrics.ts";
import type { PredictionRow, ValidationMetrics } from "../../src/validate/types.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** One row per exam; the probability at every threshold is `p`, the cut-off 0.5. */
function row(i: number, kpa: number, p: number, extra: Partial<PredictionRow> = {}): PredictionRow {
  return {
    accession: `A${i}`,
    examId: `e${i}`,
    patientId: `p${i}`,
    site: "s1",
    recipe: "r",
    scheme: "cv10",
    fold: "fold-1",
    kpa,
    probabilities: [p, p, p, p, p],
    cutoffs: [0.5, 0.5, 0.5, 0.5, 0.5],
    ...extra,
  };
}

// 12 exams of 12 patients; kPa >= 3.0 for the first six. Two recipes with different, tied-free scores.
const KPA = [3.4, 4.1, 3.0, 5.2, 3.7, 3.2, 2.1, 2.6, 2.9, 1.8, 2.4, 2.2];
const SCORE_A = [0.91, 0.62, 0.55, 0.88, 0.47, 0.73, 0.31, 0.52, 0.66, 0.12, 0.25, 0.4];
const SCORE_B = [0.7, 0.44, 0.81, 0.58, 0.35, 0.61, 0.49, 0.3, 0.57, 0.22, 0.68, 0.15];

test("paired comparison clustered by patient equals the unclustered DeLong test when each patient has one exam", () => {
  const a = KPA.map((k, i) => row(i, k, SCORE_A[i]!, { recipe: "A" }));
  const b = KPA.map((k, i) => row(i, k, SCORE_B[i]!, { recipe: "B" }));
  const [c] = compareRecipes("cv10", { recipe: "A", rows: a }, { recipe: "B", rows: b }).filter(
    (x) => x.thresholdKpa === 3.0,
  );
  assert.ok(c);
  assert.equal(c.n, 12);
  assert.equal(c.nPatients, 12);
  close(c.deltaAuc, c.aucA - c.aucB, 1e-15, "delta");
  close(c.pClustered, c.p, 1e-12, "p");
  close(c.zClustered, c.z, 1e-10, "z");
  close(c.deltaAucCi95[0], c.deltaAucCi95Unclustered[0], 1e-12, "ci lo");
  close(c.deltaAucCi95[1], c.deltaAucCi95Unclustered[1], 1e-12, "ci hi");
  // AUROC A by hand: of the 36 positive-negative pairs A ranks 32 correctly; B ranks 28.
  close(c.aucA, 32 / 36, 1e-15, "aucA");
  close(c.aucB, 28 / 36, 1e-15, "aucB");
});

test("repeat exams: clustering by patient widens the CI; a twice-scanned cohort has the single-scan variance", () => {
  // Every patient scanned twice with identical results: no new information, so the patient-clustered test
  // of the doubled cohort must equal the plain test of the single cohort, and be wider than the plain
  // test of the doubled cohort (which counts each patient twice).
  const twice = (scores: number[], recipe: string) =>
    KPA.flatMap((k, i) => [
      row(i, k, scores[i]!, { recipe, examId: `e${i}a`, patientId: `p${i}` }),
      row(i, k, scores[i]!, { recipe, examId: `e${i}b`, patientId: `p${i}` }),
    ]);
  const [c] = compareRecipes(
    "cv10",
    { recipe: "A", rows: twice(SCORE_A, "A") },
    { recipe: "B", rows: twice(SCORE_B, "B") },
  ).filter((x) => x.thresholdKpa === 3.0);
  assert.ok(c);
  assert.equal(c.n, 24);
  assert.equal(c.nPatients, 12);
  const labels = KPA.map((k) => (k >= 3 ? 1 : 0));
  const single = delongPaired(labels, SCORE_A, SCORE_B);
  close(c.deltaAuc, single.difference, 1e-15, "same difference");
  close(c.deltaAucCi95[0], single.ci[0], 1e-12, "clustered = single-scan ci lo");
  close(c.deltaAucCi95[1], single.ci[1], 1e-12, "clustered = single-scan ci hi");
  const width = (ci: [number, number]) => ci[1] - ci[0];
  const ratio = width(c.deltaAucCi95) / width(c.deltaAucCi95Unclustered);
  // Unclustered variance terms shrink by (m - 1) / (2m - 1) = 5/11 per class here: the CI by sqrt(11/5).
  close(ratio, Math.sqrt(11 / 5), 1e-9, "width ratio");
  assert.ok(c.pClustered > c.p, `clustered p ${c.pClustered} > unclustered ${c.p}`);
});

test("share of attainable gain: (AUROC - 0.5) / (oracle - 0.5) beside AUROC / oracle", () => {
  const s = oracleShare(0.8, 0.9)!;
  close(s.shareOfAttainableGain, 0.75, 1e-15, "0.3 / 0.4");
  close(s.aucOverOracle, 0.8 / 0.9, 1e-15, "ratio");
  assert.equal(s.oracleAuc, 0.9);
  // Chance scores no share of the gain, even though AUROC / oracle says 0.56.
  assert.equal(oracleShare(0.5, 0.9)!.shareOfAttainableGain, 0);
  assert.equal(oracleShare(0.7, 0.5), undefined, "an oracle at chance leaves no gain to share");
  assert.equal(oracleShare(Number.NaN, 0.9), undefined);
});

test("counts beside proportions, and schemeMetrics carries them with the decision curve", () => {
  assert.deepEqual(cutoffCounts(172, 300, 40, 58), {
    sensitivity: [172, 230],
    specificity: [300, 340],
    ppv: [172, 212],
    npv: [300, 358],
    accuracy: [472, 570],
  });
  const rows = KPA.map((k, i) => row(i, k, SCORE_A[i]!));
  const m = schemeMetrics("A", "cv10", rows, [], { bootstrapResamples: 50, seed: 1 });
  const t = m.thresholds.find((x) => x.thresholdKpa === 3.0)!;
  // Called positive when p > 0.5: positives 0.91 0.62 0.55 0.88 0.73 (not 0.47); negatives 0.52 0.66.
  assert.deepEqual(t.atCutoffCounts, {
    sensitivity: [5, 6],
    specificity: [4, 6],
    ppv: [5, 7],
    npv: [4, 5],
    accuracy: [9, 12],
  });
  close(t.atCutoff.sensitivity, 5 / 6, 1e-15, "sensitivity agrees with its counts");
  // Decision curve at p_t = 0.5: treated when p >= 0.5 -> TP 5, FP 2 of n = 12; odds 1.
  const dc = m.decisionCurve!;
  assert.equal(dc.thresholdKpa, 3.0);
  assert.equal(dc.rows.length, 99);
  const half = dc.rows.find((r) => Math.abs(r.threshold - 0.5) < 1e-12)!;
  assert.equal(half.tp, 5);
  assert.equal(half.fp, 2);
  close(half.net_benefit, 5 / 12 - 2 / 12, 1e-15, "NB at 0.5");
  close(half.treat_all, 0.5 - 0.5, 1e-15, "treat-all at 0.5 with prevalence 1/2");
  // At p_t = 0.2 (odds 1/4): every exam but 0.12 is >= 0.2 -> TP 6, FP 5.
  const fifth = dc.rows.find((r) => Math.abs(r.threshold - 0.2) < 1e-12)!;
  assert.equal(fifth.tp, 6);
  assert.equal(fifth.fp, 5);
  close(fifth.net_benefit, 6 / 12 - (5 / 12) * 0.25, 1e-15, "NB at 0.2");
  close(fifth.treat_all, 0.5 - 0.5 * 0.25, 1e-15, "treat-all at 0.2");
  assert.equal(fifth.treat_none, 0);
});

test("subgroup confounding is detected from the data: identical partitions, nesting, independence", () => {
  const vendorOf: Record<string, string> = { s1: "GE", s2: "Siemens", s3: "Philips" };
  const rows = Array.from({ length: 30 }, (_, i) => {
    const site = `s${(i % 3) + 1}`;
    return row(i, 2 + (i % 4), 0.5, {
      site,
      vendor: vendorOf[site],
      // 3 T only at s2: field strength groups are unions of sites (sites nested in field strength).
      fieldStrengthT: site === "s2" ? 3 : 1.5,
      // Age alternates independently of site.
      ageYears: i % 2 === 0 ? 10 : 40,
    });
  });
  const found = subgroupConfounding(rows);
  const identical = found.filter((f) => f.relation === "identical");
  assert.deepEqual(
    identical.map((f) => f.by),
    [["vendor", "site"]],
  );
  assert.deepEqual(identical[0]!.groups, [
    { group: "GE", within: "s1" },
    { group: "Philips", within: "s3" },
    { group: "Siemens", within: "s2" },
  ]);
  assert.equal(identical[0]!.n, 30);
  const nested = found.filter((f) => f.relation === "nested").map((f) => f.by);
  assert.deepEqual(nested, [
    ["vendor", "field strength"],
    ["site", "field strength"],
  ]);
  assert.ok(!found.some((f) => f.by.includes("age")), "age is crossed with site: independent");
  // Two vendors at one site breaks the identity.
  rows[0]!.vendor = "Philips";
  assert.ok(!subgroupConfounding(rows).some((f) => f.relation === "identical"));
});

test("cohort table per site and overall, and the flow to each scheme's test part", () => {
  const exams = [
    { patientKey: "a", site: "X", vendor: "GE", fieldStrengthT: 1.5, ageYears: 10, sex: "F", kpa: 2.0 },
    { patientKey: "a", site: "X", vendor: "GE", fieldStrengthT: 1.5, ageYears: 11, sex: "F", kpa: 3.0 },
    { patientKey: "b", site: "X", vendor: "GE", fieldStrengthT: 3, ageYears: 40, sex: "M", kpa: 4.0 },
    { patientKey: "c", site: "Y", vendor: "Siemens", fieldStrengthT: 3, sex: "M", kpa: 5.5 },
  ];
  const [x, y, all] = cohortSummaries(exams);
  assert.equal(x!.group, "X");
  assert.equal(x!.exams, 3);
  assert.equal(x!.patients, 2);
  assert.deepEqual(x!.fieldStrengths, { "1.5": 2, "3": 1 });
  close(x!.age!.mean, 61 / 3, 1e-12, "mean age");
  close(
    x!.age!.sd,
    Math.sqrt(((10 - 61 / 3) ** 2 + (11 - 61 / 3) ** 2 + (40 - 61 / 3) ** 2) / 2),
    1e-12,
    "sd",
  );
  assert.deepEqual(x!.pediatric, { n: 2, of: 3 });
  assert.deepEqual(x!.kpa, { median: 3.0, q1: 2.5, q3: 3.5 });
  assert.deepEqual(
    x!.positives.map((p) => p.n),
    [2, 2, 1, 1, 0],
  );
  assert.equal(y!.age, null);
  assert.deepEqual(y!.pediatric, { n: 0, of: 0 });
  assert.equal(all!.group, "all");
  assert.deepEqual(all!.vendors, { GE: 3, Siemens: 1 });
  assert.deepEqual(all!.sex, { F: 2, M: 2 });
  assert.deepEqual(all!.kpa, { median: 3.5, q1: 2.75, q3: 4.375 });
  const flow = cohortFlow({ files: 100, examsFound: 6, labelled: 4 }, exams, [
    { scheme: "temporal", rows: [row(1, 3, 0.5), row(2, 3, 0.5, { patientId: "p1" })], droppedTestExams: 1 },
  ]);
  assert.deepEqual(flow, {
    files: 100,
    examsFound: 6,
    labelled: 4,
    validated: 4,
    validatedPatients: 3,
    schemes: [{ scheme: "temporal", testExams: 2, testPatients: 1, droppedTestExams: 1 }],
  });
});

test("the printed headline leads with the share of attainable gain, counts beside sens/spec, clustered p", () => {
  const metrics = JSON.parse(
    readFileSync(new URL("../fixtures/report/run/metrics.json", import.meta.url), "utf8"),
  ) as ValidationMetrics;
  const json = headlineTable(metrics, "json");
  const cv = json.rows.find((r) => r.recipe === "liverstiff" && r.scheme === "cv10")!;
  const t = metrics.schemes
    .find((s) => s.recipe === "liverstiff" && s.scheme === "cv10")!
    .thresholds.find((x) => x.thresholdKpa === 3)!;
  const oracle = metrics.oracle!.aucByThreshold[1]!;
  close(cv.share_of_attainable_gain!, (t.auc - 0.5) / (oracle - 0.5), 1e-12, "share");
  close(cv.fraction_of_oracle!, t.auc / oracle, 1e-12, "ratio");
  assert.deepEqual(cv.sensitivity_counts, [t.atCutoff.tp, t.atCutoff.tp + t.atCutoff.fn]);
  const c = metrics.comparisons.find((x) => x.scheme === "cv10" && x.thresholdKpa === 3)!;
  const jc = json.comparisons.find((x) => x.scheme === "cv10")!;
  assert.equal(jc.p, c.pClustered);
  assert.equal(jc.p_unclustered, c.p);
  const text = headlineTable(metrics, "text").split("\n");
  const line = text.find((l) => l.startsWith("liverstiff") && l.includes("cv10"))!;
  const [tp, nPos] = cv.sensitivity_counts;
  assert.ok(line.includes(`${(tp / nPos).toFixed(3)} (${tp}/${nPos})`), line);
  assert.ok(line.includes(`${cv.share_of_attainable_gain!.toFixed(2)}  `), line);
  assert.match(text[1]!, /gain share\s+AUROC\/oracle/);
  assert.ok(text.some((l) => l.startsWith("paired DeLong clustered by patient, cv10")));
});

test("the flow's ingest steps come from the work folder's catalog and its last ingest summary", () => {
  const dir = mkdtempSync(join(tmpdir(), "ls-flow-"));
  const catalog = Catalog.open(dir);
  try {
    const exam = (id: string, usable: boolean, kpa?: number): ExamRecord => ({
      examId: id,
      patientKey: `p-${id}`,
      site: "X",
      siteSource: "labels",
      studyInstanceUid: `1.2.${id.length}`,
      usable,
      roles: usable ? ["t1_in", "t2"] : ["t2"],
      ...(kpa !== undefined ? { kpa } : {}),
    });
    const series = (examId: string, uid: string, echoTimeMs?: number): SeriesRecord => ({
      examId,
      seriesInstanceUid: uid,
      role: "t2",
      reasons: [],
      chosen: true,
      frames: 20,
      ...(echoTimeMs !== undefined ? { echoTimeMs } : {}),
    });
    catalog.upsertExam(exam("a", true, 2.9));
    catalog.upsertExam(exam("b", true));
    catalog.upsertExam(exam("c", false, 3.3));
    // One series split into two echoes counts once.
    catalog.replaceSeries("a", [series("a", "1.1", 2.3), series("a", "1.1", 4.6), series("a", "1.2")]);
    catalog.replaceSeries("c", [series("c", "1.3")]);
    assert.deepEqual(catalogFlow(catalog), { series: 3, examsFound: 3, usableImages: 2, labelled: 1 });
    const run = catalog.startRun();
    catalog.finishRun(run, { filesSeen: 90, filesIndexed: 80, excludedByReason: { missing_t1: 1 } });
    assert.deepEqual(catalogFlow(catalog), {
      series: 3,
      examsFound: 3,
      usableImages: 2,
      labelled: 1,
      files: 90,
      dicomFiles: 80,
      excludedByReason: { missing_t1: 1 },
    });
  } finally {
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
