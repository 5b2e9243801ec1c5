import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import {
  applyAffine,
  assembleVolume,
  framesForEcho,
  invertAffine,
  matmul4,
  maxAbsDiff,
  orientationCode,
  planStack,
  reorientToCanonical,
} from "../../src/volume/index.ts";
import { syntheticSeries } from "../fixtures/volume/frames.ts";

describe("assembleVolume", () => {
  it("sorts slices by position along the normal, not InstanceNumber, and builds the affine", async () => {
    const s = syntheticSeries({ n: 6, stepMm: 5 });
    const { volume, frames, sliceStepMm } = await assembleVolume(s.frames, { readPixels: s.readPixels });
    assert.deepEqual(volume.dims, [5, 4, 6]);
    assert.equal(sliceStepMm, 5);
    assert.deepEqual(
      frames.map((f) => f.sopInstanceUid),
      ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4", "1.2.3.5", "1.2.3.6"],
    );
    // i along columns (0.7 mm along +x), j along rows (0.8 mm along +y), k 5 mm along +z.
    assert.deepEqual(volume.affine, [0.7, 0, 0, -100, 0, 0.8, 0, -80, 0, 0, 5, 20, 0, 0, 0, 1]);
    assert.deepEqual(volume.spacing, [0.7, 0.8, 5]);
    // voxel (i=3, j=2, k=4) holds slice 4, row 2, col 3
    assert.equal(volume.data[3 + 5 * (2 + 4 * 4)], 40203);
    assert.equal(orientationCode(volume.affine), "LPS");
  });

  it("handles a descending, oblique sagittal stack", async () => {
    const c = Math.cos(0.2);
    const sn = Math.sin(0.2);
    // sagittal: rows along -z rotated, normal along x
    const s = syntheticSeries({ n: 4, iop: [0, c, sn, 0, -sn, c], stepMm: 3, positions: [9, 6, 3, 0] });
    const { volume } = await assembleVolume(s.frames, { readPixels: s.readPixels });
    // normal = row x col = (1, 0, 0); positions along it ascending after sort: 0,3,6,9 = uids .4 .3 .2 .1
    assert.equal(volume.data[0], 30000);
    const p = applyAffine(volume.affine, [0, 0, 3]);
    assert.ok(Math.abs(p[0] - (-100 + 9)) < 1e-9);
    assert.ok(Math.abs(volume.spacing[2] - 3) < 1e-9);
    assert.equal(orientationCode(volume.affine), "PSL");
  });

  it("rejects mixed orientations in one series with a clear reason", () => {
    const a = syntheticSeries({ n: 3 });
    const b = syntheticSeries({ n: 2, iop: [1, 0, 0, 0, 0, -1], uidPrefix: "9.9" });
    assert.throws(
      () => planStack([...a.frames, ...b.frames]),
      (err: unknown) =>
        err instanceof LiverstiffError &&
        err.context.geometry === "mixed_orientation" &&
        /mixed slice orientations/.test(err.message),
    );
  });

  it("rejects mixed image sizes", () => {
    const a = syntheticSeries({ n: 3 });
    const b = syntheticSeries({ n: 1, rows: 8, uidPrefix: "9.9", positions: [20] });
    assert.throws(
      () => planStack([...a.frames, ...b.frames]),
      (err: unknown) => err instanceof LiverstiffError && err.context.geometry === "mixed_size",
    );
  });

  it("reports missing slices (gaps)", async () => {
    const s = syntheticSeries({ positions: [0, 5, 10, 20, 25] });
    assert.throws(
      () => planStack(s.frames),
      (err: unknown) =>
        err instanceof LiverstiffError &&
        err.context.geometry === "missing_slices" &&
        /^1 missing/.test(err.message),
    );
    const lenient = planStack(s.frames, { strictSpacing: false });
    assert.equal(lenient.issues[0].kind, "missing_slices");
  });

  it("reports uneven spacing", async () => {
    const s = syntheticSeries({ positions: [0, 5, 10, 17, 22] });
    assert.throws(
      () => planStack(s.frames),
      (err: unknown) => err instanceof LiverstiffError && err.context.geometry === "uneven_spacing",
    );
  });

  it("reports two different images at one position, and drops an exact duplicate frame", async () => {
    const s = syntheticSeries({ positions: [0, 5, 5, 10] });
    assert.throws(
      () => planStack(s.frames),
      (err: unknown) => err instanceof LiverstiffError && err.context.geometry === "duplicate_slice",
    );
    const t = syntheticSeries({ n: 4 });
    const plan = planStack([...t.frames, t.frames[0]]);
    assert.equal(plan.frames.length, 4);
    assert.equal(plan.issues[0].kind, "duplicate_frame");
  });

  it("refuses a multi-volume series as such, not as duplicate slice positions", () => {
    // Three volumes of four slices each, listed volume after volume (a repeated acquisition).
    const s = syntheticSeries({ positions: [0, 5, 10, 15, 0, 5, 10, 15, 0, 5, 10, 15] });
    assert.throws(
      () => planStack(s.frames),
      (err: unknown) =>
        err instanceof LiverstiffError &&
        err.context.geometry === "multi_volume" &&
        /^multi-volume series: 12 images at 4 slice positions, 3 volumes/.test(err.message),
    );
    // Uneven repeats are still duplicate positions.
    const t = syntheticSeries({ positions: [0, 5, 5, 10, 10, 10] });
    assert.throws(
      () => planStack(t.frames),
      (err: unknown) => err instanceof LiverstiffError && err.context.geometry === "duplicate_slice",
    );
  });

  it("refuses a Siemens mosaic instead of writing it as one slice", () => {
    const s = syntheticSeries({ n: 1 });
    const mosaic = [{ ...s.frames[0], mosaicImages: 36 }];
    assert.throws(
      () => planStack(mosaic),
      (err: unknown) =>
        err instanceof LiverstiffError &&
        err.context.geometry === "mosaic" &&
        /Siemens mosaic image \(36 slices/.test(err.message),
    );
  });

  it("gives a single slice the step of SpacingBetweenSlices, then SliceThickness (as dcm2niix)", () => {
    const s = syntheticSeries({ n: 1 });
    const both = planStack([{ ...s.frames[0], sliceThicknessMm: 4, spacingBetweenSlicesMm: 6 }]);
    assert.equal(both.sliceStepMm, 6);
    assert.equal(both.affine[10], 6);
    const thickness = planStack([{ ...s.frames[0], sliceThicknessMm: 4 }]);
    assert.equal(thickness.sliceStepMm, 4);
    assert.equal(thickness.affine[10], 4);
  });

  it("selects one echo of a dual-echo series", () => {
    const a = syntheticSeries({ n: 3, echoTimeMs: 2.3, uidPrefix: "1.1" });
    const b = syntheticSeries({ n: 3, echoTimeMs: 4.6, uidPrefix: "2.2" });
    const both = [...a.frames, ...b.frames];
    assert.throws(() => planStack(both)); // same positions twice
    const opp = framesForEcho(both, 2.3);
    assert.equal(opp.length, 3);
    assert.equal(planStack(opp).frames.length, 3);
  });
});

describe("reorientToCanonical", () => {
  it("permutes and flips axes while keeping every voxel's world position", async () => {
    const s = syntheticSeries({ n: 4, iop: [0, -1, 0, 0, 0, -1], stepMm: 2 });
    const { volume } = await assembleVolume(s.frames, { readPixels: s.readPixels });
    assert.equal(orientationCode(volume.affine), "AIL");
    const lps = reorientToCanonical(volume, "LPS");
    assert.equal(orientationCode(lps.affine), "LPS");
    const ras = reorientToCanonical(volume, "RAS");
    assert.equal(orientationCode(ras.affine), "RAS");
    // Same value at the same world point.
    const toLps = matmul4(invertAffine(lps.affine), volume.affine);
    for (const [i, j, k] of [
      [0, 0, 0],
      [4, 3, 3],
      [2, 1, 0],
    ]) {
      const q = applyAffine(toLps, [i, j, k]).map((x) => Math.round(x));
      assert.equal(
        lps.data[q[0] + lps.dims[0] * (q[1] + lps.dims[1] * q[2])],
        volume.data[i + volume.dims[0] * (j + volume.dims[1] * k)],
      );
    }
    // Reorienting back gives the identical arrays.
    const back = reorientToCanonical(reorientToCanonical(lps, "RAS"), "LPS");
    assert.deepEqual(Array.from(back.data), Array.from(lps.data));
    assert.ok(maxAbsDiff(back.affine, lps.affine) < 1e-9);
  });
});
