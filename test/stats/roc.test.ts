import assert from "node:assert/strict";
import { test } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import {
  auroc,
  confusionAt,
  delong,
  delongPaired,
  delongUnpaired,
  evaluateBinary,
  rocCurve,
  wilson,
  youden,
} from "../../src/stats/index.ts";
import { assertRel, extraFixtures, procCases } from "./helpers.ts";

const REL = 1e-9;

for (const c of procCases()) {
  test(`pROC fixture ${c.name}: AUROC, DeLong variance and 95% CI to 1e-9`, () => {
    assertRel(auroc(c.labels, c.scores), c.auc, REL, "auroc");
    const d = delong(c.labels, c.scores);
    assertRel(d.auc, c.auc, REL, "delong auc");
    assertRel(d.variance, c.delong_var, REL, "delong variance");
    assertRel(d.ci[0], c.delong_ci95[0], REL, "delong ci lower");
    assertRel(d.ci[1], c.delong_ci95[1], REL, "delong ci upper");
  });

  test(`pROC fixture ${c.name}: Youden threshold and counts exactly, Wilson intervals to 1e-9`, () => {
    const y = youden(c.labels, c.scores);
    assert.equal(y.threshold, c.youden.threshold);
    assert.deepEqual([y.tp, y.tn, y.fp, y.fn], [c.youden.tp, c.youden.tn, c.youden.fp, c.youden.fn]);
    assertRel(y.sensitivity, c.youden.sensitivity, REL, "sensitivity");
    assertRel(y.specificity, c.youden.specificity, REL, "specificity");
    assertRel(y.accuracy, c.youden.accuracy, REL, "accuracy");
    for (const k of [0, 1]) {
      assertRel(y.sensitivity_wilson95[k], c.youden.sensitivity_wilson95[k], REL, `sensitivity Wilson ${k}`);
      assertRel(y.specificity_wilson95[k], c.youden.specificity_wilson95[k], REL, `specificity Wilson ${k}`);
    }
    // The same counts from the fixed-threshold path.
    const at = confusionAt(c.labels, c.scores, c.youden.threshold);
    assert.deepEqual([at.tp, at.tn, at.fp, at.fn], [y.tp, y.tn, y.fp, y.fn]);
  });

  test(`pROC fixture ${c.name}: evaluateBinary uses the fixture's field names and values`, () => {
    const r = evaluateBinary(c.labels, c.scores, { scores2: c.scores2, bootstrap: false });
    assertRel(r.auc, c.auc, REL, "auc");
    assertRel(r.delong_var, c.delong_var, REL, "delong_var");
    assertRel(r.delong_ci95[1], c.delong_ci95[1], REL, "delong_ci95");
    assert.equal(r.youden.threshold, c.youden.threshold);
    assert.equal(r.youden.tp, c.youden.tp);
    assertRel(
      r.youden.specificity_wilson95[0],
      c.youden.specificity_wilson95[0],
      REL,
      "youden.specificity_wilson95",
    );
    if (c.scores2) {
      assertRel(r.auc2 as number, c.auc2 as number, REL, "auc2");
      assertRel(r.delong_paired_z as number, c.delong_paired_z as number, REL, "delong_paired_z");
      assertRel(r.delong_paired_p as number, c.delong_paired_p as number, REL, "delong_paired_p");
    }
  });
}

test("pROC fixture paired: paired DeLong z and p to 1e-9", () => {
  const c = procCases().find((x) => x.scores2 !== undefined);
  assert.ok(c, "the fixtures contain a paired case");
  const t = delongPaired(c.labels, c.scores, c.scores2 as number[]);
  assertRel(t.auc1, c.auc, REL, "auc1");
  assertRel(t.auc2, c.auc2 as number, REL, "auc2");
  assertRel(t.z, c.delong_paired_z as number, REL, "z");
  assertRel(t.p, c.delong_paired_p as number, REL, "p");
  // Swapping the scores negates z and keeps p.
  const s = delongPaired(c.labels, c.scores2 as number[], c.scores);
  assertRel(s.z, -t.z, 1e-12, "swapped z");
  assertRel(s.p, t.p, 1e-12, "swapped p");
  // The variance of each curve equals the single-curve DeLong variance.
  assertRel(t.variance1, delong(c.labels, c.scores).variance, 1e-12, "variance1");
});

test("paired DeLong of a score with itself: z = 0, p = 1 (as pROC)", () => {
  const c = procCases()[1];
  const t = delongPaired(c.labels, c.scores, c.scores);
  assert.equal(t.z, 0);
  assert.equal(t.p, 1);
});

test("unpaired DeLong test matches pROC's roc.test(paired = FALSE): D, df and p", () => {
  const u = extraFixtures().unpaired;
  const r = delongUnpaired(u.labels1, u.scores1, u.labels2, u.scores2);
  assertRel(r.auc1, u.auc1, REL, "auc1");
  assertRel(r.auc2, u.auc2, REL, "auc2");
  assertRel(r.d, u.statistic, REL, "D");
  assertRel(r.df, u.df, REL, "df");
  assertRel(r.p, u.p, REL, "p");
});

test("Wilson intervals match prop.test(correct = FALSE) at 95% and 90%, edges included", () => {
  for (const w of extraFixtures().wilson as { x: number; n: number; ci95: number[]; ci90: number[] }[]) {
    const a = wilson(w.x, w.n);
    const b = wilson(w.x, w.n, 0.9);
    for (const k of [0, 1]) {
      assertRel(a[k], w.ci95[k], REL, `wilson(${w.x}, ${w.n})[${k}]`);
      assertRel(b[k], w.ci90[k], REL, `wilson(${w.x}, ${w.n}, 0.9)[${k}]`);
    }
  }
  assert.throws(() => wilson(3, 0), LiverstiffError);
  assert.throws(() => wilson(5, 4), LiverstiffError);
});

test("ROC curve: pROC thresholds, monotone, and its trapezoid area equals the AUROC", () => {
  const c = procCases()[0];
  const r = rocCurve(c.labels, c.scores);
  // ties_small has distinct scores 1..8: thresholds -Inf, 1.5, ..., 7.5, +Inf.
  assert.deepEqual(Array.from(r.thresholds), [-Infinity, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, Infinity]);
  assert.equal(r.sensitivity[0], 1);
  assert.equal(r.specificity[0], 0);
  assert.equal(r.sensitivity[r.sensitivity.length - 1], 0);
  assert.equal(r.specificity[r.specificity.length - 1], 1);
  let area = 0;
  for (let k = 1; k < r.thresholds.length; k++) {
    assert.ok(r.sensitivity[k] <= r.sensitivity[k - 1] && r.specificity[k] >= r.specificity[k - 1]);
    area += ((r.specificity[k] - r.specificity[k - 1]) * (r.sensitivity[k] + r.sensitivity[k - 1])) / 2;
  }
  assertRel(area, c.auc, 1e-12, "trapezoid area");
});

test("confusionAt: score >= threshold is positive; derived proportions", () => {
  const labels = [0, 0, 0, 1, 1, 1, 1, 0];
  const scores = [0.1, 0.4, 0.5, 0.5, 0.7, 0.9, 0.2, 0.8];
  const c = confusionAt(labels, scores, 0.5);
  assert.deepEqual([c.tp, c.fn, c.fp, c.tn], [3, 1, 2, 2]);
  assert.equal(c.sensitivity, 0.75);
  assert.equal(c.specificity, 0.5);
  assert.equal(c.accuracy, 5 / 8);
  assert.equal(c.balanced_accuracy, 0.625);
  assert.equal(c.ppv, 3 / 5);
  assert.equal(c.npv, 2 / 3);
  assert.deepEqual(c.ppv_wilson95, wilson(3, 5));
  // Nothing called positive: PPV has no denominator and is null, not NaN.
  const none = confusionAt(labels, scores, 2);
  assert.equal(none.ppv, null);
  assert.equal(none.ppv_wilson95, null);
  assert.equal(none.sensitivity, 0);
});

test("Youden on adjacent doubles: the threshold separates them as pROC's near-tie rule does", () => {
  const a = 1;
  const b = 1 + Number.EPSILON; // (a + b) / 2 rounds back onto a
  const y = youden([0, 0, 1, 1], [0, a, b, 2]);
  assert.equal(y.threshold, b);
  assert.deepEqual([y.tp, y.tn, y.fp, y.fn], [2, 2, 0, 0]);
});
