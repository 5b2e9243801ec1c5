import { invertAffine, type Mat4, matmul4 } from "./geometry.ts";
import { makeVolume, type Volume } from "./volume.ts";

export interface ResampleOptions {
  /** "linear": trilinear (bilinear when the target lies on source slices); "nearest". Default linear. */
  interpolation?: "linear" | "nearest";
  /** Value outside the source grid (default 0). */
  fill?: number;
  /**
   * In-plane supersampling factor s: each output voxel averages s x s linear samples spread over its
   * footprint (a box prefilter against aliasing when shrinking). Default 1.
   */
  oversample?: number;
}

/**
 * Resamples `src` onto the grid (targetAffine, targetDims), both in the same patient space. The mapping
 * from target voxels to source voxels is affine, so it is stepped incrementally.
 */
export function resampleToGrid(
  src: Volume,
  targetAffine: Mat4,
  targetDims: [number, number, number],
  options: ResampleOptions = {},
): Volume {
  const m = matmul4(invertAffine(src.affine), targetAffine); // target voxel -> source voxel
  const [nx, ny, nz] = targetDims;
  const out = new Float32Array(nx * ny * nz);
  const fill = options.fill ?? 0;
  const nearest = options.interpolation === "nearest";
  const s = Math.max(1, Math.floor(options.oversample ?? 1));
  const [sx, sy, sz] = src.dims;
  const sxy = sx * sy;
  const d = src.data;
  const sample = (x: number, y: number, z: number): number => {
    if (nearest) {
      const i = Math.round(x);
      const j = Math.round(y);
      const k = Math.round(z);
      if (i < 0 || j < 0 || k < 0 || i >= sx || j >= sy || k >= sz) return fill;
      return d[i + sx * j + sxy * k];
    }
    // Snap tiny floating errors so a target on a source slice is an exact bilinear sample.
    const rz = Math.round(z);
    if (Math.abs(z - rz) < 1e-6) z = rz;
    const rx = Math.round(x);
    if (Math.abs(x - rx) < 1e-6) x = rx;
    const ry = Math.round(y);
    if (Math.abs(y - ry) < 1e-6) y = ry;
    // Inside = within the voxels' footprint (half a voxel beyond the outer centres), clamped to the edge.
    if (x < -0.5 || y < -0.5 || z < -0.5 || x > sx - 0.5 || y > sy - 0.5 || z > sz - 0.5) return fill;
    x = x < 0 ? 0 : Math.min(x, sx - 1);
    y = y < 0 ? 0 : Math.min(y, sy - 1);
    z = z < 0 ? 0 : Math.min(z, sz - 1);
    const i0 = Math.min(Math.floor(x), sx - 1);
    const j0 = Math.min(Math.floor(y), sy - 1);
    const k0 = Math.min(Math.floor(z), sz - 1);
    const fx = x - i0;
    const fy = y - j0;
    const fz = z - k0;
    const i1 = fx > 0 ? i0 + 1 : i0;
    const j1 = fy > 0 ? j0 + 1 : j0;
    const k1 = fz > 0 ? k0 + 1 : k0;
    const a = k0 * sxy;
    const b = k1 * sxy;
    const c00 = d[i0 + sx * j0 + a] * (1 - fx) + d[i1 + sx * j0 + a] * fx;
    const c10 = d[i0 + sx * j1 + a] * (1 - fx) + d[i1 + sx * j1 + a] * fx;
    const v0 = c00 * (1 - fy) + c10 * fy;
    if (fz === 0) return v0;
    const c01 = d[i0 + sx * j0 + b] * (1 - fx) + d[i1 + sx * j0 + b] * fx;
    const c11 = d[i0 + sx * j1 + b] * (1 - fx) + d[i1 + sx * j1 + b] * fx;
    const v1 = c01 * (1 - fy) + c11 * fy;
    return v0 * (1 - fz) + v1 * fz;
  };
  let o = 0;
  const inPlane = !nearest && Math.abs(m[8]) < 1e-9 && Math.abs(m[9]) < 1e-9;
  for (let k = 0; k < nz; k++) {
    // Fast path: this output slice lies on one source slice (the usual in-plane resampling).
    const zk = m[10] * k + m[11];
    const zr = Math.round(zk);
    if (inPlane && Math.abs(zk - zr) < 1e-6) {
      const plane = zr >= 0 && zr < sz ? d.subarray(zr * sxy, (zr + 1) * sxy) : undefined;
      bilinearSlice(plane, sx, sy, m, k, nx, ny, s, fill, out, o);
      o += nx * ny;
      continue;
    }
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        if (s === 1) {
          out[o++] = sample(
            m[0] * i + m[1] * j + m[2] * k + m[3],
            m[4] * i + m[5] * j + m[6] * k + m[7],
            m[8] * i + m[9] * j + m[10] * k + m[11],
          );
          continue;
        }
        let acc = 0;
        for (let b = 0; b < s; b++) {
          const jj = j + (b + 0.5) / s - 0.5;
          for (let a = 0; a < s; a++) {
            const ii = i + (a + 0.5) / s - 0.5;
            acc += sample(
              m[0] * ii + m[1] * jj + m[2] * k + m[3],
              m[4] * ii + m[5] * jj + m[6] * k + m[7],
              m[8] * ii + m[9] * jj + m[10] * k + m[11],
            );
          }
        }
        out[o++] = acc / (s * s);
      }
    }
  }
  return makeVolume(out, targetDims, targetAffine);
}

/**
 * Bilinear resampling of one output slice k from one source plane (undefined: outside the stack),
 * with s x s box oversampling; same conventions as the general path (footprint bounds, edge clamping,
 * snapping of coordinates within 1e-6 of an integer).
 */
function bilinearSlice(
  plane: Float32Array | undefined,
  sx: number,
  sy: number,
  m: Mat4,
  k: number,
  nx: number,
  ny: number,
  s: number,
  fill: number,
  out: Float32Array,
  o: number,
): void {
  if (!plane) {
    out.fill(fill, o, o + nx * ny);
    return;
  }
  const bx = m[2] * k + m[3];
  const by = m[6] * k + m[7];
  const inv = 1 / (s * s);
  const hiX = sx - 0.5;
  const hiY = sy - 0.5;
  if (Math.abs(m[1]) < 1e-12 && Math.abs(m[4]) < 1e-12) {
    // Axis-aligned: x depends on i only and y on j only, so the taps are computed once per column/row.
    const cx = axisTaps(nx, s, m[0], bx, sx, hiX);
    const cy = axisTaps(ny, s, m[5], by, sy, hiY);
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        let acc = 0;
        for (let b = 0; b < s; b++) {
          const ty = j * s + b;
          if (!cy.ok[ty]) {
            acc += fill * s;
            continue;
          }
          const r0 = cy.lo[ty] * sx;
          const r1 = cy.hi[ty] * sx;
          const fy = cy.f[ty];
          for (let a = 0; a < s; a++) {
            const tx = i * s + a;
            if (!cx.ok[tx]) {
              acc += fill;
              continue;
            }
            const i0 = cx.lo[tx];
            const i1 = cx.hi[tx];
            const fx = cx.f[tx];
            const c0 = plane[r0 + i0] * (1 - fx) + plane[r0 + i1] * fx;
            const c1 = plane[r1 + i0] * (1 - fx) + plane[r1 + i1] * fx;
            acc += c0 * (1 - fy) + c1 * fy;
          }
        }
        out[o++] = s === 1 ? acc : acc * inv;
      }
    }
    return;
  }
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      let acc = 0;
      for (let b = 0; b < s; b++) {
        const jj = s === 1 ? j : j + (b + 0.5) / s - 0.5;
        for (let a = 0; a < s; a++) {
          const ii = s === 1 ? i : i + (a + 0.5) / s - 0.5;
          let x = m[0] * ii + m[1] * jj + bx;
          let y = m[4] * ii + m[5] * jj + by;
          if (x < -0.5 || y < -0.5 || x > hiX || y > hiY) {
            acc += fill;
            continue;
          }
          const rx = Math.round(x);
          if (Math.abs(x - rx) < 1e-6) x = rx;
          const ry = Math.round(y);
          if (Math.abs(y - ry) < 1e-6) y = ry;
          x = x < 0 ? 0 : Math.min(x, sx - 1);
          y = y < 0 ? 0 : Math.min(y, sy - 1);
          const i0 = Math.floor(x);
          const j0 = Math.floor(y);
          const fx = x - i0;
          const fy = y - j0;
          const i1 = fx > 0 ? i0 + 1 : i0;
          const r0 = j0 * sx;
          const r1 = (fy > 0 ? j0 + 1 : j0) * sx;
          const c0 = plane[r0 + i0] * (1 - fx) + plane[r0 + i1] * fx;
          const c1 = plane[r1 + i0] * (1 - fx) + plane[r1 + i1] * fx;
          acc += c0 * (1 - fy) + c1 * fy;
        }
      }
      out[o++] = s === 1 ? acc : acc * inv;
    }
  }
}

/** Per output index (and sub-sample): lower/upper source index, weight, and whether inside the footprint. */
function axisTaps(
  n: number,
  s: number,
  step: number,
  base: number,
  size: number,
  hi: number,
): { lo: Int32Array; hi: Int32Array; f: Float64Array; ok: Uint8Array } {
  const lo = new Int32Array(n * s);
  const up = new Int32Array(n * s);
  const f = new Float64Array(n * s);
  const ok = new Uint8Array(n * s);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < s; a++) {
      const ii = s === 1 ? i : i + (a + 0.5) / s - 0.5;
      let x = step * ii + base;
      const t = i * s + a;
      if (x < -0.5 || x > hi) continue;
      const rx = Math.round(x);
      if (Math.abs(x - rx) < 1e-6) x = rx;
      x = x < 0 ? 0 : Math.min(x, size - 1);
      const x0 = Math.floor(x);
      lo[t] = x0;
      f[t] = x - x0;
      up[t] = f[t] > 0 ? x0 + 1 : x0;
      ok[t] = 1;
    }
  }
  return { lo, hi: up, f, ok };
}

/** Resamples to a given voxel spacing over the same extent, keeping the axis directions. */
export function resampleToSpacing(
  src: Volume,
  spacing: [number, number, number],
  options: ResampleOptions = {},
): Volume {
  const dims: [number, number, number] = [0, 0, 0];
  const affine = [...src.affine];
  for (let a = 0; a < 3; a++) {
    const extent = (src.dims[a] - 1) * src.spacing[a];
    dims[a] = Math.max(1, Math.round(extent / spacing[a]) + 1);
    const f = spacing[a] / src.spacing[a];
    affine[a] *= f;
    affine[4 + a] *= f;
    affine[8 + a] *= f;
  }
  return resampleToGrid(src, affine, dims, options);
}

/**
 * Centre crop or zero-pad the in-plane grid (i, j) to `size` voxels, keeping the spacing; the affine's
 * origin moves so that world positions are preserved.
 */
export function cropOrPadInPlane(src: Volume, size: [number, number], fill = 0): Volume {
  const [nx, ny, nz] = src.dims;
  const ox = Math.floor((nx - size[0]) / 2);
  const oy = Math.floor((ny - size[1]) / 2);
  const out = new Float32Array(size[0] * size[1] * nz).fill(fill);
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < size[1]; j++) {
      const sj = j + oy;
      if (sj < 0 || sj >= ny) continue;
      for (let i = 0; i < size[0]; i++) {
        const si = i + ox;
        if (si < 0 || si >= nx) continue;
        out[i + size[0] * (j + size[1] * k)] = src.data[si + nx * (sj + ny * k)];
      }
    }
  }
  const a = [...src.affine];
  for (let r = 0; r < 3; r++) a[r * 4 + 3] += a[r * 4] * ox + a[r * 4 + 1] * oy;
  return makeVolume(out, [size[0], size[1], nz], a);
}

/**
 * Resizes each slice in-plane to `size` pixels over the same field of view (pixel-edge aligned, like
 * torchvision's resize with align_corners=False), bilinear, with a box prefilter when shrinking.
 */
export function resizeInPlane(src: Volume, size: [number, number]): Volume {
  const [nx, ny, nz] = src.dims;
  const fx = nx / size[0];
  const fy = ny / size[1];
  const a = [...src.affine];
  // New voxel centre i' sits at old index (i' + 0.5) * fx - 0.5.
  for (let r = 0; r < 3; r++) {
    a[r * 4 + 3] += a[r * 4] * (0.5 * fx - 0.5) + a[r * 4 + 1] * (0.5 * fy - 0.5);
    a[r * 4] *= fx;
    a[r * 4 + 1] *= fy;
  }
  const oversample = Math.max(1, Math.ceil(Math.max(fx, fy) - 1e-9));
  return resampleToGrid(src, a, [size[0], size[1], nz], { oversample, fill: 0 });
}
