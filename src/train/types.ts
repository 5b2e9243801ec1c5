import type { ProgressSink } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import type { StateDict } from "../nn/index.ts";
import type { Recipe } from "./recipe.ts";

export interface ExamPrediction {
  examId: string;
  /** P(kPa >= t) for t = 2.5, 3.0, 3.5, 4.0, 5.0 (THRESHOLDS_KPA order). */
  probabilities: number[];
  /** Predicted stiffness in kPa (heads that regress). */
  kpaPred?: number;
  /** Attention weights per role present, per slice (heads with attention pooling); they sum to 1. */
  attention?: Partial<Record<SeriesRole, number[]>>;
}

export interface TrainOptions {
  train: readonly ExamFeatures[];
  /** The inner validation part (early stopping); may be empty (then training runs maxEpochs). */
  val: readonly ExamFeatures[];
  /** Overrides recipe.training.seed. */
  seed?: number;
  onProgress?: ProgressSink;
}

/** What happened while training, for manifests and docs. */
export interface TrainSummary {
  head: "deepliver2" | "liverstiff";
  seed: number;
  nTrain: number;
  nVal: number;
  featureDim: number;
  slices: number;
  /** Per sub-model (deepliver2: one per threshold; liverstiff: one per ensemble member). */
  models: { epochs: number; bestEpoch: number; bestValMetric: number | null; stoppedEarly: boolean }[];
  metric: string;
  seconds: number;
  steps: number;
}

export interface TrainedModel {
  readonly recipe: Recipe;
  readonly summary: TrainSummary;
  predict(exams: readonly ExamFeatures[]): ExamPrediction[];
  /** Every tensor of the model by name (live tensors; do not dispose). */
  stateDict(): StateDict;
  /** Writes one safetensors file: weights + metadata holding the resolved recipe and the summary. */
  save(path: string): void;
  /** Frees the native tensors. */
  dispose(): void;
}
