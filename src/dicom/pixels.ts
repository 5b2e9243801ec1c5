// Pixel decoding for every supported transfer syntax: native (little/big endian, deflated), RLE, and the
// JPEG family through the cornerstone WASM codecs, dcmjs-codecs (12-bit JPEG) and jpeg-lossless-decoder-js.
import { statSync } from "node:fs";
import dicomParser, { type DataSet, type Element } from "dicom-parser";
import { DicomFileError, type ParsedHeader, PIXEL_DATA, readHeader } from "./header.ts";
import { checkFramesAgainstData, checkPixelBudget, checkRescale, declaredFrames } from "./limits.ts";
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
  const pm: PixelModule = {
    rows: ds.uint16("x00280010") ?? 0,
    columns: ds.uint16("x00280011") ?? 0,
    bitsAllocated,
    bitsStored: Math.min(bitsAllocated, ds.uint16("x00280101") ?? bitsAllocated),
    signed: (ds.uint16("x00280103") ?? 0) === 1,
    samplesPerPixel: ds.uint16("x00280002") ?? 1,
    frames: declaredFrames(ds),
  };
  if (pm.rows === 0 || pm.columns === 0) {
    throw new DicomFileError("unsupported-pixel-format", "missing Rows or Columns", {
      field: "Rows (0028,0010), Columns (0028,0011)",
    });
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw new DicomFileError("unsupported-pixel-format", `unsupported BitsAllocated ${bitsAllocated}`, {
      field: "BitsAllocated (0028,0100)",
    });
  }
  checkPixelBudget(pm.rows, pm.columns, bitsAllocated, pm.frames);
  return pm;
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
  checkFramesAgainstData(pm.frames, { fragments: fragments.length });
  const located = (read: () => Uint8Array): Uint8Array => {
    try {
      return read();
    } catch (e) {
      if (e instanceof DicomFileError) throw e;
      throw new DicomFileError(
        "decode-error",
        `cannot locate frame ${frameIndex} in the encapsulated pixel data: its offset table and fragments do not match`,
        { field: "PixelData (7FE0,0010)" },
      );
    }
  };
  if (pd.basicOffsetTable && pd.basicOffsetTable.length > 0) {
    if (pd.basicOffsetTable.length !== pm.frames) {
      throw new DicomFileError(
        "inconsistent-header",
        `the Basic Offset Table lists ${pd.basicOffsetTable.length} frame(s), NumberOfFrames (0028,0008) declares ${pm.frames}`,
        { field: "PixelData (7FE0,0010)" },
      );
    }
    return located(() => dicomParser.readEncapsulatedImageFrame(ds, pd, frameIndex));
  }
  if (pm.frames === 1)
    return located(() => dicomParser.readEncapsulatedPixelDataFromFragments(ds, pd, 0, fragments.length));
  if (pm.frames === fragments.length)
    return located(() => dicomParser.readEncapsulatedPixelDataFromFragments(ds, pd, frameIndex, 1));
  if (
    h.transferSyntaxUid.startsWith("1.2.840.10008.1.2.4.5") ||
    h.transferSyntaxUid.startsWith("1.2.840.10008.1.2.4.7")
  ) {
    return located(() => {
      const table = dicomParser.createJPEGBasicOffsetTable(ds, pd);
      return dicomParser.readEncapsulatedImageFrame(ds, pd, frameIndex, table);
    });
  }
  throw new DicomFileError(
    "inconsistent-header",
    `cannot locate frame ${frameIndex}: ${fragments.length} fragments for ${pm.frames} frames and no offset table`,
    { field: "PixelData (7FE0,0010)" },
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
    if (o < n) throw new DicomFileError("decode-error", `RLE segment ${s} decodes to ${o} of ${n} samples`);
  }
  return typedFromBytes(out, pm, false);
}

/** A JPEG or JPEG-LS frame header (SOFn): which process, sample precision, size and component count. */
export interface JpegFrameHeader {
  marker: number;
  precision: number;
  width: number;
  height: number;
  components: number;
}

/** The first frame header of a JPEG or JPEG-LS stream, or undefined where none precedes the first scan. */
export function jpegFrameHeader(data: Uint8Array): JpegFrameHeader | undefined {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) return undefined;
  const u16 = (at: number) => (data[at]! << 8) | data[at + 1]!;
  let pos = 2;
  while (pos + 9 <= data.length) {
    if (data[pos] !== 0xff) return undefined;
    const marker = data[pos + 1]!;
    if (marker === 0xff) {
      pos++;
      continue;
    }
    const sof =
      (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) ||
      marker === 0xf7;
    if (sof) {
      return {
        marker,
        precision: data[pos + 4]!,
        height: u16(pos + 5),
        width: u16(pos + 7),
        components: data[pos + 9] ?? 0,
      };
    }
    if (marker === 0xda) return undefined; // start of scan before any frame header
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) pos += 2;
    else pos += 2 + u16(pos + 2);
  }
  return undefined;
}

/**
 * The width and height a JPEG, JPEG-LS or JPEG 2000 stream declares (its SOF or SIZ marker), read before
 * decoding so that a stream claiming another size is refused instead of being decoded into a huge buffer.
 */
export function streamDims(data: Uint8Array): { width: number; height: number } | undefined {
  if (data.length < 4 || data[0] !== 0xff) return undefined;
  const u16 = (at: number) => (data[at]! << 8) | data[at + 1]!;
  if (data[1] === 0x4f && data[2] === 0xff && data[3] === 0x51) {
    // JPEG 2000 codestream: SOC then SIZ (Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz).
    if (data.length < 24) return undefined;
    const u32 = (at: number) => u16(at) * 65536 + u16(at + 2);
    return { width: u32(8) - u32(16), height: u32(12) - u32(20) };
  }
  const sof = jpegFrameHeader(data);
  return sof && { width: sof.width, height: sof.height };
}

function checkStreamDims(data: Uint8Array, pm: PixelModule, what: string): void {
  const dims = streamDims(data);
  if (dims && (dims.width !== pm.columns || dims.height !== pm.rows)) {
    throw new DicomFileError(
      "inconsistent-header",
      `the ${what} stream is ${dims.width}x${dims.height}, the header says ${pm.columns}x${pm.rows} (Columns x Rows)`,
      { field: "Rows (0028,0010), Columns (0028,0011)" },
    );
  }
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
  checkStreamDims(data, pm, what);
  const d = new Ctor();
  try {
    d.getEncodedBuffer(data.length).set(data);
    try {
      d.decode();
    } catch (e) {
      // Emscripten codecs throw bare numbers (a pointer to a C++ exception) on corrupt streams.
      throw new DicomFileError(
        "decode-error",
        `${what} decoder failed: corrupt or unsupported stream`,
        {},
        { cause: e },
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

// 12-bit JPEG (Extended, process 2 & 4) goes through dcmjs-codecs: dcmtk's IJG 12-bit library compiled to
// WASM, the decoder dcmdjpeg itself runs. Loaded on the first such frame only.
type Jpeg12Codec = typeof import("dcmjs-codecs");
let jpeg12: Promise<Jpeg12Codec> | undefined;
// The IJG library's warnings during the current decode (it carries on past corrupt data; we refuse).
let jpeg12Messages: string[] = [];
const JPEG_CORRUPT =
  /premature end|bad huffman code|bad arithmetic code|instead of RST|inconsistent progression|invalid SOS/i;

function loadJpeg12(): Promise<Jpeg12Codec> {
  jpeg12 ??= (async () => {
    const codec = (await import("dcmjs-codecs")).default;
    // The library's messages reach its loglevel logger's info(); collect them instead of printing.
    codec.log.info = (...args: unknown[]) => {
      jpeg12Messages.push(args.map(String).join(" "));
    };
    await codec.NativeCodecs.initializeAsync({ logCodecsInfo: true });
    return codec;
  })();
  jpeg12.catch(() => {
    jpeg12 = undefined;
  });
  return jpeg12;
}

/** Where a JPEG stream ends, past the zero padding an encapsulated fragment may add. */
function endsWithEoi(data: Uint8Array): boolean {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return end >= 2 && data[end - 2] === 0xff && data[end - 1] === 0xd9;
}

async function decodeJpeg12(data: Uint8Array, pm: PixelModule, sof: JpegFrameHeader): Promise<StoredArray> {
  if (pm.bitsAllocated !== 16) {
    throw new DicomFileError(
      "inconsistent-header",
      `the JPEG stream has 12-bit samples, the header says BitsAllocated ${pm.bitsAllocated}`,
      { field: "BitsAllocated (0028,0100)" },
    );
  }
  if (sof.components !== 1) {
    throw new DicomFileError(
      "unsupported-pixel-format",
      `the 12-bit JPEG stream has ${sof.components} components, expected 1 (greyscale)`,
    );
  }
  if (!endsWithEoi(data)) {
    throw new DicomFileError(
      "decode-error",
      "the 12-bit JPEG stream ends before its End Of Image marker: truncated or corrupt",
      { field: "PixelData (7FE0,0010)" },
    );
  }
  let codec = await loadJpeg12();
  // Another frame's failure may have discarded the instance while this one waited.
  while (!codec.NativeCodecs.isInitialized()) codec = await loadJpeg12();
  const { Context, NativeCodecs } = codec;
  const context = new Context({
    width: pm.columns,
    height: pm.rows,
    bitsAllocated: 16,
    bitsStored: Math.min(pm.bitsStored, 12),
    samplesPerPixel: 1,
    pixelRepresentation: 0,
    planarConfiguration: 0,
    photometricInterpretation: "MONOCHROME2",
    encodedBuffer: data,
  });
  jpeg12Messages = [];
  let decoded: Uint8Array | undefined;
  try {
    decoded = NativeCodecs.decodeJpeg(context).getDecodedBuffer();
  } catch (e) {
    // A fatal IJG error unwinds through the WASM stack and leaves the instance unusable: start a new one.
    NativeCodecs.release();
    jpeg12 = undefined;
    throw new DicomFileError(
      "decode-error",
      `JPEG 12-bit decoder failed: ${e instanceof Error ? e.message.replace(/^JpegDecoder12::ErrorExit::/, "") : "corrupt or unsupported stream"}`,
      {},
      { cause: e },
    );
  }
  const corrupt = jpeg12Messages.find((m) => JPEG_CORRUPT.test(m));
  if (corrupt) {
    throw new DicomFileError("decode-error", `JPEG 12-bit decoder: ${corrupt.replace(/^.*::/, "")}`, {
      field: "PixelData (7FE0,0010)",
    });
  }
  if (!decoded) throw new DicomFileError("decode-error", "JPEG 12-bit decoder returned no pixels");
  return fromDecodedBytes(decoded, pm);
}

async function decodeJpegExtended(data: Uint8Array, pm: PixelModule): Promise<StoredArray> {
  const sof = jpegFrameHeader(data);
  if (!sof) {
    throw new DicomFileError(
      "decode-error",
      "the JPEG Extended pixel data is not a JPEG stream with a frame header (SOF) before its first scan",
      { field: "PixelData (7FE0,0010)" },
    );
  }
  // Process 2 & 4 streams are DCT sequential (SOF0, SOF1); progressive ones (SOF2) are accepted as well.
  if (sof.marker < 0xc0 || sof.marker > 0xc2) {
    throw new DicomFileError(
      "unsupported-pixel-format",
      `the JPEG Extended pixel data holds a SOF 0x${sof.marker.toString(16)} stream, not DCT (SOF0-SOF2)`,
      { field: "PixelData (7FE0,0010)" },
    );
  }
  checkStreamDims(data, pm, "JPEG Extended");
  if (sof.precision === 8) return wasmDecode((await loadCodecs()).jpegBaseline, data, pm, "JPEG");
  if (sof.precision === 12) return decodeJpeg12(data, pm, sof);
  throw new DicomFileError(
    "unsupported-pixel-format",
    `the JPEG Extended stream has ${sof.precision}-bit samples; process 2 & 4 allow 8 or 12`,
    { field: "PixelData (7FE0,0010)" },
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
      checkStreamDims(data, pm, "JPEG lossless");
      const { Decoder } = await import("jpeg-lossless-decoder-js");
      const copy = Uint8Array.from(data);
      let decoded: Uint8Array | Uint16Array;
      try {
        decoded = new Decoder().decode(copy.buffer, 0, copy.length, pm.bitsAllocated <= 8 ? 1 : 2);
      } catch (e) {
        throw new DicomFileError(
          "decode-error",
          "JPEG lossless decoder failed: corrupt or unsupported stream",
          {},
          { cause: e },
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
    case "jpeg-extended":
      values = await decodeJpegExtended(encapsulatedFrame(h, pd, pm, frameIndex), pm);
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

/**
 * Every failure leaves as a DicomFileError naming the file. Anything not coded below (a codec's own
 * exception, a bug) becomes `decode-error` with the frame and transfer syntax, its raw text kept as cause.
 */
function wrap(file: string, frameIndex: number, e: unknown): never {
  if (e instanceof DicomFileError) throw e.inFile(file);
  const cached = cache.get(file)?.h.transferSyntaxUid;
  const syntax = cached ? ` (${transferSyntaxName(cached)})` : "";
  throw new DicomFileError(
    "decode-error",
    `cannot decode the pixel data of frame ${frameIndex}${syntax}: corrupt or unsupported data`,
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
    wrap(frame.file, frame.frameIndex, e);
  }
}

/** Decoded pixels of one frame, rescale slope and intercept applied, row-major (rows x columns). */
export async function readFramePixels(frame: MrFrame): Promise<Float32Array> {
  let decoded: Awaited<ReturnType<typeof decodeFrame>>;
  try {
    decoded = await decodeFrame(parsedFile(frame.file), frame.frameIndex);
  } catch (e) {
    wrap(frame.file, frame.frameIndex, e);
  }
  const { values, pm } = decoded;
  if (pm.rows !== frame.rows || pm.columns !== frame.columns) {
    throw new DicomFileError(
      "inconsistent-header",
      `frame is ${pm.rows}x${pm.columns}, index says ${frame.rows}x${frame.columns} (file changed since it was indexed?)`,
      { file: frame.file, field: "Rows (0028,0010), Columns (0028,0011)" },
    );
  }
  try {
    checkRescale(frame.rescaleSlope, frame.rescaleIntercept, pm.bitsStored);
  } catch (e) {
    wrap(frame.file, frame.frameIndex, e);
  }
  // TypedArray.set converts integer to float natively; the rescale loop then sees one array type only.
  const out = new Float32Array(values.length);
  out.set(values);
  const slope = frame.rescaleSlope;
  const icpt = frame.rescaleIntercept;
  if (slope !== 1 || icpt !== 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! * slope + icpt;
  return out;
}
