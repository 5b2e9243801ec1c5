// The bundle's ensemble: every member (one cv10 fold model) scores the exam; the reported probability is
// the members' mean, the interval their range, the kPa their geometric mean, the attention their mean.
import type { SeriesRole } from "../dicom/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../features/index.ts";
import type { ExamPrediction, TrainedModel } from "../train/index.ts";
import type { Five } from "./bundle.ts";

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
}

export interface EnsemblePrediction {
  examId: string;
  thresholds: ThresholdResult[];
  /** The highest threshold whose probability exceeds its cut-off ("< 2.5 kPa" when none does). */
  category: { label: string; thresholdKpa: number | null; probability: number; cutoff: number };
  kpaPred: { value: number; interval: [number, number] } | null;
  /** Mean attention per role per slice over members (heads with attention pooling); sums to 1. */
  attention: Partial<Record<SeriesRole, number[]>> | null;
  /** Each member's own prediction, in bundle order. */
  members: { fold: string; probabilities: number[]; kpaPred?: number }[];
}

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export function categoryOf(
  probabilities: readonly number[],
  cutoffs: readonly number[],
): EnsemblePrediction["category"] {
  for (let k = THRESHOLDS_KPA.length - 1; k >= 0; k--)
    if (probabilities[k]! > cutoffs[k]!)
      return {
        label: `>= ${THRESHOLDS_KPA[k]!.toFixed(1)} kPa`,
        thresholdKpa: THRESHOLDS_KPA[k]!,
        probability: probabilities[k]!,
        cutoff: cutoffs[k]!,
      };
  return {
    label: `< ${THRESHOLDS_KPA[0]!.toFixed(1)} kPa`,
    thresholdKpa: null,
    probability: probabilities[0]!,
    cutoff: cutoffs[0]!,
  };
}

/** Combines the members' predictions of one exam. */
export function combine(
  examId: string,
  perMember: readonly ExamPrediction[],
  folds: readonly string[],
  cutoffs: Five,
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
    };
  });
  const kpas = perMember.map((p) => p.kpaPred).filter((k): k is number => k !== undefined && k > 0);
  const kpaPred =
    kpas.length === perMember.length && kpas.length > 0
      ? {
          value: Math.exp(mean(kpas.map(Math.log))),
          interval: [Math.min(...kpas), Math.max(...kpas)] as [number, number],
        }
      : null;
  let attention: EnsemblePrediction["attention"] = null;
  if (perMember.every((p) => p.attention)) {
    attention = {};
    for (const [role, w] of Object.entries(perMember[0]!.attention!) as [SeriesRole, number[]][])
      attention[role] = w.map((_, s) => mean(perMember.map((p) => p.attention![role]?.[s] ?? 0)));
  }
  return {
    examId,
    thresholds,
    category: categoryOf(
      thresholds.map((t) => t.probability),
      cutoffs,
    ),
    kpaPred,
    attention,
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
): EnsemblePrediction[] {
  if (exams.length === 0) return [];
  const byMember = members.map((m) => m.model.predict(exams));
  return exams.map((e, i) =>
    combine(
      e.examId,
      byMember.map((preds) => preds[i]!),
      members.map((m) => m.fold),
      cutoffs,
    ),
  );
}
