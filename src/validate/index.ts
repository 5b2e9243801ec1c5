// validate/: the paper's three validation schemes (cv10, temporal, leave-one-site-out) over identical,
// patient-grouped splits, with cut-offs chosen inside each training part, resumable per fold, and the
// metrics every number in the report comes from.
export { type CohortExam, catalogFlow, cohortFlow, cohortSummaries, type IngestFlow } from "./cohort.ts";
export {
  addOracleShares,
  compareRecipes,
  cutoffCounts,
  oracleShare,
  PRIMARY_INDEX,
  schemeMetrics,
  subgroupConfounding,
} from "./metrics.ts";
export {
  type FoldContext,
  type FoldExecutor,
  type FoldFile,
  type FoldJob,
  foldFilePaths,
  PREDICTION_COLUMNS,
  predictionsCsv,
  type RecipeRunner,
  runValidation,
  trainFoldFile,
  type ValidationModel,
  type ValidationOptions,
  type ValidationResult,
} from "./run.ts";
export {
  assertPatientDisjoint,
  crossValidationFolds,
  type Fold,
  innerValidation,
  leaveOneSiteOutFolds,
  type SplitExam,
  type TemporalInfo,
  temporalFold,
} from "./splits.ts";
export * from "./types.ts";
