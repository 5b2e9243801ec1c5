// The network's view of a volume: axial slices resampled in-plane to a fixed grid (size x size pixels
// over a fixed field of view, so that a pixel is the same size at every site), centred on the volume,
// and intensities scaled per volume. Labels predicted on that grid go back to the volume's own voxels
// by nearest neighbour, so that organ volumes are measured with the volume's spacing.
import {
  affineColumn,
  applyAffine,
  identity4,
  type Mat4,
  makeVolume,
  normalize,
  reorientToCanonical,
  resampleToGrid,
  setAffineColumn,
  type Vec3,
  type Volume,
} from "../volume/index.ts";

/** Where the slices of one volume lie: `dims` [size, size, slices], `affine` grid voxel -> LPS mm. */
export interface SliceGrid {
  dims: [number, number, number];
  affine: Mat4;
}

/** Percentiles that scale intensities: p_low -> 0, p_high -> 1 (robust to a few very bright voxels). */
export const INTENSITY_PERCENTILES: readonly [number, number] = [1, 99];
/** Scaled intensities are clipped to this range (air below 0, fat and fluid up to well above 1). */
const CLIP: readonly [number, number] = [-0.5, 2];

/**
 * The grid of a volume: the volume reoriented to LPS (k from feet to head), one grid slice on each of its
 * axial slices, in-plane axes along the volume's own (near L and P), `size` pixels over `fovMm`.
 */
export function sliceGrid(volume: Volume, size: number, fovMm: number): { grid: SliceGrid; lps: Volume } {
  const lps = reorientToCanonical(volume, "LPS");
  const step = fovMm / size;
  const ui = normalize(affineColumn(lps.affine, 0));
  const uj = normalize(affineColumn(lps.affine, 1));
  const centre = applyAffine(lps.affine, [(lps.dims[0] - 1) / 2, (lps.dims[1] - 1) / 2, 0]);
  const half = (step * (size - 1)) / 2;
  const origin: Vec3 = [0, 1, 2].map((a) => centre[a] - half * (ui[a] + uj[a])) as Vec3;
  const affine = identity4();
  setAffineColumn(affine, 0, [ui[0] * step, ui[1] * step, ui[2] * step]);
  setAffineColumn(affine, 1, [uj[0] * step, uj[1] * step, uj[2] * step]);
  setAffineColumn(affine, 2, affineColumn(lps.affine, 2));
  setAffineColumn(affine, 3, origin);
  return { grid: { dims: [size, size, lps.dims[2]], affine }, lps };
}

/** [low, high] intensity percentiles of a volume (from a strided sample of at most 2^16 voxels). */
export function intensityRange(data: Float32Array): [number, number] {
  const stride = Math.max(1, Math.floor(data.length / 65536));
  const sample = new Float32Array(Math.ceil(data.length / stride));
  let n = 0;
  for (let i = 0; i < data.length; i += stride) {
    const x = data[i];
    if (Number.isFinite(x)) sample[n++] = x;
  }
  const sorted = sample.subarray(0, n).sort();
  if (n === 0) return [0, 1];
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.round((p / 100) * (n - 1))))];
  return [at(INTENSITY_PERCENTILES[0]), at(INTENSITY_PERCENTILES[1])];
}

/**
 * The network's input for a volume: slices x size x size scaled intensities (slice-major, rows, columns),
 * linear in-plane resampling with a box prefilter when shrinking, 0 (air) outside the volume.
 */
export function gridImages(
  volume: Volume,
  size: number,
  fovMm: number,
): { images: Float32Array; grid: SliceGrid } {
  const { grid, lps } = sliceGrid(volume, size, fovMm);
  const step = fovMm / size;
  const oversample = Math.max(1, Math.ceil(step / Math.min(lps.spacing[0], lps.spacing[1]) - 1e-9));
  const [lo, hi] = intensityRange(lps.data);
  const resampled = resampleToGrid(lps, grid.affine, grid.dims, { oversample, fill: lo });
  const images = resampled.data;
  const scale = 1 / (hi - lo || 1);
  for (let i = 0; i < images.length; i++) {
    const v = (images[i] - lo) * scale;
    images[i] = v < CLIP[0] ? CLIP[0] : v > CLIP[1] ? CLIP[1] : Number.isNaN(v) ? 0 : v;
  }
  return { images, grid };
}

/** Organ labels (any codes) on a volume's voxels -> the same codes on a grid (nearest). */
export function labelsToGrid(labels: Uint8Array, volume: Volume, grid: SliceGrid): Uint8Array {
  const src = makeVolume(Float32Array.from(labels), volume.dims, volume.affine);
  const r = resampleToGrid(src, grid.affine, grid.dims, { interpolation: "nearest", fill: 0 });
  return Uint8Array.from(r.data);
}

/** Labels on a grid -> labels on a volume's own voxels (nearest; 0 where the grid does not reach). */
export function gridToVolumeLabels(gridLabels: Uint8Array, grid: SliceGrid, volume: Volume): Uint8Array {
  const src = makeVolume(Float32Array.from(gridLabels), grid.dims, grid.affine);
  const r = resampleToGrid(src, volume.affine, volume.dims, { interpolation: "nearest", fill: 0 });
  return Uint8Array.from(r.data);
}
