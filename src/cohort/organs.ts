// Organ measures of an exam: radiology's classic markers of advanced fibrosis and portal hypertension,
// read from liver and spleen masks on the exam's own series (volumetry in mL, so the voxel grid and its
// spacing are those of the source series, never of a resampled slice stack).
import type { SeriesRole } from "../dicom/index.ts";
import { maskOnVolume, ORGAN_LABELS, type OrganMask } from "../segment/index.ts";
import { applyAffine, type Volume } from "../volume/index.ts";

/**
 * The measures, in a fixed order (heads read them as a vector). Volumes in mL, areas in cm², lengths in
 * mm; intensity measures are ratios, so a site's intensity scaling cancels.
 */
export const ORGAN_MEASURES = [
  "liver_ml",
  "spleen_ml",
  "body_area_cm2",
  "liver_medial_share",
  "liver_surface_roughness_mm",
  "t2_liver_spread",
  "t2_liver_fine_texture",
  "t1_liver_spread",
  "t1_liver_fine_texture",
  "t1_liver_bright_share",
  "t2_perihepatic_fluid_share",
] as const;
export type OrganMeasureName = (typeof ORGAN_MEASURES)[number];
export type OrganMeasures = Record<OrganMeasureName, number>;

/** The mask's labels on another volume's voxel grid (nearest neighbour in patient space). */
export function maskOnGrid(mask: OrganMask, target: Volume): Uint8Array {
  const same =
    mask.dims.every((d, i) => d === target.dims[i]) &&
    mask.affine.every((v, i) => Math.abs(v - target.affine[i]) < 1e-3);
  return same ? mask.labels : maskOnVolume(mask, target).labels;
}

function quantile(sorted: Float32Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Box mean of radius r along one line of `len` samples, `start` + p * `stride` (cut at the line's ends). */
function boxMeanLine(
  src: Float32Array,
  dst: Float32Array,
  start: number,
  stride: number,
  len: number,
  r: number,
) {
  for (let p = 0; p < len; p++) {
    let s = 0;
    let n = 0;
    for (let d = -r; d <= r; d++) {
      const q = p + d;
      if (q < 0 || q >= len) continue;
      s += src[start + q * stride];
      n++;
    }
    dst[start + p * stride] = s / n;
  }
}

/** Box mean of a 2D plane (nx x ny) with radius r, along the rows and then along the columns. */
function boxBlur2d(src: Float32Array, nx: number, ny: number, r: number): Float32Array {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let y = 0; y < ny; y++) boxMeanLine(src, tmp, y * nx, 1, nx, r);
  for (let x = 0; x < nx; x++) boxMeanLine(tmp, out, x, nx, ny, r);
  return out;
}

/** In-plane erosion of a binary plane by `r` pixels (square structuring element). */
function erode2d(m: Uint8Array, nx: number, ny: number, r: number): Uint8Array {
  const f = Float32Array.from(m);
  const b = boxBlur2d(f, nx, ny, r);
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = m[i] && b[i] > 0.999 ? 1 : 0;
  return out;
}

function dilate2d(m: Uint8Array, nx: number, ny: number, r: number): Uint8Array {
  const b = boxBlur2d(Float32Array.from(m), nx, ny, r);
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = b[i] > 1e-6 ? 1 : 0;
  return out;
}

interface Plane {
  nx: number;
  ny: number;
  n: number;
}

/** Intensity spread (p90 - p10) / p50 and fine texture mean|v - blur3x3(v)| / p50 inside a region. */
function regionTexture(
  vol: Volume,
  region: Uint8Array,
  plane: Plane,
): { spread: number; fine: number; median: number; values: Float32Array } {
  const vals: number[] = [];
  let fineSum = 0;
  for (let k = 0; k < vol.dims[2]; k++) {
    const off = k * plane.n;
    let any = false;
    for (let i = 0; i < plane.n; i++)
      if (region[off + i]) {
        any = true;
        break;
      }
    if (!any) continue;
    const slice = vol.data.subarray(off, off + plane.n);
    const blur = boxBlur2d(slice, plane.nx, plane.ny, 1);
    for (let i = 0; i < plane.n; i++) {
      if (!region[off + i]) continue;
      vals.push(slice[i]);
      fineSum += Math.abs(slice[i] - blur[i]);
    }
  }
  const sorted = Float32Array.from(vals).sort();
  const median = quantile(sorted, 0.5);
  if (!(median > 0) || sorted.length < 20)
    return { spread: Number.NaN, fine: Number.NaN, median, values: sorted };
  return {
    spread: (quantile(sorted, 0.9) - quantile(sorted, 0.1)) / median,
    fine: fineSum / sorted.length / median,
    median,
    values: sorted,
  };
}

/** Mean per-slice body cross-section (voxels above a fraction of the 98th percentile) and its centre. */
function bodyOutline(vol: Volume, plane: Plane): { areaCm2: number; centreX: number; halfWidthMm: number } {
  const sorted = Float32Array.from(vol.data).sort();
  const threshold = 0.12 * quantile(sorted, 0.98);
  let count = 0;
  let minX = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  const k = Math.floor(vol.dims[2] / 2);
  for (let kk = 0; kk < vol.dims[2]; kk++) {
    const off = kk * plane.n;
    for (let j = 0; j < plane.ny; j++)
      for (let i = 0; i < plane.nx; i++) {
        if (!(vol.data[off + j * plane.nx + i] > threshold)) continue;
        count++;
        if (kk === k) {
          const x = applyAffine(vol.affine, [i, j, kk])[0];
          if (x < minX) minX = x;
          if (x > maxX) maxX = x;
        }
      }
  }
  const pixelCm2 = (vol.spacing[0] * vol.spacing[1]) / 100;
  const centreX = Number.isFinite(minX) ? (minX + maxX) / 2 : Number.NaN;
  return { areaCm2: (count / vol.dims[2]) * pixelCm2, centreX, halfWidthMm: (maxX - minX) / 2 };
}

/**
 * Surface roughness of the liver in mm: per slice, the area between the mask and its smoothed outline
 * (box blur of about 6 mm, thresholded at 1/2) divided by the outline's length. A nodular surface gives
 * lumps the smoothing removes; a smooth one nearly none.
 */
function surfaceRoughnessMm(liver: Uint8Array, vol: Volume, plane: Plane): number {
  const px = Math.sqrt(vol.spacing[0] * vol.spacing[1]);
  const r = Math.max(1, Math.round(6 / px));
  let diffArea = 0;
  let boundary = 0;
  for (let k = 0; k < vol.dims[2]; k++) {
    const off = k * plane.n;
    const m = liver.subarray(off, off + plane.n);
    let count = 0;
    for (let i = 0; i < plane.n; i++) count += m[i];
    if (count < 50) continue;
    const smooth = boxBlur2d(Float32Array.from(m), plane.nx, plane.ny, r);
    for (let j = 1; j < plane.ny - 1; j++)
      for (let i = 1; i < plane.nx - 1; i++) {
        const p = j * plane.nx + i;
        const s = smooth[p] > 0.5 ? 1 : 0;
        if (s !== m[p]) diffArea++;
        if (m[p] && (!m[p - 1] || !m[p + 1] || !m[p - plane.nx] || !m[p + plane.nx])) boundary++;
      }
  }
  return boundary > 0 ? (diffArea * px * px) / (boundary * px) : Number.NaN;
}

/**
 * Every measure of ORGAN_MEASURES from the exam's role volumes and a liver/spleen mask (on any grid in
 * the same patient space). Volumetry and shape come from the T2w grid (else the first T1w); a measure that
 * cannot be computed (no liver voxels, no such role) is NaN.
 */
export function measureOrgans(volumes: Partial<Record<SeriesRole, Volume>>, mask: OrganMask): OrganMeasures {
  const out = Object.fromEntries(ORGAN_MEASURES.map((m) => [m, Number.NaN])) as OrganMeasures;
  const shapeVol = volumes.t2 ?? volumes.t1_in ?? volumes.t1_opp;
  if (!shapeVol) return out;
  const planeOf = (v: Volume): Plane => ({ nx: v.dims[0], ny: v.dims[1], n: v.dims[0] * v.dims[1] });
  const plane = planeOf(shapeVol);
  const labels = maskOnGrid(mask, shapeVol);
  const voxelMl = (shapeVol.spacing[0] * shapeVol.spacing[1] * shapeVol.spacing[2]) / 1000;
  const liver = new Uint8Array(labels.length);
  let liverN = 0;
  let spleenN = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === ORGAN_LABELS.liver) {
      liver[i] = 1;
      liverN++;
    } else if (labels[i] === ORGAN_LABELS.spleen) spleenN++;
  }
  out.liver_ml = liverN * voxelMl;
  out.spleen_ml = spleenN * voxelMl;
  const body = bodyOutline(shapeVol, plane);
  out.body_area_cm2 = body.areaCm2;
  if (liverN < 50) return out;

  // Caudate hypertrophy with right-lobe atrophy moves liver volume towards the midline.
  const medialX = body.centreX - 0.25 * body.halfWidthMm;
  let medial = 0;
  for (let k = 0; k < shapeVol.dims[2]; k++)
    for (let j = 0; j < plane.ny; j++)
      for (let i = 0; i < plane.nx; i++) {
        if (!liver[k * plane.n + j * plane.nx + i]) continue;
        if (applyAffine(shapeVol.affine, [i, j, k])[0] > medialX) medial++;
      }
  out.liver_medial_share = medial / liverN;
  out.liver_surface_roughness_mm = surfaceRoughnessMm(liver, shapeVol, plane);

  const inner = (m: Uint8Array, p: Plane, r: number) => {
    const e = new Uint8Array(m.length);
    for (let k = 0; k < m.length / p.n; k++)
      e.set(erode2d(m.subarray(k * p.n, (k + 1) * p.n), p.nx, p.ny, r), k * p.n);
    return e;
  };
  const liverOn = (v: Volume) => {
    const l = maskOnGrid(mask, v);
    const m = new Uint8Array(l.length);
    for (let i = 0; i < l.length; i++) m[i] = l[i] === ORGAN_LABELS.liver ? 1 : 0;
    return m;
  };
  const erodePx = (v: Volume) => Math.max(1, Math.round(4 / Math.sqrt(v.spacing[0] * v.spacing[1])));

  if (volumes.t2) {
    const p = planeOf(volumes.t2);
    const l = liverOn(volumes.t2);
    const core = inner(l, p, erodePx(volumes.t2));
    const t = regionTexture(volumes.t2, core, p);
    out.t2_liver_spread = t.spread;
    out.t2_liver_fine_texture = t.fine;
    // Ascites: fluid (much brighter than liver on T2w) in a thin shell around the liver.
    const shell = new Uint8Array(l.length);
    const all = maskOnGrid(mask, volumes.t2);
    for (let k = 0; k < l.length / p.n; k++) {
      const d = dilate2d(l.subarray(k * p.n, (k + 1) * p.n), p.nx, p.ny, erodePx(volumes.t2));
      for (let i = 0; i < p.n; i++) shell[k * p.n + i] = d[i] && !all[k * p.n + i] ? 1 : 0;
    }
    let shellN = 0;
    let fluid = 0;
    for (let i = 0; i < shell.length; i++) {
      if (!shell[i]) continue;
      shellN++;
      if (volumes.t2.data[i] > 2.5 * t.median) fluid++;
    }
    out.t2_perihepatic_fluid_share = shellN > 0 && t.median > 0 ? fluid / shellN : Number.NaN;
  }
  const t1 = volumes.t1_in ?? volumes.t1_opp;
  if (t1) {
    const p = planeOf(t1);
    const core = inner(liverOn(t1), p, erodePx(t1));
    const t = regionTexture(t1, core, p);
    out.t1_liver_spread = t.spread;
    out.t1_liver_fine_texture = t.fine;
    let bright = 0;
    for (const v of t.values) if (v > 1.3 * t.median) bright++;
    out.t1_liver_bright_share = t.values.length > 0 ? bright / t.values.length : Number.NaN;
  }
  return out;
}
