// Safetensors (https://github.com/huggingface/safetensors) read and write in pure TypeScript.
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then one byte buffer that the
// header's data_offsets index (relative to the buffer start). Validation follows the reference Rust
// implementation: offsets must tile the buffer exactly (no gaps, no overlaps, nothing left over) and each
// tensor's byte length must equal prod(shape) * itemsize.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { bfloat16ToFloat, halfToFloat, LiverstiffError, writeFileAtomic } from "../core/index.ts";

export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "U8" | "BOOL";

/** Bytes per element of each supported dtype. */
export const SAFETENSORS_ITEMSIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  U8: 1,
  BOOL: 1,
};

/** The typed array that holds a dtype's values in memory (F16/BF16 keep their raw 16-bit patterns). */
export type SafetensorsArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Uint8Array;

/** One tensor as stored: dtype, shape and its little-endian bytes. */
export interface RawTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Exactly prod(shape) * itemsize bytes, little-endian. May be a view into a larger file buffer. */
  readonly bytes: Uint8Array;
}

export interface SafetensorsContents {
  /** Tensors in file order (sorted by offset). */
  readonly tensors: Map<string, RawTensor>;
  /** The optional free-form string map stored under "__metadata__". */
  readonly metadata: Record<string, string>;
}

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length is usually huge). */
const MAX_HEADER_BYTES = 100_000_000;
const HEADER_ALIGN = 8;
const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === "string" && Object.hasOwn(SAFETENSORS_ITEMSIZE, x);
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Parses safetensors bytes. `source` names the file in errors. Tensor bytes are views into `bytes`
 * (no copy), so keep `bytes` alive or copy what you keep.
 */
export function parseSafetensors(bytes: Uint8Array, source = "<buffer>"): SafetensorsContents {
  const fail = (message: string, tensor?: string): never => {
    const context: Record<string, string | number> = { file: source };
    if (tensor !== undefined) context.tensor = tensor;
    throw new LiverstiffError(
      `invalid safetensors file ${source}${tensor !== undefined ? ` (tensor "${tensor}")` : ""}: ${message}`,
      context,
    );
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES))
    fail(`header length ${headerLen64} exceeds ${MAX_HEADER_BYTES}`);
  const headerLen = Number(headerLen64);
  if (8 + headerLen > bytes.byteLength) {
    fail(`header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes): truncated`);
  }
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    if (!text.startsWith("{")) fail("header does not start with '{'");
    header = JSON.parse(text);
  } catch (err) {
    if (err instanceof LiverstiffError) throw err;
    fail(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    fail("header is not a JSON object");
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] =
    [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value))
        fail("__metadata__ is not an object");
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof value !== "object" || value === null) fail("entry is not an object", name);
    const info = value as Record<string, unknown>;
    if (!isDtype(info.dtype)) fail(`unsupported dtype ${JSON.stringify(info.dtype)}`, name);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[1] < offsets[0]
    ) {
      fail(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`, name);
    }
    entries.push({
      name,
      dtype: info.dtype as SafetensorsDtype,
      shape: shape as number[],
      begin: (offsets as number[])[0],
      end: (offsets as number[])[1],
    });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const tensors = new Map<string, RawTensor>();
  let expectedBegin = 0;
  for (const e of entries) {
    const want = numel(e.shape) * SAFETENSORS_ITEMSIZE[e.dtype];
    if (e.end - e.begin !== want) {
      fail(
        `data_offsets [${e.begin}, ${e.end}] hold ${e.end - e.begin} bytes but ${e.dtype}[${e.shape.join(", ")}] needs ${want}`,
        e.name,
      );
    }
    if (e.begin !== expectedBegin) {
      fail(
        e.begin < expectedBegin
          ? `data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${expectedBegin})`
          : `gap in the data buffer before this tensor (begins at ${e.begin}, previous ends at ${expectedBegin})`,
        e.name,
      );
    }
    if (e.end > dataLen) {
      fail(
        `data_offsets [${e.begin}, ${e.end}] run past the end of the data (${dataLen} bytes): truncated`,
        e.name,
      );
    }
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      bytes: bytes.subarray(dataStart + e.begin, dataStart + e.end),
    });
    expectedBegin = e.end;
  }
  if (expectedBegin !== dataLen) {
    fail(`${dataLen - expectedBegin} bytes after the last tensor are not described by the header`);
  }
  return { tensors, metadata };
}

/** Reads a file in chunks (readFileSync refuses files over 2 GiB; large checkpoints are common). */
function readWholeFile(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const out = Buffer.allocUnsafe(size);
    const chunk = 1 << 30;
    let pos = 0;
    while (pos < size) {
      const n = readSync(fd, out, pos, Math.min(chunk, size - pos), pos);
      if (n === 0) break;
      pos += n;
    }
    return pos === size ? out : out.subarray(0, pos);
  } finally {
    closeSync(fd);
  }
}

/** Reads and validates a safetensors file; errors name the file and the first bad tensor. */
export function readSafetensors(path: string): SafetensorsContents {
  let bytes: Uint8Array;
  try {
    bytes = readWholeFile(path);
  } catch (err) {
    throw new LiverstiffError(
      `cannot read safetensors file ${path}: ${(err as Error).message}`,
      { file: path },
      {
        cause: err,
      },
    );
  }
  return parseSafetensors(bytes, path);
}

/**
 * Serializes tensors into safetensors bytes. Tensors are laid out by descending itemsize, then by name
 * (as the reference writer does), and the header is padded with spaces to a multiple of 8 bytes so that
 * every tensor starts 8-byte aligned in the file.
 */
export function serializeSafetensors(
  tensors: Iterable<[string, RawTensor]> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = (
    Symbol.iterator in tensors ? [...(tensors as Iterable<[string, RawTensor]>)] : Object.entries(tensors)
  )
    .map(([name, t]) => ({ name, t }))
    .sort(
      (a, b) =>
        SAFETENSORS_ITEMSIZE[b.t.dtype] - SAFETENSORS_ITEMSIZE[a.t.dtype] ||
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const { name, t } of list) {
    if (name === "__metadata__") throw new Error(`tensor name "__metadata__" is reserved in safetensors`);
    if (seen.has(name)) throw new Error(`duplicate tensor name "${name}"`);
    seen.add(name);
    if (!isDtype(t.dtype)) throw new Error(`tensor "${name}": unsupported dtype ${String(t.dtype)}`);
    const want = numel(t.shape) * SAFETENSORS_ITEMSIZE[t.dtype];
    if (t.bytes.byteLength !== want) {
      throw new Error(
        `tensor "${name}": ${t.bytes.byteLength} bytes but ${t.dtype}[${t.shape.join(", ")}] needs ${want}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + want] };
    offset += want;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.byteLength / HEADER_ALIGN) * HEADER_ALIGN;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const { t } of list) {
    out.set(t.bytes, pos);
    pos += t.bytes.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically (temporary sibling + rename). */
export function writeSafetensors(
  path: string,
  tensors: Iterable<[string, RawTensor]> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

// ---------------------------------------------------------------------------------------------------------
// Typed-array views and conversions.

/** Builds a RawTensor from a typed array (copying nothing on little-endian hosts). */
export function rawTensor(
  dtype: SafetensorsDtype,
  shape: readonly number[],
  values: SafetensorsArray,
): RawTensor {
  const want = numel(shape) * SAFETENSORS_ITEMSIZE[dtype];
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (bytes.byteLength !== want) {
    throw new Error(`${dtype}[${shape.join(", ")}] needs ${want} bytes, got ${bytes.byteLength}`);
  }
  if (values.BYTES_PER_ELEMENT !== SAFETENSORS_ITEMSIZE[dtype] && !(dtype === "BOOL" || dtype === "U8")) {
    throw new Error(`dtype ${dtype} does not match a ${values.constructor.name}`);
  }
  if (!isLittleEndian) throw new Error("safetensors writing needs a little-endian host");
  return { dtype, shape: [...shape], bytes };
}

/** The tensor's values as the natural typed array for its dtype (a view when aligned, else a copy). */
export function rawTensorValues(t: RawTensor): SafetensorsArray {
  if (!isLittleEndian) throw new Error("safetensors reading needs a little-endian host");
  const size = SAFETENSORS_ITEMSIZE[t.dtype];
  const aligned = t.bytes.byteOffset % size === 0 ? t.bytes : t.bytes.slice();
  const n = aligned.byteLength / size;
  switch (t.dtype) {
    case "F64":
      return new Float64Array(aligned.buffer, aligned.byteOffset, n);
    case "F32":
      return new Float32Array(aligned.buffer, aligned.byteOffset, n);
    case "F16":
    case "BF16":
      return new Uint16Array(aligned.buffer, aligned.byteOffset, n);
    case "I64":
      return new BigInt64Array(aligned.buffer, aligned.byteOffset, n);
    case "I32":
      return new Int32Array(aligned.buffer, aligned.byteOffset, n);
    case "U8":
    case "BOOL":
      return aligned;
  }
}

/** Any floating or integer tensor as float32 (F16/BF16 decoded exactly; I64 through Number). */
export function rawTensorToFloat32(t: RawTensor): Float32Array {
  const v = rawTensorValues(t);
  if (t.dtype === "F32") return (v as Float32Array).slice();
  const out = new Float32Array(v.length);
  if (t.dtype === "F16") for (let i = 0; i < v.length; i++) out[i] = halfToFloat((v as Uint16Array)[i]);
  else if (t.dtype === "BF16")
    for (let i = 0; i < v.length; i++) out[i] = bfloat16ToFloat((v as Uint16Array)[i]);
  else if (t.dtype === "I64") for (let i = 0; i < v.length; i++) out[i] = Number((v as BigInt64Array)[i]);
  else for (let i = 0; i < v.length; i++) out[i] = Number((v as Float64Array | Int32Array | Uint8Array)[i]);
  return out;
}
