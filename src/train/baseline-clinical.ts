// The baseline-clinical head: what age, sex and site alone predict. One L2-penalised logistic regression
// per threshold, fitted exactly by Newton's method in float64, on standardised age (training statistics),
// an age-missing indicator, sex one-hot and the training part's site one-hot. An exam whose site was not
// in the training part (always, in leave-one-site-out) is predicted by a second fit on the same training
// exams without the site columns, so that no prediction leans on a site the model never saw. The five
// fits are independent: their probabilities need not fall with the threshold (as deepliver2's).
import { LiverstiffError } from "../core/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import { choleskyFactor, choleskySolve } from "./cholesky.ts";
import {
  type AgeStats,
  ageStats,
  CLINICAL_DIM,
  covariates,
  N_THRESHOLDS,
  requireLabels,
  thresholdLabels,
  trainingSites,
} from "./data.ts";
import type { BaselineClinicalHead, Recipe } from "./recipe.ts";
import type { ExamPrediction, Trained, TrainOptions, TrainSummary } from "./types.ts";

/** One covariate set's five fits: [N_THRESHOLDS x (1 + width)] row-major, intercept first. */
export interface LogisticSet {
  width: number;
  coef: Float64Array;
  iterations: number[];
}

export interface BaselineClinicalState {
  head: BaselineClinicalHead;
  age: AgeStats;
  /** The site one-hot order (training sites, sorted); empty when head.site is false. */
  sites: string[];
  /** Fits with the site columns (head.site only) and without them. */
  withSite: LogisticSet | null;
  withoutSite: LogisticSet;
  featureDim: number;
  slices: number;
}

function log1pExp(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

function sigmoid(t: number): number {
  return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
}

/** Solves the symmetric positive-definite system A d = g (size m) by Cholesky. */
function solveSpd(A: Float64Array, g: Float64Array, m: number): Float64Array {
  return choleskySolve(
    choleskyFactor(m, (i, j) => A[i * m + j]!, 1e-300),
    g,
    m,
  );
}

/**
 * Minimises mean log-loss + l2 / 2 * |w|^2 (intercept b unpenalised) over rows x [n x width] with labels y
 * by Newton's method with step halving: returns [b, w...] and the iterations taken. A label with one class
 * only has no finite fit: then w = 0 and b = logit((positives + 1/2) / (n + 1)).
 */
export function fitLogistic(
  x: ArrayLike<number>,
  n: number,
  width: number,
  y: ArrayLike<number>,
  l2: number,
): { coef: Float64Array; iterations: number } {
  const m = width + 1;
  const beta = new Float64Array(m);
  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i]!;
  const prior = Math.log((pos + 0.5) / (n - pos + 0.5));
  beta[0] = prior;
  if (pos === 0 || pos === n) return { coef: beta, iterations: 0 };
  const eta = (b: Float64Array, i: number) => {
    let t = b[0]!;
    for (let c = 0; c < width; c++) t += b[c + 1]! * x[i * width + c]!;
    return t;
  };
  const objective = (b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const t = eta(b, i);
      s += log1pExp(t) - y[i]! * t;
    }
    let w2 = 0;
    for (let c = 1; c < m; c++) w2 += b[c]! ** 2;
    return s / n + (l2 / 2) * w2;
  };
  let f = objective(beta);
  let iterations = 0;
  for (; iterations < 100; iterations++) {
    const g = new Float64Array(m);
    const H = new Float64Array(m * m);
    for (let i = 0; i < n; i++) {
      const p = sigmoid(eta(beta, i));
      const r = (p - y[i]!) / n;
      const v = (p * (1 - p)) / n;
      for (let a = 0; a < m; a++) {
        const xa = a === 0 ? 1 : x[i * width + a - 1]!;
        g[a]! += r * xa;
        for (let c = 0; c <= a; c++) H[a * m + c]! += v * xa * (c === 0 ? 1 : x[i * width + c - 1]!);
      }
    }
    for (let a = 1; a < m; a++) {
      g[a]! += l2 * beta[a]!;
      H[a * m + a]! += l2;
    }
    for (let a = 0; a < m; a++) for (let c = a + 1; c < m; c++) H[a * m + c] = H[c * m + a]!;
    const d = solveSpd(H, g, m);
    let step = 1;
    let next = beta.map((b, a) => b - d[a]!);
    let fNext = objective(next);
    while (fNext > f && step > 1e-12) {
      step /= 2;
      next = beta.map((b, a) => b - step * d[a]!);
      fNext = objective(next);
    }
    let moved = 0;
    for (let a = 0; a < m; a++) moved = Math.max(moved, Math.abs(next[a]! - beta[a]!));
    if (fNext <= f) {
      beta.set(next);
      f = fNext;
    }
    if (moved < 1e-10 || fNext > f) {
      iterations++;
      break;
    }
  }
  return { coef: beta, iterations };
}

function fitSet(x: Float32Array, n: number, width: number, labels: Float32Array, l2: number): LogisticSet {
  const coef = new Float64Array(N_THRESHOLDS * (width + 1));
  const iterations: number[] = [];
  for (let k = 0; k < N_THRESHOLDS; k++) {
    const y = Float64Array.from({ length: n }, (_, i) => labels[i * N_THRESHOLDS + k]!);
    const fit = fitLogistic(x, n, width, y, l2);
    coef.set(fit.coef, k * (width + 1));
    iterations.push(fit.iterations);
  }
  return { width, coef, iterations };
}

/**
 * Fits both covariate sets on options.train only: validate/ chooses each threshold's cut-off on the
 * predictions of options.val, which must stay out-of-sample. Deterministic; no seed is used.
 */
export function trainBaselineClinical(recipe: Recipe, options: TrainOptions): Trained<BaselineClinicalState> {
  const started = performance.now();
  const head = recipe.head as BaselineClinicalHead;
  const part = options.train;
  if (part.length === 0) throw new LiverstiffError("no training exams to train on", { exams: 0 });
  const labels = thresholdLabels(requireLabels(part, "training"));
  const n = part.length;
  const age = ageStats(part);
  const sites = head.site ? trainingSites(part) : [];
  const withoutSite = fitSet(covariates(part, true, age, []), n, CLINICAL_DIM, labels, head.l2);
  const withSite = head.site
    ? fitSet(covariates(part, true, age, sites), n, CLINICAL_DIM + sites.length, labels, head.l2)
    : null;
  const fits = [...(withSite?.iterations ?? []), ...withoutSite.iterations];
  const summary: TrainSummary = {
    head: "baseline-clinical",
    seed: options.seed ?? recipe.training.seed,
    nTrain: options.train.length,
    nVal: options.val.length,
    featureDim: part[0]!.featureDim,
    slices: part[0]!.slices,
    models: fits.map((it) => ({ epochs: it, bestEpoch: it, bestValMetric: null, stoppedEarly: false })),
    metric: "penalised log-loss",
    seconds: (performance.now() - started) / 1000,
    steps: fits.reduce((a, b) => a + b, 0),
  };
  const { featureDim, slices } = summary;
  return { state: { head, age, sites, withSite, withoutSite, featureDim, slices }, summary };
}

function probabilities(set: LogisticSet, row: Float32Array): number[] {
  return Array.from({ length: N_THRESHOLDS }, (_, k) => {
    const o = k * (set.width + 1);
    let t = set.coef[o]!;
    for (let c = 0; c < set.width; c++) t += set.coef[o + 1 + c]! * row[c]!;
    return sigmoid(t);
  });
}

export function predictBaselineClinical(
  s: BaselineClinicalState,
  exams: readonly ExamFeatures[],
): ExamPrediction[] {
  return exams.map((e) => {
    const seen = s.withSite !== null && s.sites.includes(e.site);
    const set = seen ? s.withSite! : s.withoutSite;
    const row = covariates([e], true, s.age, seen ? s.sites : []);
    return { examId: e.examId, probabilities: probabilities(set, row) };
  });
}
