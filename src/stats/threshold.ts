import { LiverstiffError } from "../core/index.ts";
import { qnorm } from "./distributions.ts";
import { checkFinite, checkLevel, type Labels, type Scores, splitByClass } from "./input.ts";
import { rocCurveSplit } from "./roc.ts";

/**
 * Wilson score interval for a binomial proportion, without continuity correction: exactly what R's
 * prop.test(x, n, correct = FALSE)$conf.int returns.
 */
export function wilson(successes: number, trials: number, level = 0.95): [number, number] {
  checkLevel("wilson", level);
  if (!(Number.isInteger(trials) && trials > 0)) {
    throw new LiverstiffError("wilson: the number of trials must be a positive integer", { trials });
  }
  if (!(Number.isInteger(successes) && successes >= 0 && successes <= trials)) {
    throw new LiverstiffError("wilson: successes must be an integer between 0 and the number of trials", {
      successes,
      trials,
    });
  }
  const est = successes / trials;
  const z = qnorm((1 + level) / 2);
  const z22n = (z * z) / (2 * trials);
  const half = (pc: number) => z * Math.sqrt((pc * (1 - pc)) / trials + z22n / (2 * trials));
  const upper = est >= 1 ? 1 : (est + z22n + half(est)) / (1 + 2 * z22n);
  const lower = est <= 0 ? 0 : (est + z22n - half(est)) / (1 + 2 * z22n);
  return [Math.max(lower, 0), Math.min(upper, 1)];
}

/** The 2x2 table at one cut-off with the usual proportions and their Wilson intervals. */
export interface ConfusionSummary {
  threshold: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
  sensitivity: number;
  specificity: number;
  accuracy: number;
  balanced_accuracy: number;
  /** null when nothing is called positive (no denominator). */
  ppv: number | null;
  /** null when nothing is called negative. */
  npv: number | null;
  sensitivity_wilson95: [number, number];
  specificity_wilson95: [number, number];
  accuracy_wilson95: [number, number];
  ppv_wilson95: [number, number] | null;
  npv_wilson95: [number, number] | null;
}

/** Builds the summary from counts; the Wilson intervals use `level` (the field names say 95 for the default). */
export function summariseCounts(
  threshold: number,
  tp: number,
  tn: number,
  fp: number,
  fn: number,
  level = 0.95,
): ConfusionSummary {
  const nPos = tp + fn;
  const nNeg = tn + fp;
  if (nPos === 0 || nNeg === 0) {
    throw new LiverstiffError("confusion table: needs both classes", { positives: nPos, negatives: nNeg });
  }
  const sensitivity = tp / nPos;
  const specificity = tn / nNeg;
  return {
    threshold,
    tp,
    tn,
    fp,
    fn,
    sensitivity,
    specificity,
    accuracy: (tp + tn) / (nPos + nNeg),
    balanced_accuracy: (sensitivity + specificity) / 2,
    ppv: tp + fp > 0 ? tp / (tp + fp) : null,
    npv: tn + fn > 0 ? tn / (tn + fn) : null,
    sensitivity_wilson95: wilson(tp, nPos, level),
    specificity_wilson95: wilson(tn, nNeg, level),
    accuracy_wilson95: wilson(tp + tn, nPos + nNeg, level),
    ppv_wilson95: tp + fp > 0 ? wilson(tp, tp + fp, level) : null,
    npv_wilson95: tn + fn > 0 ? wilson(tn, tn + fn, level) : null,
  };
}

/**
 * The confusion table at a fixed cut-off; a case is called positive when score >= threshold (pROC's
 * convention for direction "<": controls < t <= cases).
 */
export function confusionAt(
  labels: Labels,
  scores: Scores,
  threshold: number,
  options: { level?: number } = {},
): ConfusionSummary {
  if (Number.isNaN(threshold)) throw new LiverstiffError("confusionAt: the threshold is NaN");
  const { pos, neg } = splitByClass("confusionAt", labels, scores);
  let tp = 0;
  for (let i = 0; i < pos.length; i++) if (pos[i] >= threshold) tp++;
  let fp = 0;
  for (let i = 0; i < neg.length; i++) if (neg[i] >= threshold) fp++;
  return summariseCounts(threshold, tp, neg.length - fp, fp, pos.length - tp, options.level ?? 0.95);
}

export interface YoudenSummary extends ConfusionSummary {
  /** sensitivity + specificity - 1 at the cut-off. */
  youden_index: number;
}

/**
 * The Youden cut-off, as pROC's coords(roc, "best", best.method = "youden") reports it: among pROC's
 * thresholds (midpoints between adjacent distinct scores), the one maximising sensitivity + specificity;
 * on exact ties, the lowest threshold (pROC's first row).
 */
export function youden(labels: Labels, scores: Scores, options: { level?: number } = {}): YoudenSummary {
  const curve = rocCurveSplit(splitByClass("youden", labels, scores));
  let best = 0;
  let bestCrit = Number.NEGATIVE_INFINITY;
  for (let t = 0; t < curve.thresholds.length; t++) {
    // Same floating-point expression as pROC (se + r * sp with r = 1) so that exact ties agree.
    const crit = curve.sensitivity[t] + curve.specificity[t];
    if (crit > bestCrit) {
      bestCrit = crit;
      best = t;
    }
  }
  const tp = curve.tp[best];
  const tn = curve.tn[best];
  const summary = summariseCounts(
    curve.thresholds[best],
    tp,
    tn,
    curve.nNeg - tn,
    curve.nPos - tp,
    options.level ?? 0.95,
  );
  return { ...summary, youden_index: summary.sensitivity + summary.specificity - 1 };
}

/** Checks a list of values as probabilities in [0, 1]. */
export function checkProbabilities(what: string, values: ArrayLike<number>, name = "probability"): void {
  checkFinite(what, values, name);
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0 || values[i] > 1) {
      throw new LiverstiffError(`${what}: every ${name} must lie in [0, 1]`, { index: i, [name]: values[i] });
    }
  }
}
