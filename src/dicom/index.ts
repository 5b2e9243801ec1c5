// dicom/: read DICOM files, index them into patients/studies/series, decode pixels, classify series roles.
// This is the public face; volume/ and cohort/ import only from here.

export { classifySeries, echoPhase, normaliseDescription, selectFrames } from "./classify.ts";
export { type IndexOptions, indexDicom } from "./indexer.ts";
export {
  layerOverrides,
  loadSeriesOverrides,
  OVERRIDE_COLUMNS,
  overrideMatchesSeries,
  overridesForExam,
  parseSeriesOverrides,
  type SeriesOverride,
} from "./overrides.ts";
export { clearPixelCache, readFramePixels, readFrameStoredValues, type StoredPixels } from "./pixels.ts";
export {
  buildRoleRules,
  DEFAULT_RULES,
  type ForcedRole,
  loadRoleRules,
  type RoleKeywords,
  type RoleRules,
  type RoleRulesFile,
  rulesAsFile,
  type TeWindows,
} from "./rules.ts";
export {
  type ExamRoles,
  OVERRIDE_STRENGTH,
  pickSeriesForRoles,
  type RoleCandidate,
  type RoleChoice,
} from "./select.ts";
export {
  defaultSeriesChoice,
  loadSeriesChoice,
  type SeriesChoice,
  type SeriesChoiceRecord,
  seriesChoiceFromRecord,
  seriesChoiceRecord,
  sourceName,
} from "./series-choice.ts";
export {
  isSupportedTransferSyntax,
  SUPPORTED_TRANSFER_SYNTAXES,
  transferSyntaxName,
} from "./transfer-syntax.ts";
export * from "./types.ts";
