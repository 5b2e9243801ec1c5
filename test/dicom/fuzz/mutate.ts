// Seeded mutations of a well-formed DICOM file: byte values, truncation, element length fields, frame
// counts, image dimensions, rescale, the transfer syntax UID, encapsulated fragments and sequence nesting.
// Each mutant is described in words so that a failing one can be kept as a regression fixture.
import dicomParser from "dicom-parser";
import type { Rng } from "../../../src/core/index.ts";

export interface Mutant {
  bytes: Uint8Array;
  /** What was done, e.g. "frames=1e308" or "truncate@4122". */
  what: string;
}

interface TopElement {
  tag: number;
  vr?: string;
  headerStart: number;
  headerLength: number;
  dataOffset: number;
  length: number;
  undefinedLength: boolean;
}

interface Layout {
  elements: TopElement[];
  explicit: boolean;
  little: boolean;
  /** Offset of the first fragment item after encapsulated pixel data, if any. */
  fragmentsAt?: number;
}

const LONG = new Set(["OB", "OD", "OL", "OW", "SQ", "OF", "UC", "UR", "UT", "UN"]);
const BIG_ENDIAN = "1.2.840.10008.1.2.2";
const IMPLICIT = "1.2.840.10008.1.2";
const DEFLATED = "1.2.840.10008.1.2.1.99";

/** Top-level elements with their byte offsets (Part-10, non-deflated files; meta only for deflated). */
export function layoutOf(bytes: Uint8Array): Layout | undefined {
  let ds: dicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch {
    return undefined;
  }
  const syntax = (ds.string("x00020010") ?? "").replace(/\0/g, "").trim();
  const explicit = syntax !== IMPLICIT;
  const little = syntax !== BIG_ENDIAN;
  const elements: TopElement[] = [];
  for (const [key, el] of Object.entries(ds.elements)) {
    const tag = Number.parseInt(key.slice(1), 16);
    const meta = tag >>> 16 === 0x0002;
    if (!meta && syntax === DEFLATED) continue;
    const ex = meta || explicit;
    const vr = ex ? el.vr : undefined;
    const headerLength = ex && LONG.has(vr ?? "") ? 12 : 8;
    elements.push({
      tag,
      vr,
      headerStart: el.dataOffset - headerLength,
      headerLength,
      dataOffset: el.dataOffset,
      length: el.hadUndefinedLength ? 0 : el.length,
      undefinedLength: el.hadUndefinedLength === true,
    });
  }
  // Elements that run past the data (a parser warning only) cannot be edited in place.
  const inside = elements.filter((e) => e.headerStart >= 0 && e.dataOffset + e.length <= bytes.length);
  elements.length = 0;
  elements.push(...inside);
  elements.sort((a, b) => a.headerStart - b.headerStart);
  const pd = ds.elements.x7fe00010;
  const fragmentsAt = pd?.hadUndefinedLength ? pd.dataOffset : undefined;
  return { elements, explicit, little, ...(fragmentsAt !== undefined ? { fragmentsAt } : {}) };
}

function find(l: Layout, tag: number): TopElement | undefined {
  return l.elements.find((e) => e.tag === tag);
}

function writeUint(buf: Uint8Array, at: number, value: number, size: 2 | 4, little: boolean): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (size === 2) dv.setUint16(at, value & 0xffff, little);
  else dv.setUint32(at, value >>> 0, little);
}

function even(text: string, pad = " "): Uint8Array {
  const t = text.length % 2 === 0 ? text : text + pad;
  return Uint8Array.from(t, (c) => c.charCodeAt(0) & 0xff);
}

/** The file with one element's value replaced (length fields and the meta group length kept right). */
function replaceValue(bytes: Uint8Array, l: Layout, el: TopElement, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - el.length + value.length);
  out.set(bytes.subarray(0, el.dataOffset), 0);
  out.set(value, el.dataOffset);
  out.set(bytes.subarray(el.dataOffset + el.length), el.dataOffset + value.length);
  const meta = el.tag >>> 16 === 0x0002;
  const little = meta || l.little;
  if (el.headerLength === 12) writeUint(out, el.headerStart + 8, value.length, 4, little);
  else if (meta || l.explicit) writeUint(out, el.headerStart + 6, value.length, 2, little);
  else writeUint(out, el.headerStart + 4, value.length, 4, little);
  const group = find(l, 0x00020000);
  if (meta && group && group.length === 4) {
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    dv.setUint32(group.dataOffset, dv.getUint32(group.dataOffset, true) + value.length - el.length, true);
  }
  return out;
}

/** The file with a new top-level element inserted at its place in tag order. */
function insertElement(bytes: Uint8Array, l: Layout, tag: number, vr: string, value: Uint8Array): Uint8Array {
  const next = l.elements.find((e) => e.tag > tag && e.tag >>> 16 !== 0x0002);
  const at = next ? next.headerStart : bytes.length;
  const head = new Uint8Array(l.explicit ? (LONG.has(vr) ? 12 : 8) : 8);
  writeUint(head, 0, tag >>> 16, 2, l.little);
  writeUint(head, 2, tag & 0xffff, 2, l.little);
  if (!l.explicit) writeUint(head, 4, value.length, 4, l.little);
  else {
    head[4] = vr.charCodeAt(0);
    head[5] = vr.charCodeAt(1);
    if (LONG.has(vr)) writeUint(head, 8, value.length, 4, l.little);
    else writeUint(head, 6, value.length, 2, l.little);
  }
  const out = new Uint8Array(bytes.length + head.length + value.length);
  out.set(bytes.subarray(0, at), 0);
  out.set(head, at);
  out.set(value, at + head.length);
  out.set(bytes.subarray(at), at + head.length + value.length);
  return out;
}

export function setTextElement(
  bytes: Uint8Array,
  l: Layout,
  tag: number,
  vr: string,
  text: string,
): Uint8Array {
  const el = find(l, tag);
  const v = even(text, vr === "UI" ? "\0" : " ");
  return el ? replaceValue(bytes, l, el, v) : insertElement(bytes, l, tag, vr, v);
}

export function setUsElement(bytes: Uint8Array, l: Layout, tag: number, value: number): Uint8Array {
  const v = new Uint8Array(2);
  writeUint(v, 0, value, 2, l.little);
  const el = find(l, tag);
  return el ? replaceValue(bytes, l, el, v) : insertElement(bytes, l, tag, "US", v);
}

const FRAME_COUNTS = [
  "0",
  "-1",
  "2",
  "7",
  "100000",
  "1e9",
  "2147483648",
  "4294967297",
  "1e308",
  "2.5",
  "NaN",
  "+3",
  " ",
  "1\\2",
];
const DIMENSIONS = [0, 1, 2, 3, 255, 256, 4096, 32768, 65535];
const RESCALES = ["1e308", "-1e308", "3.5e38", "1e38", "NaN", "Infinity", "0", "-0.5", "1e-300"];
const SYNTAXES = [
  "1.2.840.10008.1.2",
  "1.2.840.10008.1.2.1",
  "1.2.840.10008.1.2.1.99",
  "1.2.840.10008.1.2.2",
  "1.2.840.10008.1.2.5",
  "1.2.840.10008.1.2.4.50",
  "1.2.840.10008.1.2.4.51",
  "1.2.840.10008.1.2.4.57",
  "1.2.840.10008.1.2.4.70",
  "1.2.840.10008.1.2.4.80",
  "1.2.840.10008.1.2.4.90",
  "1.2.840.10008.1.2.4.201",
  "1.2.3",
  "",
];

type Mutator = (bytes: Uint8Array, l: Layout | undefined, rng: Rng) => Mutant | undefined;

const pick = <T>(rng: Rng, list: readonly T[]): T => list[rng.int(list.length)]!;

const byteValues: Mutator = (bytes, _l, rng) => {
  if (bytes.length === 0) return { bytes, what: "empty" };
  const out = Uint8Array.from(bytes);
  const n = 1 + rng.int(8);
  // Most of a file's structure is in its first few kilobytes; bias mutations there.
  const span = rng.bernoulli(0.7) ? Math.min(out.length, 4096) : out.length;
  const at: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = rng.int(span);
    out[i] = rng.bernoulli(0.3) ? pick(rng, [0x00, 0xff, 0xfe, 0x7f, 0x80]) : rng.int(256);
    at.push(i);
  }
  return { bytes: out, what: `bytes@${at.join(",")}` };
};

const truncate: Mutator = (bytes, _l, rng) => {
  if (bytes.length < 2) return undefined;
  const at = rng.bernoulli(0.5) ? rng.int(Math.min(bytes.length, 2048)) : rng.int(bytes.length);
  return { bytes: bytes.slice(0, at), what: `truncate@${at}` };
};

const lengthField: Mutator = (bytes, l, rng) => {
  if (!l || l.elements.length === 0) return undefined;
  const el = pick(rng, l.elements);
  const out = Uint8Array.from(bytes);
  const meta = el.tag >>> 16 === 0x0002;
  const little = meta || l.little;
  const long = el.headerLength === 12 || !(meta || l.explicit);
  const size = long ? 4 : 2;
  const at = el.headerLength === 12 ? el.headerStart + 8 : long ? el.headerStart + 4 : el.headerStart + 6;
  const max = long ? 0xffffffff : 0xffff;
  const value = pick(rng, [
    0,
    1,
    el.length + 1,
    el.length + 2,
    Math.max(0, el.length - 2),
    max,
    max - 1,
    rng.int(max),
    bytes.length,
  ]);
  writeUint(out, at, value, size, little);
  return { bytes: out, what: `length(${el.tag.toString(16)})=${value}` };
};

const frameCount: Mutator = (bytes, l, rng) => {
  if (!l || l.elements.every((e) => e.tag >>> 16 === 2)) return undefined;
  const v = pick(rng, FRAME_COUNTS);
  return { bytes: setTextElement(bytes, l, 0x00280008, "IS", v), what: `frames=${v}` };
};

const dimensions: Mutator = (bytes, l, rng) => {
  if (!l || !find(l, 0x00280010)) return undefined;
  const rows = rng.bernoulli(0.5) ? pick(rng, DIMENSIONS) : rng.int(65536);
  const cols = rng.bernoulli(0.5) ? rows : pick(rng, DIMENSIONS);
  const out = setUsElement(bytes, l, 0x00280010, rows);
  const l2 = layoutOf(out);
  return l2
    ? { bytes: setUsElement(out, l2, 0x00280011, cols), what: `rows=${rows},cols=${cols}` }
    : undefined;
};

const pixelFormat: Mutator = (bytes, l, rng) => {
  if (!l || !find(l, 0x00280100)) return undefined;
  const tag = pick(rng, [0x00280100, 0x00280101, 0x00280103, 0x00280002]);
  const v = pick(rng, [0, 1, 3, 7, 8, 12, 15, 16, 17, 24, 32, 33, 64, 65535]);
  return { bytes: setUsElement(bytes, l, tag, v), what: `us(${tag.toString(16)})=${v}` };
};

const rescale: Mutator = (bytes, l, rng) => {
  if (!l || l.elements.every((e) => e.tag >>> 16 === 2)) return undefined;
  const tag = rng.bernoulli(0.5) ? 0x00281052 : 0x00281053;
  const v = pick(rng, RESCALES);
  return { bytes: setTextElement(bytes, l, tag, "DS", v), what: `rescale(${tag.toString(16)})=${v}` };
};

const transferSyntax: Mutator = (bytes, l, rng) => {
  if (!l || !find(l, 0x00020010)) return undefined;
  const v = pick(rng, SYNTAXES);
  return { bytes: setTextElement(bytes, l, 0x00020010, "UI", v), what: `syntax=${v || "(empty)"}` };
};

/** Items after encapsulated pixel data: [offset of item header, length]. */
function items(bytes: Uint8Array, from: number): [number, number][] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: [number, number][] = [];
  let p = from;
  while (p + 8 <= bytes.length && dv.getUint16(p, true) === 0xfffe && dv.getUint16(p + 2, true) === 0xe000) {
    const len = dv.getUint32(p + 4, true);
    out.push([p, len]);
    p += 8 + len;
  }
  return out;
}

const fragments: Mutator = (bytes, l, rng) => {
  if (l?.fragmentsAt === undefined) return undefined;
  const list = items(bytes, l.fragmentsAt);
  if (list.length < 2) return undefined;
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const kind = rng.int(6);
  const [fragAt, fragLen] = list[1 + rng.int(list.length - 1)]!;
  if (kind === 0) {
    const out = Uint8Array.from(bytes);
    const v = pick(rng, [0, 1, fragLen + 2, fragLen - 2, 0xffffffff, rng.int(1 << 20)]);
    dv(out).setUint32(fragAt + 4, v >>> 0, true);
    return { bytes: out, what: `fragment@${fragAt}.length=${v}` };
  }
  if (kind === 1) {
    // A bogus Basic Offset Table: one entry per claimed frame, pointing anywhere.
    const n = 1 + rng.int(4);
    const table = new Uint8Array(8 + 4 * n);
    dv(table).setUint16(0, 0xfffe, true);
    dv(table).setUint16(2, 0xe000, true);
    dv(table).setUint32(4, 4 * n, true);
    for (let k = 0; k < n; k++) dv(table).setUint32(8 + 4 * k, rng.int(4) === 0 ? rng.int(1 << 16) : 0, true);
    const [botAt, botLen] = list[0]!;
    const out = new Uint8Array(bytes.length - 8 - botLen + table.length);
    out.set(bytes.subarray(0, botAt), 0);
    out.set(table, botAt);
    out.set(bytes.subarray(botAt + 8 + botLen), botAt + table.length);
    return { bytes: out, what: `offset-table=${n}` };
  }
  if (kind === 2) {
    // The sequence delimiter removed (file ends after the last fragment).
    const [lastAt, lastLen] = list[list.length - 1]!;
    return { bytes: bytes.slice(0, lastAt + 8 + lastLen), what: "no-delimiter" };
  }
  if (kind === 3) {
    // One fragment's bytes scrambled (the codec sees a corrupt stream).
    const out = Uint8Array.from(bytes);
    const n = 1 + rng.int(16);
    for (let k = 0; k < n && fragLen > 0; k++) out[fragAt + 8 + rng.int(fragLen)] = rng.int(256);
    return { bytes: out, what: `fragment@${fragAt}.bytes` };
  }
  if (kind === 4) {
    // The fragment's stream header (SOF/SIZ) dimensions changed.
    const out = Uint8Array.from(bytes);
    for (let k = 0; k < 4 && fragLen > 32; k++)
      out[fragAt + 8 + 2 + rng.int(30)] = pick(rng, [0x00, 0xff, 0x7f, rng.int(256)]);
    return { bytes: out, what: `fragment@${fragAt}.header` };
  }
  // More frames declared than the fragments hold.
  const v = String(list.length + rng.int(100000));
  return {
    bytes: setTextElement(bytes, l, 0x00280008, "IS", v),
    what: `frames=${v}(fragments=${list.length - 1})`,
  };
};

/** Deeply nested undefined-length sequences inserted before the pixel data. */
export function nestedSequences(bytes: Uint8Array, l: Layout, depth: number): Uint8Array {
  const open = new Uint8Array(l.explicit ? 20 : 16);
  const dv = new DataView(open.buffer);
  // (0040,0275) SQ, undefined length, then an undefined-length item.
  dv.setUint16(0, 0x0040, l.little);
  dv.setUint16(2, 0x0275, l.little);
  let p = 4;
  if (l.explicit) {
    open[4] = 0x53;
    open[5] = 0x51;
    p = 8;
  }
  dv.setUint32(p, 0xffffffff, l.little);
  dv.setUint16(p + 4, 0xfffe, l.little);
  dv.setUint16(p + 6, 0xe000, l.little);
  dv.setUint32(p + 8, 0xffffffff, l.little);
  const close = new Uint8Array(16);
  const cv = new DataView(close.buffer);
  cv.setUint16(0, 0xfffe, l.little);
  cv.setUint16(2, 0xe00d, l.little);
  cv.setUint16(8, 0xfffe, l.little);
  cv.setUint16(10, 0xe0dd, l.little);
  const pd = find(l, 0x7fe00010);
  const at = pd ? pd.headerStart : bytes.length;
  const out = new Uint8Array(bytes.length + depth * (open.length + close.length));
  out.set(bytes.subarray(0, at), 0);
  let q = at;
  for (let k = 0; k < depth; k++, q += open.length) out.set(open, q);
  for (let k = 0; k < depth; k++, q += close.length) out.set(close, q);
  out.set(bytes.subarray(at), q);
  return out;
}

const nesting: Mutator = (bytes, l, rng) => {
  if (!l || l.elements.every((e) => e.tag >>> 16 === 2)) return undefined;
  const depth = pick(rng, [3, 31, 33, 200, 5000]);
  return { bytes: nestedSequences(bytes, l, depth), what: `nested=${depth}` };
};

const MUTATORS: [Mutator, number][] = [
  [byteValues, 5],
  [truncate, 2],
  [lengthField, 3],
  [frameCount, 2],
  [dimensions, 2],
  [pixelFormat, 1],
  [rescale, 1],
  [transferSyntax, 1],
  [fragments, 3],
  [nesting, 1],
];
const WEIGHT = MUTATORS.reduce((s, [, w]) => s + w, 0);

function one(bytes: Uint8Array, rng: Rng): Mutant {
  for (let attempt = 0; attempt < 8; attempt++) {
    let r = rng.int(WEIGHT);
    let m = MUTATORS[0]![0];
    for (const [f, w] of MUTATORS) {
      if (r < w) {
        m = f;
        break;
      }
      r -= w;
    }
    // A stacked mutation may leave a layout the editors cannot follow: then another mutation is drawn.
    let out: Mutant | undefined;
    try {
      out = m(bytes, layoutOf(bytes), rng);
    } catch {
      out = undefined;
    }
    if (out) return out;
  }
  return byteValues(bytes, undefined, rng)!;
}

/** One to three stacked mutations of `bytes`, reproducible from the generator's state. */
export function mutate(bytes: Uint8Array, rng: Rng): Mutant {
  const rounds = rng.bernoulli(0.7) ? 1 : 2 + rng.int(2);
  let cur: Mutant = { bytes, what: "" };
  const steps: string[] = [];
  for (let k = 0; k < rounds; k++) {
    cur = one(cur.bytes, rng);
    steps.push(cur.what);
  }
  return { bytes: cur.bytes, what: steps.join("+") };
}
