import { LiverstiffError } from "../core/index.ts";
import { checkLengths, type Labels, splitByClass } from "./input.ts";
import { checkProbabilities, wilson } from "./threshold.ts";

/**
 * Calibration of predicted probabilities against 0/1 outcomes: Brier score, logistic recalibration
 * (calibration intercept and slope, as R's glm would fit them), reliability bins and expected
 * calibration error.
 */

export interface ReliabilityBin {
  lower: number;
  upper: number;
  n: number;
  mean_predicted: number;
  observed: number;
  observed_wilson95: [number, number];
}

export interface CalibrationResult {
  n: number;
  brier: number;
  /**
   * Calibration-in-the-large: the intercept a of logit P(y=1) = a + logit(p) (glm with logit(p) as
   * offset); 0 when calibrated. null when the fit does not converge.
   */
  intercept: number | null;
  /** The slope b of logit P(y=1) = c + b * logit(p); 1 when calibrated. null when it does not converge. */
  slope: number | null;
  /** The intercept c of that two-parameter fit. */
  slope_fit_intercept: number | null;
  /** Why intercept or slope is null, when one is. */
  fit_note?: string;
  bins: ReliabilityBin[];
  /** Expected calibration error: sum over bins of n_b / n * |observed_b - mean_predicted_b|. */
  ece: number;
  /** Maximum calibration error over the non-empty bins. */
  mce: number;
}

export interface CalibrationOptions {
  /** Number of reliability bins (default 10). */
  bins?: number;
  /** "uniform" (equal width on [0, 1], default) or "quantile" (equal counts). */
  strategy?: "uniform" | "quantile";
  /** Probabilities are clamped to [eps, 1 - eps] before taking logits (default 1e-12). */
  eps?: number;
}

export function calibration(
  labels: Labels,
  probabilities: ArrayLike<number>,
  options: CalibrationOptions = {},
): CalibrationResult {
  const what = "calibration";
  checkLengths(what, labels, probabilities, ["labels", "probabilities"]);
  checkProbabilities(what, probabilities);
  const { labels: y } = splitByClass(what, labels, probabilities);
  const n = y.length;
  const nBins = options.bins ?? 10;
  if (!(Number.isInteger(nBins) && nBins >= 1))
    throw new LiverstiffError(`${what}: bins must be a positive integer`, { bins: nBins });
  const eps = options.eps ?? 1e-12;
  const p = Float64Array.from(probabilities);

  let brier = 0;
  for (let i = 0; i < n; i++) brier += (p[i] - y[i]) ** 2;
  brier /= n;

  const lp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const q = Math.min(1 - eps, Math.max(eps, p[i]));
    lp[i] = Math.log(q / (1 - q));
  }
  const notes: string[] = [];
  const inTheLarge = fitOffsetIntercept(y, lp);
  if (inTheLarge === null) notes.push("calibration intercept: the logistic fit did not converge");
  const slopeFit = fitLogistic(y, lp);
  if (slopeFit === null)
    notes.push("calibration slope: the logistic fit did not converge (separation, or constant predictions)");

  const bins = reliabilityBins(y, p, nBins, options.strategy ?? "uniform");
  let ece = 0;
  let mce = 0;
  for (const b of bins) {
    const gap = Math.abs(b.observed - b.mean_predicted);
    ece += (b.n / n) * gap;
    mce = Math.max(mce, gap);
  }
  return {
    n,
    brier,
    intercept: inTheLarge,
    slope: slopeFit ? slopeFit[1] : null,
    slope_fit_intercept: slopeFit ? slopeFit[0] : null,
    ...(notes.length > 0 ? { fit_note: notes.join("; ") } : {}),
    bins,
    ece,
    mce,
  };
}

function reliabilityBins(
  y: Uint8Array,
  p: Float64Array,
  nBins: number,
  strategy: "uniform" | "quantile",
): ReliabilityBin[] {
  const n = y.length;
  let edges: number[];
  if (strategy === "uniform") {
    edges = Array.from({ length: nBins + 1 }, (_, k) => k / nBins);
  } else {
    const sorted = p.slice().sort();
    edges = Array.from({ length: nBins + 1 }, (_, k) =>
      k === 0 ? 0 : k === nBins ? 1 : sorted[Math.floor((k * n) / nBins)],
    );
  }
  const count = new Float64Array(nBins);
  const sumP = new Float64Array(nBins);
  const sumY = new Float64Array(nBins);
  for (let i = 0; i < n; i++) {
    // Bin k holds [edges[k], edges[k+1]); the last bin also holds 1.
    let lo = 0;
    let hi = nBins - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (p[i] >= edges[mid]) lo = mid;
      else hi = mid - 1;
    }
    count[lo]++;
    sumP[lo] += p[i];
    sumY[lo] += y[i];
  }
  const out: ReliabilityBin[] = [];
  for (let k = 0; k < nBins; k++) {
    if (count[k] === 0) continue;
    out.push({
      lower: edges[k],
      upper: edges[k + 1],
      n: count[k],
      mean_predicted: sumP[k] / count[k],
      observed: sumY[k] / count[k],
      observed_wilson95: wilson(sumY[k], count[k]),
    });
  }
  return out;
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 + exp(x)) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function logLik(y: Uint8Array, lp: Float64Array, a: number, b: number): number {
  let ll = 0;
  for (let i = 0; i < y.length; i++) {
    const eta = a + b * lp[i];
    ll += y[i] * eta - softplus(eta);
  }
  return ll;
}

/** Maximum-likelihood a in logit P(y=1) = a + offset (Newton with step halving). */
function fitOffsetIntercept(y: Uint8Array, offset: Float64Array): number | null {
  let a = 0;
  let ll = logLik(y, offset, a, 1);
  for (let iter = 0; iter < 100; iter++) {
    let g = 0;
    let h = 0;
    for (let i = 0; i < y.length; i++) {
      const q = sigmoid(a + offset[i]);
      g += y[i] - q;
      h += q * (1 - q);
    }
    if (!(h > 0)) return null;
    let step = g / h;
    let next = a + step;
    let llNext = logLik(y, offset, next, 1);
    for (let k = 0; k < 50 && llNext < ll; k++) {
      step /= 2;
      next = a + step;
      llNext = logLik(y, offset, next, 1);
    }
    a = next;
    ll = llNext;
    if (Math.abs(step) < 1e-13 * Math.max(1, Math.abs(a))) return Number.isFinite(a) ? a : null;
  }
  return null;
}

/** Maximum-likelihood (c, b) in logit P(y=1) = c + b * x (Newton-Raphson with step halving). */
function fitLogistic(y: Uint8Array, x: Float64Array): [number, number] | null {
  let c = 0;
  let b = 0;
  let ll = logLik(y, x, c, b);
  for (let iter = 0; iter < 200; iter++) {
    let g0 = 0;
    let g1 = 0;
    let h00 = 0;
    let h01 = 0;
    let h11 = 0;
    for (let i = 0; i < y.length; i++) {
      const q = sigmoid(c + b * x[i]);
      const r = y[i] - q;
      const w = q * (1 - q);
      g0 += r;
      g1 += r * x[i];
      h00 += w;
      h01 += w * x[i];
      h11 += w * x[i] * x[i];
    }
    const det = h00 * h11 - h01 * h01;
    if (!(det > 0) || !Number.isFinite(det)) return null;
    let d0 = (h11 * g0 - h01 * g1) / det;
    let d1 = (h00 * g1 - h01 * g0) / det;
    let llNext = logLik(y, x, c + d0, b + d1);
    for (let k = 0; k < 50 && llNext < ll; k++) {
      d0 /= 2;
      d1 /= 2;
      llNext = logLik(y, x, c + d0, b + d1);
    }
    c += d0;
    b += d1;
    ll = llNext;
    if (Math.abs(b) > 1e6) return null;
    if (Math.abs(d0) < 1e-13 * Math.max(1, Math.abs(c)) && Math.abs(d1) < 1e-13 * Math.max(1, Math.abs(b))) {
      return [c, b];
    }
  }
  return null;
}
