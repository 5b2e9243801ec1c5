// A small DICOM Part-10 writer: just what the synthetic cohort needs (explicit or implicit VR little
// endian, defined-length sequences, 16-bit pixel data). Faster than a general toolkit because it writes
// straight into one buffer.

export type Vr =
  | "AE"
  | "AT"
  | "AS"
  | "CS"
  | "DA"
  | "DS"
  | "DT"
  | "FD"
  | "FL"
  | "IS"
  | "LO"
  | "LT"
  | "OB"
  | "OW"
  | "PN"
  | "SH"
  | "SL"
  | "SQ"
  | "SS"
  | "ST"
  | "TM"
  | "UI"
  | "UL"
  | "US"
  | "UN"
  | "UT";

export type Value = string | number | readonly number[] | Uint8Array | readonly Dataset[];

export interface Element {
  tag: number;
  vr: Vr;
  value: Value;
}

/** A dataset under construction: elements keyed by tag, written in ascending tag order. */
export class Dataset {
  private readonly elements = new Map<number, Element>();

  set(tag: number, vr: Vr, value: Value): this {
    this.elements.set(tag, { tag, vr, value });
    return this;
  }

  /** Sets only when the value is defined (convenience for optional attributes). */
  opt(tag: number, vr: Vr, value: Value | undefined): this {
    if (value !== undefined) this.set(tag, vr, value);
    return this;
  }

  get(tag: number): Element | undefined {
    return this.elements.get(tag);
  }

  delete(tag: number): this {
    this.elements.delete(tag);
    return this;
  }

  sorted(): Element[] {
    return [...this.elements.values()].sort((a, b) => a.tag - b.tag);
  }
}

const LONG_VRS = new Set<Vr>(["OB", "OW", "SQ", "UN", "UT"]);
const encoder = new TextEncoder();

/** Formats a decimal string value (DS) in at most 16 characters. */
export function ds(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  for (let p = 10; p >= 1; p--) {
    const s = String(Number(x.toPrecision(p)));
    if (s.length <= 16) return s;
  }
  return x.toExponential(6);
}

function stringBytes(vr: Vr, value: Value): Uint8Array {
  let s: string;
  if (typeof value === "string") s = value;
  else if (typeof value === "number") s = vr === "DS" ? ds(value) : String(value);
  else if (Array.isArray(value))
    s = (value as number[]).map((v) => (vr === "DS" ? ds(v) : String(v))).join("\\");
  else throw new TypeError(`bad string value for VR ${vr}`);
  const raw = encoder.encode(s);
  if (raw.length % 2 === 0) return raw;
  const out = new Uint8Array(raw.length + 1);
  out.set(raw);
  out[raw.length] = vr === "UI" ? 0 : 0x20;
  return out;
}

function binaryBytes(vr: Vr, value: Value): Uint8Array {
  const arr = typeof value === "number" ? [value] : (value as readonly number[]);
  const size = vr === "US" || vr === "SS" ? 2 : vr === "FD" ? 8 : 4;
  const buf = new Uint8Array(arr.length * size);
  const dv = new DataView(buf.buffer);
  arr.forEach((v, i) => {
    const o = i * size;
    if (vr === "US") dv.setUint16(o, v, true);
    else if (vr === "AT") {
      // An attribute tag: group, then element.
      dv.setUint16(o, v >>> 16, true);
      dv.setUint16(o + 2, v & 0xffff, true);
    } else if (vr === "SS") dv.setInt16(o, v, true);
    else if (vr === "UL") dv.setUint32(o, v, true);
    else if (vr === "SL") dv.setInt32(o, v, true);
    else if (vr === "FL") dv.setFloat32(o, v, true);
    else dv.setFloat64(o, v, true);
  });
  return buf;
}

/** Collects chunks and concatenates them once. */
class Sink {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function header(tag: number, vr: Vr, length: number, explicit: boolean): Uint8Array {
  const long = !explicit || LONG_VRS.has(vr);
  const buf = new Uint8Array(explicit && long ? 12 : 8);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, tag >>> 16, true);
  dv.setUint16(2, tag & 0xffff, true);
  if (!explicit) {
    dv.setUint32(4, length, true);
  } else if (long) {
    buf[4] = vr.charCodeAt(0);
    buf[5] = vr.charCodeAt(1);
    dv.setUint32(8, length, true);
  } else {
    buf[4] = vr.charCodeAt(0);
    buf[5] = vr.charCodeAt(1);
    dv.setUint16(6, length, true);
  }
  return buf;
}

function encodeElements(ds: Dataset, explicit: boolean): Sink {
  const sink = new Sink();
  for (const el of ds.sorted()) {
    if (el.vr === "SQ") {
      const items = el.value as readonly Dataset[];
      const body = new Sink();
      for (const item of items) {
        const inner = encodeElements(item, explicit);
        const ih = new Uint8Array(8);
        const dv = new DataView(ih.buffer);
        dv.setUint16(0, 0xfffe, true);
        dv.setUint16(2, 0xe000, true);
        dv.setUint32(4, inner.length, true);
        body.push(ih);
        for (const c of inner.chunks) body.push(c);
      }
      sink.push(header(el.tag, "SQ", body.length, explicit));
      for (const c of body.chunks) sink.push(c);
      continue;
    }
    let bytes: Uint8Array;
    if (el.value instanceof Uint8Array) {
      bytes = el.value;
      if (bytes.length % 2 === 1) {
        const padded = new Uint8Array(bytes.length + 1);
        padded.set(bytes);
        bytes = padded;
      }
    } else if (["US", "SS", "UL", "SL", "FL", "FD", "AT"].includes(el.vr))
      bytes = binaryBytes(el.vr, el.value);
    else bytes = stringBytes(el.vr, el.value);
    if (explicit && !LONG_VRS.has(el.vr) && bytes.length > 0xffff) {
      throw new RangeError(`value of (${el.tag.toString(16)}) too long for VR ${el.vr}`);
    }
    sink.push(header(el.tag, el.vr, bytes.length, explicit));
    sink.push(bytes);
  }
  return sink;
}

export const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1";
export const IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2";
export const IMPLEMENTATION_CLASS_UID = "2.25.284657198401761049813650249134707365531";
export const IMPLEMENTATION_VERSION = "LIVERSTIFF_010";

/** Encodes a complete Part-10 file: preamble, file meta (always explicit LE), then the dataset. */
export function encodePart10(
  dataset: Dataset,
  opts: { sopClassUid: string; sopInstanceUid: string; transferSyntax: string },
): Uint8Array {
  const meta = new Dataset()
    .set(0x00020001, "OB", new Uint8Array([0, 1]))
    .set(0x00020002, "UI", opts.sopClassUid)
    .set(0x00020003, "UI", opts.sopInstanceUid)
    .set(0x00020010, "UI", opts.transferSyntax)
    .set(0x00020012, "UI", IMPLEMENTATION_CLASS_UID)
    .set(0x00020013, "SH", IMPLEMENTATION_VERSION);
  const metaBody = encodeElements(meta, true);
  const groupLength = new Uint8Array(12);
  const gdv = new DataView(groupLength.buffer);
  gdv.setUint16(0, 0x0002, true);
  gdv.setUint16(2, 0x0000, true);
  groupLength[4] = 0x55; // U
  groupLength[5] = 0x4c; // L
  gdv.setUint16(6, 4, true);
  gdv.setUint32(8, metaBody.length, true);
  const body = encodeElements(dataset, opts.transferSyntax !== IMPLICIT_VR_LITTLE_ENDIAN);
  const out = new Sink();
  const pre = new Uint8Array(132);
  pre[128] = 0x44; // D
  pre[129] = 0x49; // I
  pre[130] = 0x43; // C
  pre[131] = 0x4d; // M
  out.push(pre);
  out.push(groupLength);
  for (const c of metaBody.chunks) out.push(c);
  for (const c of body.chunks) out.push(c);
  return out.concat();
}

/** Little-endian bytes of 16-bit pixel values. */
export function pixelBytes(values: Uint16Array | Int16Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  if (values instanceof Int16Array)
    for (let i = 0; i < values.length; i++) dv.setInt16(i * 2, values[i], true);
  else for (let i = 0; i < values.length; i++) dv.setUint16(i * 2, values[i], true);
  return out;
}
