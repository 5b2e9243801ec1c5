import { LiverstiffError } from "../core/index.ts";
import { normalTails, ptLowerTail, qnorm } from "./distributions.ts";
import {
  checkLengths,
  confidenceLevel,
  type Labels,
  type Scores,
  type SplitScores,
  splitByClass,
} from "./input.ts";

/**
 * AUROC and DeLong's method, as pROC computes them, in O(n log n): the scores of each class are sorted
 * (native typed-array sorts) and one merge walk over the two sorted arrays yields every case's placement
 * value (the fraction of the other class it beats, ties counting one half).
 */

/** Placement values of one binary problem, plus the AUROC (their common mean). */
interface Placements {
  auc: number;
  /** Per positive case: fraction of negatives with a lower score (ties 1/2). */
  v10: Float64Array;
  /** Per negative case: fraction of positives with a higher score (ties 1/2). */
  v01: Float64Array;
}

/** Both classes' scores sorted ascending, with room for their placement values. */
function sortedClasses(pos: Float64Array, neg: Float64Array) {
  const p = pos.slice().sort();
  const q = neg.slice().sort();
  return { p, q, m: p.length, n: q.length, v10: new Float64Array(p.length), v01: new Float64Array(q.length) };
}

/** Placements aligned with the sorted positives and sorted negatives (order does not matter for variances). */
function sortedPlacements(pos: Float64Array, neg: Float64Array): Placements {
  const { p, q, m, n, v10, v01 } = sortedClasses(pos, neg);
  let i = 0;
  let j = 0;
  let sum = 0;
  while (i < m || j < n) {
    const v = i < m && (j >= n || p[i] <= q[j]) ? p[i] : q[j];
    const i0 = i;
    while (i < m && p[i] === v) i++;
    const j0 = j;
    while (j < n && q[j] === v) j++;
    if (i > i0) {
      const place = (j0 + 0.5 * (j - j0)) / n;
      v10.fill(place, i0, i);
      sum += place * (i - i0);
    }
    if (j > j0) v01.fill((m - i + 0.5 * (i - i0)) / m, j0, j);
  }
  return { auc: sum / m, v10, v01 };
}

/** Placements in the cases' original order (needed to pair two scores on the same cases). */
function orderedPlacements(pos: Float64Array, neg: Float64Array): Placements {
  const { p, q, m, n, v10, v01 } = sortedClasses(pos, neg);
  let sum = 0;
  for (let i = 0; i < m; i++) {
    const x = pos[i];
    const lo = lowerBound(q, x);
    const hi = upperBound(q, x, lo);
    const place = (lo + 0.5 * (hi - lo)) / n;
    v10[i] = place;
    sum += place;
  }
  for (let j = 0; j < n; j++) {
    const y = neg[j];
    const lo = lowerBound(p, y);
    const hi = upperBound(p, y, lo);
    v01[j] = (m - hi + 0.5 * (hi - lo)) / m;
  }
  return { auc: sum / m, v10, v01 };
}

/** First index from `from` whose value is above x (or, with `orEqual`, at least x); a sorted ascending. */
function firstIndexPast(a: Float64Array, x: number, from: number, orEqual: boolean): number {
  let lo = from;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (orEqual ? a[mid] < x : a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is >= x (a sorted ascending). */
export function lowerBound(a: Float64Array, x: number): number {
  return firstIndexPast(a, x, 0, true);
}

/** First index (from `from`) whose value is > x. */
function upperBound(a: Float64Array, x: number, from = 0): number {
  return firstIndexPast(a, x, from, false);
}

function meanOf(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

/** Sample covariance of two equally long arrays about their own means (n - 1 denominator). */
function covariance(a: Float64Array, b: Float64Array): number {
  const ma = meanOf(a);
  const mb = a === b ? ma : meanOf(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - ma) * (b[i] - mb);
  return s / (a.length - 1);
}

/** Area under the ROC curve: P(score of a positive > score of a negative), ties counting one half. */
export function auroc(labels: Labels, scores: Scores): number {
  const { pos, neg } = splitByClass("auroc", labels, scores);
  return sortedPlacements(pos, neg).auc;
}

export interface DelongResult {
  auc: number;
  /** DeLong's variance of the AUROC: var(V10)/n_pos + var(V01)/n_neg. */
  variance: number;
  se: number;
  /** auc -/+ z * se, clipped to [0, 1] (as pROC's ci.auc). */
  ci: [number, number];
  level: number;
  nPos: number;
  nNeg: number;
}

function delongFromPlacements(pl: Placements, level: number): DelongResult {
  const m = pl.v10.length;
  const n = pl.v01.length;
  const variance = covariance(pl.v10, pl.v10) / m + covariance(pl.v01, pl.v01) / n;
  const se = Math.sqrt(variance);
  const z = qnorm(1 - (1 - level) / 2);
  const ci: [number, number] = [clip01(pl.auc - z * se), clip01(pl.auc + z * se)];
  return { auc: pl.auc, variance, se, ci, level, nPos: m, nNeg: n };
}

function clip01(x: number): number {
  return x < 0 ? 0 : Math.min(x, 1);
}

/** AUROC with DeLong's variance and confidence interval (needs at least two cases of each class). */
export function delong(labels: Labels, scores: Scores, options: { level?: number } = {}): DelongResult {
  const level = confidenceLevel("delong", options);
  const { pos, neg } = splitByClass("delong", labels, scores, 2);
  return delongFromPlacements(sortedPlacements(pos, neg), level);
}

/** Internal entry for callers that already split the classes. */
export function delongSplit(split: SplitScores, level = 0.95): DelongResult {
  if (split.pos.length < 2 || split.neg.length < 2) {
    throw new LiverstiffError("delong: needs at least 2 cases of each class", {
      positives: split.pos.length,
      negatives: split.neg.length,
    });
  }
  return delongFromPlacements(sortedPlacements(split.pos, split.neg), level);
}

export interface DelongPairedResult {
  auc1: number;
  auc2: number;
  /** auc1 - auc2. */
  difference: number;
  variance1: number;
  variance2: number;
  covariance: number;
  /** Standard error of the difference. */
  se: number;
  z: number;
  /** Two-sided p-value. */
  p: number;
  /** Confidence interval of the difference (not clipped). */
  ci: [number, number];
  level: number;
  nPos: number;
  nNeg: number;
}

/**
 * DeLong's test of two correlated AUROCs: two scores on the same cases (pROC's roc.test, paired = TRUE,
 * method = "delong"). Returns z = (auc1 - auc2) / se and a two-sided normal p-value.
 */
export function delongPaired(
  labels: Labels,
  scores1: Scores,
  scores2: Scores,
  options: { level?: number } = {},
): DelongPairedResult {
  const level = confidenceLevel("delongPaired", options);
  checkLengths("delongPaired", scores1, scores2, ["scores1", "scores2"]);
  const a = splitByClass("delongPaired (scores1)", labels, scores1, 2);
  const b = splitByClass("delongPaired (scores2)", labels, scores2, 2);
  const pa = orderedPlacements(a.pos, a.neg);
  const pb = orderedPlacements(b.pos, b.neg);
  const m = pa.v10.length;
  const n = pa.v01.length;
  const variance1 = covariance(pa.v10, pa.v10) / m + covariance(pa.v01, pa.v01) / n;
  const variance2 = covariance(pb.v10, pb.v10) / m + covariance(pb.v01, pb.v01) / n;
  const cov = covariance(pa.v10, pb.v10) / m + covariance(pa.v01, pb.v01) / n;
  const varDiff = Math.max(0, variance1 + variance2 - 2 * cov);
  const se = Math.sqrt(varDiff);
  const difference = pa.auc - pb.auc;
  // Identical curves (difference 0, se 0) give z = 0 and p = 1, as in pROC.
  const z =
    se === 0 ? (difference === 0 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY) : difference / se;
  const p = 2 * normalTails(-Math.abs(z))[0];
  const crit = qnorm(1 - (1 - level) / 2);
  return {
    auc1: pa.auc,
    auc2: pb.auc,
    difference,
    variance1,
    variance2,
    covariance: cov,
    se,
    z,
    p,
    ci: [difference - crit * se, difference + crit * se],
    level,
    nPos: m,
    nNeg: n,
  };
}

export interface DelongUnpairedResult {
  auc1: number;
  auc2: number;
  difference: number;
  variance1: number;
  variance2: number;
  se: number;
  /** pROC's statistic D = (auc1 - auc2) / sqrt(var1 + var2). */
  d: number;
  /** Welch-Satterthwaite-style degrees of freedom, as pROC computes them. */
  df: number;
  /** Two-sided p-value from Student's t with df degrees of freedom. */
  p: number;
}

/** DeLong's test of two AUROCs on independent samples (pROC's roc.test, paired = FALSE, method = "delong"). */
export function delongUnpaired(
  labels1: Labels,
  scores1: Scores,
  labels2: Labels,
  scores2: Scores,
): DelongUnpairedResult {
  const r1 = delongSplit(splitByClass("delongUnpaired (sample 1)", labels1, scores1, 2));
  const r2 = delongSplit(splitByClass("delongUnpaired (sample 2)", labels2, scores2, 2));
  const se = Math.sqrt(r1.variance + r2.variance);
  const difference = r1.auc - r2.auc;
  const d =
    se === 0 ? (difference === 0 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY) : difference / se;
  const ntot1 = r1.nPos + r1.nNeg;
  const ntot2 = r2.nPos + r2.nNeg;
  const df =
    (r1.variance + r2.variance) ** 2 / (r1.variance ** 2 / (ntot1 - 1) + r2.variance ** 2 / (ntot2 - 1));
  const p = se === 0 ? (difference === 0 ? 1 : 0) : 2 * ptLowerTail(d, df);
  return {
    auc1: r1.auc,
    auc2: r2.auc,
    difference,
    variance1: r1.variance,
    variance2: r2.variance,
    se,
    d,
    df,
    p,
  };
}

/** The ROC curve at pROC's thresholds: -Inf, the midpoints between adjacent distinct scores, +Inf. */
export interface RocCurve {
  /** Ascending; a case is called positive when its score is >= the threshold. */
  thresholds: Float64Array;
  sensitivity: Float64Array;
  specificity: Float64Array;
  tp: Float64Array;
  tn: Float64Array;
  nPos: number;
  nNeg: number;
}

/** ROC points for plotting or for choosing a cut-off; O(n log n). */
export function rocCurve(labels: Labels, scores: Scores): RocCurve {
  return rocCurveSplit(splitByClass("rocCurve", labels, scores));
}

export function rocCurveSplit(split: SplitScores): RocCurve {
  const p = split.pos.slice().sort();
  const q = split.neg.slice().sort();
  const m = p.length;
  const n = q.length;
  // Distinct values, ascending, with the counts of each class strictly below each.
  const distinct = new Float64Array(m + n);
  const posBelow = new Float64Array(m + n + 1);
  const negBelow = new Float64Array(m + n + 1);
  let k = 0;
  let i = 0;
  let j = 0;
  while (i < m || j < n) {
    const v = i < m && (j >= n || p[i] <= q[j]) ? p[i] : q[j];
    distinct[k] = v;
    posBelow[k] = i;
    negBelow[k] = j;
    k++;
    while (i < m && p[i] === v) i++;
    while (j < n && q[j] === v) j++;
  }
  posBelow[k] = m;
  negBelow[k] = n;
  const thresholds = new Float64Array(k + 1);
  const sensitivity = new Float64Array(k + 1);
  const specificity = new Float64Array(k + 1);
  const tp = new Float64Array(k + 1);
  const tn = new Float64Array(k + 1);
  for (let t = 0; t <= k; t++) {
    thresholds[t] =
      t === 0
        ? Number.NEGATIVE_INFINITY
        : t === k
          ? Number.POSITIVE_INFINITY
          : midpoint(distinct[t - 1], distinct[t]);
    tp[t] = m - posBelow[t];
    tn[t] = negBelow[t];
    sensitivity[t] = tp[t] / m;
    specificity[t] = tn[t] / n;
  }
  return { thresholds, sensitivity, specificity, tp, tn, nPos: m, nNeg: n };
}

/** pROC's threshold between two adjacent distinct scores a < b (roc.utils.thresholds, direction "<"). */
function midpoint(a: number, b: number): number {
  let mid = (a + b) / 2;
  if (Math.abs(mid) > 1e100) mid = a / 2 + b / 2;
  // Adjacent doubles: the midpoint rounds onto a score; pROC then uses the upper one.
  if (mid === a) mid = b;
  return mid;
}

export interface DelongClusteredResult extends DelongResult {
  nClusters: number;
}

/** Cluster ids 0..k-1 in order of first appearance; a missing id is an error. */
function clusterIds(
  what: string,
  clusters: ArrayLike<number | string>,
  n: number,
): { clusterOf: Uint32Array; k: number } {
  const ids = new Map<number | string, number>();
  const clusterOf = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const key = clusters[i];
    if (key === undefined || key === null || key === "" || (typeof key === "number" && Number.isNaN(key))) {
      throw new LiverstiffError(`${what}: a cluster id is missing`, { index: i });
    }
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
    }
    clusterOf[i] = id;
  }
  if (ids.size < 2) throw new LiverstiffError(`${what}: needs at least 2 clusters`, { clusters: ids.size });
  return { clusterOf, k: ids.size };
}

/** Per-cluster centred placement sums of one score: a_c = sum V10 - m_c theta, b_c = sum V01 - n_c theta. */
function clusterDeviations(split: SplitScores, pl: Placements, clusterOf: Uint32Array, k: number) {
  const a = new Float64Array(k);
  const b = new Float64Array(k);
  const hasPos = new Uint8Array(k);
  const hasNeg = new Uint8Array(k);
  for (let i = 0; i < clusterOf.length; i++) {
    const c = clusterOf[i];
    if (split.labels[i]) {
      a[c] += pl.v10[split.classIndex[i]] - pl.auc;
      hasPos[c] = 1;
    } else {
      b[c] += pl.v01[split.classIndex[i]] - pl.auc;
      hasNeg[c] = 1;
    }
  }
  return { a, b, hasPos, hasNeg };
}

type Deviations = ReturnType<typeof clusterDeviations>;

/** Clusters holding positives (k10) and negatives (k01); each needs two for a variance. */
function classClusters(what: string, d: Deviations): { k10: number; k01: number } {
  let k10 = 0;
  let k01 = 0;
  for (let c = 0; c < d.a.length; c++) {
    k10 += d.hasPos[c];
    k01 += d.hasNeg[c];
  }
  if (k10 < 2 || k01 < 2)
    throw new LiverstiffError(`${what}: needs positives and negatives in at least 2 clusters each`, {
      clustersWithPositives: k10,
      clustersWithNegatives: k01,
    });
  return { k10, k01 };
}

/**
 * Obuchowski's covariance of two AUROCs (or the variance, when both are the same) from cluster deviations.
 * The sums of squares take the small-sample factor of the clusters that hold each class, k10/(k10-1) and
 * k01/(k01-1), the cross term k/(k-1): the cluster analogue of DeLong's 1/(m-1) and 1/(n-1), so that with
 * one case per cluster the result is DeLong's exactly (Obuchowski's paper uses k/(k-1) throughout, which
 * differs from DeLong by a factor k(m-1)/((k-1)m) there). The matrix stays positive semi-definite since
 * k/(k-1) <= min(k10/(k10-1), k01/(k01-1)).
 */
function obuchowskiCovariance(r: Deviations, s: Deviations, m: number, n: number, what: string): number {
  const k = r.a.length;
  const { k10, k01 } = classClusters(what, r);
  let s10 = 0;
  let s01 = 0;
  let s11 = 0;
  for (let c = 0; c < k; c++) {
    s10 += r.a[c] * s.a[c];
    s01 += r.b[c] * s.b[c];
    s11 += r.a[c] * s.b[c] + s.a[c] * r.b[c];
  }
  const f10 = k10 / (k10 - 1);
  const f01 = k01 / (k01 - 1);
  const f = k / (k - 1);
  return (f10 * s10) / (m * m) + (f01 * s01) / (n * n) + (f * s11) / (m * n);
}

/**
 * AUROC with a variance that respects clustering (several exams per patient): Obuchowski's nonparametric
 * method (Biometrics 1997), DeLong's placement values summed per cluster:
 * var = S10/M + S01/N + 2 S11/(MN). With one case per cluster it equals DeLong's variance (see
 * obuchowskiCovariance for the small-sample factors).
 */
export function delongClustered(
  labels: Labels,
  scores: Scores,
  clusters: ArrayLike<number | string>,
  options: { level?: number } = {},
): DelongClusteredResult {
  const what = "delongClustered";
  const level = confidenceLevel(what, options);
  const split = splitByClass(what, labels, scores, 2);
  checkLengths(what, split.labels, clusters, ["labels", "clusters"]);
  const { clusterOf, k } = clusterIds(what, clusters, split.labels.length);
  const pl = orderedPlacements(split.pos, split.neg);
  const dev = clusterDeviations(split, pl, clusterOf, k);
  const m = pl.v10.length;
  const n = pl.v01.length;
  const variance = Math.max(0, obuchowskiCovariance(dev, dev, m, n, what));
  const se = Math.sqrt(variance);
  const z = qnorm(1 - (1 - level) / 2);
  return {
    auc: pl.auc,
    variance,
    se,
    ci: [clip01(pl.auc - z * se), clip01(pl.auc + z * se)],
    level,
    nPos: m,
    nNeg: n,
    nClusters: k,
  };
}

export interface DelongPairedClusteredResult extends DelongPairedResult {
  nClusters: number;
}

/**
 * The paired comparison of two AUROCs on the same clustered cases (repeat exams of a patient):
 * Obuchowski's cluster-robust variances and covariance in place of DeLong's, z and a two-sided normal p.
 */
export function delongPairedClustered(
  labels: Labels,
  scores1: Scores,
  scores2: Scores,
  clusters: ArrayLike<number | string>,
  options: { level?: number } = {},
): DelongPairedClusteredResult {
  const what = "delongPairedClustered";
  const level = confidenceLevel(what, options);
  checkLengths(what, scores1, scores2, ["scores1", "scores2"]);
  const s1 = splitByClass(`${what} (scores1)`, labels, scores1, 2);
  const s2 = splitByClass(`${what} (scores2)`, labels, scores2, 2);
  checkLengths(what, s1.labels, clusters, ["labels", "clusters"]);
  const { clusterOf, k } = clusterIds(what, clusters, s1.labels.length);
  const p1 = orderedPlacements(s1.pos, s1.neg);
  const p2 = orderedPlacements(s2.pos, s2.neg);
  const d1 = clusterDeviations(s1, p1, clusterOf, k);
  const d2 = clusterDeviations(s2, p2, clusterOf, k);
  const m = p1.v10.length;
  const n = p1.v01.length;
  const variance1 = obuchowskiCovariance(d1, d1, m, n, what);
  const variance2 = obuchowskiCovariance(d2, d2, m, n, what);
  const cov = obuchowskiCovariance(d1, d2, m, n, what);
  const se = Math.sqrt(Math.max(0, variance1 + variance2 - 2 * cov));
  const difference = p1.auc - p2.auc;
  const z =
    se === 0 ? (difference === 0 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY) : difference / se;
  const crit = qnorm(1 - (1 - level) / 2);
  return {
    auc1: p1.auc,
    auc2: p2.auc,
    difference,
    variance1,
    variance2,
    covariance: cov,
    se,
    z,
    p: 2 * normalTails(-Math.abs(z))[0],
    ci: [difference - crit * se, difference + crit * se],
    level,
    nPos: m,
    nNeg: n,
    nClusters: k,
  };
}
