import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyAffine,
  cropOrPadInPlane,
  makeVolume,
  resampleToGrid,
  resampleToSpacing,
  resizeInPlane,
} from "../../src/volume/index.ts";

/** A volume whose value is a linear function of world position: linear interpolation must be exact. */
function ramp(dims: [number, number, number], affine: number[]) {
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  const f = (p: number[]) => 2 * p[0] - 0.5 * p[1] + 3 * p[2] + 7;
  let o = 0;
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++)
      for (let i = 0; i < dims[0]; i++) data[o++] = f(applyAffine(affine, [i, j, k]));
  return { vol: makeVolume(data, dims, affine), f };
}

describe("resampling", () => {
  const A = [0.8, 0, 0, -50, 0, 0.8, 0, -40, 0, 0, 4, 10, 0, 0, 0, 1];

  it("is the identity on its own grid", () => {
    const { vol } = ramp([10, 8, 3], A);
    const r = resampleToGrid(vol, vol.affine, vol.dims);
    assert.deepEqual(Array.from(r.data), Array.from(vol.data));
  });

  it("reproduces a linear field exactly at arbitrary target points (trilinear)", () => {
    const { vol, f } = ramp([10, 8, 3], A);
    const target = [0.5, 0.1, 0, -48, -0.1, 0.5, 0, -37, 0, 0, 1.5, 11, 0, 0, 0, 1];
    const r = resampleToGrid(vol, target, [6, 6, 4]);
    let o = 0;
    for (let k = 0; k < 4; k++)
      for (let j = 0; j < 6; j++)
        for (let i = 0; i < 6; i++) {
          const expect = f(applyAffine(target, [i, j, k]));
          assert.ok(Math.abs(r.data[o++] - expect) < 1e-3, `(${i},${j},${k}) ${r.data[o - 1]} vs ${expect}`);
        }
  });

  it("is exact on a linear field for rotated in-plane targets lying on source slices (2D fast path)", () => {
    const { vol, f } = ramp([12, 10, 3], A);
    const c = Math.cos(0.4);
    const sn = Math.sin(0.4);
    // on source slice k = 2 (z = 18 mm), rotated by 0.4 rad, 0.6 mm pixels, 2x2 oversampling
    const target = [0.6 * c, -0.6 * sn, 0, -47, 0.6 * sn, 0.6 * c, 0, -37, 0, 0, 1, 18, 0, 0, 0, 1];
    for (const oversample of [1, 2]) {
      const r = resampleToGrid(vol, target, [7, 7, 1], { oversample });
      for (let j = 1; j < 6; j++)
        for (let i = 1; i < 6; i++) {
          const expect = f(applyAffine(target, [i, j, 0]));
          assert.ok(
            Math.abs(r.data[i + 7 * j] - expect) < 1e-3,
            `(${i},${j}) ${r.data[i + 7 * j]} vs ${expect}`,
          );
        }
    }
  });

  it("fills outside the source with the fill value", () => {
    const { vol } = ramp([4, 4, 1], A);
    const far = [1, 0, 0, 500, 0, 1, 0, 0, 0, 0, 1, 10, 0, 0, 0, 1];
    const r = resampleToGrid(vol, far, [2, 2, 1], { fill: -1 });
    assert.deepEqual(Array.from(r.data), [-1, -1, -1, -1]);
  });

  it("resamples to a spacing over the same extent", () => {
    const { vol, f } = ramp([11, 9, 3], A);
    const r = resampleToSpacing(vol, [0.4, 0.4, 2]);
    assert.deepEqual(r.dims, [21, 17, 5]);
    assert.deepEqual(
      r.spacing.map((x) => +x.toFixed(6)),
      [0.4, 0.4, 2],
    );
    assert.ok(Math.abs(r.data[5 + 21 * (3 + 17 * 1)] - f(applyAffine(r.affine, [5, 3, 1]))) < 1e-3);
  });

  it("crops and pads in-plane keeping world positions", () => {
    const { vol } = ramp([10, 8, 2], A);
    const c = cropOrPadInPlane(vol, [6, 12]);
    assert.deepEqual(c.dims, [6, 12, 2]);
    // crop 2 columns from the left; pad 2 rows on top (zeros)
    assert.equal(c.data[0], 0);
    assert.equal(c.data[0 + 6 * 2], vol.data[2]);
    assert.deepEqual(applyAffine(c.affine, [0, 2, 0]), applyAffine(vol.affine, [2, 0, 0]));
  });

  it("resizes in-plane over the same field of view, pixel-edge aligned", () => {
    const { vol, f } = ramp([16, 16, 1], A);
    const r = resizeInPlane(vol, [8, 8]);
    assert.deepEqual(r.dims, [8, 8, 1]);
    assert.ok(Math.abs(r.spacing[0] - 1.6) < 1e-9);
    // First output pixel centre is midway between source pixels 0 and 1.
    assert.deepEqual(applyAffine(r.affine, [0, 0, 0]), applyAffine(vol.affine, [0.5, 0.5, 0]));
    // An interior pixel of a linear field keeps its value through the box prefilter.
    assert.ok(Math.abs(r.data[3 + 8 * 4] - f(applyAffine(r.affine, [3, 4, 0]))) < 1e-3);
  });
});
