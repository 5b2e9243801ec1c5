// The patient directions at the edges of a prepared slice, for the figure's orientation letters. They are
// measured, not assumed: three probe volumes in the source volume's orientation, whose voxels hold their
// own patient coordinate along L, P and S, go through cohort's prepareVolume with the bundle's
// preparation; the direction in which each coordinate grows across the prepared slice's columns, rows and
// slices names its edges. A change in how preparation orients slices changes the letters with it.
import { type PrepConfig, prepareVolume } from "../cohort/index.ts";
import { identity4, makeVolume, setAffineColumn, type Vec3 } from "../volume/index.ts";

export interface EdgeLetters {
  left: string;
  right: string;
  top: string;
  bottom: string;
  /** Where the first and the last prepared slice lie (e.g. "I" and "S"); absent with one slice. */
  firstSlice?: string;
  lastSlice?: string;
}

// Patient axes in LPS order, with the letter for + and - along each.
const AXES: [string, string][] = [
  ["L", "R"],
  ["P", "A"],
  ["S", "I"],
];

/** The LPS direction of each voxel axis named by an orientation code such as "LPS" or "RAS". */
function directionsOf(code: string): Vec3[] | null {
  if (!/^[LRAPSI]{3}$/.test(code)) return null;
  const dirs = [...code].map((letter): Vec3 => {
    const axis = AXES.findIndex((pair) => pair.includes(letter));
    const v: Vec3 = [0, 0, 0];
    v[axis] = AXES[axis]![0] === letter ? 1 : -1;
    return v;
  });
  const axesUsed = new Set(dirs.map((d) => d.findIndex((x) => x !== 0)));
  return axesUsed.size === 3 ? dirs : null;
}

/** The letter toward which a gradient (d coordinate L, P, S) points most; null for no gradient. */
function letterOf(g: Vec3): string | null {
  let best = 0;
  for (let a = 1; a < 3; a++) if (Math.abs(g[a]!) > Math.abs(g[best]!)) best = a;
  if (!(Math.abs(g[best]!) > 1e-6)) return null;
  return g[best]! > 0 ? AXES[best]![0] : AXES[best]![1];
}

const OPPOSITE: Record<string, string> = { L: "R", R: "L", P: "A", A: "P", S: "I", I: "S" };

/**
 * The edge letters of slices prepared with `prep` from a volume whose orientation code (cohort's
 * `<role>.orientation`, e.g. "LPS") is `sourceOrientation`; null for a code that names no orientation
 * (or a preparation whose slices show no direction).
 */
export function preparedEdgeLetters(sourceOrientation: string, prep: PrepConfig): EdgeLetters | null {
  const dirs = directionsOf(sourceOrientation.toUpperCase());
  if (!dirs) return null;
  // In plane: large voxels that cover any field of view ("mm"), or exactly the crop ("pixels"); across
  // slices: just enough for the preparation's slices.
  const inPlane = prep.inPlane === "pixels" ? prep.cropPx : 32;
  const dims = dirs.map((d) => (d[2] !== 0 ? prep.slices + 2 : inPlane)) as [number, number, number];
  const spacingMm = Math.max(prep.fovMm, 1) / 8;
  const affine = identity4();
  dirs.forEach((d, c) => {
    setAffineColumn(affine, c, [d[0] * spacingMm, d[1] * spacingMm, d[2] * spacingMm]);
  });
  // The volume's centre at the origin.
  setAffineColumn(
    affine,
    3,
    [0, 1, 2].map(
      (a) => -dirs.reduce((sum, d, c) => sum + ((dims[c]! - 1) / 2) * d[a]! * spacingMm, 0),
    ) as Vec3,
  );
  const size = prep.size;
  const c = Math.floor(size / 2);
  const d = Math.max(1, Math.floor(size / 16));
  const colGrad: Vec3 = [0, 0, 0];
  const rowGrad: Vec3 = [0, 0, 0];
  const sliceGrad: Vec3 = [0, 0, 0];
  for (let axis = 0; axis < 3; axis++) {
    const data = new Float32Array(dims[0] * dims[1] * dims[2]);
    const row = affine.slice(axis * 4, axis * 4 + 4);
    let o = 0;
    // Each voxel holds its patient coordinate along this axis (mm).
    for (let k = 0; k < dims[2]; k++)
      for (let j = 0; j < dims[1]; j++)
        for (let i = 0; i < dims[0]; i++) data[o++] = row[0]! * i + row[1]! * j + row[2]! * k + row[3]!;
    const out = prepareVolume(makeVolume(data, dims, affine), prep);
    const at = (s: number, r: number, col: number) => out[(s * size + r) * size + col]!;
    colGrad[axis] = at(0, c, c + d) - at(0, c, c - d);
    rowGrad[axis] = at(0, c + d, c) - at(0, c - d, c);
    if (prep.slices > 1) sliceGrad[axis] = at(prep.slices - 1, c, c) - at(0, c, c);
  }
  const right = letterOf(colGrad);
  const bottom = letterOf(rowGrad);
  if (!right || !bottom) return null;
  const letters: EdgeLetters = { left: OPPOSITE[right]!, right, top: OPPOSITE[bottom]!, bottom };
  const last = prep.slices > 1 ? letterOf(sliceGrad) : null;
  if (last) {
    letters.firstSlice = OPPOSITE[last]!;
    letters.lastSlice = last;
  }
  return letters;
}
