// Reads one (possibly mutated) file the way the pipeline does: header, series facts and frames, then the
// pixels of its first frames. Classifies what happened: read, a coded refusal, an uncoded refusal (raw
// parser or codec text reaching the user), or an uncaught exception (anything not a DicomFileError).

import { extractFile } from "../../../src/dicom/extract.ts";
import { DicomFileError, readHeader } from "../../../src/dicom/header.ts";
import { clearPixelCache, readFramePixels } from "../../../src/dicom/index.ts";
import type { FileIssueCode } from "../../../src/dicom/types.ts";

export type Outcome = "read" | "coded" | "uncoded" | "uncaught" | "wrong";

export interface CheckResult {
  outcome: Outcome;
  code?: FileIssueCode;
  /** The error message, or for "wrong" what was wrong. */
  message?: string;
}

export interface CheckOptions {
  /** Frames decoded per file (default 2). */
  maxFrames?: number;
  /** Frames larger than this (decoded float32 bytes) are not decoded in-process (default 16 MiB). */
  maxFrameBytes?: number;
}

const CODES = new Set<FileIssueCode>([
  "not-dicom",
  "not-image",
  "not-mr",
  "truncated",
  "no-pixel-data",
  "unsupported-transfer-syntax",
  "unsupported-pixel-format",
  "decode-error",
  "inconsistent-header",
  "too-large",
  "missing-geometry",
  "missing-uid",
  "duplicate",
  "parse-error",
  "unreadable",
]);

// Text that belongs to a parser or a runtime, never to a message for a user.
const RAW =
  /dicomParser|byteStream|readUint|undefined|NaN|null|TypeError|RangeError|is not a function|cannot read propert|maximum call stack|\bat position\b/i;

function classify(e: unknown): CheckResult {
  if (!(e instanceof DicomFileError)) {
    return { outcome: "uncaught", message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
  // A runtime error caught by the reader's last-resort wrapper (not a codec's own failure on a corrupt
  // stream, which says "decoder failed") is a defect, not bad input.
  const cause = e.cause;
  const runtime =
    cause instanceof TypeError || cause instanceof RangeError || cause instanceof ReferenceError;
  if (runtime && !/decoder failed/.test(e.message)) {
    return { outcome: "uncaught", code: e.code, message: `${cause.name}: ${cause.message}` };
  }
  // Header values quoted in a message ("NaN" as NumberOfFrames) are the file's words, not raw text.
  if (!CODES.has(e.code) || RAW.test(e.message.replace(/"[^"]*"/g, '""')))
    return { outcome: "uncoded", code: e.code, message: e.message };
  return { outcome: "coded", code: e.code, message: e.message };
}

export async function checkFile(path: string, options: CheckOptions = {}): Promise<CheckResult> {
  clearPixelCache();
  const maxFrames = options.maxFrames ?? 2;
  const maxFrameBytes = options.maxFrameBytes ?? 16 * 1024 * 1024;
  let frames: Awaited<ReturnType<typeof extractFile>>["frames"];
  try {
    frames = extractFile(path, readHeader(path)).frames;
  } catch (e) {
    return classify(e);
  }
  try {
    for (const frame of frames.slice(0, maxFrames)) {
      const n = frame.rows * frame.columns;
      if (n * 4 > maxFrameBytes) continue;
      const px = await readFramePixels(frame);
      if (px.length !== n) return { outcome: "wrong", message: `${px.length} values for ${n} pixels` };
      for (let i = 0; i < px.length; i++) {
        if (!Number.isFinite(px[i]!)) return { outcome: "wrong", message: `non-finite value at pixel ${i}` };
      }
    }
  } catch (e) {
    return classify(e);
  } finally {
    clearPixelCache();
  }
  return { outcome: "read" };
}
