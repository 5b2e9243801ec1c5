// dicom/: read DICOM files, index them into patients/studies/series, decode pixels, classify series roles.
// This is the public face; volume/ and cohort/ import only from here.
export { type IndexOptions, indexDicom } from "./indexer.ts";
export { clearPixelCache, readFramePixels, readFrameStoredValues, type StoredPixels } from "./pixels.ts";
export {
  isSupportedTransferSyntax,
  SUPPORTED_TRANSFER_SYNTAXES,
  transferSyntaxName,
} from "./transfer-syntax.ts";
export * from "./types.ts";
