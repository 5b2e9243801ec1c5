// The liverstiff head's ridge member: a ridge regression of log kPa on each role's slice-mean features
// (standardised with the training part's statistics; a missing role sits at the mean) and the clinical
// covariates, solved in its dual form (n exams << features), with a Gaussian predictive distribution of
// log kPa whose spread comes from the training part's cross-fitted residuals. P(kPa >= t) =
// 1 - Phi((log t - mu) / sd) is monotone in t by construction, as the attention head's ordinal output is.
// Measured on the demo cohort it ranks exams better than the attention head does (docs/train.md), so the
// head averages the two. The baseline-ridge probe is the same fit without the clinical covariates, its
// penalty chosen by GCV (gcvLambda) on the training part.
import type { SeriesRole } from "../dicom/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import { choleskyFactor, choleskySolve } from "./cholesky.ts";
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

/**
 * Design rows [n x (roles * featureDim + CLINICAL_DIM)]; NaN where a role is missing. `age` null = no
 * clinical columns (the baseline-ridge probe reads the image features only).
 */
export function ridgeDesign(
  exams: readonly ExamFeatures[],
  roles: readonly SeriesRole[],
  featureDim: number,
  slices: number,
  age: AgeStats | null,
): { x: Float64Array; width: number } {
  const clinDim = age ? CLINICAL_DIM : 0;
  const width = roles.length * featureDim + clinDim;
  const x = new Float64Array(exams.length * width);
  const clin = age ? clinicalFeatures(exams, age) : new Float32Array(0);
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
    for (let c = 0; c < clinDim; c++) x[row + roles.length * featureDim + c] = clin[i * clinDim + c]!;
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
  const L = choleskyFactor(m, (i, j) => K[idx[i]! * n + idx[j]!]! + (i === j ? ridge : 0), 1e-12);
  return choleskySolve(L, b, m);
}

/**
 * A training part's standardised design and its Gram matrix K = Z Z' [n x n]. Every column of Z sums to 0
 * (a missing value sits at the mean, 0), so K 1 = 0: the intercept is the mean log kPa, unpenalised.
 */
export interface RidgeKernel {
  n: number;
  width: number;
  mean: Float64Array;
  sd: Float64Array;
  z: Float64Array;
  K: Float64Array;
}

export function ridgeKernel(design: Float64Array, n: number, width: number): RidgeKernel {
  const { mean, sd } = standardise(design, n, width);
  const z = applyStandard(design, n, width, mean, sd);
  return { n, width, mean, sd, z, K: gram(z, n, width) };
}

/**
 * K = Z Z' for row-major Z [n x width]. Four entries of a row at a time, so that each z[i] value loaded
 * serves four products (1.8 times as fast at 540 x 1536); each entry is still summed over c in order,
 * bit-identical to the plain loop.
 */
function gram(z: Float64Array, n: number, width: number): Float64Array {
  const K = new Float64Array(n * n);
  const put = (i: number, j: number, s: number) => {
    K[i * n + j] = s;
    K[j * n + i] = s;
  };
  for (let i = 0; i < n; i++) {
    const oi = i * width;
    let j = 0;
    for (; j + 3 <= i; j += 4) {
      const o0 = j * width;
      const o1 = o0 + width;
      const o2 = o1 + width;
      const o3 = o2 + width;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let c = 0; c < width; c++) {
        const zi = z[oi + c]!;
        s0 += zi * z[o0 + c]!;
        s1 += zi * z[o1 + c]!;
        s2 += zi * z[o2 + c]!;
        s3 += zi * z[o3 + c]!;
      }
      put(i, j, s0);
      put(i, j + 1, s1);
      put(i, j + 2, s2);
      put(i, j + 3, s3);
    }
    for (; j <= i; j++) {
      let s = 0;
      const oj = j * width;
      for (let c = 0; c < width; c++) s += z[oi + c]! * z[oj + c]!;
      put(i, j, s);
    }
  }
  return K;
}

/**
 * Fits the ridge member on a training part: `lambda` is the penalty per exam on standardised columns
 * (the solve uses lambda * n). The residual spread is estimated by 5-fold cross-fitting (exams dealt to
 * folds in order, so the result depends only on the training part and its order). `kernel` (from
 * ridgeKernel on the same design) saves recomputing K when the caller has it.
 */
export function fitRidge(
  design: Float64Array,
  n: number,
  width: number,
  logKpa: readonly number[],
  lambda: number,
  kernel: RidgeKernel = ridgeKernel(design, n, width),
) {
  const { mean, sd, z, K } = kernel;
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

/**
 * Householder reduction of the symmetric K to tridiagonal T = Q'KQ (diagonal, off-diagonal), applying Q'
 * to `b` in place. Reads and updates K's lower triangle of a copy only: about n^3 / 3 multiply-adds.
 */
function tridiagonalise(
  K: Float64Array,
  n: number,
  b: Float64Array,
): { diag: Float64Array; off: Float64Array } {
  const A = Float64Array.from(K);
  const off = new Float64Array(Math.max(0, n - 1));
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const m = n - k - 1;
    const r0 = k + 1;
    let norm2 = 0;
    for (let a = 0; a < m; a++) {
      const x = A[(r0 + a) * n + k]!;
      v[a] = x;
      norm2 += x * x;
    }
    const norm = Math.sqrt(norm2);
    if (norm < 1e-300) {
      off[k] = 0;
      continue;
    }
    const alpha = v[0]! > 0 ? -norm : norm;
    v[0]! -= alpha;
    let vv = 0;
    for (let a = 0; a < m; a++) vv += v[a]! * v[a]!;
    off[k] = alpha;
    if (vv === 0) continue;
    const beta = 2 / vv;
    // p = beta S v over the trailing block S (lower triangle stored).
    p.fill(0, 0, m);
    for (let a = 0; a < m; a++) {
      const row = (r0 + a) * n + r0;
      const va = v[a]!;
      let s = A[row + a]! * va;
      for (let c = 0; c < a; c++) {
        const sac = A[row + c]!;
        s += sac * v[c]!;
        p[c]! += sac * va;
      }
      p[a]! += s;
    }
    let pv = 0;
    for (let a = 0; a < m; a++) {
      p[a]! *= beta;
      pv += p[a]! * v[a]!;
    }
    const half = (beta / 2) * pv;
    for (let a = 0; a < m; a++) p[a]! -= half * v[a]!; // p is now w = p - (beta/2)(p'v) v
    for (let a = 0; a < m; a++) {
      const row = (r0 + a) * n + r0;
      const va = v[a]!;
      const wa = p[a]!;
      for (let c = 0; c <= a; c++) A[row + c]! -= va * p[c]! + wa * v[c]!;
    }
    let vb = 0;
    for (let a = 0; a < m; a++) vb += v[a]! * b[r0 + a]!;
    vb *= beta;
    for (let a = 0; a < m; a++) b[r0 + a]! -= vb * v[a]!;
  }
  if (n >= 2) off[n - 2] = A[(n - 1) * n + n - 2]!;
  const diag = new Float64Array(n);
  for (let i = 0; i < n; i++) diag[i] = A[i * n + i]!;
  return { diag, off };
}

/** GCV score of the penalty `shift` (= lambda * n) on T = Q'KQ with b = Q'(y - mean y). */
function gcvScore(diag: Float64Array, off: Float64Array, b: Float64Array, shift: number): number {
  const n = diag.length;
  const fwd = new Float64Array(n);
  const bwd = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = diag[i]! + shift;
    fwd[i] = i === 0 ? a : a - off[i - 1]! ** 2 / fwd[i - 1]!;
    y[i] = i === 0 ? b[0]! : b[i]! - (off[i - 1]! / fwd[i - 1]!) * y[i - 1]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    const a = diag[i]! + shift;
    bwd[i] = i === n - 1 ? a : a - off[i]! ** 2 / bwd[i + 1]!;
  }
  let traceInv = 0;
  let sq = 0;
  let next = 0;
  for (let i = n - 1; i >= 0; i--) {
    // (T + shift I)^-1 diagonal from the two pivot sequences; x = (T + shift I)^-1 b by back substitution.
    traceInv += 1 / (fwd[i]! + bwd[i]! - diag[i]! - shift);
    const x = i === n - 1 ? y[i]! / fwd[i]! : (y[i]! - off[i]! * next) / fwd[i]!;
    sq += x * x;
    next = x;
  }
  const rss = shift * shift * sq;
  const df = 1 + n - shift * traceInv; // the intercept, plus trace K (K + shift I)^-1
  return n - df > 0 ? (n * rss) / (n - df) ** 2 : Number.POSITIVE_INFINITY;
}

/**
 * Chooses the penalty per exam (fitRidge's lambda) from `grid` by generalised cross-validation on the
 * training part alone: GCV = n RSS / (n - df)^2 with df = 1 + trace K (K + lambda n I)^-1 (the intercept
 * counts one). One tridiagonal reduction of K serves every lambda (O(n) each). Ties go to the larger
 * penalty. Returns the GCV score of every grid value, in grid order.
 */
export function gcvLambda(
  kernel: RidgeKernel,
  logKpa: readonly number[],
  grid: readonly number[],
): { lambda: number; gcv: number[] } {
  const n = kernel.n;
  const mean = logKpa.reduce((a, v) => a + v, 0) / n;
  const b = Float64Array.from(logKpa, (v) => v - mean);
  const { diag, off } = tridiagonalise(kernel.K, n, b);
  const gcv = grid.map((lambda) => gcvScore(diag, off, b, lambda * n));
  let best = 0;
  gcv.forEach((g, i) => {
    const better = g < gcv[best]! || (g === gcv[best]! && grid[i]! > grid[best]!);
    if (better) best = i;
  });
  return { lambda: grid[best]!, gcv };
}
