// deploy/: a validated recipe as a model a site can run. `trainBundle` turns the recipe's cv10 run (fold
// models kept) into a self-describing, versioned bundle folder; `loadBundle` checks and loads one;
// `predictExams` takes new exams from DICOM through ingest's rules to per-exam probabilities with
// intervals, category, kPa, series used, warnings and a figure of the exam, and (dicom-results.ts) a DICOM
// SR and Secondary Capture of them in the exam's study. See docs/deploy.md.
export {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  BUNDLE_MANIFEST,
  type BundleManifest,
  type BundleMember,
  type LoadedBundle,
  loadBundle,
  readBundleManifest,
} from "./bundle.ts";
export {
  type BundleIdentity,
  buildPdfDataset,
  buildScDataset,
  buildSrDataset,
  COMPREHENSIVE_SR,
  type DicomResultFiles,
  type DicomResultsInput,
  dicomResultPaths,
  ENCAPSULATED_PDF,
  part10,
  part10Header,
  pngRgb,
  readStudyAttributes,
  SECONDARY_CAPTURE,
  type SourceSeries,
  sourceSeries,
  srContent,
  writeExamDicom,
} from "./dicom-results.ts";
export {
  categoryOf,
  combine,
  type EnsemblePrediction,
  predictEnsemble,
  type ThresholdResult,
} from "./ensemble.ts";
export {
  type Box,
  type ExamFigureInput,
  examFigure,
  FIGURE_NOTICE,
  type FigureLayout,
  figureLayout,
  figureSvg,
} from "./figure.ts";
export { formatPredictions } from "./format.ts";
export { type EdgeLetters, preparedEdgeLetters } from "./orientation.ts";
export { buildReportPdf } from "./pdf-report.ts";
export {
  checkExplainable,
  type ExamReport,
  INTENDED_USE,
  type InputReport,
  PREDICTIONS_FORMAT,
  type PredictOptions,
  type PredictReport,
  predictExams,
} from "./predict.ts";
export type { TrainingSetSummary, Warning } from "./summary.ts";
export {
  pooledCutoffs,
  REQUIRED_ROLES,
  type TrainBundleOptions,
  type TrainBundleResult,
  trainBundle,
} from "./train.ts";
