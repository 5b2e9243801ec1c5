// The liverstiff head's ridge member: a ridge regression of log kPa on each role's slice-mean features
// (standardised with the training part's statistics; a missing role sits at the mean) and the clinical
// covariates, solved in its dual form (n exams << features), with a Gaussian predictive distribution of
// log kPa whose spread comes from the training part's cross-fitted residuals. P(kPa >= t) =
// 1 - Phi((log t - mu) / sd) is monotone in t by construction, as the attention head's ordinal output is.
// Measured on the demo cohort it ranks exams better than the attention head does (docs/train.md), so the
// head averages the two.
import type { SeriesRole } from "../dicom/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import { type AgeStats, CLINICAL_DIM, clinicalFeatures } from "./data.ts";

export interface RidgeMember {
  /** Column means and SDs of the design (role slice means, then clinical covariates). */
  mean: Float64Array;
  sd: Float64Array;
  /** Primal weights on the standardised columns, and the intercept (mean training log kPa). */
  weights: Float64Array;
  bias: number;
  /** SD of the cross-fitted residuals of log kPa: the predictive spread. */
  residualSd: number;
}

/** Design rows [n x (roles * featureDim + CLINICAL_DIM)]; NaN where a role is missing. */
export function ridgeDesign(
  exams: readonly ExamFeatures[],
  roles: readonly SeriesRole[],
  featureDim: number,
  slices: number,
  age: AgeStats,
): { x: Float64Array; width: number } {
  const width = roles.length * featureDim + CLINICAL_DIM;
  const x = new Float64Array(exams.length * width);
  const clin = clinicalFeatures(exams, age);
  exams.forEach((e, i) => {
    const row = i * width;
    roles.forEach((role, r) => {
      const src = e.roles[role];
      for (let f = 0; f < featureDim; f++) {
        if (!src) {
          x[row + r * featureDim + f] = Number.NaN;
          continue;
        }
        let s = 0;
        for (let k = 0; k < slices; k++) s += src[k * featureDim + f]!;
        x[row + r * featureDim + f] = s / slices;
      }
    });
    for (let c = 0; c < CLINICAL_DIM; c++)
      x[row + roles.length * featureDim + c] = clin[i * CLINICAL_DIM + c]!;
  });
  return { x, width };
}

function standardise(x: Float64Array, n: number, width: number): { mean: Float64Array; sd: Float64Array } {
  const mean = new Float64Array(width);
  const sd = new Float64Array(width);
  for (let j = 0; j < width; j++) {
    let count = 0;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i * width + j]!;
      if (Number.isNaN(v)) continue;
      count++;
      s += v;
      s2 += v * v;
    }
    const m = count > 0 ? s / count : 0;
    mean[j] = m;
    sd[j] = Math.sqrt(Math.max(0, count > 0 ? s2 / count - m * m : 0)) + 1e-6;
  }
  return { mean, sd };
}

/** Standardised copy (missing -> 0, the mean). */
function applyStandard(x: Float64Array, n: number, width: number, mean: Float64Array, sd: Float64Array) {
  const z = new Float64Array(n * width);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < width; j++) {
      const v = x[i * width + j]!;
      z[i * width + j] = Number.isNaN(v) ? 0 : (v - mean[j]!) / sd[j]!;
    }
  return z;
}

/** Solves (K[idx, idx] + ridge I) a = b by Cholesky (K symmetric positive semi-definite). */
function solveSubsystem(K: Float64Array, n: number, idx: number[], ridge: number, b: number[]): Float64Array {
  const m = idx.length;
  const L = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = K[idx[i]! * n + idx[j]!]! + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) s -= L[i * m + k]! * L[j * m + k]!;
      L[i * m + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / L[j * m + j]!;
    }
  }
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * m + k]! * y[k]!;
    y[i] = s / L[i * m + i]!;
  }
  const a = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < m; k++) s -= L[k * m + i]! * a[k]!;
    a[i] = s / L[i * m + i]!;
  }
  return a;
}

/**
 * Fits the ridge member on a training part: `lambda` is the penalty per exam on standardised columns
 * (the solve uses lambda * n). The residual spread is estimated by 5-fold cross-fitting (exams dealt to
 * folds in order, so the result depends only on the training part and its order).
 */
export function fitRidge(
  design: Float64Array,
  n: number,
  width: number,
  logKpa: readonly number[],
  lambda: number,
) {
  const { mean, sd } = standardise(design, n, width);
  const z = applyStandard(design, n, width, mean, sd);
  const K = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      const oi = i * width;
      const oj = j * width;
      for (let c = 0; c < width; c++) s += z[oi + c]! * z[oj + c]!;
      K[i * n + j] = s;
      K[j * n + i] = s;
    }
  const fit = (idx: number[]) => {
    const bias = idx.reduce((a, i) => a + logKpa[i]!, 0) / idx.length;
    const alpha = solveSubsystem(
      K,
      n,
      idx,
      lambda * idx.length,
      idx.map((i) => logKpa[i]! - bias),
    );
    return { alpha, bias };
  };
  // Cross-fitted residuals for the predictive spread.
  const folds = 5;
  let sq = 0;
  for (let f = 0; f < folds; f++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < n; i++) (i % folds === f ? test : train).push(i);
    if (test.length === 0 || train.length < 2) continue;
    const { alpha, bias } = fit(train);
    for (const t of test) {
      let p = bias;
      train.forEach((i, a) => {
        p += alpha[a]! * K[t * n + i]!;
      });
      sq += (logKpa[t]! - p) ** 2;
    }
  }
  const all = Array.from({ length: n }, (_, i) => i);
  const { alpha, bias } = fit(all);
  const weights = new Float64Array(width);
  for (let i = 0; i < n; i++) {
    const a = alpha[i]!;
    for (let c = 0; c < width; c++) weights[c]! += a * z[i * width + c]!;
  }
  return { mean, sd, weights, bias, residualSd: Math.sqrt(sq / n) || 1 } satisfies RidgeMember;
}

/** Predicted log kPa per design row. */
export function ridgePredict(m: RidgeMember, design: Float64Array, n: number, width: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let p = m.bias;
    for (let c = 0; c < width; c++) {
      const v = design[i * width + c]!;
      if (!Number.isNaN(v)) p += ((v - m.mean[c]!) / m.sd[c]!) * m.weights[c]!;
    }
    out[i] = p;
  }
  return out;
}

/** Standard normal CDF (erf by Abramowitz-Stegun 7.1.26; absolute error < 1.5e-7). */
function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** P(kPa >= t) for each threshold under log kPa ~ N(mu, residualSd^2): non-increasing in t. */
export function ridgeProbabilities(
  mu: number,
  residualSd: number,
  thresholdsKpa: readonly number[],
): number[] {
  return thresholdsKpa.map((t) => 1 - normalCdf((Math.log(t) - mu) / residualSd));
}
