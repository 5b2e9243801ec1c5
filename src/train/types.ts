import type { ProgressSink } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import type { DataParallel, StateDict } from "../nn/index.ts";
import type { Recipe } from "./recipe.ts";

export interface ExamPrediction {
  examId: string;
  /** P(kPa >= t) for t = 2.5, 3.0, 3.5, 4.0, 5.0 (THRESHOLDS_KPA order). */
  probabilities: number[];
  /** Predicted stiffness in kPa (heads that regress). */
  kpaPred?: number;
  /** Attention weights per role present, per slice (heads with attention pooling); they sum to 1. */
  attention?: Partial<Record<SeriesRole, number[]>>;
  /** What a reader of this prediction should know about how it was made (e.g. a member that was absent). */
  notes?: string[];
}

/** One exam's prepared slices (cohort/'s PreparedExam has this shape): per role, slices x height x width. */
export interface PreparedSlices {
  slices: number;
  height: number;
  width: number;
  roles: Partial<Record<SeriesRole, Float32Array>>;
}

/** Where a fine-tuned model finds an exam's prepared slices (e.g. a work folder's prepared/ files). */
export type SliceLoader = (examId: string) => PreparedSlices;

export interface TrainOptions {
  train: readonly ExamFeatures[];
  /** The inner validation part (early stopping); may be empty (then training runs maxEpochs). */
  val: readonly ExamFeatures[];
  /** Overrides recipe.training.seed. */
  seed?: number;
  onProgress?: ProgressSink;
  /**
   * Prepared slices by exam id: required when the recipe fine-tunes its encoder (encoder.finetune), which
   * trains on slices instead of cached features; the trained model keeps it for predict().
   */
  slices?: SliceLoader;
  /**
   * Data-parallel ranks for fine-tuning (nn.DataParallel over a torch.ProcessGroup): every rank runs the
   * same training, each encodes its shard of every batch, and the gradients are summed. Heads on cached
   * features ignore it (they are cheap; every rank trains them alike).
   */
  parallel?: DataParallel;
}

/** What happened while training, for manifests and docs. */
export interface TrainSummary {
  head: "deepliver2" | "liverstiff" | "baseline-ridge" | "baseline-clinical";
  seed: number;
  nTrain: number;
  nVal: number;
  featureDim: number;
  slices: number;
  /**
   * Per sub-model (deepliver2: one per threshold; liverstiff: one per ensemble member; baseline-clinical:
   * one per threshold and covariate set, epochs = Newton iterations; baseline-ridge: one, no epochs).
   */
  models: {
    epochs: number;
    bestEpoch: number;
    bestValMetric: number | null;
    stoppedEarly: boolean;
    /** Fine-tuning: mean training loss of the first and of the last epoch. */
    trainLoss?: { first: number; last: number };
  }[];
  /**
   * baseline-ridge: the penalty per exam chosen by GCV on the training part, the grid searched (ascending)
   * with its GCV scores, and the cross-fitted residual SD of log kPa (the predictive spread).
   */
  penalty?: { lambda: number; grid: number[]; gcv: number[]; residualSd: number };
  /** Present when the encoder was fine-tuned with the head. */
  finetune?: { encoder: string; encoderLr: number; batchNorm: "frozen" | "train"; device: string };
  metric: string;
  seconds: number;
  steps: number;
}

/** A trainer's result: the trained state of its head and the summary. */
export interface Trained<S> {
  state: S;
  summary: TrainSummary;
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
  /**
   * Fine-tuned models only (absent otherwise): sets where predict() reads the exams' prepared slices,
   * since such a model runs its own encoder on them.
   */
  useSlices?(loader: SliceLoader): void;
}
