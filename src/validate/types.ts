// The contract between validate/ (schemes, folds, predictions, metrics) and report/ to its right.
// validate/ owns this file. `metrics.json` in a run folder is a `ValidationMetrics` object.
import type {
  CalibrationResult,
  ConfusionSummary,
  CorrelationResult,
  NetBenefitRow,
} from "../stats/index.ts";

export type SchemeName = "cv10" | "temporal" | "loso";

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
  /** Numerator and denominator of each proportion in `atCutoff` ([0, 0] where it has no denominator). */
  atCutoffCounts: CutoffCounts;
  /** When the oracle is known: this AUROC against the oracle on the scheme's test exams. */
  vsOracle?: OracleShare;
  calibration: CalibrationResult;
  /** ROC curve points (false-positive rate ascending), thinned to at most a few hundred for plotting. */
  roc: { fpr: number[]; tpr: number[] };
}

/** [numerator, denominator] per proportion, e.g. sensitivity [172, 230] = TP / (TP + FN). */
export interface CutoffCounts {
  sensitivity: [number, number];
  specificity: [number, number];
  ppv: [number, number];
  npv: [number, number];
  accuracy: [number, number];
}

/** A recipe's AUROC against the oracle ceiling on the same exams (synthetic cohorts only). */
export interface OracleShare {
  oracleAuc: number;
  /** (AUROC - 0.5) / (oracle - 0.5): the share of the gain over chance that the labels allow. */
  shareOfAttainableGain: number;
  /** AUROC / oracle (flatters: chance alone scores 0.5 / oracle). */
  aucOverOracle: number;
}

/** Two subgroup variables that split the exams the same way (or one inside the other). */
export interface SubgroupConfounding {
  /** The two variables, e.g. ["vendor", "site"]. */
  by: [string, string];
  /** "identical": the same partition (each group of one is exactly one group of the other). "nested":
   * every group of by[0] lies inside one group of by[1]. */
  relation: "identical" | "nested";
  /** The group of by[0] mapped to the group(s) of by[1] it coincides with or lies in. */
  groups: { group: string; within: string }[];
  n: number;
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
  /** Pairs of subgroup variables that are not independent evidence (detected on this scheme's exams). */
  subgroupConfounding?: SubgroupConfounding[];
  /** Net benefit at 3.0 kPa over threshold probabilities 0.01..0.99 (Vickers and Elkin 2006). */
  decisionCurve?: { thresholdKpa: number; rows: NetBenefitRow[] };
  /** Temporal scheme: the cut-off date and the test exams dropped because their patient was in training. */
  temporal?: { splitDate: string; droppedTestExams: number };
}

/**
 * Two recipes on the exams both predicted: the paired DeLong test per threshold, once treating exams as
 * independent (z, p, deltaAucCi95Unclustered) and once clustered by patient (Obuchowski; the primary one).
 */
export interface RecipeComparison {
  scheme: SchemeName;
  thresholdKpa: number;
  recipeA: string;
  recipeB: string;
  /** Exams both recipes predicted. */
  n: number;
  nPatients: number;
  aucA: number;
  aucB: number;
  /** aucA - aucB. */
  deltaAuc: number;
  /** Patient-clustered paired DeLong (Obuchowski 1997): 95% CI of deltaAuc, z and two-sided p. */
  deltaAucCi95: [number, number];
  zClustered: number;
  pClustered: number;
  /** Unclustered paired DeLong (exams as independent cases): kept beside the clustered test. */
  deltaAucCi95Unclustered: [number, number];
  z: number;
  p: number;
}

/** Descriptive statistics of a set of exams (one site, or all). */
export interface CohortSummary {
  /** A site name, or "all". */
  group: string;
  exams: number;
  patients: number;
  vendors: Record<string, number>;
  /** By field strength in tesla, e.g. {"1.5": 120, "3": 80}. */
  fieldStrengths: Record<string, number>;
  /** Mean and SD over exams with a recorded age; n of them. */
  age: { n: number; mean: number; sd: number } | null;
  sex: Record<string, number>;
  /** Exams of patients under 18 years (of the exams with an age). */
  pediatric: { n: number; of: number };
  kpa: { median: number; q1: number; q3: number };
  /** Exams >= each threshold, in THRESHOLDS_KPA order. */
  positives: { thresholdKpa: number; n: number }[];
}

/** STARD-style flow from files on disk to each scheme's test part. Ingest counts are absent without a catalog. */
export interface CohortFlow {
  /** Files seen / DICOM files indexed by ingest. */
  files?: number;
  dicomFiles?: number;
  series?: number;
  examsFound?: number;
  /** Exams whose images were usable (labelled or not). */
  usableImages?: number;
  /** Exams with usable images and a kPa label. */
  labelled?: number;
  /** Exams not usable for training, by reason code (from ingest). */
  excludedByReason?: Record<string, number>;
  /** Labelled, usable exams with features for every recipe: what the splits were made of. */
  validated: number;
  validatedPatients: number;
  /** Per scheme: the exams in some test part (pooled), and those dropped from it. */
  schemes: { scheme: SchemeName; testExams: number; testPatients: number; droppedTestExams?: number }[];
}

export interface ValidationMetrics {
  formatVersion: 1;
  createdAt: string;
  schemes: SchemeMetrics[];
  comparisons: RecipeComparison[];
  /** The validated cohort, per site and overall ("all" last). */
  cohort?: CohortSummary[];
  flow?: CohortFlow;
  /** When the cohort is synthetic and its hidden truth is at hand: the oracle AUROC per threshold. */
  oracle?: {
    aucByThreshold: number[];
    source: string;
    /** The oracle on each scheme's test exams (the temporal test part is a subset of the cohort). */
    byScheme?: Partial<Record<SchemeName, number[]>>;
  };
}
