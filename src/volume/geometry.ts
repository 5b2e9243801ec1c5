/**
 * Small 4x4 affine algebra for volume geometry. A `Mat4` is 16 numbers, row-major: the point
 * [x, y, z] = M * [i, j, k, 1] maps voxel indices to patient millimetres (LPS unless said otherwise).
 */
export type Mat4 = number[];
export type Vec3 = [number, number, number];

export function identity4(): Mat4 {
  return [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
}

export function matmul4(a: Mat4, b: Mat4): Mat4 {
  const out = new Array<number>(16).fill(0);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[r * 4 + k] * b[k * 4 + c];
      out[r * 4 + c] = s;
    }
  }
  return out;
}

/** Inverse of an affine 4x4 (last row 0 0 0 1). Throws on a singular matrix. */
export function invertAffine(m: Mat4): Mat4 {
  const [a, b, c, d, e, f, g, h, i] = [m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new RangeError("singular affine");
  const inv = [
    (e * i - f * h) / det,
    (c * h - b * i) / det,
    (b * f - c * e) / det,
    (f * g - d * i) / det,
    (a * i - c * g) / det,
    (c * d - a * f) / det,
    (d * h - e * g) / det,
    (b * g - a * h) / det,
    (a * e - b * d) / det,
  ];
  const t = [m[3], m[7], m[11]];
  const out = identity4();
  for (let r = 0; r < 3; r++) {
    out[r * 4] = inv[r * 3];
    out[r * 4 + 1] = inv[r * 3 + 1];
    out[r * 4 + 2] = inv[r * 3 + 2];
    out[r * 4 + 3] = -(inv[r * 3] * t[0] + inv[r * 3 + 1] * t[1] + inv[r * 3 + 2] * t[2]);
  }
  return out;
}

export function applyAffine(m: Mat4, p: Vec3): Vec3 {
  return [
    m[0] * p[0] + m[1] * p[1] + m[2] * p[2] + m[3],
    m[4] * p[0] + m[5] * p[1] + m[6] * p[2] + m[7],
    m[8] * p[0] + m[9] * p[1] + m[10] * p[2] + m[11],
  ];
}

/** Column `c` (0..3) of the upper 3 rows: the world step of one voxel along axis c, or the origin. */
export function affineColumn(m: Mat4, c: number): Vec3 {
  return [m[c], m[4 + c], m[8 + c]];
}

export function setAffineColumn(m: Mat4, c: number, v: Vec3): void {
  m[c] = v[0];
  m[4 + c] = v[1];
  m[8 + c] = v[2];
}

/** Voxel spacing (mm) along each voxel axis: the lengths of the first three columns. */
export function affineSpacing(m: Mat4): Vec3 {
  return [norm(affineColumn(m, 0)), norm(affineColumn(m, 1)), norm(affineColumn(m, 2))];
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function norm(a: Vec3): number {
  return Math.hypot(a[0], a[1], a[2]);
}

export function scale(a: Vec3, s: number): Vec3 {
  return [a[0] * s, a[1] * s, a[2] * s];
}

export function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

export function add(a: Vec3, b: Vec3): Vec3 {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}

export function normalize(a: Vec3): Vec3 {
  const n = norm(a);
  return n > 0 ? scale(a, 1 / n) : [0, 0, 0];
}

/** LPS <-> RAS: both directions are the same flip of x and y. */
export function flipLpsRas(m: Mat4): Mat4 {
  return matmul4([-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], m);
}

/** Largest absolute difference between two matrices (for tolerance checks). */
export function maxAbsDiff(a: Mat4, b: Mat4): number {
  let d = 0;
  for (let i = 0; i < 16; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

const AXIS_LETTERS_LPS: [string, string][] = [
  ["L", "R"],
  ["P", "A"],
  ["S", "I"],
];

/**
 * Orientation code of an affine in the usual "direction each voxel axis points to" convention
 * (e.g. "LPS" for DICOM axial order, "RAS" for a typical NIfTI), from the dominant world axis per column.
 */
export function orientationCode(m: Mat4): string {
  let code = "";
  for (let c = 0; c < 3; c++) {
    const v = affineColumn(m, c);
    let best = 0;
    for (let a = 1; a < 3; a++) if (Math.abs(v[a]) > Math.abs(v[best])) best = a;
    code += AXIS_LETTERS_LPS[best][v[best] >= 0 ? 0 : 1];
  }
  return code;
}

/** "axial" | "coronal" | "sagittal" | "oblique" from a slice normal (LPS), by its dominant axis. */
export function planeOfNormal(n: Vec3, obliqueCos = 0.8): "axial" | "coronal" | "sagittal" | "oblique" {
  const u = normalize(n);
  const ax = [Math.abs(u[0]), Math.abs(u[1]), Math.abs(u[2])];
  const best = ax.indexOf(Math.max(...ax));
  if (ax[best] < obliqueCos) return "oblique";
  return best === 2 ? "axial" : best === 1 ? "coronal" : "sagittal";
}
