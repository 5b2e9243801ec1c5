// The contract between features/ (encoders, feature cache) and train/ + validate/ to its right.
// features/ owns this file; train/ and validate/ may rely on these shapes.
import type { SeriesRole } from "../dicom/index.ts";

// The thresholds are core/'s; features/ re-exports them for the stages to its right.
export { THRESHOLD_SUFFIXES, THRESHOLDS_KPA, type ThresholdKpa } from "../core/index.ts";

/** Identity of an encoder: what produced a feature, so caches and bundles can be checked. */
export interface EncoderIdentity {
  /** e.g. "liverstiff-cnn-v1", "swin_b", "torchscript:<file name>". */
  name: string;
  /** sha256 of the weights file (hex), or "random-init:<seed>" for untrained weights. */
  weightsSha256: string;
  /** Length of one slice's feature vector. */
  featureDim: number;
  /** Input slice size (pixels, square) the encoder expects. */
  inputSize: number;
}

/**
 * One exam's per-slice features, ready for a head: for each role present, `slices` vectors of
 * `featureDim` values (slice-major). Missing optional roles are absent, and heads must cope.
 */
export interface ExamFeatures {
  examId: string;
  patientKey: string;
  site: string;
  studyDate?: string;
  ageYears?: number;
  sex?: "M" | "F" | "O";
  vendor?: string;
  fieldStrengthT?: number;
  /** MRE stiffness (the label); undefined for exams to predict. */
  kpa?: number;
  slices: number;
  featureDim: number;
  roles: Partial<Record<SeriesRole, Float32Array>>;
  /**
   * Liver and spleen measures (cohort's ORGAN_MEASURES, NaN where one could not be computed), when the
   * work folder has them for this exam; absent for an exam without masks.
   */
  organs?: Record<string, number>;
}
