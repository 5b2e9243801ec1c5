// Pixel decoding for every supported transfer syntax: native (little/big endian, deflated), RLE, and the
// JPEG family through the cornerstone WASM codecs and jpeg-lossless-decoder-js.
import { statSync } from "node:fs";
import dicomParser, { type DataSet, type Element } from "dicom-parser";
import { LiverstiffError } from "../core/index.ts";
import { DicomFileError, type ParsedHeader, PIXEL_DATA, readHeader } from "./header.ts";
import { transferSyntaxInfo, transferSyntaxName } from "./transfer-syntax.ts";
import type { MrFrame } from "./types.ts";

export type StoredArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

/** A frame's stored values, before rescale, in the integer type its header declares. */
export interface StoredPixels {
  values: StoredArray;
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
}

interface PixelModule {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  samplesPerPixel: number;
  frames: number;
}

// The last few fully parsed files, so that reading an enhanced object frame by frame parses it once.
const CACHE_SIZE = 4;
const cache = new Map<string, { h: ParsedHeader; mtimeMs: number; size: number }>();

function parsedFile(file: string): ParsedHeader {
  const hit = cache.get(file);
  if (hit) {
    // A file rewritten since it was parsed is parsed again.
    const st = statSync(file, { throwIfNoEntry: false });
    if (st && st.mtimeMs === hit.mtimeMs && st.size === hit.size) {
      cache.delete(file);
      cache.set(file, hit);
      return hit.h;
    }
    cache.delete(file);
  }
  const h = readHeader(file, true);
  const st = statSync(file);
  cache.set(file, { h, mtimeMs: st.mtimeMs, size: st.size });
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return h;
}

/** Forgets parsed files kept for frame-by-frame reading (frees their memory). */
export function clearPixelCache(): void {
  cache.clear();
}

function pixelModule(ds: DataSet): PixelModule {
  const bitsAllocated = ds.uint16("x00280100") ?? 16;
  return {
    rows: ds.uint16("x00280010") ?? 0,
    columns: ds.uint16("x00280011") ?? 0,
    bitsAllocated,
    bitsStored: ds.uint16("x00280101") ?? bitsAllocated,
    signed: (ds.uint16("x00280103") ?? 0) === 1,
    samplesPerPixel: ds.uint16("x00280002") ?? 1,
    frames: Math.max(1, Number.parseInt(ds.string("x00280008") ?? "1", 10) || 1),
  };
}

function typedFromBytes(bytes: Uint8Array, pm: PixelModule, bigEndian: boolean): StoredArray {
  const n = pm.rows * pm.columns;
  const width = pm.bitsAllocated / 8;
  if (width !== 1 && width !== 2 && width !== 4) {
    throw new DicomFileError("unsupported-pixel-format", `unsupported BitsAllocated ${pm.bitsAllocated}`);
  }
  // One aligned copy of our own (the source is a view into the whole file, at any byte offset).
  const buf = new ArrayBuffer(n * width);
  const copy = new Uint8Array(buf);
  copy.set(bytes.subarray(0, n * width));
  if (bigEndian && width === 2) Buffer.from(buf).swap16();
  if (bigEndian && width === 4) Buffer.from(buf).swap32();
  if (width === 1) return pm.signed ? new Int8Array(buf) : copy;
  if (width === 2) return pm.signed ? new Int16Array(buf) : new Uint16Array(buf);
  return pm.signed ? new Int32Array(buf) : new Uint32Array(buf);
}

/** Whether any value uses bits beyond BitsStored (junk high bits, or overlays in old files). */
function needsMask(v: StoredArray, pm: PixelModule): boolean {
  if (pm.bitsStored >= pm.bitsAllocated || pm.bitsStored <= 0) return false;
  const hi = pm.signed ? 2 ** (pm.bitsStored - 1) - 1 : 2 ** pm.bitsStored - 1;
  const lo = pm.signed ? -(2 ** (pm.bitsStored - 1)) : 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x > hi || x < lo) return true;
  }
  return false;
}

/** Keeps only BitsStored bits: masks unsigned values, sign-extends signed ones. */
function maskBitsStored(v: StoredArray, pm: PixelModule): void {
  if (pm.bitsStored >= pm.bitsAllocated || pm.bitsStored <= 0) return;
  const shift = 32 - pm.bitsStored;
  if (pm.signed) {
    for (let i = 0; i < v.length; i++) v[i] = (v[i]! << shift) >> shift;
  } else {
    const mask = pm.bitsStored === 32 ? 0xffffffff : (1 << pm.bitsStored) - 1;
    for (let i = 0; i < v.length; i++) v[i] = v[i]! & mask;
  }
}

/** Native pixel data: a view into the file's bytes where alignment and byte order allow, else a copy. */
function nativeFrame(
  h: ParsedHeader,
  pd: Element,
  pm: PixelModule,
  frameIndex: number,
): { values: StoredArray; shared: boolean } {
  const frameBytes = (pm.rows * pm.columns * pm.bitsAllocated) / 8;
  const start = pd.dataOffset + frameIndex * frameBytes;
  const end = start + frameBytes;
  if (end > h.dataSet.byteArray.length || end > pd.dataOffset + pd.length) {
    throw new DicomFileError("truncated", `truncated file: frame ${frameIndex} lies beyond the pixel data`);
  }
  const info = transferSyntaxInfo(h.transferSyntaxUid);
  const bytes = h.dataSet.byteArray;
  const width = pm.bitsAllocated / 8;
  const n = pm.rows * pm.columns;
  if (!info?.bigEndian && (bytes.byteOffset + start) % width === 0) {
    const at = bytes.byteOffset + start;
    const b = bytes.buffer;
    let values: StoredArray;
    if (width === 1) values = pm.signed ? new Int8Array(b, at, n) : new Uint8Array(b, at, n);
    else if (width === 2) values = pm.signed ? new Int16Array(b, at, n) : new Uint16Array(b, at, n);
    else values = pm.signed ? new Int32Array(b, at, n) : new Uint32Array(b, at, n);
    return { values, shared: true };
  }
  return { values: typedFromBytes(bytes.subarray(start, end), pm, info?.bigEndian ?? false), shared: false };
}

function encapsulatedFrame(h: ParsedHeader, pd: Element, pm: PixelModule, frameIndex: number): Uint8Array {
  const ds = h.dataSet;
  const fragments = pd.fragments ?? [];
  if (fragments.length === 0)
    throw new DicomFileError("no-pixel-data", "encapsulated pixel data has no fragments");
  if (pd.basicOffsetTable && pd.basicOffsetTable.length > 0) {
    return dicomParser.readEncapsulatedImageFrame(ds, pd, frameIndex);
  }
  if (pm.frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pd, 0, fragments.length);
  if (pm.frames === fragments.length)
    return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pd, frameIndex, 1);
  if (
    h.transferSyntaxUid.startsWith("1.2.840.10008.1.2.4.5") ||
    h.transferSyntaxUid.startsWith("1.2.840.10008.1.2.4.7")
  ) {
    const table = dicomParser.createJPEGBasicOffsetTable(ds, pd);
    return dicomParser.readEncapsulatedImageFrame(ds, pd, frameIndex, table);
  }
  throw new DicomFileError(
    "unsupported-pixel-format",
    `cannot locate frame ${frameIndex}: ${fragments.length} fragments for ${pm.frames} frames and no offset table`,
  );
}

/** DICOM RLE (PS3.5 Annex G): a header of segment offsets, PackBits segments, most significant byte first. */
export function decodeRle(data: Uint8Array, pm: PixelModule): StoredArray {
  const n = pm.rows * pm.columns;
  const bytesPerSample = pm.bitsAllocated / 8;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== bytesPerSample * pm.samplesPerPixel) {
    throw new DicomFileError(
      "unsupported-pixel-format",
      `RLE frame has ${segments} segments, expected ${bytesPerSample}`,
    );
  }
  const out = new Uint8Array(n * bytesPerSample);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : data.length;
    // Segment s holds byte (bytesPerSample - 1 - s) of each little-endian sample.
    const byteIndex = bytesPerSample - 1 - s;
    let o = 0;
    let p = start;
    while (o < n && p < end) {
      const c = data[p++]!;
      const count = c > 127 ? c - 256 : c;
      if (count >= 0) {
        for (let k = 0; k <= count && o < n; k++) out[o++ * bytesPerSample + byteIndex] = data[p++]!;
      } else if (count !== -128) {
        const v = data[p++]!;
        for (let k = 0; k < 1 - count && o < n; k++) out[o++ * bytesPerSample + byteIndex] = v;
      }
    }
    if (o < n)
      throw new DicomFileError("corrupt-pixel-data", `RLE segment ${s} decodes to ${o} of ${n} samples`);
  }
  return typedFromBytes(out, pm, false);
}

type Codecs = {
  jpegLs: new () => WasmDecoder;
  jpegBaseline: new () => WasmDecoder;
  j2k: new () => WasmDecoder;
};
let codecs: Promise<Codecs> | undefined;

function loadCodecs(): Promise<Codecs> {
  codecs ??= (async () => {
    const [charls, turbo, openjpeg] = await Promise.all([
      import("@cornerstonejs/codec-charls/decodewasmjs"),
      import("@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs"),
      import("@cornerstonejs/codec-openjpeg/decodewasmjs"),
    ]);
    // The codecs print progress through emscripten's print hooks; keep them quiet.
    const quiet = { print: () => {}, printErr: () => {} };
    const [c, t, o] = await Promise.all([
      charls.default(quiet),
      turbo.default(quiet),
      openjpeg.default(quiet),
    ]);
    return { jpegLs: c.JpegLSDecoder, jpegBaseline: t.JPEGDecoder, j2k: o.J2KDecoder };
  })();
  return codecs;
}

function wasmDecode(
  Ctor: new () => WasmDecoder,
  data: Uint8Array,
  pm: PixelModule,
  what: string,
): StoredArray {
  const d = new Ctor();
  try {
    d.getEncodedBuffer(data.length).set(data);
    try {
      d.decode();
    } catch (e) {
      // Emscripten codecs throw bare numbers (a pointer to a C++ exception) on corrupt streams.
      throw new DicomFileError(
        "corrupt-pixel-data",
        `${what} decoder failed: corrupt or unsupported stream${e instanceof Error ? ` (${e.message})` : ""}`,
      );
    }
    const info = d.getFrameInfo();
    if (info.width !== pm.columns || info.height !== pm.rows) {
      throw new DicomFileError(
        "unsupported-pixel-format",
        `${what} frame is ${info.width}x${info.height}, header says ${pm.columns}x${pm.rows}`,
      );
    }
    const out = d.getDecodedBuffer();
    return fromDecodedBytes(out, pm);
  } finally {
    d.delete();
  }
}

// Codecs return 8- or 16-bit samples depending on the stream's precision; store them in the header's type.
function fromDecodedBytes(bytes: Uint8Array, pm: PixelModule): StoredArray {
  const n = pm.rows * pm.columns;
  if (bytes.length >= n * (pm.bitsAllocated / 8)) return typedFromBytes(bytes, pm, false);
  if (bytes.length === n && pm.bitsAllocated === 16) {
    const v = pm.signed ? new Int16Array(n) : new Uint16Array(n);
    const src = pm.signed ? new Int8Array(bytes.buffer, bytes.byteOffset, n) : bytes;
    for (let i = 0; i < n; i++) v[i] = src[i]!;
    return v;
  }
  throw new DicomFileError(
    "unsupported-pixel-format",
    `decoder returned ${bytes.length} bytes for ${n} pixels`,
  );
}

/**
 * Decodes one frame with BitsStored applied. `shared` values are a view into the cached file bytes and
 * must be copied before they leave this module or are modified.
 */
async function decodeFrame(
  h: ParsedHeader,
  frameIndex: number,
): Promise<{ values: StoredArray; pm: PixelModule; shared: boolean }> {
  const pm = pixelModule(h.dataSet);
  if (pm.samplesPerPixel !== 1) {
    throw new DicomFileError(
      "unsupported-pixel-format",
      `not a greyscale image (SamplesPerPixel ${pm.samplesPerPixel})`,
    );
  }
  if (frameIndex < 0 || frameIndex >= pm.frames) {
    throw new DicomFileError(
      "unsupported-pixel-format",
      `frame ${frameIndex} out of range (file has ${pm.frames})`,
    );
  }
  const pd = h.dataSet.elements[PIXEL_DATA];
  if (!pd) throw new DicomFileError("no-pixel-data", "no pixel data element (7FE0,0010)");
  const info = transferSyntaxInfo(h.transferSyntaxUid);
  if (!info) {
    throw new DicomFileError(
      "unsupported-transfer-syntax",
      `unsupported transfer syntax ${h.transferSyntaxUid} (${transferSyntaxName(h.transferSyntaxUid)})`,
    );
  }
  let values: StoredArray;
  let shared = false;
  switch (info.encoding) {
    case "native":
    case "deflate":
      ({ values, shared } = nativeFrame(h, pd, pm, frameIndex));
      break;
    case "rle":
      values = decodeRle(encapsulatedFrame(h, pd, pm, frameIndex), pm);
      break;
    case "jpeg-lossless": {
      const data = encapsulatedFrame(h, pd, pm, frameIndex);
      const { Decoder } = await import("jpeg-lossless-decoder-js");
      const copy = Uint8Array.from(data);
      let decoded: Uint8Array | Uint16Array;
      try {
        decoded = new Decoder().decode(copy.buffer, 0, copy.length, pm.bitsAllocated <= 8 ? 1 : 2);
      } catch (e) {
        throw new DicomFileError(
          "corrupt-pixel-data",
          `JPEG lossless decoder failed: ${(e as Error)?.message ?? e}`,
        );
      }
      const bytes = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
      values = fromDecodedBytes(bytes, pm);
      break;
    }
    case "jpeg-ls":
      values = wasmDecode(
        (await loadCodecs()).jpegLs,
        encapsulatedFrame(h, pd, pm, frameIndex),
        pm,
        "JPEG-LS",
      );
      break;
    case "jpeg-baseline":
      values = wasmDecode(
        (await loadCodecs()).jpegBaseline,
        encapsulatedFrame(h, pd, pm, frameIndex),
        pm,
        "JPEG",
      );
      break;
    case "jpeg2000":
      values = wasmDecode(
        (await loadCodecs()).j2k,
        encapsulatedFrame(h, pd, pm, frameIndex),
        pm,
        "JPEG 2000",
      );
      break;
  }
  if (needsMask(values, pm)) {
    if (shared) values = values.slice();
    shared = false;
    maskBitsStored(values, pm);
  }
  return { values, pm, shared };
}

function wrap(file: string, e: unknown): never {
  if (e instanceof DicomFileError) throw new LiverstiffError(e.message, { file, code: e.code }, { cause: e });
  throw new LiverstiffError(
    `cannot decode pixels: ${(e as Error)?.message ?? String(e)}`,
    { file },
    { cause: e },
  );
}

/** The stored values of one frame (BitsStored applied, no rescale), e.g. to compare with dcmtk or dcm2niix. */
export async function readFrameStoredValues(
  frame: Pick<MrFrame, "file" | "frameIndex">,
): Promise<StoredPixels> {
  try {
    const { values, pm, shared } = await decodeFrame(parsedFile(frame.file), frame.frameIndex);
    return {
      values: shared ? values.slice() : values,
      rows: pm.rows,
      columns: pm.columns,
      bitsAllocated: pm.bitsAllocated,
      bitsStored: pm.bitsStored,
      signed: pm.signed,
    };
  } catch (e) {
    wrap(frame.file, e);
  }
}

/** Decoded pixels of one frame, rescale slope and intercept applied, row-major (rows x columns). */
export async function readFramePixels(frame: MrFrame): Promise<Float32Array> {
  let decoded: Awaited<ReturnType<typeof decodeFrame>>;
  try {
    decoded = await decodeFrame(parsedFile(frame.file), frame.frameIndex);
  } catch (e) {
    wrap(frame.file, e);
  }
  const { values, pm } = decoded;
  if (pm.rows !== frame.rows || pm.columns !== frame.columns) {
    throw new LiverstiffError(
      `frame is ${pm.rows}x${pm.columns}, index says ${frame.rows}x${frame.columns}`,
      {
        file: frame.file,
      },
    );
  }
  // TypedArray.set converts integer to float natively; the rescale loop then sees one array type only.
  const out = new Float32Array(values.length);
  out.set(values);
  const slope = frame.rescaleSlope;
  const icpt = frame.rescaleIntercept;
  if (slope !== 1 || icpt !== 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! * slope + icpt;
  return out;
}
