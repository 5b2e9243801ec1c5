import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync, gzip, gzipSync } from "node:zlib";
import * as nifti from "nifti-reader-js";
import { LiverstiffError } from "../core/index.ts";
import { affineSpacing, flipLpsRas, type Mat4 } from "./geometry.ts";
import { asOutputWriteError } from "./io-errors.ts";
import { makeVolume, type Volume } from "./volume.ts";

/** A dcm2niix / BIDS JSON sidecar: the fields we use are typed, the rest kept as-is. */
export interface NiftiSidecar {
  Modality?: string;
  Manufacturer?: string;
  ManufacturersModelName?: string;
  MagneticFieldStrength?: number;
  SeriesDescription?: string;
  ProtocolName?: string;
  SeriesNumber?: number;
  ImageType?: string[];
  /** Seconds (BIDS). */
  EchoTime?: number;
  /** Seconds (BIDS). */
  RepetitionTime?: number;
  FlipAngle?: number;
  EchoNumber?: number;
  ScanningSequence?: string;
  SequenceVariant?: string;
  ScanOptions?: string;
  SequenceName?: string;
  EchoTrainLength?: number;
  InstitutionName?: string;
  AcquisitionDateTime?: string;
  [key: string]: unknown;
}

export interface NiftiImage {
  /** The first (or requested) 3D volume, in LPS millimetres. */
  volume: Volume;
  /** Number of 3D volumes in the file (dim[4], 1 for 3D). */
  volumes: number;
  /** Which transform gave the affine: "sform", "qform" or "pixdim" (neither set). */
  transform: "sform" | "qform" | "pixdim";
  /** The file's affine as stored (RAS, NIfTI convention). */
  affineRas: Mat4;
  sidecar?: NiftiSidecar;
  description: string;
}

/**
 * Reads a NIfTI-1 (.nii or .nii.gz) file. The affine is the sform when sform_code > 0, else the qform
 * when qform_code > 0, else the voxel sizes (nibabel's and ITK's precedence), converted from the file's
 * RAS to our LPS. Intensities are scaled by scl_slope/scl_inter when slope is non-zero. A sibling
 * `.json` sidecar (dcm2niix / BIDS), if present, is read too.
 */
export function readNifti(path: string, options: { volumeIndex?: number } = {}): NiftiImage {
  let bytes: Uint8Array = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new LiverstiffError("cannot decompress NIfTI file", { file: path }, { cause: err });
    }
  }
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  if (!nifti.isNIFTI1(buf)) {
    throw new LiverstiffError(nifti.isNIFTI2(buf) ? "NIfTI-2 is not supported" : "not a NIfTI-1 file", {
      file: path,
    });
  }
  const hdr = nifti.readHeader(buf) as nifti.NIFTI1;
  const view = new DataView(buf);
  const le = hdr.littleEndian;
  const nd = hdr.dims[0];
  const dims: [number, number, number] = [hdr.dims[1], nd >= 2 ? hdr.dims[2] : 1, nd >= 3 ? hdr.dims[3] : 1];
  const nt = nd >= 4 ? Math.max(1, hdr.dims[4]) : 1;
  const t = options.volumeIndex ?? 0;
  if (t < 0 || t >= nt)
    throw new LiverstiffError(`volume ${t} out of range (file has ${nt})`, { file: path });
  let affineRas: Mat4;
  let transform: NiftiImage["transform"];
  if (hdr.sform_code > 0) {
    affineRas = [];
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 4; c++) affineRas.push(view.getFloat32(280 + r * 16 + c * 4, le));
    affineRas.push(0, 0, 0, 1);
    transform = "sform";
  } else if (hdr.qform_code > 0) {
    const q = hdr.convertNiftiQFormToNiftiSForm(
      hdr.quatern_b,
      hdr.quatern_c,
      hdr.quatern_d,
      hdr.qoffset_x,
      hdr.qoffset_y,
      hdr.qoffset_z,
      hdr.pixDims[1],
      hdr.pixDims[2],
      hdr.pixDims[3],
      hdr.pixDims[0],
    );
    affineRas = q.flat();
    transform = "qform";
  } else {
    affineRas = [hdr.pixDims[1], 0, 0, 0, 0, hdr.pixDims[2], 0, 0, 0, 0, hdr.pixDims[3], 0, 0, 0, 0, 1];
    transform = "pixdim";
  }
  const n = dims[0] * dims[1] * dims[2];
  const bpv = hdr.numBitsPerVoxel / 8;
  const start = Math.round(hdr.vox_offset) + t * n * bpv;
  if (start + n * bpv > buf.byteLength) {
    throw new LiverstiffError("NIfTI file is truncated", { file: path, expectedBytes: start + n * bpv });
  }
  const data = new Float32Array(n);
  const Typed = TYPED[hdr.datatypeCode];
  if (le && LITTLE_ENDIAN_HOST && Typed) {
    data.set(new Typed(buf.slice(start, start + n * bpv)));
  } else {
    const read = voxelReader(hdr.datatypeCode, view, le, path);
    for (let i = 0; i < n; i++) data[i] = read(start + i * bpv);
  }
  const slope = hdr.scl_slope;
  const inter = hdr.scl_inter;
  if (Number.isFinite(slope) && slope !== 0 && (slope !== 1 || inter !== 0)) {
    for (let i = 0; i < n; i++) data[i] = data[i] * slope + (Number.isFinite(inter) ? inter : 0);
  }
  const sidecar = readSidecar(path);
  return {
    volume: makeVolume(data, dims, flipLpsRas(affineRas)),
    volumes: nt,
    transform,
    affineRas,
    sidecar,
    description: hdr.description,
  };
}

type TypedCtor = new (
  b: ArrayBuffer,
) =>
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;
const TYPED: Record<number, TypedCtor | undefined> = {
  2: Uint8Array,
  256: Int8Array,
  4: Int16Array,
  512: Uint16Array,
  8: Int32Array,
  768: Uint32Array,
  16: Float32Array,
  64: Float64Array,
};

function voxelReader(code: number, v: DataView, le: boolean, path: string): (offset: number) => number {
  switch (code) {
    case 2:
      return (o) => v.getUint8(o);
    case 256:
      return (o) => v.getInt8(o);
    case 4:
      return (o) => v.getInt16(o, le);
    case 512:
      return (o) => v.getUint16(o, le);
    case 8:
      return (o) => v.getInt32(o, le);
    case 768:
      return (o) => v.getUint32(o, le);
    case 16:
      return (o) => v.getFloat32(o, le);
    case 64:
      return (o) => v.getFloat64(o, le);
    default:
      throw new LiverstiffError(`unsupported NIfTI datatype ${code}`, { file: path });
  }
}

/** The path of the JSON sidecar that belongs to a .nii or .nii.gz file. */
export function sidecarPath(niftiPath: string): string {
  return niftiPath.replace(/\.nii(\.gz)?$/i, "") + ".json";
}

function readSidecar(path: string): NiftiSidecar | undefined {
  const p = sidecarPath(path);
  let text: string;
  try {
    text = readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as NiftiSidecar;
  } catch (err) {
    throw new LiverstiffError("unreadable JSON sidecar", { file: p }, { cause: err });
  }
}

export interface WriteNiftiOptions {
  /** "auto" (default): int16 when every voxel is an integer in range, else float32. */
  datatype?: "auto" | "float32" | "int16";
  description?: string;
  /** Written next to the image as NAME.json (atomically). */
  sidecar?: Record<string, unknown>;
  /** Text files written next to the image with the pair, by extension: e.g. ".bval" and ".bvec" (FSL). */
  companions?: Record<string, string>;
  /** gzip the image (default: when the path ends with .gz). */
  gzip?: boolean;
}

/**
 * Writes a 3D volume as NIfTI-1 (RAS sform and qform, both code 1 = scanner) and its sidecar, as a pair:
 * both go to temporary siblings first and are renamed into place only when both are written, so that a
 * failed write (disk full, no permission) leaves neither a partial file nor an image without its sidecar.
 * A failed write throws OutputWriteError naming the path.
 */
export function writeNifti(path: string, vol: Volume, options: WriteNiftiOptions = {}): void {
  writeNiftiBytes(path, encodeNifti(vol, { ...options, gzip: false }), options);
}

/** The same for the bytes of an uncompressed NIfTI-1 file (from encodeNifti or niftiImage). */
export function writeNiftiBytes(
  path: string,
  raw: Uint8Array,
  options: Pick<WriteNiftiOptions, "gzip" | "sidecar" | "companions"> = {},
): void {
  const files = pairOf(path, gzipsFor(path, options) ? gzipSync(raw, GZIP) : raw, options);
  const renamed: string[] = [];
  try {
    mkdirSync(dirname(path), { recursive: true });
    for (const f of files) writeFileSync(f.tmp, f.data);
    for (const f of files) {
      renameSync(f.tmp, f.path);
      renamed.push(f.path);
    }
  } catch (err) {
    // Neither half of the pair stays: temporary files, and a sidecar already renamed into place.
    for (const f of files) rmSync(f.tmp, { force: true });
    for (const p of renamed) rmSync(p, { force: true });
    throw asOutputWriteError(err, path) ?? err;
  }
}

/**
 * The same, asynchronously: the bytes are encoded now, the files written through the thread pool, so
 * that decoding the next series can overlap with the disk.
 */
export async function writeNiftiAsync(
  path: string,
  vol: Volume,
  options: WriteNiftiOptions = {},
): Promise<void> {
  await writeNiftiBytesAsync(path, encodeNifti(vol, { ...options, gzip: false }), options);
}

/**
 * The same for the bytes of an uncompressed NIfTI-1 file, asynchronously: compression runs on libuv's
 * thread pool.
 */
export async function writeNiftiBytesAsync(
  path: string,
  raw: Uint8Array,
  options: Pick<WriteNiftiOptions, "gzip" | "sidecar" | "companions"> = {},
): Promise<void> {
  const image = gzipsFor(path, options) ? await gzipAsync(raw, GZIP) : raw;
  const files = pairOf(path, image, options);
  const renamed: string[] = [];
  try {
    await mkdir(dirname(path), { recursive: true });
    await Promise.all(files.map((f) => writeFile(f.tmp, f.data)));
    for (const f of files) {
      await rename(f.tmp, f.path);
      renamed.push(f.path);
    }
  } catch (err) {
    // Neither half of the pair stays: temporary files (a failed write may have created one), and a
    // sidecar already renamed into place.
    await Promise.all([
      ...files.map((f) => rm(f.tmp, { force: true })),
      ...renamed.map((p) => rm(p, { force: true })),
    ]);
    throw asOutputWriteError(err, path) ?? err;
  }
}

// zlib's level 6, as gzip's and dcm2niix's default; node:zlib (native) is about 5x faster than a JS deflate.
const GZIP = { level: 6 };
const gzipAsync = promisify(gzip);
const gzipsFor = (path: string, options: { gzip?: boolean }) => options.gzip ?? /\.gz$/i.test(path);

/** The sidecar and companions first, then the image: a reader that finds the image finds them too. */
function pairOf(
  path: string,
  image: Uint8Array,
  options: Pick<WriteNiftiOptions, "sidecar" | "companions">,
): { path: string; tmp: string; data: string | Uint8Array }[] {
  const files: { path: string; data: string | Uint8Array }[] = [];
  if (options.sidecar)
    files.push({ path: sidecarPath(path), data: `${JSON.stringify(options.sidecar, null, 2)}\n` });
  const stem = path.replace(/\.nii(\.gz)?$/i, "");
  for (const [ext, text] of Object.entries(options.companions ?? {}))
    files.push({ path: stem + ext, data: text });
  files.push({ path, data: image });
  return files.map((f) => ({
    ...f,
    tmp: join(dirname(f.path), `.${basename(f.path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`),
  }));
}

/** The bytes of a NIfTI-1 file for a volume (gzip-compressed when options.gzip). */
export function encodeNifti(vol: Volume, options: WriteNiftiOptions = {}): Uint8Array {
  const dtype = options.datatype ?? "auto";
  let out = dtype === "float32" ? undefined : int16Bytes(vol, dtype === "int16", options.description);
  if (!out) {
    const image = niftiImage(vol.dims, vol.affine, "float32", options.description);
    image.voxels.set(vol.data);
    out = image.bytes;
  }
  return options.gzip ? gzipSync(out, GZIP) : out;
}

/**
 * The volume as an int16 NIfTI file; unless forced, only when every voxel is an integer in range (checked
 * while copying: (x | 0) === x holds for integers within int32), else undefined.
 */
function int16Bytes(vol: Volume, force: boolean, description?: string): Uint8Array | undefined {
  const image = niftiImage(vol.dims, vol.affine, "int16", description);
  const voxels = image.voxels;
  const d = vol.data;
  if (force) voxels.set(d);
  else
    for (let i = 0; i < d.length; i++) {
      const x = d[i]!;
      if (!(x >= -32768 && x <= 32767 && (x | 0) === x)) return undefined;
      voxels[i] = x;
    }
  return image.bytes;
}

/**
 * An uncompressed NIfTI-1 file (RAS sform and qform, both code 1 = scanner; scl_slope 1) whose voxels,
 * in the Volume's order, are filled in place through `voxels`.
 */
export function niftiImage(
  dims: [number, number, number],
  affineLps: Mat4,
  dtype: "int16" | "float32",
  description?: string,
  series: { volumes?: number; repetitionTimeS?: number } = {},
): { bytes: Uint8Array; voxels: Int16Array | Float32Array } {
  if (!LITTLE_ENDIAN_HOST) throw new LiverstiffError("writing NIfTI needs a little-endian host");
  // More than one volume: 4D, volume after volume; pixdim[4] is the repetition time (s), as dcm2niix.
  const volumes = series.volumes ?? 1;
  const n = dims[0] * dims[1] * dims[2] * volumes;
  const bpv = dtype === "int16" ? 2 : 4;
  const out = new Uint8Array(352 + n * bpv);
  const v = new DataView(out.buffer);
  const ras = flipLpsRas(affineLps);
  const spacing = affineSpacing(affineLps);
  v.setInt32(0, 348, true);
  v.setUint8(38, 0); // regular
  v.setInt16(40, volumes > 1 ? 4 : 3, true);
  v.setInt16(42, dims[0], true);
  v.setInt16(44, dims[1], true);
  v.setInt16(46, dims[2], true);
  for (let i = 4; i < 8; i++) v.setInt16(40 + i * 2, i === 4 ? volumes : 1, true);
  v.setInt16(70, dtype === "int16" ? 4 : 16, true);
  v.setInt16(72, bpv * 8, true);
  const q = affineToQuatern(ras);
  v.setFloat32(76, q.qfac, true);
  v.setFloat32(80, spacing[0], true);
  v.setFloat32(84, spacing[1], true);
  v.setFloat32(88, spacing[2], true);
  for (let i = 4; i < 8; i++) v.setFloat32(76 + i * 4, 1, true);
  if (volumes > 1 && series.repetitionTimeS !== undefined) v.setFloat32(92, series.repetitionTimeS, true);
  v.setFloat32(108, 352, true);
  v.setFloat32(112, 1, true); // scl_slope
  v.setFloat32(116, 0, true);
  v.setUint8(123, 2 | 8); // mm, s
  const desc = (description ?? "liverstiff").slice(0, 79);
  for (let i = 0; i < desc.length; i++) v.setUint8(148 + i, desc.charCodeAt(i) & 0x7f);
  v.setInt16(252, 1, true); // qform_code scanner
  v.setInt16(254, 1, true); // sform_code scanner
  v.setFloat32(256, q.b, true);
  v.setFloat32(260, q.c, true);
  v.setFloat32(264, q.d, true);
  v.setFloat32(268, ras[3], true);
  v.setFloat32(272, ras[7], true);
  v.setFloat32(276, ras[11], true);
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) v.setFloat32(280 + r * 16 + c * 4, ras[r * 4 + c], true);
  out.set([0x6e, 0x2b, 0x31, 0x00], 344); // "n+1\0"
  // Typed views over the voxels (the host is little-endian, as the file declares).
  const voxels =
    dtype === "int16" ? new Int16Array(out.buffer, 352, n) : new Float32Array(out.buffer, 352, n);
  return { bytes: out, voxels };
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** nifti_mat44_to_quatern (nifti1_io.c): the quaternion of the rotation part of an affine. */
function affineToQuatern(m: Mat4): { b: number; c: number; d: number; qfac: number } {
  let r11 = m[0];
  let r12 = m[1];
  let r13 = m[2];
  let r21 = m[4];
  let r22 = m[5];
  let r23 = m[6];
  let r31 = m[8];
  let r32 = m[9];
  let r33 = m[10];
  const xd = Math.hypot(r11, r21, r31) || 1;
  const yd = Math.hypot(r12, r22, r32) || 1;
  const zd = Math.hypot(r13, r23, r33) || 1;
  r11 /= xd;
  r21 /= xd;
  r31 /= xd;
  r12 /= yd;
  r22 /= yd;
  r32 /= yd;
  r13 /= zd;
  r23 /= zd;
  r33 /= zd;
  const det =
    r11 * r22 * r33 - r11 * r32 * r23 - r21 * r12 * r33 + r21 * r32 * r13 + r31 * r12 * r23 - r31 * r22 * r13;
  let qfac = 1;
  if (det < 0) {
    qfac = -1;
    r13 = -r13;
    r23 = -r23;
    r33 = -r33;
  }
  let a = r11 + r22 + r33 + 1;
  let b: number;
  let c: number;
  let d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xx = 1 + r11 - r22 - r33;
    const yy = 1 - r11 + r22 - r33;
    const zz = 1 - r11 - r22 + r33;
    if (xx > 1) {
      b = 0.5 * Math.sqrt(xx);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yy > 1) {
      c = 0.5 * Math.sqrt(yy);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zz);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { b, c, d, qfac };
}
