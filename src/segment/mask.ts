// Organ masks: one label per voxel of a volume's grid (0 background, 1 liver, 2 spleen), with that grid's
// geometry. Read from a user's label maps (TotalSegmentator's MR convention, or the synthetic cohort's
// tissue codes) or produced by the segmentation network.
import { existsSync } from "node:fs";
import { LiverstiffError } from "../core/index.ts";
import {
  affineSpacing,
  type Mat4,
  makeVolume,
  readNifti,
  resampleToGrid,
  type Volume,
} from "../volume/index.ts";

export const ORGAN_LABELS = { background: 0, liver: 1, spleen: 2 } as const;
export type Organ = "liver" | "spleen";
export const ORGANS: readonly Organ[] = ["liver", "spleen"];

export interface OrganMask {
  /** Voxels along i, j, k: the volume's. */
  dims: [number, number, number];
  /** Voxel -> patient LPS mm, the volume's. */
  affine: Mat4;
  /** `labels[i + nx * (j + ny * k)]`: 0 background, 1 liver, 2 spleen. */
  labels: Uint8Array;
}

/**
 * Label-map conventions: which codes of a file are liver and which are spleen (all others background).
 * - "totalsegmentator": TotalSegmentator's MR task (total_mr): liver 5, spleen 1.
 * - "synthetic": this project's synthetic cohort (src/synth labelmaps/labels.json): liver 4 with its
 *   nodules 14 (a lesion is part of the organ, as TotalSegmentator's liver includes its lesions), spleen 5.
 */
export type LabelConvention = "totalsegmentator" | "synthetic";
export const LABEL_CONVENTIONS: Readonly<
  Record<LabelConvention, Readonly<Record<Organ, readonly number[]>>>
> = {
  totalsegmentator: { liver: [5], spleen: [1] },
  synthetic: { liver: [4, 14], spleen: [5] },
};

/** Maps a label map's codes to organ labels. */
export function organLabelsFromCodes(codes: ArrayLike<number>, convention: LabelConvention): Uint8Array {
  const map = LABEL_CONVENTIONS[convention];
  if (!map) throw new LiverstiffError("unknown label convention", { convention: String(convention) });
  const lut = new Uint8Array(256);
  for (const c of map.liver) lut[c] = ORGAN_LABELS.liver;
  for (const c of map.spleen) lut[c] = ORGAN_LABELS.spleen;
  const out = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = Math.round(codes[i]);
    out[i] = c >= 0 && c < 256 ? lut[c] : 0;
  }
  return out;
}

/** Reads a NIfTI label map (TotalSegmentator or synthetic codes) as an organ mask in LPS. */
export function readOrganMaskNifti(path: string, convention: LabelConvention): OrganMask {
  if (!(convention in LABEL_CONVENTIONS))
    throw new LiverstiffError("label convention must be totalsegmentator or synthetic", {
      file: path,
      convention: String(convention),
    });
  if (!existsSync(path)) throw new LiverstiffError("label map not found", { file: path });
  const { volume } = readNifti(path);
  for (let i = 0; i < volume.data.length; i++) {
    const c = volume.data[i];
    if (!Number.isInteger(c) || c < 0)
      throw new LiverstiffError("label map holds a value that is not a label code", {
        file: path,
        voxel: i,
        value: c,
      });
  }
  return {
    dims: [...volume.dims],
    affine: [...volume.affine],
    labels: organLabelsFromCodes(volume.data, convention),
  };
}

/** A mask moved onto a volume's grid (nearest; background where the mask does not reach). */
export function maskOnVolume(mask: OrganMask, volume: Pick<Volume, "dims" | "affine">): OrganMask {
  const src = makeVolume(Float32Array.from(mask.labels), mask.dims, mask.affine);
  const r = resampleToGrid(src, volume.affine, volume.dims, { interpolation: "nearest", fill: 0 });
  return { dims: [...volume.dims], affine: [...volume.affine], labels: Uint8Array.from(r.data) };
}

/** Dice overlap of one label between two label arrays of the same grid (1 when both are empty). */
export function dice(a: Uint8Array, b: Uint8Array, label: number): number {
  if (a.length !== b.length) throw new LiverstiffError("masks differ in size", { a: a.length, b: b.length });
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] === label;
    const y = b[i] === label;
    if (x) na++;
    if (y) nb++;
    if (x && y) inter++;
  }
  return na + nb === 0 ? 1 : (2 * inter) / (na + nb);
}

/** Organ volumes in mL from a mask's voxel size. */
export function organVolumesMl(mask: OrganMask): Record<Organ, number> {
  const [sx, sy, sz] = affineSpacing(mask.affine);
  const voxelMl = (sx * sy * sz) / 1000;
  let liver = 0;
  let spleen = 0;
  for (const l of mask.labels) {
    if (l === ORGAN_LABELS.liver) liver++;
    else if (l === ORGAN_LABELS.spleen) spleen++;
  }
  return { liver: liver * voxelMl, spleen: spleen * voxelMl };
}

/**
 * Keeps, for each label, only its largest 6-connected component (in place): liver and spleen are one
 * organ each, so islands elsewhere are the network's false positives.
 */
export function keepLargestComponents(labels: Uint8Array, dims: readonly [number, number, number]): void {
  const [nx, ny, nz] = dims;
  const comp = new Int32Array(labels.length).fill(-1);
  const queue = new Int32Array(labels.length);
  const best = new Map<number, { id: number; size: number }>();
  const sizes: number[] = [];
  for (let seed = 0; seed < labels.length; seed++) {
    const l = labels[seed];
    if (l === 0 || comp[seed] >= 0) continue;
    const id = sizes.length;
    let head = 0;
    let tail = 0;
    queue[tail++] = seed;
    comp[seed] = id;
    const plane = nx * ny;
    while (head < tail) {
      const v = queue[head++];
      const i = v % nx;
      const j = ((v - i) / nx) % ny;
      const k = (v - i - j * nx) / plane;
      // Neighbours along -i, +i, -j, +j, -k, +k (inside the grid only).
      for (let d = 0; d < 6; d++) {
        let w: number;
        if (d === 0) w = i > 0 ? v - 1 : -1;
        else if (d === 1) w = i < nx - 1 ? v + 1 : -1;
        else if (d === 2) w = j > 0 ? v - nx : -1;
        else if (d === 3) w = j < ny - 1 ? v + nx : -1;
        else if (d === 4) w = k > 0 ? v - plane : -1;
        else w = k < nz - 1 ? v + plane : -1;
        if (w >= 0 && labels[w] === l && comp[w] < 0) {
          comp[w] = id;
          queue[tail++] = w;
        }
      }
    }
    sizes.push(tail);
    const b = best.get(l);
    if (!b || tail > b.size) best.set(l, { id, size: tail });
  }
  for (let v = 0; v < labels.length; v++) {
    const l = labels[v];
    if (l !== 0 && best.get(l)?.id !== comp[v]) labels[v] = 0;
  }
}
