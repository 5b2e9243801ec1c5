// The contract between validate/ (schemes, folds, predictions, metrics) and report/ to its right.
// validate/ owns this file. `metrics.json` in a run folder is a `ValidationMetrics` object.
import type { CalibrationResult, ConfusionSummary, CorrelationResult } from "../stats/index.ts";

export type SchemeName = "cv10" | "temporal" | "loso";
export const SCHEMES: readonly SchemeName[] = ["cv10", "temporal", "loso"];

/** One row of predictions.csv: one test exam in one fold of one scheme for one recipe. */
export interface PredictionRow {
  accession: string;
  examId: string;
  patientId: string;
  site: string;
  recipe: string;
  scheme: SchemeName;
  fold: string;
  /** Measured MRE stiffness. */
  kpa: number;
  /** P(kPa >= t) for t = 2.5, 3.0, 3.5, 4.0, 5.0, in that order. */
  probabilities: [number, number, number, number, number];
  /** Predicted stiffness, when the recipe regresses it. */
  kpaPred?: number;
  /** Cut-offs chosen on the fold's inner validation part (Youden), one per threshold, applied unchanged. */
  cutoffs: [number, number, number, number, number];
  ageYears?: number;
  sex?: string;
  vendor?: string;
  fieldStrengthT?: number;
}

/** Accuracy at the training-chosen cut-offs, pooled over the folds of a scheme. */
export interface ThresholdMetrics {
  thresholdKpa: number;
  n: number;
  nPos: number;
  nNeg: number;
  auc: number;
  aucDelongCi95: [number, number];
  /** Patient-clustered bootstrap (stratified by class). */
  aucBootstrapCi95: [number, number];
  /** Confusion counts and Wilson intervals with each exam classified by its own fold's cut-off. */
  atCutoff: Omit<ConfusionSummary, "threshold">;
  calibration: CalibrationResult;
  /** ROC curve points (false-positive rate ascending), thinned to at most a few hundred for plotting. */
  roc: { fpr: number[]; tpr: number[] };
}

export interface SubgroupMetrics {
  /** e.g. "age", "vendor", "field strength", "site". */
  by: string;
  group: string;
  n: number;
  nPos: number;
  /** AUROC at 3.0 kPa; null when the subgroup has one class only. */
  auc: number | null;
  aucDelongCi95: [number, number] | null;
}

export interface FoldSummary {
  fold: string;
  nTrain: number;
  nVal: number;
  nTest: number;
  /** AUROC at 3.0 kPa on the fold's test part (null if one class only). */
  auc: number | null;
  seconds: number;
}

export interface SchemeMetrics {
  recipe: string;
  scheme: SchemeName;
  nExams: number;
  nPatients: number;
  /** One entry per threshold that has at least two exams of each class, in THRESHOLDS_KPA order. */
  thresholds: ThresholdMetrics[];
  /** Thresholds left out of `thresholds`, and why (e.g. no exam >= 5.0 kPa in a small test part). */
  unevaluable?: { thresholdKpa: number; reason: string }[];
  /** For recipes that predict kPa. */
  kpa?: { pearson: CorrelationResult; mae: number; rmse: number; bias: number };
  folds: FoldSummary[];
  /** Mean and SD over folds of the per-fold AUROC at 3.0 kPa (cv10 and loso). */
  foldAuc?: { mean: number; sd: number };
  subgroups: SubgroupMetrics[];
  /** Temporal scheme: the cut-off date and the test exams dropped because their patient was in training. */
  temporal?: { splitDate: string; droppedTestExams: number };
}

/** Two recipes on identical test exams: the paired DeLong test per threshold. */
export interface RecipeComparison {
  scheme: SchemeName;
  thresholdKpa: number;
  recipeA: string;
  recipeB: string;
  n: number;
  aucA: number;
  aucB: number;
  z: number;
  p: number;
}

export interface ValidationMetrics {
  formatVersion: 1;
  createdAt: string;
  schemes: SchemeMetrics[];
  comparisons: RecipeComparison[];
  /** When the cohort is synthetic and its hidden truth is at hand: the oracle AUROC per threshold. */
  oracle?: {
    aucByThreshold: number[];
    source: string;
    /** The oracle on each scheme's test exams (the temporal test part is a subset of the cohort). */
    byScheme?: Partial<Record<SchemeName, number[]>>;
  };
}
