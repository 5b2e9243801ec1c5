import assert from "node:assert/strict";
import { test } from "node:test";
import {
  agreement,
  calibration,
  correlation,
  midRanks,
  netBenefit,
  pnorm,
  pt,
  qnorm,
  qt,
} from "../../src/stats/index.ts";
import { assertAbs, assertRel, extraFixtures } from "./helpers.ts";

test("distribution functions match R: pnorm, qnorm, pt, qt", () => {
  const d = extraFixtures().distributions;
  d.pnorm_x.forEach((x: number, i: number) => {
    assertAbs(pnorm(x), d.pnorm[i], 1e-15 * d.pnorm[i] + 1e-300, `pnorm(${x})`);
  });
  d.qnorm_p.forEach((p: number, i: number) => {
    assertRel(qnorm(p), d.qnorm[i], 1e-13, `qnorm(${p})`);
  });
  d.pt_x.forEach((x: number, i: number) => {
    assertRel(pt(x, d.pt_df[i]), d.pt[i], 1e-10, `pt(${x}, ${d.pt_df[i]})`);
  });
  d.qt_p.forEach((p: number, i: number) => {
    assertRel(qt(p, d.qt_df[i]), d.qt[i], 1e-9, `qt(${p}, ${d.qt_df[i]})`);
  });
});

test("calibration: Brier, intercept and slope match R's glm", () => {
  const c = extraFixtures().calibration;
  const r = calibration(c.labels, c.probabilities);
  assertRel(r.brier, c.brier, 1e-12, "brier");
  assertRel(r.intercept as number, c.intercept, 1e-8, "intercept");
  assertRel(r.slope as number, c.slope, 1e-8, "slope");
  assertRel(r.slope_fit_intercept as number, c.slope_fit_intercept, 1e-8, "slope fit intercept");
  assert.equal(r.fit_note, undefined);
});

test("calibration: reliability bins and ECE on a hand-checked example", () => {
  const labels = [0, 0, 1, 0, 1, 1, 1, 0];
  const p = [0.05, 0.15, 0.15, 0.55, 0.55, 0.95, 0.95, 1];
  const r = calibration(labels, p, { bins: 2 });
  assert.equal(r.bins.length, 2);
  assert.deepEqual(
    r.bins.map((b) => [b.lower, b.upper, b.n, b.observed]),
    [
      [0, 0.5, 3, 1 / 3],
      [0.5, 1, 5, 3 / 5],
    ],
  );
  assertRel(r.bins[0].mean_predicted, 0.35 / 3, 1e-12, "bin 0 mean");
  assertRel(r.bins[1].mean_predicted, 4 / 5, 1e-12, "bin 1 mean");
  const ece = (3 / 8) * Math.abs(1 / 3 - 0.35 / 3) + (5 / 8) * Math.abs(3 / 5 - 4 / 5);
  assertRel(r.ece, ece, 1e-12, "ece");
  assertRel(r.mce, Math.abs(1 / 3 - 0.35 / 3), 1e-12, "mce");
  // A perfectly separating score: the slope diverges and is reported as null with a note, not NaN.
  const sep = calibration([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]);
  assert.equal(sep.slope, null);
  assert.match(sep.fit_note ?? "", /did not converge/);
  assert.ok(Number.isFinite(sep.intercept as number));
});

test("correlation: Pearson (cor.test) and Spearman with Fisher-z intervals match R", () => {
  const c = extraFixtures().continuous;
  const p = correlation(c.predicted, c.reference);
  assertRel(p.r, c.pearson_r, 1e-12, "pearson r");
  assertRel(p.ci[0], c.pearson_ci95[0], 1e-10, "pearson ci lower");
  assertRel(p.ci[1], c.pearson_ci95[1], 1e-10, "pearson ci upper");
  assertRel(p.p, c.pearson_p, 1e-8, "pearson p");
  const s = correlation(c.predicted, c.reference, { method: "spearman" });
  assertRel(s.r, c.spearman_r, 1e-12, "spearman rho");
  assertRel(s.ci[0], c.spearman_ci95[0], 1e-10, "spearman ci lower");
  assertRel(s.ci[1], c.spearman_ci95[1], 1e-10, "spearman ci upper");
  assertRel(s.p, c.spearman_p, 1e-8, "spearman p");
  assert.deepEqual(Array.from(midRanks([3, 1, 3, 2, 3])), [4, 1, 4, 2, 4]);
});

test("agreement: MAE, RMSE, bias with t interval and Bland-Altman limits match R", () => {
  const c = extraFixtures().continuous;
  const a = agreement(c.predicted, c.reference);
  assertRel(a.bias, c.bias, 1e-12, "bias");
  assertRel(a.bias_ci[0], c.bias_ci95[0], 1e-9, "bias ci lower");
  assertRel(a.bias_ci[1], c.bias_ci95[1], 1e-9, "bias ci upper");
  assertRel(a.sd_diff, c.sd_diff, 1e-12, "sd");
  assertRel(a.mae, c.mae, 1e-12, "mae");
  assertRel(a.rmse, c.rmse, 1e-12, "rmse");
  for (const k of [0, 1]) {
    assertRel(a.loa[k], c.loa[k], 1e-12, `loa ${k}`);
    assertRel(a.loa_lower_ci[k], c.loa_lower_ci95[k], 1e-9, `loa lower ci ${k}`);
    assertRel(a.loa_upper_ci[k], c.loa_upper_ci95[k], 1e-9, `loa upper ci ${k}`);
  }
});

test("net benefit: hand-computed decision curve", () => {
  const labels = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
  const p = [0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.1, 0.05, 0.2, 0.4];
  const rows = netBenefit(labels, p, [0.2, 0.5]);
  // p_t = 0.2: treated = p >= 0.2 -> TP 3, FP 4 (0.7, 0.3, 0.2, 0.4); odds 0.25.
  assert.deepEqual([rows[0].tp, rows[0].fp], [3, 4]);
  assertRel(rows[0].net_benefit, 3 / 10 - (4 / 10) * 0.25, 1e-12, "nb 0.2");
  assertRel(rows[0].treat_all, 0.3 - 0.7 * 0.25, 1e-12, "treat all 0.2");
  // p_t = 0.5: TP 2, FP 1; odds 1.
  assert.deepEqual([rows[1].tp, rows[1].fp], [2, 1]);
  assertRel(rows[1].net_benefit, 0.1, 1e-12, "nb 0.5");
  assertRel(rows[1].treat_all, 0.3 - 0.7, 1e-12, "treat all 0.5");
  assert.equal(rows[1].treat_none, 0);
});
