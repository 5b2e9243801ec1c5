// stats/: diagnostic-accuracy statistics, pure TypeScript, verified against R's pROC 1.18 (see docs/stats.md).
// Every estimate comes with an interval; misuse (mismatched lengths, NaN or infinite scores, one class)
// throws a LiverstiffError rather than returning NaN.
export {
  aucStatistic,
  type BootstrapOptions,
  type BootstrapResult,
  bootstrapCi,
  type Statistic,
} from "./bootstrap.ts";
export {
  type CalibrationOptions,
  type CalibrationResult,
  calibration,
  type ReliabilityBin,
} from "./calibration.ts";
export {
  type AgreementResult,
  agreement,
  type CorrelationResult,
  correlation,
  midRanks,
} from "./continuous.ts";
export { DEFAULT_NET_BENEFIT_THRESHOLDS, type NetBenefitRow, netBenefit } from "./decision.ts";
export { pnorm, pt, qnorm, qt } from "./distributions.ts";
export { type BinaryEvaluation, type EvaluateBinaryOptions, evaluateBinary } from "./evaluate.ts";
export type { Labels, Scores } from "./input.ts";
export {
  auroc,
  type DelongClusteredResult,
  type DelongPairedClusteredResult,
  type DelongPairedResult,
  type DelongResult,
  type DelongUnpairedResult,
  delong,
  delongClustered,
  delongPaired,
  delongPairedClustered,
  delongUnpaired,
  type RocCurve,
  rocCurve,
} from "./roc.ts";
export { type PredictionColumns, type PredictionTable, readPredictionTable } from "./table.ts";
export {
  type ConfusionSummary,
  confusionAt,
  summariseCounts,
  wilson,
  type YoudenSummary,
  youden,
} from "./threshold.ts";
