// Organ label maps of the main stack as NIfTI-1 (gzip), in the same voxel grid as the T1w/T2w series, so
// that checks (and, later, liver-centred slice choices) can use where the generator put each organ.
import { gzipSync } from "fflate";
import { Tissue } from "./phantom.ts";
import type { Geometry, Sampled } from "./render.ts";

/** Label codes written in the maps (the phantom's tissue codes). */
export const LABELMAP_CODES: Record<string, number> = Object.fromEntries(
  Object.entries(Tissue).filter(([, v]) => typeof v === "number") as [string, number][],
);

/** The voxel-to-world affine of a stack in RAS (NIfTI convention): rows are srow_x, srow_y, srow_z. */
export function rasAffine(g: Geometry): number[][] {
  const [sr, sc] = g.pixelSpacing;
  const lps = [0, 1, 2].map((a) => [
    g.rowDir[a] * sc,
    g.colDir[a] * sr,
    g.normal[a] * g.sliceSpacing,
    g.origin[a],
  ]);
  return [lps[0].map((v) => -v), lps[1].map((v) => -v), lps[2]];
}

/** NIfTI-1 single-file image (uint8), i = column, j = row, k = slice. */
export function niftiUint8(g: Geometry, voxels: Uint8Array): Uint8Array {
  const header = new ArrayBuffer(352);
  const dv = new DataView(header);
  dv.setInt32(0, 348, true);
  const dims = [3, g.cols, g.rows, g.slices, 1, 1, 1, 1];
  dims.forEach((d, i) => {
    dv.setInt16(40 + 2 * i, d, true);
  });
  dv.setInt16(70, 2, true); // datatype: unsigned char
  dv.setInt16(72, 8, true); // bitpix
  const pix = [1, g.pixelSpacing[1], g.pixelSpacing[0], g.sliceSpacing, 0, 0, 0, 0];
  pix.forEach((p, i) => {
    dv.setFloat32(76 + 4 * i, p, true);
  });
  dv.setFloat32(108, 352, true); // vox_offset
  dv.setFloat32(112, 1, true); // scl_slope
  dv.setUint8(123, 2); // xyzt_units: mm
  dv.setInt16(252, 0, true); // qform_code: none
  dv.setInt16(254, 1, true); // sform_code: scanner
  const a = rasAffine(g);
  a.forEach((row, r) => {
    row.forEach((v, c) => {
      dv.setFloat32(280 + 16 * r + 4 * c, v, true);
    });
  });
  const magic = "n+1\0";
  for (let i = 0; i < 4; i++) dv.setUint8(344 + i, magic.charCodeAt(i));
  const out = new Uint8Array(352 + voxels.length);
  out.set(new Uint8Array(header), 0);
  out.set(voxels, 352);
  return out;
}

/** The label map of a sampled stack (the tissue at each voxel centre), gzip-compressed NIfTI-1. */
export function labelMapNifti(s: Sampled): Uint8Array {
  const n = s.geometry.rows * s.geometry.cols * s.geometry.slices;
  const mid = s.subsamples >> 1;
  const vox = new Uint8Array(n);
  for (let i = 0; i < n; i++) vox[i] = s.labels[i * s.subsamples + mid];
  return gzipSync(niftiUint8(s.geometry, vox), { level: 6, mtime: 0 });
}
