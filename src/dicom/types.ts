// The contract between dicom/ (reading, indexing, classifying) and the stages to its right (volume/,
// cohort/). dicom/ owns this file; the shapes here are what volume/ and cohort/ may rely on.

export type SeriesRole = "t1_in" | "t1_opp" | "t2";
export const SERIES_ROLES: readonly SeriesRole[] = ["t1_in", "t1_opp", "t2"];

export type Vendor = "Siemens" | "GE" | "Philips" | "Canon" | "Hitachi" | "Other";

/** One 2D image: a classic single-frame file, or one frame of an enhanced multi-frame object. */
export interface MrFrame {
  /** Path of the file the frame is in. */
  file: string;
  /** 0-based frame index inside the file (0 for single-frame objects). */
  frameIndex: number;
  /** Transfer syntax UID of the file (decides the pixel codec). */
  transferSyntaxUid: string;
  sopInstanceUid: string;
  instanceNumber?: number;
  /** Patient position of the centre of the first transmitted voxel, mm, LPS. */
  imagePositionPatientMm: [number, number, number];
  /** Row and column direction cosines (DICOM order: row direction first), LPS. */
  imageOrientationPatient: [number, number, number, number, number, number];
  /** DICOM PixelSpacing order: [between rows (mm), between columns (mm)]. */
  pixelSpacingMm: [number, number];
  sliceThicknessMm?: number;
  rows: number;
  columns: number;
  echoTimeMs?: number;
  echoNumber?: number;
  /** Real-world value = stored * slope + intercept. Defaults 1 and 0. */
  rescaleSlope: number;
  rescaleIntercept: number;
  /** ImageType values (frame-level for enhanced objects where present), upper-case. */
  imageType: string[];
  /** Acquisition time of the frame if known (for ordering diagnostics only). */
  acquisitionTime?: string;
}

/** Series-level header facts used to classify a series and to describe it in the catalog. */
export interface SeriesInfo {
  seriesInstanceUid: string;
  studyInstanceUid: string;
  patientId: string;
  accessionNumber?: string;
  /** YYYY-MM-DD */
  studyDate?: string;
  /** Years, from PatientAge or from birth date and study date (the birth date itself is never kept). */
  patientAgeYears?: number;
  patientSex?: "M" | "F" | "O";
  modality: string;
  sopClassUid: string;
  manufacturer?: string;
  vendor: Vendor;
  manufacturerModelName?: string;
  institutionName?: string;
  stationName?: string;
  magneticFieldStrengthT?: number;
  seriesNumber?: number;
  seriesDescription?: string;
  protocolName?: string;
  sequenceName?: string;
  scanningSequence?: string[];
  sequenceVariant?: string[];
  scanOptions?: string[];
  mrAcquisitionType?: string;
  repetitionTimeMs?: number;
  /** Distinct echo times in the series, ascending. */
  echoTimesMs: number[];
  echoTrainLength?: number;
  flipAngleDeg?: number;
  inversionTimeMs?: number;
  imageType: string[];
  contrastBolusAgent?: string;
  /** True for enhanced (multi-frame) MR image storage. */
  enhanced: boolean;
  frames: MrFrame[];
}

export interface RoleDecision {
  role: SeriesRole | null;
  /** When a dual-echo series is split, the echo time (ms) that this role takes from it. */
  echoTimeMs?: number;
  /** Human-readable reasons, in the order the rules fired. */
  reasons: string[];
}
