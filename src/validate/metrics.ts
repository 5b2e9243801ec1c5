import { THRESHOLDS_KPA } from "../features/types.ts";
import {
  agreement,
  aucStatistic,
  bootstrapCi,
  calibration,
  correlation,
  delong,
  delongPaired,
  delongPairedClustered,
  netBenefit,
  rocCurve,
  summariseCounts,
} from "../stats/index.ts";
import type {
  CutoffCounts,
  FoldSummary,
  OracleShare,
  PredictionRow,
  RecipeComparison,
  SchemeMetrics,
  SchemeName,
  SubgroupConfounding,
  SubgroupMetrics,
  ThresholdMetrics,
  ValidationMetrics,
} from "./types.ts";

/** Index of the primary threshold (3.0 kPa) in THRESHOLDS_KPA. */
export const PRIMARY_INDEX = 1;

export interface MetricsOptions {
  bootstrapResamples: number;
  seed: number | string;
}

function labelsAt(rows: readonly PredictionRow[], t: number): Uint8Array {
  return Uint8Array.from(rows, (r) => (r.kpa >= THRESHOLDS_KPA[t]! ? 1 : 0));
}

function scoresAt(rows: readonly PredictionRow[], t: number): Float64Array {
  return Float64Array.from(rows, (r) => r.probabilities[t]!);
}

/** DeLong's variance needs at least two cases of each class. */
function bothClasses(labels: Uint8Array): boolean {
  let pos = 0;
  for (const v of labels) pos += v;
  return pos >= 2 && labels.length - pos >= 2;
}

/** The clustered variance needs at least two patients with exams of each class. */
function bothClassesClustered(labels: Uint8Array, patients: readonly string[]): boolean {
  const pos = new Set<string>();
  const neg = new Set<string>();
  labels.forEach((l, i) => {
    (l ? pos : neg).add(patients[i]!);
  });
  return pos.size >= 2 && neg.size >= 2;
}

/** Thins a ROC curve to at most `max` points for plotting, always keeping both ends. */
function rocPoints(labels: Uint8Array, scores: Float64Array, max = 300): { fpr: number[]; tpr: number[] } {
  const roc = rocCurve(labels, scores);
  const n = roc.sensitivity.length;
  const step = Math.max(1, Math.ceil(n / max));
  const fpr: number[] = [];
  const tpr: number[] = [];
  // Thresholds ascend, so walk backwards to get the false-positive rate ascending.
  for (let i = n - 1; i >= 0; i -= step) {
    fpr.push(1 - roc.specificity[i]!);
    tpr.push(roc.sensitivity[i]!);
  }
  if (fpr[fpr.length - 1] !== 1 - roc.specificity[0]!) {
    fpr.push(1 - roc.specificity[0]!);
    tpr.push(roc.sensitivity[0]!);
  }
  return { fpr, tpr };
}

function thresholdMetrics(
  rows: readonly PredictionRow[],
  t: number,
  options: MetricsOptions,
): ThresholdMetrics {
  const labels = labelsAt(rows, t);
  const scores = scoresAt(rows, t);
  const d = delong(labels, scores);
  const boot = bootstrapCi({
    n: rows.length,
    statistic: aucStatistic(labels, scores),
    stratify: labels,
    clusters: rows.map((r) => r.patientId),
    resamples: options.bootstrapResamples,
    seed: `${options.seed}/auc/${t}`,
  });
  let tp = 0;
  let tn = 0;
  let fp = 0;
  let fn = 0;
  rows.forEach((r, i) => {
    // Each exam is classified with its own fold's cut-off, chosen on that fold's validation part.
    const positive = r.probabilities[t]! > r.cutoffs[t]!;
    if (labels[i]) positive ? tp++ : fn++;
    else positive ? fp++ : tn++;
  });
  const { threshold: _unused, ...atCutoff } = summariseCounts(Number.NaN, tp, tn, fp, fn);
  return {
    atCutoffCounts: cutoffCounts(tp, tn, fp, fn),
    thresholdKpa: THRESHOLDS_KPA[t]!,
    n: rows.length,
    nPos: d.nPos,
    nNeg: d.nNeg,
    auc: d.auc,
    aucDelongCi95: d.ci,
    aucBootstrapCi95: boot.ci,
    atCutoff,
    calibration: calibration(labels, scores),
    roc: rocPoints(labels, scores),
  };
}

/** The numerator and denominator behind each proportion of the 2x2 table. */
export function cutoffCounts(tp: number, tn: number, fp: number, fn: number): CutoffCounts {
  return {
    sensitivity: [tp, tp + fn],
    specificity: [tn, tn + fp],
    ppv: [tp, tp + fp],
    npv: [tn, tn + fn],
    accuracy: [tp + tn, tp + tn + fp + fn],
  };
}

/**
 * A recipe's AUROC against the oracle ceiling: the share of the attainable gain over chance,
 * (AUROC - 0.5) / (oracle - 0.5), and the plain ratio AUROC / oracle. Undefined when the oracle is not
 * above chance (no gain to share).
 */
export function oracleShare(auc: number, oracleAuc: number): OracleShare | undefined {
  if (!Number.isFinite(auc) || !Number.isFinite(oracleAuc) || !(oracleAuc > 0.5)) return undefined;
  return {
    oracleAuc,
    shareOfAttainableGain: (auc - 0.5) / (oracleAuc - 0.5),
    aucOverOracle: auc / oracleAuc,
  };
}

/** Each threshold's AUROC against its scheme's oracle (the cohort-wide one when the scheme's is missing). */
export function addOracleShares(
  schemes: SchemeMetrics[],
  oracle: NonNullable<ValidationMetrics["oracle"]>,
): void {
  for (const m of schemes)
    for (const t of m.thresholds) {
      const k = THRESHOLDS_KPA.findIndex((x) => Math.abs(x - t.thresholdKpa) < 1e-9);
      const own = oracle.byScheme?.[m.scheme]?.[k];
      const share = oracleShare(t.auc, Number.isFinite(own) ? own! : oracle.aucByThreshold[k]!);
      if (share) t.vsOracle = share;
    }
}

const SUBGROUP_DEFS: { by: string; key: (r: PredictionRow) => string | undefined }[] = [
  {
    by: "age",
    key: (r) => (r.ageYears === undefined ? undefined : r.ageYears < 18 ? "pediatric (<18 y)" : "adult"),
  },
  { by: "vendor", key: (r) => r.vendor },
  {
    by: "field strength",
    key: (r) => (r.fieldStrengthT === undefined ? undefined : `${r.fieldStrengthT} T`),
  },
  { by: "site", key: (r) => r.site },
];

function subgroupMetrics(rows: readonly PredictionRow[]): SubgroupMetrics[] {
  const out: SubgroupMetrics[] = [];
  for (const def of SUBGROUP_DEFS) {
    const groups = new Map<string, PredictionRow[]>();
    for (const r of rows) {
      const k = def.key(r);
      if (k === undefined) continue;
      const list = groups.get(k);
      if (list) list.push(r);
      else groups.set(k, [r]);
    }
    for (const group of [...groups.keys()].sort()) {
      const g = groups.get(group)!;
      const labels = labelsAt(g, PRIMARY_INDEX);
      const nPos = labels.reduce((a, b) => a + b, 0);
      if (!bothClasses(labels)) {
        out.push({ by: def.by, group, n: g.length, nPos, auc: null, aucDelongCi95: null });
        continue;
      }
      const d = delong(labels, scoresAt(g, PRIMARY_INDEX));
      out.push({ by: def.by, group, n: g.length, nPos, auc: d.auc, aucDelongCi95: d.ci });
    }
  }
  return out;
}

/** Each group of `from` with the set of groups of `to` its exams fall in (exams lacking either key left out). */
function groupMap(
  rows: readonly PredictionRow[],
  from: (r: PredictionRow) => string | undefined,
  to: (r: PredictionRow) => string | undefined,
): { map: Map<string, Set<string>>; n: number } {
  const map = new Map<string, Set<string>>();
  let n = 0;
  for (const r of rows) {
    const a = from(r);
    const b = to(r);
    if (a === undefined || b === undefined) continue;
    n++;
    const set = map.get(a);
    if (set) set.add(b);
    else map.set(a, new Set([b]));
  }
  return { map, n };
}

/**
 * Pairs of subgroup variables that are not independent evidence on these exams: the same partition (e.g.
 * one vendor per site and one site per vendor) or one nested inside the other (each site has one vendor,
 * a vendor spans several sites). Variables with fewer than two groups say nothing and are skipped.
 */
export function subgroupConfounding(
  rows: readonly PredictionRow[],
  defs: readonly { by: string; key: (r: PredictionRow) => string | undefined }[] = SUBGROUP_DEFS,
): SubgroupConfounding[] {
  const out: SubgroupConfounding[] = [];
  const within = (m: Map<string, Set<string>>) =>
    [...m.keys()].sort().map((group) => ({ group, within: [...m.get(group)!].sort().join(", ") }));
  for (let i = 0; i < defs.length; i++) {
    for (let j = i + 1; j < defs.length; j++) {
      const a = defs[i]!;
      const b = defs[j]!;
      const ab = groupMap(rows, a.key, b.key);
      const ba = groupMap(rows, b.key, a.key);
      if (ab.map.size < 2 || ba.map.size < 2) continue;
      const aInB = [...ab.map.values()].every((set) => set.size === 1);
      const bInA = [...ba.map.values()].every((set) => set.size === 1);
      if (aInB && bInA)
        out.push({ by: [a.by, b.by], relation: "identical", groups: within(ab.map), n: ab.n });
      else if (aInB) out.push({ by: [a.by, b.by], relation: "nested", groups: within(ab.map), n: ab.n });
      else if (bInA) out.push({ by: [b.by, a.by], relation: "nested", groups: within(ba.map), n: ab.n });
    }
  }
  return out;
}

/** Net benefit of the recipe at 3.0 kPa on a 0.01 grid of threshold probabilities. */
function decisionCurve(rows: readonly PredictionRow[]): SchemeMetrics["decisionCurve"] {
  const labels = labelsAt(rows, PRIMARY_INDEX);
  if (!bothClasses(labels)) return undefined;
  return {
    thresholdKpa: THRESHOLDS_KPA[PRIMARY_INDEX]!,
    rows: netBenefit(labels, scoresAt(rows, PRIMARY_INDEX)),
  };
}

function foldAuc(rows: readonly PredictionRow[]): number | null {
  const labels = labelsAt(rows, PRIMARY_INDEX);
  return bothClasses(labels) ? delong(labels, scoresAt(rows, PRIMARY_INDEX)).auc : null;
}

/** The metrics of one recipe on one scheme, from its pooled out-of-fold predictions. */
export function schemeMetrics(
  recipe: string,
  scheme: SchemeName,
  rows: readonly PredictionRow[],
  folds: Omit<FoldSummary, "auc">[],
  options: MetricsOptions,
): SchemeMetrics {
  const thresholds: ThresholdMetrics[] = [];
  const unevaluable: { thresholdKpa: number; reason: string }[] = [];
  THRESHOLDS_KPA.forEach((tKpa, t) => {
    const labels = labelsAt(rows, t);
    if (bothClasses(labels)) thresholds.push(thresholdMetrics(rows, t, options));
    else {
      const pos = labels.reduce((a, b) => a + b, 0);
      unevaluable.push({
        thresholdKpa: tKpa,
        reason: `${pos} exams >= ${tKpa} kPa and ${labels.length - pos} below: at least 2 of each are needed`,
      });
    }
  });
  const foldSummaries: FoldSummary[] = folds.map((f) => ({
    ...f,
    auc: foldAuc(rows.filter((r) => r.fold === f.fold)),
  }));
  const aucs = foldSummaries.map((f) => f.auc).filter((a): a is number => a !== null);
  const out: SchemeMetrics = {
    recipe,
    scheme,
    nExams: rows.length,
    nPatients: new Set(rows.map((r) => r.patientId)).size,
    thresholds,
    folds: foldSummaries,
    subgroups: subgroupMetrics(rows),
  };
  const confounding = subgroupConfounding(rows);
  if (confounding.length > 0) out.subgroupConfounding = confounding;
  const curve = decisionCurve(rows);
  if (curve) out.decisionCurve = curve;
  if (unevaluable.length > 0) out.unevaluable = unevaluable;
  if (aucs.length >= 2) {
    const mean = aucs.reduce((a, b) => a + b, 0) / aucs.length;
    const sd = Math.sqrt(aucs.reduce((a, b) => a + (b - mean) ** 2, 0) / (aucs.length - 1));
    out.foldAuc = { mean, sd };
  }
  const withKpa = rows.filter((r) => r.kpaPred !== undefined && Number.isFinite(r.kpaPred));
  if (withKpa.length >= 4) {
    const pred = withKpa.map((r) => r.kpaPred!);
    const ref = withKpa.map((r) => r.kpa);
    const a = agreement(pred, ref);
    out.kpa = { pearson: correlation(pred, ref), mae: a.mae, rmse: a.rmse, bias: a.bias };
  }
  return out;
}

/**
 * Paired DeLong tests of two recipes on the same test exams of one scheme (matched by exam id; exams that
 * only one recipe predicted are left out, and `n` says how many were compared): clustered by patient
 * (Obuchowski's variance, repeat exams of a patient are one cluster) and, beside it, unclustered.
 */
export function compareRecipes(
  scheme: SchemeName,
  a: { recipe: string; rows: readonly PredictionRow[] },
  b: { recipe: string; rows: readonly PredictionRow[] },
): RecipeComparison[] {
  const byExam = new Map(b.rows.map((r) => [r.examId, r]));
  const pairs = a.rows.filter((r) => byExam.has(r.examId)).map((r) => [r, byExam.get(r.examId)!] as const);
  const patients = pairs.map(([r]) => r.patientId);
  const nPatients = new Set(patients).size;
  const out: RecipeComparison[] = [];
  // A threshold whose positives (or negatives) all belong to one patient has no between-patient variance.
  THRESHOLDS_KPA.forEach((tKpa, t) => {
    const labels = Uint8Array.from(pairs, ([r]) => (r.kpa >= tKpa ? 1 : 0));
    if (!bothClasses(labels) || !bothClassesClustered(labels, patients)) return;
    const scoresA = Float64Array.from(pairs, ([r]) => r.probabilities[t]!);
    const scoresB = Float64Array.from(pairs, ([, r]) => r.probabilities[t]!);
    const plain = delongPaired(labels, scoresA, scoresB);
    const clustered = delongPairedClustered(labels, scoresA, scoresB, patients);
    out.push({
      scheme,
      thresholdKpa: tKpa,
      recipeA: a.recipe,
      recipeB: b.recipe,
      n: pairs.length,
      nPatients,
      aucA: plain.auc1,
      aucB: plain.auc2,
      deltaAuc: plain.difference,
      deltaAucCi95: clustered.ci,
      zClustered: clustered.z,
      pClustered: clustered.p,
      deltaAucCi95Unclustered: plain.ci,
      z: plain.z,
      p: plain.p,
    });
  });
  return out;
}
