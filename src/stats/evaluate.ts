import { LiverstiffError } from "../core/index.ts";
import { aucStatistic, bootstrapCi } from "./bootstrap.ts";
import { type CalibrationResult, calibration } from "./calibration.ts";
import { type NetBenefitRow, netBenefit } from "./decision.ts";
import { checkLengths, type Labels, type Scores, splitByClass } from "./input.ts";
import { delongClustered, delongPaired, delongPairedClustered, delongSplit } from "./roc.ts";
import { type YoudenSummary, youden } from "./threshold.ts";

export interface EvaluateBinaryOptions {
  /** A second score on the same cases: adds the paired DeLong test (and a bootstrap CI of the difference). */
  scores2?: Scores;
  /** A cluster (patient) per case: the bootstrap then resamples whole clusters. */
  clusters?: ArrayLike<number | string>;
  /** Bootstrap settings, or false to skip the bootstrap. Defaults: 2000 resamples, percentile, seed 1. */
  bootstrap?: { resamples?: number; seed?: number | string; method?: "percentile" | "bca" } | false;
  /** Calibration and net benefit: "auto" (default) when every score lies in [0, 1]. */
  probabilities?: boolean | "auto";
  /** Threshold probabilities for the decision curve (default 0.05, 0.10, ..., 0.95). */
  netBenefitThresholds?: readonly number[];
}

export interface BinaryEvaluation {
  n: number;
  n_pos: number;
  n_neg: number;
  prevalence: number;
  auc: number;
  delong_var: number;
  delong_se: number;
  delong_ci95: [number, number];
  /** With clusters: Obuchowski's cluster-robust variance and CI of the AUROC. */
  obuchowski_var?: number;
  obuchowski_ci95?: [number, number];
  bootstrap_ci95?: [number, number];
  bootstrap?: {
    method: "percentile" | "bca";
    resamples: number;
    seed: number | string;
    stratified: true;
    clustered: boolean;
    n_clusters: number;
    failed: number;
    se: number;
  };
  youden: YoudenSummary;
  calibration?: CalibrationResult;
  net_benefit?: NetBenefitRow[];
  auc2?: number;
  delong_var2?: number;
  delong_ci95_2?: [number, number];
  auc_difference?: number;
  auc_difference_ci95?: [number, number];
  delong_paired_z?: number;
  delong_paired_p?: number;
  auc_difference_bootstrap_ci95?: [number, number];
  /** With clusters and scores2: the paired test with Obuchowski's cluster-robust (co)variances. */
  obuchowski_difference_ci95?: [number, number];
  obuchowski_paired_z?: number;
  obuchowski_paired_p?: number;
}

const DEFAULT_NB_THRESHOLDS = Array.from({ length: 19 }, (_, k) => (k + 1) / 20);

/**
 * The full diagnostic-accuracy report of one binary score, with the field names of the pROC fixtures:
 * AUROC with DeLong variance and CI, a stratified (and, with clusters, clustered) bootstrap CI, the Youden
 * cut-off with its 2x2 table and Wilson intervals, calibration and net benefit for probabilities, and the
 * paired DeLong test against a second score.
 */
export function evaluateBinary(
  labels: Labels,
  scores: Scores,
  options: EvaluateBinaryOptions = {},
): BinaryEvaluation {
  const split = splitByClass("evaluateBinary", labels, scores, 2);
  const lab = split.labels;
  const d = delongSplit(split);
  const out: BinaryEvaluation = {
    n: lab.length,
    n_pos: d.nPos,
    n_neg: d.nNeg,
    prevalence: d.nPos / lab.length,
    auc: d.auc,
    delong_var: d.variance,
    delong_se: d.se,
    delong_ci95: d.ci,
    youden: youden(lab, scores),
  };
  if (options.clusters) {
    checkLengths("evaluateBinary", lab, options.clusters, ["labels", "clusters"]);
    const o = delongClustered(lab, scores, options.clusters);
    out.obuchowski_var = o.variance;
    out.obuchowski_ci95 = o.ci;
  }

  if (options.scores2) {
    checkLengths("evaluateBinary", scores, options.scores2, ["scores", "scores2"]);
    const t = delongPaired(lab, scores, options.scores2);
    const d2 = delongSplit(splitByClass("evaluateBinary (scores2)", lab, options.scores2, 2));
    out.auc2 = t.auc2;
    out.delong_var2 = d2.variance;
    out.delong_ci95_2 = d2.ci;
    out.auc_difference = t.difference;
    out.auc_difference_ci95 = t.ci;
    out.delong_paired_z = t.z;
    out.delong_paired_p = t.p;
    if (options.clusters) {
      const o = delongPairedClustered(lab, scores, options.scores2, options.clusters);
      out.obuchowski_difference_ci95 = o.ci;
      out.obuchowski_paired_z = o.z;
      out.obuchowski_paired_p = o.p;
    }
  }

  if (options.bootstrap !== false) {
    const settings = options.bootstrap ?? {};
    const resamples = settings.resamples ?? 2000;
    const seed = settings.seed ?? 1;
    const method = settings.method ?? "percentile";
    const common = { n: lab.length, stratify: lab, clusters: options.clusters, resamples, seed, method };
    const b = bootstrapCi({ ...common, statistic: aucStatistic(lab, scores) });
    out.bootstrap_ci95 = b.ci;
    out.bootstrap = {
      method,
      resamples,
      seed,
      stratified: true,
      clustered: options.clusters !== undefined,
      n_clusters: options.clusters ? new Set(Array.from(options.clusters)).size : lab.length,
      failed: b.failed,
      se: b.se,
    };
    if (options.scores2) {
      const s1 = aucStatistic(lab, scores);
      const s2 = aucStatistic(lab, options.scores2);
      // Same seed, same resamples: the difference is taken on identical draws.
      const diff = bootstrapCi({ ...common, statistic: (idx) => s1(idx) - s2(idx) });
      out.auc_difference_bootstrap_ci95 = diff.ci;
    }
  }

  const probabilities = options.probabilities ?? "auto";
  const isProbability = Array.from(scores).every((s) => s >= 0 && s <= 1);
  if (probabilities === true && !isProbability) {
    throw new LiverstiffError("evaluateBinary: calibration needs scores that are probabilities in [0, 1]");
  }
  if (probabilities === true || (probabilities === "auto" && isProbability)) {
    out.calibration = calibration(lab, scores);
    out.net_benefit = netBenefit(lab, scores, options.netBenefitThresholds ?? DEFAULT_NB_THRESHOLDS);
  }
  return out;
}
