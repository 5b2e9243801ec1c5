// The bundle's ensemble: every member (one cv10 fold model) scores the exam; the reported probability is
// the members' mean, the interval their range, the kPa their geometric mean, the attention their mean.
import type { SeriesRole } from "../dicom/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../features/index.ts";
import type { ExamPrediction, TrainedModel } from "../train/index.ts";
import type { Five, KpaError } from "./bundle.ts";

export interface ThresholdResult {
  thresholdKpa: number;
  /** Mean of the members' P(kPa >= threshold). */
  probability: number;
  /** Lowest and highest member probability (the ensemble's spread; model uncertainty only). */
  interval: [number, number];
  sd: number;
  cutoff: number;
  /** probability > cutoff. */
  positive: boolean;
  /**
   * Whether this threshold's call counts toward the category: every threshold up to it is positive. A
   * positive threshold above a negative one is not counted (possible only with non-monotone probabilities).
   */
  counted: boolean;
}

export interface Category {
  label: string;
  /** The highest threshold t such that every threshold up to t is positive; null: none (< 2.5 kPa). */
  thresholdKpa: number | null;
  /** The upper end of the category (the next threshold), null for the highest. */
  belowKpa: number | null;
  /** The category threshold's probability and cut-off (the lowest threshold's when none is positive). */
  probability: number;
  cutoff: number;
  /** Positive thresholds above the first negative one: calls the category does not follow. */
  ignoredKpa: number[];
}

export interface KpaPrediction {
  /** Geometric mean of the members' predicted kPa. */
  value: number;
  /** Lowest and highest member's kPa (model spread only). */
  interval: [number, number];
  /**
   * The 80% prediction interval for the measured kPa: value times the bundle's out-of-fold error
   * quantiles (absent for a bundle without them).
   */
  predictionInterval?: [number, number];
  /** Whether the point value lies in the category's range [threshold, next threshold). */
  inCategory: boolean;
  /**
   * Whether the category and the kPa are consistent: the category's range meets the 80% prediction
   * interval (the point itself without one). False means the two heads disagree by more than the kPa's own
   * cross-validated error.
   */
  agreesWithCategory: boolean;
}

export interface EnsemblePrediction {
  examId: string;
  thresholds: ThresholdResult[];
  category: Category;
  kpaPred: KpaPrediction | null;
  /** Mean attention per role per slice over members (heads with attention pooling); sums to 1. */
  attention: Partial<Record<SeriesRole, number[]>> | null;
  /** Each member's own prediction, in bundle order. */
  members: { fold: string; probabilities: number[]; kpaPred?: number }[];
  /** What the members said about how they predicted (e.g. an organ member without organ measures). */
  notes: string[];
}

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** How many thresholds, from the lowest, are all positive (probability > cut-off). */
export function categoryLevel(probabilities: readonly number[], cutoffs: readonly number[]): number {
  let level = 0;
  while (level < THRESHOLDS_KPA.length && probabilities[level]! > cutoffs[level]!) level++;
  return level;
}

/** The highest threshold t such that every threshold up to t is above its cut-off. */
export function categoryOf(probabilities: readonly number[], cutoffs: readonly number[]): Category {
  const level = categoryLevel(probabilities, cutoffs);
  const k = Math.max(0, level - 1);
  const ignoredKpa = THRESHOLDS_KPA.filter((_, j) => j > level && probabilities[j]! > cutoffs[j]!);
  return {
    label: level === 0 ? `< ${THRESHOLDS_KPA[0]!.toFixed(1)} kPa` : `>= ${THRESHOLDS_KPA[k]!.toFixed(1)} kPa`,
    thresholdKpa: level === 0 ? null : THRESHOLDS_KPA[k]!,
    belowKpa: THRESHOLDS_KPA[level] ?? null,
    probability: probabilities[k]!,
    cutoff: cutoffs[k]!,
    ignoredKpa,
  };
}

/** Whether a kPa lies in the category's range [threshold, next threshold). */
export function kpaInCategory(kpa: number, category: Category): boolean {
  return (
    (category.thresholdKpa === null || kpa >= category.thresholdKpa) &&
    (category.belowKpa === null || kpa < category.belowKpa)
  );
}

/** Whether a kPa range [lo, hi] meets the category's range [threshold, next threshold). */
export function rangeMeetsCategory(lo: number, hi: number, category: Category): boolean {
  return (
    (category.thresholdKpa === null || hi >= category.thresholdKpa) &&
    (category.belowKpa === null || lo < category.belowKpa)
  );
}

function kpaPrediction(
  kpas: readonly number[],
  category: Category,
  kpaError: KpaError | null | undefined,
): KpaPrediction {
  const value = Math.exp(mean(kpas.map(Math.log)));
  const inCategory = kpaInCategory(value, category);
  const out: KpaPrediction = {
    value,
    interval: [Math.min(...kpas), Math.max(...kpas)],
    inCategory,
    agreesWithCategory: inCategory,
  };
  if (kpaError) {
    const [lo, hi] = kpaError.logRatioQuantiles;
    out.predictionInterval = [value * Math.exp(lo), value * Math.exp(hi)];
    out.agreesWithCategory = rangeMeetsCategory(...out.predictionInterval, category);
  }
  return out;
}

/** Combines the members' predictions of one exam. */
export function combine(
  examId: string,
  perMember: readonly ExamPrediction[],
  folds: readonly string[],
  cutoffs: Five,
  kpaError?: KpaError | null,
): EnsemblePrediction {
  const thresholds = THRESHOLDS_KPA.map((t, k): ThresholdResult => {
    const ps = perMember.map((p) => p.probabilities[k]!);
    const m = mean(ps);
    const sd = ps.length > 1 ? Math.sqrt(ps.reduce((a, p) => a + (p - m) ** 2, 0) / (ps.length - 1)) : 0;
    return {
      thresholdKpa: t,
      probability: m,
      interval: [Math.min(...ps), Math.max(...ps)],
      sd,
      cutoff: cutoffs[k],
      positive: m > cutoffs[k],
      counted: false,
    };
  });
  const category = categoryOf(
    thresholds.map((t) => t.probability),
    cutoffs,
  );
  const level = categoryLevel(
    thresholds.map((t) => t.probability),
    cutoffs,
  );
  for (const [k, t] of thresholds.entries()) t.counted = k < level;
  const kpas = perMember.map((p) => p.kpaPred).filter((k): k is number => k !== undefined && k > 0);
  const kpaPred =
    kpas.length === perMember.length && kpas.length > 0 ? kpaPrediction(kpas, category, kpaError) : null;
  let attention: EnsemblePrediction["attention"] = null;
  if (perMember.every((p) => p.attention)) {
    attention = {};
    for (const [role, w] of Object.entries(perMember[0]!.attention!) as [SeriesRole, number[]][])
      attention[role] = w.map((_, s) => mean(perMember.map((p) => p.attention![role]?.[s] ?? 0)));
  }
  return {
    examId,
    thresholds,
    category,
    kpaPred,
    attention,
    notes: [...new Set(perMember.flatMap((p) => p.notes ?? []))],
    members: perMember.map((p, i) => {
      const m: EnsemblePrediction["members"][number] = { fold: folds[i]!, probabilities: p.probabilities };
      if (p.kpaPred !== undefined) m.kpaPred = p.kpaPred;
      return m;
    }),
  };
}

/** Every member scores every exam; results in exam order. */
export function predictEnsemble(
  members: readonly { fold: string; model: TrainedModel }[],
  exams: readonly ExamFeatures[],
  cutoffs: Five,
  kpaError?: KpaError | null,
): EnsemblePrediction[] {
  if (exams.length === 0) return [];
  const byMember = members.map((m) => m.model.predict(exams));
  return exams.map((e, i) =>
    combine(
      e.examId,
      byMember.map((preds) => preds[i]!),
      members.map((m) => m.fold),
      cutoffs,
      kpaError,
    ),
  );
}
