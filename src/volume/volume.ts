import {
  affineColumn,
  affineSpacing,
  applyAffine,
  identity4,
  type Mat4,
  orientationCode,
  setAffineColumn,
  type Vec3,
} from "./geometry.ts";

/**
 * A 3D image with its geometry. Voxel (i, j, k) is `data[i + nx * (j + ny * k)]`: i runs along a row
 * (DICOM columns), j down the rows, k across slices. `affine` maps (i, j, k) to patient LPS millimetres.
 */
export interface Volume {
  data: Float32Array;
  dims: [number, number, number];
  affine: Mat4;
  /** Voxel size in mm along i, j, k (the lengths of the affine's columns). */
  spacing: Vec3;
}

export function makeVolume(data: Float32Array, dims: [number, number, number], affine: Mat4): Volume {
  const n = dims[0] * dims[1] * dims[2];
  if (data.length !== n) throw new RangeError(`volume data has ${data.length} values, dims need ${n}`);
  return { data, dims: [...dims], affine: [...affine], spacing: affineSpacing(affine) };
}

/** Centre of the volume's voxel grid in patient mm. */
export function volumeCentre(v: Volume): Vec3 {
  return applyAffine(v.affine, [(v.dims[0] - 1) / 2, (v.dims[1] - 1) / 2, (v.dims[2] - 1) / 2]);
}

/** One slice k as a 2D array (row-major, dims[1] rows x dims[0] columns), a view into the volume. */
export function sliceView(v: Volume, k: number): Float32Array {
  const n = v.dims[0] * v.dims[1];
  return v.data.subarray(k * n, (k + 1) * n);
}

/**
 * Permutes and flips voxel axes (no interpolation) so that axis a points along +world axis a of the
 * target code: "LPS" (i toward Left, j toward Posterior, k toward Superior) or "RAS". The world
 * positions of all voxels are unchanged; only their storage order and the affine change.
 */
export function reorientToCanonical(v: Volume, target: "LPS" | "RAS" = "LPS"): Volume {
  const sign: Vec3 = target === "LPS" ? [1, 1, 1] : [-1, -1, 1];
  // For each new axis a (world axis a), which old voxel axis points mostly along it, and in which sense.
  const cols = [0, 1, 2].map((c) => affineColumn(v.affine, c));
  const used = new Set<number>();
  const perm: number[] = [];
  const flip: boolean[] = [];
  for (let a = 0; a < 3; a++) {
    let best = -1;
    let bestMag = -1;
    for (let c = 0; c < 3; c++) {
      if (used.has(c)) continue;
      const mag = Math.abs(cols[c][a]) / (Math.hypot(...cols[c]) || 1);
      if (mag > bestMag) {
        bestMag = mag;
        best = c;
      }
    }
    used.add(best);
    perm.push(best);
    flip.push(cols[best][a] * sign[a] < 0);
  }
  if (perm[0] === 0 && perm[1] === 1 && perm[2] === 2 && !flip.some((f) => f)) {
    return { data: v.data, dims: [...v.dims], affine: [...v.affine], spacing: [...v.spacing] };
  }
  const oldDims = v.dims;
  const newDims: [number, number, number] = [oldDims[perm[0]], oldDims[perm[1]], oldDims[perm[2]]];
  const oldStride = [1, oldDims[0], oldDims[0] * oldDims[1]];
  // new index n_a maps to old index along perm[a]: flip ? dims-1-n_a : n_a
  const affine = identity4();
  let origin = affineColumn(v.affine, 3);
  for (let a = 0; a < 3; a++) {
    const col = cols[perm[a]];
    if (flip[a]) {
      origin = [
        origin[0] + col[0] * (oldDims[perm[a]] - 1),
        origin[1] + col[1] * (oldDims[perm[a]] - 1),
        origin[2] + col[2] * (oldDims[perm[a]] - 1),
      ];
      setAffineColumn(affine, a, [-col[0], -col[1], -col[2]]);
    } else {
      setAffineColumn(affine, a, [col[0], col[1], col[2]]);
    }
  }
  setAffineColumn(affine, 3, origin);
  const out = new Float32Array(v.data.length);
  const s0 = oldStride[perm[0]] * (flip[0] ? -1 : 1);
  const s1 = oldStride[perm[1]] * (flip[1] ? -1 : 1);
  const s2 = oldStride[perm[2]] * (flip[2] ? -1 : 1);
  const b0 = flip[0] ? oldStride[perm[0]] * (newDims[0] - 1) : 0;
  const b1 = flip[1] ? oldStride[perm[1]] * (newDims[1] - 1) : 0;
  const b2 = flip[2] ? oldStride[perm[2]] * (newDims[2] - 1) : 0;
  let o = 0;
  for (let k = 0; k < newDims[2]; k++) {
    const bk = b2 + k * s2;
    for (let j = 0; j < newDims[1]; j++) {
      let src = bk + b1 + j * s1 + b0;
      for (let i = 0; i < newDims[0]; i++) {
        out[o++] = v.data[src];
        src += s0;
      }
    }
  }
  return makeVolume(out, newDims, affine);
}

export { orientationCode };
