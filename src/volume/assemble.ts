import { LiverstiffError } from "../core/index.ts";
import type { StoredPixels } from "../dicom/index.ts";
import type { MrFrame } from "../dicom/types.ts";
import { cross, dot, identity4, type Mat4, normalize, setAffineColumn, sub, type Vec3 } from "./geometry.ts";
import { makeVolume, type Volume } from "./volume.ts";

/** A problem found while stacking frames into a volume. `fatal` ones stop the assembly. */
export interface GeometryIssue {
  kind:
    | "mixed_orientation"
    | "mixed_size"
    | "mixed_spacing"
    | "duplicate_slice"
    | "multi_volume"
    | "mosaic"
    | "duplicate_frame"
    | "missing_slices"
    | "uneven_spacing"
    | "no_frames";
  message: string;
  fatal: boolean;
}

export interface AssembleOptions {
  /** Decoded, rescaled pixels of one frame: rows x columns, row-major. */
  readPixels: (frame: MrFrame) => Float32Array | Promise<Float32Array>;
  /** Relative tolerance for slice spacing to count as even (default 0.05 = 5% of the median step). */
  spacingTolerance?: number;
  /** Treat missing slices (gaps) and uneven spacing as fatal (default true): a wrong affine is worse. */
  strictSpacing?: boolean;
  /** Direction-cosine tolerance for "same orientation" (default 1e-3). */
  orientationTolerance?: number;
}

export interface AssembledVolume {
  volume: Volume;
  /** Frames in stacking order (k = 0 .. nz-1), after dropping exact duplicates. */
  frames: MrFrame[];
  /** Non-fatal issues (fatal ones throw). */
  issues: GeometryIssue[];
  /** Median slice step along the normal (mm); the slice thickness for a single slice. */
  sliceStepMm: number;
}

export interface StackPlan {
  frames: MrFrame[];
  affine: Mat4;
  dims: [number, number, number];
  issues: GeometryIssue[];
  sliceStepMm: number;
}

/**
 * Orders frames by position along the slice normal (never by InstanceNumber) and derives the affine,
 * reporting orientation, size, duplicate and spacing problems. Does not read pixels.
 */
export function planStack(
  input: readonly MrFrame[],
  options: Omit<AssembleOptions, "readPixels"> = {},
): StackPlan {
  const issues: GeometryIssue[] = [];
  const fail = (kind: GeometryIssue["kind"], message: string): never => {
    throw new LiverstiffError(message, { geometry: kind });
  };
  if (input.length === 0) fail("no_frames", "series has no image frames");
  const tolO = options.orientationTolerance ?? 1e-3;
  const first = input[0];
  const mosaic = input.find((f) => f.mosaicImages !== undefined);
  if (mosaic) {
    fail(
      "mosaic",
      `Siemens mosaic image (${mosaic.mosaicImages ? `${mosaic.mosaicImages} slices` : "ImageType MOSAIC"} tiled in one ` +
        `${mosaic.rows}x${mosaic.columns} image): un-tiling mosaics is not supported, so it is not written as one slice with wrong geometry`,
    );
  }
  for (const f of input) {
    for (let i = 0; i < 6; i++) {
      if (Math.abs(f.imageOrientationPatient[i] - first.imageOrientationPatient[i]) > tolO) {
        fail(
          "mixed_orientation",
          `mixed slice orientations in one series (${fmtIop(first.imageOrientationPatient)} vs ${fmtIop(f.imageOrientationPatient)})`,
        );
      }
    }
    if (f.rows !== first.rows || f.columns !== first.columns) {
      fail(
        "mixed_size",
        `mixed image sizes in one series (${first.rows}x${first.columns} vs ${f.rows}x${f.columns})`,
      );
    }
    if (
      Math.abs(f.pixelSpacingMm[0] - first.pixelSpacingMm[0]) > 1e-4 ||
      Math.abs(f.pixelSpacingMm[1] - first.pixelSpacingMm[1]) > 1e-4
    ) {
      fail(
        "mixed_spacing",
        `mixed pixel spacings in one series (${first.pixelSpacingMm.join("\\")} vs ${f.pixelSpacingMm.join("\\")})`,
      );
    }
  }
  const iop = first.imageOrientationPatient;
  const rowDir = normalize([iop[0], iop[1], iop[2]]);
  const colDir = normalize([iop[3], iop[4], iop[5]]);
  const normal = normalize(cross(rowDir, colDir));
  // Drop exact duplicates (the same SOP instance and frame listed twice). Two files with one SOP instance
  // reach here only when dicom/ found their pixels different (it drops identical copies): refused, since
  // which one is right cannot be told and either would make a volume.
  const seen = new Map<string, string>();
  const unique: { frame: MrFrame; pos: number }[] = [];
  for (const f of input) {
    const key = `${f.sopInstanceUid}#${f.frameIndex}`;
    const earlier = seen.get(key);
    if (earlier !== undefined && earlier !== f.file) {
      fail(
        "duplicate_frame",
        `SOPInstanceUID ${f.sopInstanceUid} is in ${earlier} and in ${f.file} with different pixel data: which is right cannot be told`,
      );
    }
    if (earlier !== undefined) {
      issues.push({ kind: "duplicate_frame", message: `frame ${key} listed twice; kept once`, fatal: false });
      continue;
    }
    seen.set(key, f.file);
    unique.push({ frame: f, pos: dot(f.imagePositionPatientMm as Vec3, normal) });
  }
  unique.sort((a, b) => a.pos - b.pos || (a.frame.instanceNumber ?? 0) - (b.frame.instanceNumber ?? 0));
  const n = unique.length;
  // A single slice has no neighbour: its step is SpacingBetweenSlices, then SliceThickness (as dcm2niix).
  let step = first.spacingBetweenSlicesMm ?? first.sliceThicknessMm ?? 1;
  if (n > 1) {
    const diffs: number[] = [];
    for (let k = 1; k < n; k++) diffs.push(unique[k].pos - unique[k - 1].pos);
    const positive = diffs.filter((d) => d > 1e-3).sort((a, b) => a - b);
    const dupCount = diffs.length - positive.length;
    const volumes = volumesPerPosition(unique.map((u) => u.pos));
    if (volumes > 1) {
      fail(
        "multi_volume",
        `multi-volume series: ${n} images at ${n / volumes} slice positions, ${volumes} volumes ` +
          "(repeated or temporal acquisitions); split it into one series per volume before stacking",
      );
    }
    if (dupCount > 0) {
      fail(
        "duplicate_slice",
        `${dupCount} duplicate slice position(s): different images at the same position along the normal`,
      );
    }
    step = positive[Math.floor((positive.length - 1) / 2)];
    const tol = Math.max(0.01, (options.spacingTolerance ?? 0.05) * step);
    let missing = 0;
    let uneven = 0;
    let worst = 0;
    for (const d of diffs) {
      const ratio = d / step;
      const r = Math.round(ratio);
      if (r >= 2 && Math.abs(d - r * step) <= Math.max(tol, 0.25 * step)) missing += r - 1;
      else if (Math.abs(d - step) > tol) {
        uneven++;
        worst = Math.max(worst, Math.abs(d - step));
      }
    }
    const strict = options.strictSpacing ?? true;
    if (missing > 0) {
      const issue: GeometryIssue = {
        kind: "missing_slices",
        message: `${missing} missing slice(s) (gaps in a ${step.toFixed(3)} mm stack of ${n})`,
        fatal: strict,
      };
      if (strict) throw new LiverstiffError(issue.message, { geometry: issue.kind });
      issues.push(issue);
    }
    if (uneven > 0) {
      const issue: GeometryIssue = {
        kind: "uneven_spacing",
        message: `uneven slice spacing: ${uneven} step(s) differ from ${step.toFixed(3)} mm by up to ${worst.toFixed(3)} mm`,
        fatal: strict,
      };
      if (strict) throw new LiverstiffError(issue.message, { geometry: issue.kind });
      issues.push(issue);
    }
  }
  const frames = unique.map((u) => u.frame);
  const affine = identity4();
  const [dr, dc] = first.pixelSpacingMm; // between rows (along column direction), between columns
  setAffineColumn(affine, 0, [rowDir[0] * dc, rowDir[1] * dc, rowDir[2] * dc]);
  setAffineColumn(affine, 1, [colDir[0] * dr, colDir[1] * dr, colDir[2] * dr]);
  if (n > 1) {
    const p0 = frames[0].imagePositionPatientMm as Vec3;
    const pn = frames[n - 1].imagePositionPatientMm as Vec3;
    const span = sub(pn, p0);
    // The mean step vector: exact for an even stack, and keeps any in-plane shear (tilt) of the positions.
    setAffineColumn(affine, 2, [span[0] / (n - 1), span[1] / (n - 1), span[2] / (n - 1)]);
  } else {
    setAffineColumn(affine, 2, [normal[0] * step, normal[1] * step, normal[2] * step]);
  }
  setAffineColumn(affine, 3, [...frames[0].imagePositionPatientMm] as Vec3);
  return { frames, affine, dims: [first.columns, first.rows, n], issues, sliceStepMm: step };
}

/**
 * A series as the stacks of its volumes, on one grid. A multi-volume series (K > 1 images at every slice
 * position: repeated, temporal or diffusion-weighted acquisitions) gives K stacks in acquisition order: at
 * each position its images are ordered by TemporalPositionIndex, then InstanceNumber, then AcquisitionTime,
 * and volume v takes the v-th of each. Any other series gives planStack's one stack. Each volume must stack
 * as planStack demands and all must share one affine, else the series is refused (a 4D file has one grid).
 */
export function planVolumes(
  input: readonly MrFrame[],
  options: Omit<AssembleOptions, "readPixels"> = {},
): StackPlan[] {
  const first = input[0];
  if (!first || input.some((f) => f.mosaicImages !== undefined)) return [planStack(input, options)];
  const iop = first.imageOrientationPatient;
  const normal = normalize(cross(normalize([iop[0], iop[1], iop[2]]), normalize([iop[3], iop[4], iop[5]])));
  const placed = input
    .map((frame) => ({ frame, pos: dot(frame.imagePositionPatientMm as Vec3, normal) }))
    .sort((a, b) => a.pos - b.pos);
  const k = volumesPerPosition(placed.map((p) => p.pos));
  if (k === 1) return [planStack(input, options)];
  const groups: MrFrame[][] = [];
  for (let i = 0; i < placed.length; i += k)
    groups.push(
      placed
        .slice(i, i + k)
        .map((p) => p.frame)
        .sort(acquisitionOrder),
    );
  const plans = Array.from({ length: k }, (_, v) =>
    planStack(
      groups.map((g) => g[v]!),
      options,
    ),
  );
  for (const p of plans) {
    if (p.affine.some((x, i) => Math.abs(x - plans[0]!.affine[i]!) > 1e-4)) {
      throw new LiverstiffError(
        `multi-volume series: its ${k} volumes do not lie on one grid (their slice positions differ)`,
        { geometry: "multi_volume" },
      );
    }
  }
  return plans;
}

/** The order of a position's images across volumes: temporal index, then instance number, then time. */
function acquisitionOrder(a: MrFrame, b: MrFrame): number {
  return (
    (a.temporalPositionIndex ?? 0) - (b.temporalPositionIndex ?? 0) ||
    (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0) ||
    (a.acquisitionTime ?? "").localeCompare(b.acquisitionTime ?? "") ||
    a.frameIndex - b.frameIndex
  );
}

/** Stacks the frames of one series (one echo) into a volume. Fatal geometry problems throw LiverstiffError. */
export async function assembleVolume(
  input: readonly MrFrame[],
  options: AssembleOptions,
): Promise<AssembledVolume> {
  const plan = planStack(input, options);
  const [nx, ny, nz] = plan.dims;
  const data = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) {
    const frame = plan.frames[k];
    const px = await options.readPixels(frame);
    if (px.length !== nx * ny) {
      throw new LiverstiffError(`decoded frame has ${px.length} values, expected ${nx * ny}`, {
        file: frame.file,
        frame: frame.frameIndex,
      });
    }
    data.set(px, k * nx * ny);
  }
  return {
    volume: makeVolume(data, plan.dims, plan.affine),
    frames: plan.frames,
    issues: plan.issues,
    sliceStepMm: plan.sliceStepMm,
  };
}

/**
 * Stacks a plan's frames as their stored integers into `into` (int16, the Volume's voxel order), as
 * dcm2niix keeps an MR series: only when every frame has the identity rescale and its values fit int16.
 * Returns false otherwise (nothing else is wrong: the caller stacks the rescaled floats instead).
 */
export async function stackStoredInt16(
  plan: StackPlan,
  readStored: (frame: MrFrame) => Promise<StoredPixels>,
  into: Int16Array,
): Promise<boolean> {
  const [nx, ny, nz] = plan.dims;
  if (into.length !== nx * ny * nz)
    throw new RangeError(`target has ${into.length} values, dims need ${nx * ny * nz}`);
  if (plan.frames.some((f) => f.rescaleSlope !== 1 || f.rescaleIntercept !== 0)) return false;
  for (let k = 0; k < nz; k++) {
    const frame = plan.frames[k]!;
    const { values, rows, columns } = await readStored(frame);
    if (rows !== frame.rows || columns !== frame.columns || values.length !== nx * ny) {
      throw new LiverstiffError(
        `frame is ${rows}x${columns}, index says ${frame.rows}x${frame.columns} (file changed since it was indexed?)`,
        { file: frame.file, frame: frame.frameIndex },
      );
    }
    if (!copyIntoInt16(values, into, k * nx * ny)) return false;
  }
  return true;
}

/**
 * Copies stored values into an int16 target at an offset; false when one does not fit int16. Unsigned
 * 16-bit values below 32768 have int16's bytes, so they are copied as bytes (TypedArray.set between
 * different element types converts one element at a time).
 */
function copyIntoInt16(values: StoredPixels["values"], into: Int16Array, offset: number): boolean {
  if (values instanceof Int16Array || values instanceof Int8Array || values instanceof Uint8Array) {
    into.set(values, offset);
    return true;
  }
  if (values instanceof Uint16Array) {
    if (!fitsInt16(values)) return false;
    new Uint16Array(into.buffer, into.byteOffset, into.length).set(values, offset);
    return true;
  }
  for (let i = 0; i < values.length; i++) if (values[i]! > 32767 || values[i]! < -32768) return false;
  into.set(values, offset);
  return true;
}

function fitsInt16(values: Uint16Array): boolean {
  for (let i = 0; i < values.length; i++) if (values[i]! > 32767) return false;
  return true;
}

/** Splits a series' frames by echo time (for dual-echo in/opposed-phase series); keys are TE in ms. */
export function framesByEcho(frames: readonly MrFrame[]): Map<number | undefined, MrFrame[]> {
  const out = new Map<number | undefined, MrFrame[]>();
  for (const f of frames) {
    const key = f.echoTimeMs === undefined ? undefined : Math.round(f.echoTimeMs * 1000) / 1000;
    const list = out.get(key);
    if (list) list.push(f);
    else out.set(key, [f]);
  }
  return out;
}

/** The frames of one echo (TE within 0.01 ms), or all frames when no echo time is given. */
export function framesForEcho(frames: readonly MrFrame[], echoTimeMs?: number): MrFrame[] {
  if (echoTimeMs === undefined) return [...frames];
  return frames.filter((f) => f.echoTimeMs !== undefined && Math.abs(f.echoTimeMs - echoTimeMs) < 0.01);
}

/**
 * The frames a role decision takes from its series: those of its echo (dual-echo series) and carrying its
 * ImageType value (series that mix e.g. Dixon in-phase, opposed-phase, water and fat images).
 */
export function framesForDecision(
  frames: readonly MrFrame[],
  decision: { echoTimeMs?: number; imageTypeValue?: string },
): MrFrame[] {
  let out = framesForEcho(frames, decision.echoTimeMs);
  const value = decision.imageTypeValue?.toUpperCase();
  if (value) out = out.filter((f) => f.imageType.some((t) => t.toUpperCase() === value));
  return out;
}

/** K when every position (sorted) holds exactly K > 1 images, as in a repeated or temporal series; else 1. */
function volumesPerPosition(sorted: number[]): number {
  const counts: number[] = [];
  let run = 1;
  for (let k = 1; k <= sorted.length; k++) {
    if (k < sorted.length && Math.abs(sorted[k]! - sorted[k - 1]!) <= 1e-3) run++;
    else {
      counts.push(run);
      run = 1;
    }
  }
  const k = counts[0] ?? 1;
  return k > 1 && counts.length > 1 && counts.every((c) => c === k) ? k : 1;
}

function fmtIop(v: readonly number[]): string {
  return v.map((x) => x.toFixed(3)).join("\\");
}
