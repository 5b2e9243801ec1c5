// What a header declares (frame counts, image sizes, rescale, sequence nesting) is checked here against
// stated limits and against what the file holds, before anything is allocated from it.
import type { DataSet } from "dicom-parser";
import { DicomFileError } from "./errors.ts";

/** The most pixel bytes one file may declare (Rows x Columns x frames x BitsAllocated / 8). */
export const MAX_PIXEL_BYTES = 2 ** 31;
/** Sequences nested deeper than this are refused (real MR objects nest 4-6 deep). */
export const MAX_SEQUENCE_DEPTH = 32;
/** The largest finite float32: rescaled values are stored as Float32Array. */
const FLOAT32_MAX = 3.4028234663852886e38;

const NUMBER_OF_FRAMES = "NumberOfFrames (0028,0008)";

/**
 * NumberOfFrames, the one parser for it: absent or empty is 1; otherwise a whole number from 1 up, written
 * as an integer string (IS), never "1e308" or "2.5". The count is checked against the pixel data separately.
 */
export function declaredFrames(ds: DataSet): number {
  const el = ds.elements.x00280008;
  if (!el || el.length === 0) return 1;
  const text = (ds.string("x00280008") ?? "").replace(/\0/g, "").trim();
  if (text === "") return 1;
  if (!/^\+?\d{1,10}$/.test(text) || Number(text) < 1 || Number(text) > 2 ** 31 - 1) {
    throw new DicomFileError(
      "inconsistent-header",
      `${NUMBER_OF_FRAMES} is "${text.slice(0, 24)}", not a whole number of frames from 1 to 2147483647`,
      { field: NUMBER_OF_FRAMES },
    );
  }
  return Number(text);
}

/** Bytes of one frame; refuses a file whose declared pixels exceed MAX_PIXEL_BYTES. */
export function checkPixelBudget(
  rows: number,
  columns: number,
  bitsAllocated: number,
  frames: number,
): number {
  const frameBytes = (rows * columns * bitsAllocated) / 8;
  const total = frameBytes * frames;
  if (total > MAX_PIXEL_BYTES) {
    throw new DicomFileError(
      "too-large",
      `image too large: ${rows} rows x ${columns} columns x ${frames} frame(s) x ${bitsAllocated / 8} byte(s) ` +
        `is ${total} bytes, above the limit of ${MAX_PIXEL_BYTES} bytes per file`,
      { field: "Rows (0028,0010), Columns (0028,0011), NumberOfFrames (0028,0008)" },
    );
  }
  return frameBytes;
}

/** Refuses frame counts that the pixel data cannot hold: native bytes, or encapsulated fragments. */
export function checkFramesAgainstData(
  frames: number,
  held: { nativeBytes: number; frameBytes: number } | { fragments: number },
): void {
  if ("fragments" in held) {
    if (frames > held.fragments) {
      throw new DicomFileError(
        "inconsistent-header",
        `${NUMBER_OF_FRAMES} declares ${frames} frames, but the encapsulated pixel data holds ` +
          `${held.fragments} fragment(s) (each frame needs at least one)`,
        { field: NUMBER_OF_FRAMES },
      );
    }
    return;
  }
  const need = held.frameBytes * frames;
  if (held.nativeBytes < need) {
    const fit = Math.floor(held.nativeBytes / held.frameBytes);
    throw new DicomFileError(
      "inconsistent-header",
      `${NUMBER_OF_FRAMES} declares ${frames} frame(s) of ${held.frameBytes} bytes (${need} bytes), ` +
        `but the pixel data element holds ${held.nativeBytes} bytes (${fit} frame(s))`,
      { field: NUMBER_OF_FRAMES },
    );
  }
}

/** Refuses a rescale whose values cannot be represented (RescaleIntercept 1e308 gives +Infinity frames). */
export function checkRescale(slope: number, intercept: number, bitsStored: number, where = ""): void {
  const maxStored = 2 ** Math.min(32, Math.max(1, bitsStored));
  const extreme = Math.abs(slope) * maxStored + Math.abs(intercept);
  if (!Number.isFinite(slope) || !Number.isFinite(intercept) || !(extreme <= FLOAT32_MAX)) {
    throw new DicomFileError(
      "inconsistent-header",
      `RescaleSlope ${slope} and RescaleIntercept ${intercept}${where} give values beyond the range of ` +
        "32-bit floating point (non-finite pixels)",
      { field: "RescaleSlope (0028,1053), RescaleIntercept (0028,1052)" },
    );
  }
}
