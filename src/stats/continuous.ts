import { LiverstiffError } from "../core/index.ts";
import { ptLowerTail, qnorm, qt } from "./distributions.ts";
import { checkFinite, checkLengths, confidenceLevel } from "./input.ts";

/** Statistics for continuous predictions (e.g. predicted kPa against measured MRE kPa). */

export interface CorrelationResult {
  method: "pearson" | "spearman";
  n: number;
  r: number;
  /** Fisher-z interval tanh(atanh(r) -/+ z * se). */
  ci: [number, number];
  level: number;
  /** Two-sided p-value of r = 0 from t = r sqrt((n-2)/(1-r^2)) on n-2 df (R's cor.test; for Spearman its exact = FALSE form). */
  p: number;
}

/**
 * Pearson or Spearman correlation with a Fisher-z confidence interval. Pearson: se = 1/sqrt(n-3) (as
 * R's cor.test). Spearman: computed on mid-ranks, se = sqrt((1 + r^2/2)/(n-3)) (Bonett and Wright 2000).
 */
export function correlation(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  options: { method?: "pearson" | "spearman"; level?: number } = {},
): CorrelationResult {
  const method = options.method ?? "pearson";
  const what = `correlation (${method})`;
  const level = confidenceLevel(what, options);
  checkLengths(what, x, y, ["x", "y"]);
  checkFinite(what, x, "x");
  checkFinite(what, y, "y");
  const n = x.length;
  if (n < 4) throw new LiverstiffError(`${what}: needs at least 4 pairs for a confidence interval`, { n });
  const a = method === "spearman" ? midRanks(x) : Float64Array.from(x);
  const b = method === "spearman" ? midRanks(y) : Float64Array.from(y);
  const r = pearson(a, b, what);
  const se = method === "spearman" ? Math.sqrt((1 + (r * r) / 2) / (n - 3)) : 1 / Math.sqrt(n - 3);
  const z = Math.atanh(r);
  const crit = qnorm(1 - (1 - level) / 2);
  const ci: [number, number] = [Math.tanh(z - crit * se), Math.tanh(z + crit * se)];
  const df = n - 2;
  const p = Math.abs(r) >= 1 ? 0 : 2 * ptLowerTail(r * Math.sqrt(df / (1 - r * r)), df);
  return { method, n, r, ci, level, p };
}

function pearson(a: Float64Array, b: Float64Array, what: string): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) {
    throw new LiverstiffError(`${what}: a variable is constant, so the correlation is undefined`, {
      constant: saa === 0 ? "x" : "y",
    });
  }
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Mid-ranks (1-based; ties get the mean of their ranks). */
export function midRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const v = Float64Array.from(values);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => v[i] - v[j]);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && v[order[j]] === v[order[i]]) j++;
    const r = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k]] = r;
    i = j;
  }
  return ranks;
}

export interface AgreementResult {
  n: number;
  /** Mean of predicted - reference. */
  bias: number;
  /** t interval of the bias. */
  bias_ci: [number, number];
  /** Standard deviation of the differences. */
  sd_diff: number;
  mae: number;
  rmse: number;
  /** Bland-Altman limits of agreement: bias -/+ z * sd_diff (z = 1.96 for 95%). */
  loa: [number, number];
  /** t intervals of the lower and upper limit, with se = sd_diff * sqrt(3/n) (Bland and Altman 1999). */
  loa_lower_ci: [number, number];
  loa_upper_ci: [number, number];
  level: number;
}

/** Agreement of continuous predictions with a reference: MAE, RMSE, bias and Bland-Altman limits. */
export function agreement(
  predicted: ArrayLike<number>,
  reference: ArrayLike<number>,
  options: { level?: number } = {},
): AgreementResult {
  const what = "agreement";
  const level = confidenceLevel(what, options);
  checkLengths(what, predicted, reference, ["predicted", "reference"]);
  checkFinite(what, predicted, "predicted");
  checkFinite(what, reference, "reference");
  const n = predicted.length;
  if (n < 2) throw new LiverstiffError(`${what}: needs at least 2 pairs`, { n });
  let sum = 0;
  let abs = 0;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const d = predicted[i] - reference[i];
    sum += d;
    abs += Math.abs(d);
    sq += d * d;
  }
  const bias = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (predicted[i] - reference[i] - bias) ** 2;
  const sd = Math.sqrt(ss / (n - 1));
  const z = qnorm(1 - (1 - level) / 2);
  const t = qt(1 - (1 - level) / 2, n - 1);
  const seBias = sd / Math.sqrt(n);
  const seLoa = sd * Math.sqrt(3 / n);
  const lo = bias - z * sd;
  const hi = bias + z * sd;
  return {
    n,
    bias,
    bias_ci: [bias - t * seBias, bias + t * seBias],
    sd_diff: sd,
    mae: abs / n,
    rmse: Math.sqrt(sq / n),
    loa: [lo, hi],
    loa_lower_ci: [lo - t * seLoa, lo + t * seLoa],
    loa_upper_ci: [hi - t * seLoa, hi + t * seLoa],
    level,
  };
}
