// Reads a DICOM file's header: only the first bytes when they hold everything up to the pixel data, the
// whole file otherwise. Parsing is done by dicom-parser (see docs/dicom.md for why).
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import dicomParser, { type DataSet, type Element } from "dicom-parser";
import { DicomFileError } from "./errors.ts";
import { checkSequenceNesting } from "./nesting.ts";
import { DEFLATED_LE, EXPLICIT_LE, IMPLICIT_LE } from "./transfer-syntax.ts";

export const PIXEL_DATA = "x7fe00010";

export { DicomFileError } from "./errors.ts";

export interface ParsedHeader {
  dataSet: DataSet;
  transferSyntaxUid: string;
  /** False when the file had no 128-byte preamble and "DICM" prefix. */
  part10: boolean;
  fileSize: number;
  bytesRead: number;
  /** The pixel data element (its data may lie beyond the bytes read). */
  pixelData?: Element;
  /**
   * How far offsets in `dataSet` lie ahead of the same bytes in the file: 132 when a preamble-less file
   * was parsed behind a synthetic preamble, else 0. Subtract it before seeking in the file.
   */
  fileOffsetShift: number;
}

// Most classic MR headers fit in 16 KiB; longer ones (Siemens CSA, overlays, enhanced functional groups)
// are read again with 4x more bytes until the pixel data element is reached.
const FIRST_READ_BYTES = 16 * 1024;
// The first read of every file goes into this one buffer, so that indexing allocates (and collects)
// almost nothing per file. A header parsed from it is valid only until the next readHeader call.
const scratch = Buffer.allocUnsafe(FIRST_READ_BYTES);

const VR_CODES = new Set(
  "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split(
    " ",
  ),
);

type Layout =
  | { kind: "part10" }
  | { kind: "meta-without-preamble" }
  | { kind: "raw"; transferSyntaxUid: string }
  | { kind: "not-dicom" };

/** Decides from the first bytes whether this is DICOM and how it begins. */
function detectLayout(bytes: Uint8Array): Layout {
  if (
    bytes.length >= 132 &&
    bytes[128] === 0x44 &&
    bytes[129] === 0x49 &&
    bytes[130] === 0x43 &&
    bytes[131] === 0x4d
  ) {
    return { kind: "part10" };
  }
  if (bytes.length < 8) return { kind: "not-dicom" };
  const group = bytes[0]! | (bytes[1]! << 8);
  const vr = String.fromCharCode(bytes[4]!, bytes[5]!);
  const explicit = VR_CODES.has(vr);
  if (group === 0x0002 && explicit) return { kind: "meta-without-preamble" };
  // A bare data set (no preamble, no meta header) starts with a low even group, usually 0008.
  if (group === 0x0008 || group === 0x0010 || group === 0x0018 || group === 0x0020) {
    if (explicit) return { kind: "raw", transferSyntaxUid: EXPLICIT_LE };
    const len = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! * 0x1000000);
    if (len < 0x10000) return { kind: "raw", transferSyntaxUid: IMPLICIT_LE };
  }
  return { kind: "not-dicom" };
}

function readPrefix(path: string, maxBytes: number, into?: Buffer): { bytes: Uint8Array; fileSize: number } {
  const fd = openSync(path, "r");
  try {
    const fileSize = fstatSync(fd).size;
    const n = Math.min(fileSize, maxBytes, into ? into.length : maxBytes);
    const bytes = into ?? Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, bytes, got, n - got, got);
      if (r === 0) break;
      got += r;
    }
    return { bytes: bytes.subarray(0, got), fileSize };
  } finally {
    closeSync(fd);
  }
}

// Deflated data sets are at most this much larger than the file (a zip bomb is refused, not inflated).
const MAX_INFLATED_BYTES = 2 ** 31;

function inflater(bytes: Uint8Array, position: number): Uint8Array {
  let inflated: Buffer;
  try {
    inflated = inflateRawSync(bytes.subarray(position), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new DicomFileError(
        "too-large",
        `deflated data set inflates to more than ${MAX_INFLATED_BYTES} bytes`,
        {
          field: "TransferSyntaxUID (0002,0010)",
        },
      );
    }
    // Not coded here: a first read of only the file's beginning legitimately fails to inflate.
    throw new Error(`inflate: ${(e as Error).message}`);
  }
  const out = Buffer.allocUnsafe(position + inflated.length);
  out.set(bytes.subarray(0, position), 0);
  out.set(inflated, position);
  checkSequenceNesting(out, { offset: position, transferSyntaxUid: EXPLICIT_LE });
  return out;
}

function parseMessage(e: unknown): string {
  if (typeof e === "string") return e;
  if (e && typeof e === "object" && "exception" in e)
    return parseMessage((e as { exception: unknown }).exception);
  if (e instanceof Error) return e.message;
  return String(e);
}

function parse(bytes: Uint8Array, layout: Layout, untilPixelData: boolean): DataSet {
  let buf = bytes;
  const options: Parameters<typeof dicomParser.parseDicom>[1] = {
    inflater: inflater as never,
  };
  if (untilPixelData) options.untilTag = PIXEL_DATA;
  if (layout.kind === "meta-without-preamble") {
    const padded = Buffer.alloc(132 + bytes.length);
    padded.write("DICM", 128, "latin1");
    padded.set(bytes, 132);
    buf = padded;
  } else if (layout.kind === "raw") {
    options.TransferSyntaxUID = layout.transferSyntaxUid;
  }
  checkSequenceNesting(
    buf,
    layout.kind === "raw" ? { offset: 0, transferSyntaxUid: layout.transferSyntaxUid } : { offset: 132 },
  );
  return dicomParser.parseDicom(buf, options);
}

/** dicom-parser keeps elements whose value runs past the data (a warning only); reading one would throw. */
function checkElementBounds(ds: DataSet): void {
  const size = ds.byteArray.length;
  for (const [tag, el] of Object.entries(ds.elements)) {
    if (tag === PIXEL_DATA || el.hadUndefinedLength) continue;
    if (el.dataOffset + el.length > size) {
      const name = `(${tag.slice(1, 5).toUpperCase()},${tag.slice(5).toUpperCase()})`;
      throw new DicomFileError(
        "truncated",
        `truncated or corrupt file: element ${name} declares ${el.length} bytes, more than the data set holds`,
        { field: name },
      );
    }
  }
}

/** Our own coded error, if the parser passed one through (dicom-parser wraps throws as { exception }). */
function ownError(e: unknown): DicomFileError | undefined {
  if (e instanceof DicomFileError) return e;
  if (e && typeof e === "object" && "exception" in e)
    return ownError((e as { exception: unknown }).exception);
  return undefined;
}

/** A parser failure in words a user understands (never dicom-parser's own text). */
function parseFailure(raw: string): DicomFileError {
  if (/maximum call stack/i.test(raw)) {
    return new DicomFileError(
      "parse-error",
      "sequences are nested too deeply to read; the file is refused as malformed",
    );
  }
  if (/^inflate:/.test(raw)) {
    return new DicomFileError(
      "parse-error",
      "deflated data set cannot be inflated (corrupt or truncated deflate stream)",
    );
  }
  if (/0002,0010/.test(raw)) {
    return new DicomFileError("parse-error", "the file meta header has no TransferSyntaxUID", {
      field: "TransferSyntaxUID (0002,0010)",
    });
  }
  if (
    /overrun|eof|beyond|past end|out of range|invalid value for parameter|premature|overread|cannot seek|greater than or equal/i.test(
      raw,
    )
  ) {
    return new DicomFileError(
      "truncated",
      "truncated or corrupt file: an element's length runs past the end of the data set",
    );
  }
  return new DicomFileError(
    "parse-error",
    "malformed DICOM data set: its element tags and lengths do not fit together",
  );
}

function transferSyntaxOf(ds: DataSet, layout: Layout): string {
  if (layout.kind === "raw") return layout.transferSyntaxUid;
  return (ds.string("x00020010") ?? "").replace(/\0/g, "").trim();
}

/**
 * Parses the header of one file. With `wholeFile`, the full file is parsed (pixel fragments included),
 * which is what pixel decoding needs; otherwise parsing stops at the pixel data element.
 * Throws DicomFileError for anything that is not a readable DICOM object. Without `wholeFile` the result
 * may point into a shared read buffer: use it before the next call.
 */
export function readHeader(path: string, wholeFile = false): ParsedHeader {
  let bytes: Uint8Array;
  let fileSize: number;
  try {
    if (wholeFile) {
      bytes = readFileSync(path);
      fileSize = bytes.length;
    } else {
      ({ bytes, fileSize } = readPrefix(path, FIRST_READ_BYTES, scratch));
    }
  } catch (e) {
    throw new DicomFileError("unreadable", `cannot read file: ${parseMessage(e)}`);
  }
  const layout = detectLayout(bytes);
  if (layout.kind === "not-dicom") {
    throw new DicomFileError(
      "not-dicom",
      fileSize < 132 ? "not DICOM (too short)" : "not DICOM (no DICM prefix and no recognisable data set)",
    );
  }
  let bytesRead = bytes.length;
  let ds: DataSet | undefined;
  let firstError: string | undefined;
  try {
    ds = parse(bytes, layout, !wholeFile);
  } catch (e) {
    const own = ownError(e);
    if (own) throw own;
    firstError = parseMessage(e);
  }
  // The prefix was not enough: read 4x more until the pixel data element is reached. Deflated data sets are inflated as a whole.
  let deflated =
    (ds !== undefined && transferSyntaxOf(ds, layout) === DEFLATED_LE) ||
    Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 512)).includes(DEFLATED_LE);
  while (bytes.length < fileSize && (ds === undefined || ds.elements[PIXEL_DATA] === undefined || deflated)) {
    const next = deflated ? fileSize : Math.min(fileSize, bytes.length * 4);
    try {
      bytes = next >= fileSize ? readFileSync(path) : readPrefix(path, next).bytes;
    } catch (e) {
      throw new DicomFileError("unreadable", `cannot read file: ${parseMessage(e)}`);
    }
    bytesRead += bytes.length;
    ds = undefined;
    try {
      ds = parse(bytes, layout, !wholeFile);
      firstError = undefined;
    } catch (e) {
      const own = ownError(e);
      if (own) throw own;
      firstError = parseMessage(e);
    }
    deflated = false;
  }
  if (ds === undefined) throw parseFailure(firstError ?? "");
  checkElementBounds(ds);
  const transferSyntaxUid = transferSyntaxOf(ds, layout);
  const pixelData = ds.elements[PIXEL_DATA];
  return {
    fileOffsetShift: layout.kind === "meta-without-preamble" ? 132 : 0,
    dataSet: ds,
    transferSyntaxUid: transferSyntaxUid || EXPLICIT_LE,
    part10: layout.kind === "part10",
    fileSize,
    bytesRead,
    ...(pixelData ? { pixelData } : {}),
  };
}

/** What the items of encapsulated pixel data hold. Offsets are relative to the first fragment's item. */
export interface FragmentLayout {
  fragments: number;
  /** The Basic Offset Table's entries (empty when the table is empty). */
  basicOffsetTable: number[];
  /** Where each fragment's item starts. */
  fragmentStarts: number[];
}

const PIXEL_FIELD = "PixelData (7FE0,0010)";

/**
 * Walks the items of encapsulated pixel data from `offset` (just after the pixel data element header)
 * with small reads; throws DicomFileError when the file ends before the sequence delimiter or an item is
 * not an item.
 */
export function scanFragments(path: string, offset: number): FragmentLayout {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.allocUnsafe(8);
    let pos = offset;
    let items = 0;
    let table: number[] = [];
    let firstFragment = 0;
    const fragmentStarts: number[] = [];
    const odd = () =>
      new DicomFileError(
        "parse-error",
        `encapsulated pixel data is malformed: item ${items + 1} is not a fragment item`,
        { field: PIXEL_FIELD },
      );
    while (pos + 8 <= size) {
      readSync(fd, head, 0, 8, pos);
      const group = head.readUInt16LE(0);
      const element = head.readUInt16LE(2);
      const length = head.readUInt32LE(4);
      if (group !== 0xfffe) throw odd();
      if (element === 0xe0dd) {
        if (items < 2)
          throw new DicomFileError("no-pixel-data", "encapsulated pixel data has no image fragments", {
            field: PIXEL_FIELD,
          });
        return { fragments: items - 1, basicOffsetTable: table, fragmentStarts };
      }
      if (element !== 0xe000 || length === 0xffffffff) throw odd();
      if (items === 0) {
        if (length % 4 !== 0 || pos + 8 + length > size) {
          throw new DicomFileError(
            "inconsistent-header",
            `the Basic Offset Table of the encapsulated pixel data is ${length} bytes long, not a whole number of 4-byte offsets within the file`,
            { field: PIXEL_FIELD },
          );
        }
        if (length > 0) {
          const bot = Buffer.allocUnsafe(length);
          readSync(fd, bot, 0, length, pos + 8);
          table = Array.from({ length: length / 4 }, (_, k) => bot.readUInt32LE(4 * k));
        }
        firstFragment = pos + 8 + length;
      } else fragmentStarts.push(pos - firstFragment);
      pos += 8 + length;
      items++;
    }
    throw new DicomFileError(
      "truncated",
      `truncated file: encapsulated pixel data ends after ${items} items without its sequence delimiter`,
      { field: PIXEL_FIELD },
    );
  } finally {
    closeSync(fd);
  }
}
