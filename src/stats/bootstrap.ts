import { LiverstiffError, Rng } from "../core/index.ts";
import { pnorm, qnorm } from "./distributions.ts";
import { confidenceLevel, type Labels, type Scores, splitByClass } from "./input.ts";
import { lowerBound } from "./roc.ts";

/**
 * A statistic of a resample, given as the indices (0..n-1, repeats allowed) of the cases drawn. It may
 * return NaN when the resample cannot give a value (e.g. one class missing); such resamples are dropped
 * and counted in `failed`.
 */
export type Statistic = (indices: Uint32Array) => number;

export interface BootstrapOptions {
  /** Number of cases. */
  n: number;
  statistic: Statistic;
  /** "percentile" (default) or "bca" (bias-corrected and accelerated, jackknife acceleration). */
  method?: "percentile" | "bca";
  /** A stratum per case (e.g. the labels): each stratum keeps its size in every resample. */
  stratify?: ArrayLike<number | string | boolean>;
  /**
   * A cluster per case (e.g. the patient): clusters are resampled whole, so repeat exams of one patient
   * stay together. With `stratify`, a cluster whose cases share one stratum is drawn within it; clusters
   * that mix strata form one extra stratum.
   */
  clusters?: ArrayLike<number | string>;
  /** Number of resamples (default 2000). */
  resamples?: number;
  /** Confidence level (default 0.95). */
  level?: number;
  /** Seed for the project's Rng; the same seed gives the same interval. Default 1. */
  seed?: number | string;
}

export interface BootstrapResult {
  /** The statistic on the full sample. */
  estimate: number;
  ci: [number, number];
  level: number;
  method: "percentile" | "bca";
  resamples: number;
  /** Resamples whose statistic was NaN (dropped). */
  failed: number;
  /** Standard deviation of the valid replicates. */
  se: number;
  /** Mean of the replicates minus the estimate. */
  bias: number;
  /** BCa only: bias correction z0 and acceleration a. */
  z0?: number;
  acceleration?: number;
  /** The valid replicates, in draw order. */
  replicates: Float64Array;
}

/** Resampling units: clusters (or single cases), grouped by stratum. */
interface Design {
  /** Members of cluster c: members[offsets[c] .. offsets[c + 1]). */
  offsets: Uint32Array;
  members: Uint32Array;
  /** Cluster ids per stratum, strata in order of first appearance. */
  strata: Uint32Array[];
}

function buildDesign(
  n: number,
  stratify?: BootstrapOptions["stratify"],
  clusters?: BootstrapOptions["clusters"],
): Design {
  if (stratify && stratify.length !== n) {
    throw new LiverstiffError("bootstrapCi: stratify must have one entry per case", {
      cases: n,
      stratify: stratify.length,
    });
  }
  if (clusters && clusters.length !== n) {
    throw new LiverstiffError("bootstrapCi: clusters must have one entry per case", {
      cases: n,
      clusters: clusters.length,
    });
  }
  // Cluster ids in order of first appearance.
  const clusterOf = new Uint32Array(n);
  let nClusters = 0;
  if (clusters) {
    const ids = new Map<number | string, number>();
    for (let i = 0; i < n; i++) {
      const key = clusters[i];
      if (key === undefined || key === null || (typeof key === "number" && Number.isNaN(key)) || key === "") {
        throw new LiverstiffError("bootstrapCi: a cluster id is missing", { index: i });
      }
      let id = ids.get(key);
      if (id === undefined) {
        id = nClusters++;
        ids.set(key, id);
      }
      clusterOf[i] = id;
    }
  } else {
    for (let i = 0; i < n; i++) clusterOf[i] = i;
    nClusters = n;
  }
  const offsets = new Uint32Array(nClusters + 1);
  for (let i = 0; i < n; i++) offsets[clusterOf[i] + 1]++;
  for (let c = 0; c < nClusters; c++) offsets[c + 1] += offsets[c];
  const fill = offsets.slice(0, nClusters);
  const members = new Uint32Array(n);
  for (let i = 0; i < n; i++) members[fill[clusterOf[i]]++] = i;

  if (!stratify) return { offsets, members, strata: [Uint32Array.from({ length: nClusters }, (_, c) => c)] };
  const MIXED = Symbol("mixed");
  const strataIds = new Map<unknown, number>();
  const lists: number[][] = [];
  for (let c = 0; c < nClusters; c++) {
    let key: unknown = stratify[members[offsets[c]]];
    for (let k = offsets[c] + 1; k < offsets[c + 1]; k++) {
      if (stratify[members[k]] !== key) {
        key = MIXED;
        break;
      }
    }
    let s = strataIds.get(key);
    if (s === undefined) {
      s = lists.length;
      strataIds.set(key, s);
      lists.push([]);
    }
    lists[s].push(c);
  }
  return { offsets, members, strata: lists.map((l) => Uint32Array.from(l)) };
}

/** R's default (type 7) sample quantile of sorted values. */
export function quantileSorted(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Bootstrap confidence interval of any statistic: percentile or BCa, optionally stratified and/or
 * clustered, reproducible from the seed. Cost: `resamples` statistic evaluations (BCa adds one
 * leave-one-cluster-out jackknife evaluation per cluster).
 */
export function bootstrapCi(options: BootstrapOptions): BootstrapResult {
  const { n, statistic } = options;
  const method = options.method ?? "percentile";
  const resamples = options.resamples ?? 2000;
  const level = confidenceLevel("bootstrapCi", options);
  if (!(Number.isInteger(n) && n > 0))
    throw new LiverstiffError("bootstrapCi: n must be a positive integer", { n });
  if (!(Number.isInteger(resamples) && resamples >= 2)) {
    throw new LiverstiffError("bootstrapCi: resamples must be an integer >= 2", { resamples });
  }
  if (method !== "percentile" && method !== "bca") {
    throw new LiverstiffError("bootstrapCi: method must be 'percentile' or 'bca'", {
      method: String(method),
    });
  }
  const design = buildDesign(n, options.stratify, options.clusters);
  const all = new Uint32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  const estimate = statistic(all);
  if (!Number.isFinite(estimate)) {
    throw new LiverstiffError("bootstrapCi: the statistic is not finite on the full sample", {
      estimate: String(estimate),
    });
  }

  const rng = new Rng(options.seed ?? 1);
  const { offsets, members, strata } = design;
  let buffer = new Uint32Array(n);
  const replicates = new Float64Array(resamples);
  let valid = 0;
  for (let b = 0; b < resamples; b++) {
    let len = 0;
    for (const units of strata) {
      const k = units.length;
      for (let d = 0; d < k; d++) {
        const c = units[rng.int(k)];
        const start = offsets[c];
        const end = offsets[c + 1];
        if (len + end - start > buffer.length) {
          const grown = new Uint32Array(Math.max(buffer.length * 2, len + end - start));
          grown.set(buffer.subarray(0, len));
          buffer = grown;
        }
        for (let k2 = start; k2 < end; k2++) buffer[len++] = members[k2];
      }
    }
    const t = statistic(buffer.subarray(0, len));
    if (!Number.isNaN(t)) replicates[valid++] = t;
  }
  if (valid < 2) {
    throw new LiverstiffError("bootstrapCi: fewer than 2 resamples gave a value", { resamples, valid });
  }
  const reps = replicates.slice(0, valid);
  const sorted = reps.slice().sort();
  let mean = 0;
  for (let i = 0; i < valid; i++) mean += reps[i];
  mean /= valid;
  let ss = 0;
  for (let i = 0; i < valid; i++) ss += (reps[i] - mean) ** 2;
  const se = Math.sqrt(ss / (valid - 1));
  const alpha = (1 - level) / 2;
  const base = {
    estimate,
    level,
    method,
    resamples,
    failed: resamples - valid,
    se,
    bias: mean - estimate,
    replicates: reps,
  };
  if (method === "percentile") {
    return { ...base, ci: [quantileSorted(sorted, alpha), quantileSorted(sorted, 1 - alpha)] };
  }

  // BCa: bias correction from the share of replicates below the estimate; acceleration from a
  // leave-one-cluster-out jackknife.
  let below = 0;
  for (let i = 0; i < valid; i++) if (reps[i] < estimate) below++;
  if (below === 0 || below === valid) {
    if (sorted[0] === sorted[valid - 1])
      return { ...base, ci: [sorted[0], sorted[0]], z0: 0, acceleration: 0 };
    throw new LiverstiffError(
      "bootstrapCi: BCa is undefined here (every resample lies on one side of the estimate); use the percentile method",
      { estimate, below, resamples: valid },
    );
  }
  const z0 = qnorm(below / valid);
  const acceleration = jackknifeAcceleration(n, statistic, offsets, members);
  const adjust = (zAlpha: number) => pnorm(z0 + (z0 + zAlpha) / (1 - acceleration * (z0 + zAlpha)));
  const a1 = adjust(qnorm(alpha));
  const a2 = adjust(qnorm(1 - alpha));
  return {
    ...base,
    ci: [quantileSorted(sorted, a1), quantileSorted(sorted, a2)],
    z0,
    acceleration,
  };
}

function jackknifeAcceleration(
  n: number,
  statistic: Statistic,
  offsets: Uint32Array,
  members: Uint32Array,
): number {
  const nClusters = offsets.length - 1;
  if (nClusters < 3)
    throw new LiverstiffError("bootstrapCi: BCa needs at least 3 clusters", { clusters: nClusters });
  const inCluster = new Uint32Array(n);
  for (let c = 0; c < nClusters; c++)
    for (let k = offsets[c]; k < offsets[c + 1]; k++) inCluster[members[k]] = c;
  const theta = new Float64Array(nClusters);
  const idx = new Uint32Array(n);
  let count = 0;
  for (let c = 0; c < nClusters; c++) {
    let len = 0;
    for (let i = 0; i < n; i++) if (inCluster[i] !== c) idx[len++] = i;
    const t = statistic(idx.subarray(0, len));
    if (!Number.isFinite(t)) {
      throw new LiverstiffError("bootstrapCi: a jackknife (leave-one-cluster-out) statistic is not finite", {
        cluster: c,
      });
    }
    theta[c] = t;
    count++;
  }
  let mean = 0;
  for (let c = 0; c < count; c++) mean += theta[c];
  mean /= count;
  let num = 0;
  let den = 0;
  for (let c = 0; c < count; c++) {
    const d = mean - theta[c];
    num += d * d * d;
    den += d * d;
  }
  return den === 0 ? 0 : num / (6 * den ** 1.5);
}

/**
 * The AUROC as a bootstrap statistic, O(n + distinct scores) per resample: the scores are ranked once,
 * and each resample only counts its cases per rank.
 */
export function aucStatistic(labels: Labels, scores: Scores): Statistic {
  const split = splitByClass("aucStatistic", labels, scores);
  const lab = split.labels;
  const n = lab.length;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++)
    values[i] = lab[i] ? split.pos[split.classIndex[i]] : split.neg[split.classIndex[i]];
  const distinct = uniqueSorted(values);
  const rank = new Uint32Array(n);
  for (let i = 0; i < n; i++) rank[i] = lowerBound(distinct, values[i]);
  const k = distinct.length;
  const posCount = new Float64Array(k);
  const negCount = new Float64Array(k);
  return (indices: Uint32Array) => {
    posCount.fill(0);
    negCount.fill(0);
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      if (lab[i]) posCount[rank[i]]++;
      else negCount[rank[i]]++;
    }
    let negBelow = 0;
    let nPos = 0;
    let sum = 0;
    for (let r = 0; r < k; r++) {
      const pc = posCount[r];
      const nc = negCount[r];
      if (pc > 0) sum += pc * (negBelow + 0.5 * nc);
      negBelow += nc;
      nPos += pc;
    }
    if (nPos === 0 || negBelow === 0) return Number.NaN;
    return sum / (nPos * negBelow);
  };
}

function uniqueSorted(values: Float64Array): Float64Array {
  const s = values.slice().sort();
  let k = 0;
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[k - 1]) s[k++] = s[i];
  return s.slice(0, k);
}
