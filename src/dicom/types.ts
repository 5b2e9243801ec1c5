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
  /** SpacingBetweenSlices (0018,0088), centre to centre, mm (the step of a single slice, as dcm2niix). */
  spacingBetweenSlicesMm?: number;
  /** Siemens mosaic: NumberOfImagesInMosaic (0019,100A), or 0 when ImageType says MOSAIC without it. */
  mosaicImages?: number;
  rows: number;
  columns: number;
  echoTimeMs?: number;
  echoNumber?: number;
  /**
   * MAGNITUDE, PHASE, REAL or IMAGINARY for this frame: ComplexImageComponent (per frame in enhanced
   * objects), the GE/Philips private equivalents, or ImageType's third value (M, P, R, I). Absent when the
   * header says none of these (counted as magnitude when a series is split by component).
   */
  complexComponent?: string;
  /** Real-world value = stored * slope + intercept. Defaults 1 and 0. */
  rescaleSlope: number;
  rescaleIntercept: number;
  /** ImageType values (frame-level for enhanced objects where present), upper-case. */
  imageType: string[];
  /** Acquisition time of the frame if known (for ordering diagnostics only). */
  acquisitionTime?: string;
  /** Enhanced objects (FrameContentSequence): the stack a frame belongs to and its place in it. */
  stackId?: string;
  inStackPositionNumber?: number;
  temporalPositionIndex?: number;
  /** Diffusion weighting of the frame, s/mm^2 (DiffusionBValue (0018,9087) or the vendor's own tag). */
  diffusionBValue?: number;
  /** Diffusion gradient direction, patient LPS (DiffusionGradientOrientation (0018,9089), Siemens (0019,100E)). */
  diffusionGradient?: [number, number, number];
}

/** Series-level header facts used to classify a series and to describe it in the catalog. */
export interface SeriesInfo {
  seriesInstanceUid: string;
  /**
   * Stable identity of this series record: the SeriesInstanceUID, followed by what split it from the
   * other records of that UID (as dcm2niix does): `#sn=N` (SeriesNumber), `#echo=K` (the K-th echo, by
   * EchoNumbers then echo time), `#phase` / `#real` / `#imaginary` / `#magnitude` (complex component).
   * Set by the indexer; records built elsewhere (NIfTI input) may leave it out: the UID is then the id.
   */
  seriesId?: string;
  /** Why the record was split from the other records of its SeriesInstanceUID, in words (absent if not). */
  splitReason?: string;
  /**
   * Echo times (ms, ascending) of the whole acquisition when the record is one echo of a multi-echo
   * series: what classification needs to tell a dual-echo in/opposed-phase pair from a multi-echo one.
   */
  acquisitionEchoTimesMs?: number[];
  /**
   * Files that share a SOPInstanceUID (and frame) with another file of this series but hold different
   * pixels, each as a sentence naming both files. Both are kept (as dcm2niix does); no role is given.
   */
  conflictingCopies?: string[];
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
  /** Enhanced objects: GRADIENT, SPIN or BOTH (EchoPulseSequence). */
  echoPulseSequence?: string;
  /** PulseSequenceName (0018,9005) of enhanced objects; GE (0019,109C) or Philips (2001,1020) otherwise. */
  pulseSequenceName?: string;
  /**
   * MAGNITUDE, PHASE, REAL or IMAGINARY: ComplexImageComponent of enhanced objects, or the GE (0043,102F)
   * and Philips (2005,1011) private equivalents.
   */
  complexComponent?: string;
  /** Enhanced objects: AcquisitionContrast (0008,9209), e.g. T1, T2, PROTON_DENSITY, DIFFUSION. */
  acquisitionContrast?: string;
  bodyPartExamined?: string;
  /** Diffusion b-values found in standard or vendor-private tags (s/mm2), distinct, ascending. */
  diffusionBValues?: number[];
  /** NumberOfTemporalPositions (dynamic series), when above 1. */
  temporalPositions?: number;
  /** True for enhanced (multi-frame) MR image storage. */
  enhanced: boolean;
  frames: MrFrame[];
}

export interface RoleDecision {
  role: SeriesRole | null;
  /** When a dual-echo series is split, the echo time (ms) that this role takes from it. */
  echoTimeMs?: number;
  /**
   * When a series mixes image types (e.g. Philips mDixon IP/OP/W/F in one series), the ImageType value
   * that a frame must carry to belong to this role. `selectFrames` applies both selectors.
   */
  imageTypeValue?: string;
  /**
   * How direct the evidence for the role is, for choosing between candidates: 4 forced by the rules file,
   * 3 ImageType, 2 echo time against field strength or the sequence family with TE/TR, 1 description or
   * echo ratio only. Absent when role is null.
   */
  strength?: number;
  /** Human-readable reasons, in the order the rules fired. */
  reasons: string[];
}

/** Why one file did not become part of a series. */
export type FileIssueCode =
  | "not-dicom"
  | "not-image"
  | "not-mr"
  | "truncated"
  | "no-pixel-data"
  | "unsupported-transfer-syntax"
  | "unsupported-pixel-format"
  | "decode-error"
  | "inconsistent-header"
  | "too-large"
  | "missing-geometry"
  | "missing-uid"
  | "duplicate"
  | "parse-error"
  | "unreadable";

export interface FileIssue {
  file: string;
  code: FileIssueCode;
  /** A plain sentence, e.g. "truncated file: pixel data needs 524288 bytes, 1000 present". */
  reason: string;
  /** The header field at fault, when one is, e.g. "NumberOfFrames (0028,0008)". */
  field?: string;
}

export interface StudyEntry {
  studyInstanceUid: string;
  studyDate?: string;
  accessionNumber?: string;
  series: SeriesInfo[];
}

export interface PatientEntry {
  patientId: string;
  studies: StudyEntry[];
}

export interface DicomIndex {
  /** Every MR image series found, ordered by patient, study date, study and series number. */
  series: SeriesInfo[];
  /** The same series grouped by patient and study. */
  patients: PatientEntry[];
  /** Files that are not DICOM images at all (counted and skipped). */
  skipped: FileIssue[];
  /** DICOM files that could not be used, with the reason. */
  errors: FileIssue[];
  /**
   * Files that were used but carry a problem worth reading (a SOPInstanceUID shared with different
   * pixels). Absent in indexes built before it existed.
   */
  warnings?: FileIssue[];
  filesSeen: number;
  /** Files that became frames of a series. */
  filesIndexed: number;
  bytesRead: number;
}
