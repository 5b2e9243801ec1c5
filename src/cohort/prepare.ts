import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { floatToHalf, halfToFloat, LiverstiffError, writeFileAtomic } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import {
  affineColumn,
  applyAffine,
  identity4,
  type Mat4,
  matmul4,
  normalize as normalizeVec,
  reorientToCanonical,
  resampleToGrid,
  setAffineColumn,
  type Vec3,
  type Volume,
} from "../volume/index.ts";

/**
 * How an exam's volumes become model inputs. Two in-plane modes:
 * - "mm": each slice resampled to `size` x `size` pixels covering `fovMm` (fixed spacing fovMm/size),
 *   centred on the image centre (one interpolation: resample + crop/pad + resize at once);
 * - "pixels": the published method's way: centre crop/pad to `cropPx` x `cropPx` pixels (256), then
 *   resize to `size` (224).
 */
export interface PrepConfig {
  /** Number of central axial slices per role (5 as published; 11 for the data-preparation variant). */
  slices: number;
  /** Output in-plane size in pixels (224 for Swin-B, 128 for the small CNN). */
  size: number;
  inPlane: "mm" | "pixels";
  /** Field of view for "mm" mode (default 400 mm). */
  fovMm: number;
  /** Crop/pad size for "pixels" mode (default 256). */
  cropPx: number;
  /**
   * "zscore": mean and SD of the whole volume (as published; the air around the body counts, so the
   * scale depends on the field of view); "zscore-body": mean and SD of the voxels above the volume's Otsu
   * threshold (the body), the same tissue scale whatever the field of view; "percentile": lo..hi -> 0..1.
   */
  normalize: "zscore" | "zscore-body" | "percentile";
  /** Percentiles for "percentile" mode, mapped to 0 and 1 (default 1, 99). */
  percentiles: [number, number];
  /** Cache element type: f32, or f16 to halve the cache. */
  dtype: "f32" | "f16";
  roles: SeriesRole[];
}

export const DEFAULT_PREP: PrepConfig = {
  slices: 5,
  size: 224,
  inPlane: "mm",
  fovMm: 400,
  cropPx: 256,
  normalize: "zscore",
  percentiles: [1, 99],
  dtype: "f32",
  roles: ["t1_in", "t1_opp", "t2"],
};

/** Bumped when the preparation code changes what it writes; part of every fingerprint (2: each role's prepared affine). */
export const PREP_CODE_VERSION = 2;

export function resolvePrep(p: Partial<PrepConfig> = {}): PrepConfig {
  const c: PrepConfig = { ...DEFAULT_PREP, ...p };
  if (!Number.isInteger(c.slices) || c.slices < 1)
    throw new LiverstiffError("slices must be a positive integer", { slices: c.slices });
  if (!Number.isInteger(c.size) || c.size < 8)
    throw new LiverstiffError("size must be an integer >= 8", { size: c.size });
  if (!(c.fovMm > 0)) throw new LiverstiffError("fovMm must be positive", { fovMm: c.fovMm });
  return c;
}

/** A short, stable name for a preparation, used for cache folders: e.g. "s5-224-mm400-zscore-f32". */
export function prepName(p: PrepConfig): string {
  const plane = p.inPlane === "mm" ? `mm${p.fovMm}` : `px${p.cropPx}`;
  const norm =
    p.normalize === "zscore"
      ? "zscore"
      : p.normalize === "zscore-body"
        ? "zbody"
        : `pct${p.percentiles[0]}-${p.percentiles[1]}`;
  return `s${p.slices}-${p.size}-${plane}-${norm}-${p.dtype}`;
}

/** The central `n` slice indices of a stack of `nz` (mid = floor(nz/2), mid-(n-1)/2 .. ). */
export function centralSlices(nz: number, n: number): number[] {
  if (nz < n)
    throw new LiverstiffError(`the stack has ${nz} slices, the preparation needs ${n}`, { slices: nz });
  const mid = Math.floor(nz / 2);
  const start = Math.min(Math.max(0, mid - Math.floor((n - 1) / 2)), nz - n);
  return Array.from({ length: n }, (_, i) => start + i);
}

/**
 * Turns one role's volume into `slices` x `size` x `size` values (slice-major, then rows, then columns):
 * reoriented to LPS so that k runs inferior to superior (axial slices, viewed from the feet with the
 * patient's right on the image's left, as radiologists read), central slices, in-plane resampled,
 * intensity-normalised with statistics of the whole volume.
 */
export function prepareVolume(vol: Volume, prep: PrepConfig): Float32Array {
  const v = reorientToCanonical(vol, "LPS");
  const ks = centralSlices(v.dims[2], prep.slices);
  const [mean, sd, lo, hi] = intensityStats(v.data, prep);
  const n = prep.size;
  const out = new Float32Array(prep.slices * n * n);
  ks.forEach((k, s) => {
    const { target, oversample } = sliceTarget(v, prep, k);
    const slice = resampleToGrid(v, target, [n, n, 1], { oversample, fill: 0 });
    const dst = out.subarray(s * n * n, (s + 1) * n * n);
    if (prep.normalize === "zscore" || prep.normalize === "zscore-body") {
      for (let i = 0; i < dst.length; i++) dst[i] = (slice.data[i] - mean) / sd;
    } else {
      const r = hi - lo || 1;
      for (let i = 0; i < dst.length; i++) dst[i] = Math.min(1, Math.max(0, (slice.data[i] - lo) / r));
    }
  });
  return out;
}

/**
 * Where prepareVolume's output lies: the affine from prepared voxel (column i, row j, slice s) to patient
 * LPS mm. The prepared slices are consecutive slices of the reoriented volume, so one affine holds for the
 * whole stack (its third column is the volume's own slice step).
 */
export function preparedAffine(vol: Volume, prep: PrepConfig): Mat4 {
  const v = reorientToCanonical(vol, "LPS");
  return sliceTarget(v, prep, centralSlices(v.dims[2], prep.slices)[0]!).target;
}

/** The prepared grid's affine of one role as buildPrepared records it (meta `<role>.affine`), if recorded. */
export function recordedPreparedAffine(
  meta: Readonly<Record<string, string>>,
  role: string,
): Mat4 | undefined {
  const text = meta[`${role}.affine`];
  if (!text) return undefined;
  const values = text.split(",").map(Number);
  return values.length === 16 && values.every(Number.isFinite) ? values : undefined;
}

/** The in-plane grid of prepared slice k of an LPS-reoriented volume, and the resampling's oversampling. */
function sliceTarget(v: Volume, prep: PrepConfig, k: number): { target: Mat4; oversample: number } {
  const n = prep.size;
  if (prep.inPlane === "mm") {
    const step = prep.fovMm / n;
    const ui = normalizeVec(affineColumn(v.affine, 0));
    const uj = normalizeVec(affineColumn(v.affine, 1));
    const centre = applyAffine(v.affine, [(v.dims[0] - 1) / 2, (v.dims[1] - 1) / 2, k]);
    const half = (step * (n - 1)) / 2;
    const origin: Vec3 = [
      centre[0] - half * (ui[0] + uj[0]),
      centre[1] - half * (ui[1] + uj[1]),
      centre[2] - half * (ui[2] + uj[2]),
    ];
    const target = identity4();
    setAffineColumn(target, 0, [ui[0] * step, ui[1] * step, ui[2] * step]);
    setAffineColumn(target, 1, [uj[0] * step, uj[1] * step, uj[2] * step]);
    setAffineColumn(target, 2, affineColumn(v.affine, 2));
    setAffineColumn(target, 3, origin);
    return { target, oversample: Math.max(1, Math.ceil(step / Math.min(v.spacing[0], v.spacing[1]) - 1e-9)) };
  }
  // Crop/pad to cropPx in index space, then resize cropPx -> size (pixel-edge aligned).
  const f = prep.cropPx / n;
  const ox = Math.floor((v.dims[0] - prep.cropPx) / 2);
  const oy = Math.floor((v.dims[1] - prep.cropPx) / 2);
  const idx = [f, 0, 0, ox + 0.5 * f - 0.5, 0, f, 0, oy + 0.5 * f - 0.5, 0, 0, 1, k, 0, 0, 0, 1];
  return { target: matmul4(v.affine, idx), oversample: Math.max(1, Math.ceil(f - 1e-9)) };
}

/** [mean, sd, pLow, pHigh] over all voxels (percentiles from a 4096-bin histogram). */
export function intensityStats(
  data: Float32Array,
  prep: Pick<PrepConfig, "normalize" | "percentiles">,
): number[] {
  let sum = 0;
  let sum2 = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    sum += x;
    sum2 += x * x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / data.length;
  const sd = Math.sqrt(Math.max(0, sum2 / data.length - mean * mean)) || 1;
  if (prep.normalize === "zscore") return [mean, sd, min, max];
  const bins = 4096;
  const hist = new Float64Array(bins);
  const w = (max - min) / bins || 1;
  for (let i = 0; i < data.length; i++) hist[Math.min(bins - 1, Math.floor((data[i] - min) / w))]++;
  if (prep.normalize === "zscore-body") {
    const t = min + otsuBin(hist) * w;
    let n = 0;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (x < t) continue;
      n++;
      s += x;
      s2 += x * x;
    }
    if (n < 2) return [mean, sd, min, max];
    const m = s / n;
    return [m, Math.sqrt(Math.max(0, s2 / n - m * m)) || 1, min, max];
  }
  const at = (p: number) => {
    const target = (p / 100) * data.length;
    let acc = 0;
    for (let b = 0; b < bins; b++) {
      acc += hist[b];
      if (acc >= target) return min + (b + 0.5) * w;
    }
    return max;
  };
  return [mean, sd, at(prep.percentiles[0]), at(prep.percentiles[1])];
}

/** Otsu's threshold on a histogram: the first bin of the upper class (maximal between-class variance). */
export function otsuBin(hist: Float64Array): number {
  let total = 0;
  let sumAll = 0;
  for (let b = 0; b < hist.length; b++) {
    total += hist[b];
    sumAll += b * hist[b];
  }
  let wB = 0;
  let sumB = 0;
  let best = -1;
  let at = 1;
  for (let b = 0; b < hist.length - 1; b++) {
    wB += hist[b];
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += b * hist[b];
    const mB = sumB / wB;
    const mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) * (mB - mF);
    if (between > best) {
      best = between;
      at = b + 1;
    }
  }
  return at;
}

/** The cache fingerprint: what the prepared tensors depend on (source instances + preparation + code). */
export function prepFingerprint(sourceFingerprint: string, prep: PrepConfig): string {
  return createHash("sha256")
    .update(JSON.stringify({ v: PREP_CODE_VERSION, source: sourceFingerprint, prep }))
    .digest("hex")
    .slice(0, 32);
}

/** Hash of the SOP instances (and frames, echo and image-type selectors) each role is built from. */
export function sourceFingerprint(
  roles: Partial<Record<SeriesRole, { sopFrames: string[]; echoTimeMs?: number; imageTypeValue?: string }>>,
): string {
  const h = createHash("sha256");
  for (const role of Object.keys(roles).sort() as SeriesRole[]) {
    const r = roles[role]!;
    h.update(`${role}|${r.echoTimeMs ?? ""}|${r.imageTypeValue ?? ""}|${[...r.sopFrames].sort().join(",")};`);
  }
  return h.digest("hex").slice(0, 32);
}

export interface PreparedExam {
  examId: string;
  prepName: string;
  fingerprint: string;
  slices: number;
  height: number;
  width: number;
  /** Per role present: slices*height*width values (slice, row, column order). */
  roles: Partial<Record<SeriesRole, Float32Array>>;
  /** Per role: the source volume's geometry, for tracing (dims, spacing, orientation, chosen slices). */
  meta: Record<string, string>;
}

export function preparedPath(workdir: string, name: string, examId: string): string {
  return join(workdir, "prepared", name, `${examId}.safetensors`);
}

/**
 * Writes a prepared exam as a safetensors file (8-byte little-endian header length, JSON header with
 * dtype/shape/data_offsets per tensor and string metadata, then the raw little-endian data), atomically.
 */
export function writePrepared(path: string, p: PreparedExam, dtype: "f32" | "f16"): void {
  const names = (Object.keys(p.roles) as SeriesRole[]).sort();
  const bpe = dtype === "f16" ? 2 : 4;
  const header: Record<string, unknown> = {
    __metadata__: {
      ...p.meta,
      examId: p.examId,
      prepName: p.prepName,
      fingerprint: p.fingerprint,
      format: "liverstiff-prepared-1",
    },
  };
  let offset = 0;
  for (const name of names) {
    const n = p.roles[name]!.length;
    header[name] = {
      dtype: dtype === "f16" ? "F16" : "F32",
      shape: [p.slices, p.height, p.width],
      data_offsets: [offset, offset + n * bpe],
    };
    offset += n * bpe;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so that the data start 8-byte aligned.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const hbytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + hbytes.length + offset);
  out.writeBigUInt64LE(BigInt(hbytes.length), 0);
  hbytes.copy(out, 8);
  let o = 8 + hbytes.length;
  for (const name of names) {
    const a = p.roles[name]!;
    if (dtype === "f32") {
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(out, o);
      o += a.byteLength;
    } else {
      for (let i = 0; i < a.length; i++, o += 2) out.writeUInt16LE(floatToHalf(a[i]), o);
    }
  }
  writeFileAtomic(path, out);
}

/** Reads a prepared exam written by `writePrepared` (F16 data are widened to Float32). */
export function readPrepared(path: string): PreparedExam {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new LiverstiffError("prepared exam not found", { file: path }, { cause: err });
  }
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString("utf8")) as Record<string, unknown>;
  const meta = (header.__metadata__ ?? {}) as Record<string, string>;
  const base = 8 + hlen;
  const roles: Partial<Record<SeriesRole, Float32Array>> = {};
  let shape: number[] = [0, 0, 0];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const t = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    shape = t.shape;
    const [a, b] = t.data_offsets;
    const n = t.shape.reduce((x, y) => x * y, 1);
    const arr = new Float32Array(n);
    if (t.dtype === "F32") {
      const copy = buf.subarray(base + a, base + b);
      arr.set(new Float32Array(copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.byteLength)));
    } else if (t.dtype === "F16") {
      for (let i = 0; i < n; i++) arr[i] = halfToFloat(buf.readUInt16LE(base + a + 2 * i));
    } else {
      throw new LiverstiffError(`unsupported dtype ${t.dtype} in prepared file`, { file: path });
    }
    roles[name as SeriesRole] = arr;
  }
  const { examId, prepName: name, fingerprint, ...rest } = meta;
  return {
    examId,
    prepName: name,
    fingerprint,
    slices: shape[0],
    height: shape[1],
    width: shape[2],
    roles,
    meta: rest,
  };
}

/** Reads the header only: the fingerprint of a cached file (undefined if absent or unreadable). */
export function cachedFingerprint(path: string): string | undefined {
  try {
    const fd = readFileSync(path);
    const hlen = Number(fd.readBigUInt64LE(0));
    const header = JSON.parse(fd.subarray(8, 8 + hlen).toString("utf8")) as {
      __metadata__?: { fingerprint?: string };
    };
    return header.__metadata__?.fingerprint;
  } catch {
    return undefined;
  }
}
