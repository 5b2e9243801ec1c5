import { LiverstiffError } from "../core/index.ts";
import type { Labels } from "./input.ts";
import { checkLengths, splitByClass } from "./input.ts";
import { lowerBound } from "./roc.ts";
import { checkProbabilities } from "./threshold.ts";

export interface NetBenefitRow {
  /** Threshold probability p_t: a case is treated (called positive) when its probability is >= p_t. */
  threshold: number;
  tp: number;
  fp: number;
  /** Net benefit of the model: TP/n - FP/n * p_t / (1 - p_t). */
  net_benefit: number;
  /** Net benefit of treating everyone: prevalence - (1 - prevalence) * p_t / (1 - p_t). */
  treat_all: number;
  /** Treating no one has net benefit 0 by definition. */
  treat_none: 0;
}

/** The default grid: 0.01, 0.02, ..., 0.99. */
export const DEFAULT_NET_BENEFIT_THRESHOLDS: readonly number[] = Array.from(
  { length: 99 },
  (_, k) => (k + 1) / 100,
);

/** Decision-curve net benefit (Vickers and Elkin 2006) over a range of threshold probabilities. */
export function netBenefit(
  labels: Labels,
  probabilities: ArrayLike<number>,
  thresholds: readonly number[] = DEFAULT_NET_BENEFIT_THRESHOLDS,
): NetBenefitRow[] {
  const what = "netBenefit";
  checkLengths(what, labels, probabilities, ["labels", "probabilities"]);
  checkProbabilities(what, probabilities);
  const { pos, neg } = splitByClass(what, labels, probabilities);
  const n = pos.length + neg.length;
  const prevalence = pos.length / n;
  const p = pos.slice().sort();
  const q = neg.slice().sort();
  return thresholds.map((pt) => {
    if (!(pt > 0 && pt < 1))
      throw new LiverstiffError(`${what}: threshold probabilities must lie in (0, 1)`, { threshold: pt });
    const tp = p.length - lowerBound(p, pt);
    const fp = q.length - lowerBound(q, pt);
    const odds = pt / (1 - pt);
    return {
      threshold: pt,
      tp,
      fp,
      net_benefit: tp / n - (fp / n) * odds,
      treat_all: prevalence - (1 - prevalence) * odds,
      treat_none: 0,
    };
  });
}
