// cohort/: from indexed series and a labels sheet to a catalog of exams (SQLite) and prepared model
// inputs (cached safetensors per exam and preparation). Later stages read it through openCatalog() and
// loadPrepared().
export {
  CATALOG_FILE,
  Catalog,
  type ExamRecord,
  type ExclusionRecord,
  openCatalog,
  type PreparedRecord,
  type SeriesRecord,
} from "./catalog.ts";
export { examIdFor, ID_SALT_ENV, patientKey } from "./ids.ts";
export {
  DEFAULT_DICOM_API,
  type DicomApi,
  type IngestOptions,
  type IngestSummary,
  ingest,
  recordedSeriesChoice,
  SERIES_CHOICE_META,
} from "./ingest.ts";
export {
  type ExamKeys,
  KPA_MAX,
  KPA_MIN,
  type LabelIssue,
  type LabelIssueKind,
  type LabelMatch,
  type LabelRow,
  type LabelTable,
  matchLabels,
  parseDate,
  parseKpa,
  parseLabelsCsv,
  readLabelsCsv,
} from "./labels.ts";
export { isNiftiFrame } from "./nifti-input.ts";
export {
  type CachedOrganMeasures,
  ensureOrganMeasures,
  findMaskFile,
  type MaskSource,
  type NetworkMaskSource,
  type OrganMeasureSummary,
  organsPath,
  readOrganMeasures,
} from "./organ-cache.ts";
export {
  maskOnGrid,
  measureOrgans,
  ORGAN_MEASURES,
  type OrganMeasureName,
  type OrganMeasures,
} from "./organs.ts";
export {
  centralSlices,
  DEFAULT_PREP,
  intensityStats,
  type PreparedExam,
  type PrepConfig,
  preparedAffine,
  preparedPath,
  prepareVolume,
  prepFingerprint,
  prepName,
  readPrepared,
  recordedPreparedAffine,
  resolvePrep,
  sourceFingerprint,
  writePrepared,
} from "./prepare.ts";
export {
  buildPrepared,
  defaultPixelReader,
  type PixelReader,
  prepareExam,
  type RoleSource,
} from "./prepare-exam.ts";

import { join } from "node:path";
import { type PreparedExam, readPrepared } from "./prepare.ts";

/** Loads a cached prepared exam (`prepName` as printed by ingest, e.g. "s5-224-mm400-zscore-f32"). */
export function loadPrepared(workdir: string, examId: string, prepName: string): PreparedExam {
  return readPrepared(join(workdir, "prepared", prepName, `${examId}.safetensors`));
}
