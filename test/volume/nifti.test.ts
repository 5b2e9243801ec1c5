import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import {
  affineColumn,
  applyAffine,
  assembleVolume,
  flipLpsRas,
  makeVolume,
  maxAbsDiff,
  orientationCode,
  readNifti,
  writeNifti,
} from "../../src/volume/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { syntheticSeries } from "../fixtures/volume/frames.ts";

const SAMPLES = fileURLToPath(new URL("../../../shared/data/dicom-samples/", import.meta.url));
const tmp = scratchDir("liverstiff-nifti-");

describe("NIfTI round trip", () => {
  it("writes int16 when the data are integers, and reads back identical voxels and affine", async () => {
    const c = Math.cos(0.3);
    const sn = Math.sin(0.3);
    const s = syntheticSeries({ n: 3, iop: [c, sn, 0, -sn, c, 0], origin: [12.5, -40.25, 88] });
    const { volume } = await assembleVolume(s.frames, { readPixels: s.readPixels });
    const path = join(tmp, "a.nii.gz");
    writeNifti(path, volume, { sidecar: { SeriesDescription: "t1 in", EchoTime: 0.0046 } });
    const back = readNifti(path);
    assert.equal(back.transform, "sform");
    assert.deepEqual(back.volume.dims, volume.dims);
    assert.deepEqual(Array.from(back.volume.data), Array.from(volume.data));
    assert.ok(maxAbsDiff(back.volume.affine, volume.affine) < 1e-4);
    assert.equal(back.sidecar?.SeriesDescription, "t1 in");
    // int16 on disk: 352 header bytes + 2 bytes per voxel, uncompressed
    writeNifti(join(tmp, "a.nii"), volume);
    assert.equal(readFileSync(join(tmp, "a.nii")).length, 352 + 2 * 5 * 4 * 3);
  });

  it("keeps float data as float32 and the qform agrees with the sform", () => {
    const data = new Float32Array(3 * 2 * 2).map((_, i) => i * 0.25 - 1);
    // left-handed-in-RAS, i.e. a typical DICOM LPS axial affine
    const vol = makeVolume(data, [3, 2, 2], [0.9, 0, 0, 10, 0, 0.9, 0, 20, 0, 0, 3, -5, 0, 0, 0, 1]);
    const path = join(tmp, "f.nii");
    writeNifti(path, vol);
    const back = readNifti(path);
    assert.deepEqual(Array.from(back.volume.data), Array.from(data));
    // Zero the sform code to force the qform path.
    const bytes = readFileSync(path);
    bytes.writeInt16LE(0, 254);
    const qpath = join(tmp, "q.nii");
    writeFileSync(qpath, bytes);
    const q = readNifti(qpath);
    assert.equal(q.transform, "qform");
    assert.ok(maxAbsDiff(q.volume.affine, vol.affine) < 1e-4, JSON.stringify(q.volume.affine));
  });
});

describe("NIfTI reader on real abdominal files", () => {
  const have = existsSync(SAMPLES);
  it("reads the UKAT GE coronal multi-echo kidney volume (4D) with its dcm2niix sidecar", (t) => {
    if (!have) return t.skip(`sample folder absent: ${SAMPLES}`);
    const img = readNifti(join(SAMPLES, "abd_ukat_ge_kidney_mgre_e1.nii.gz"));
    assert.deepEqual(img.volume.dims, [256, 256, 5]);
    assert.equal(img.volumes, 3);
    assert.ok(Math.abs(img.volume.spacing[0] - 1.5) < 1e-3);
    assert.ok(Math.abs(img.volume.spacing[2] - 5) < 1e-3);
    assert.equal(img.sidecar?.Manufacturer, "GE");
    assert.equal(img.sidecar?.EchoTime, 0.0046);
    // coronal: the slice axis runs anterior-posterior
    const k = affineColumn(img.volume.affine, 2);
    assert.ok(Math.abs(k[1]) > 4.9, `slice axis ${k}`);
    // LPS affine is the RAS affine with x and y negated
    assert.ok(maxAbsDiff(flipLpsRas(img.affineRas), img.volume.affine) < 1e-9);
    const third = readNifti(join(SAMPLES, "abd_ukat_ge_kidney_mgre_e1.nii.gz"), { volumeIndex: 2 });
    assert.notDeepEqual(
      Array.from(third.volume.data.subarray(0, 2000)),
      Array.from(img.volume.data.subarray(0, 2000)),
    );
  });

  it("gets the same LPS affine from the qform as from the sform of each real file (dcm2niix writes both)", (t) => {
    if (!have) return t.skip(`sample folder absent: ${SAMPLES}`);
    const _compared = 0;
    for (const f of [
      "abd_ukat_ge_kidney_mgre_e1.nii.gz",
      "abd_ukat_philips_kidney_t2mese_e1.nii.gz",
      "abd_totalseg_example_mr_sm.nii.gz",
    ]) {
      const img = readNifti(join(SAMPLES, f));
      assert.equal(img.transform, "sform");
      const raw = Buffer.from(gunzipSync(readFileSync(join(SAMPLES, f))));
      if (raw.readInt16LE(252) <= 0) continue; // no qform to compare
      raw.writeInt16LE(0, 254); // sform_code = 0: the reader must fall back to the qform
      const q = join(tmp, f.replace(/\.gz$/, ""));
      writeFileSync(q, raw);
      const viaQ = readNifti(q);
      assert.equal(viaQ.transform, "qform");
      assert.ok(maxAbsDiff(viaQ.volume.affine, img.volume.affine) < 1e-3, `${f}: qform vs sform`);
      assert.deepEqual(
        Array.from(viaQ.volume.data.subarray(0, 500)),
        Array.from(img.volume.data.subarray(0, 500)),
      );
    }
  });

  it("reads the UKAT Philips T2 multi-echo volume and the TotalSegmentator image/label pair", (t) => {
    if (!have) return t.skip(`sample folder absent: ${SAMPLES}`);
    const ph = readNifti(join(SAMPLES, "abd_ukat_philips_kidney_t2mese_e1.nii.gz"));
    assert.deepEqual(ph.volume.dims, [96, 96, 5]);
    assert.ok(Math.abs(ph.volume.spacing[2] - 5) < 1e-3);
    assert.equal(ph.sidecar?.Manufacturer, "Philips");
    const mr = readNifti(join(SAMPLES, "abd_totalseg_example_mr_sm.nii.gz"));
    const seg = readNifti(join(SAMPLES, "abd_totalseg_example_seg_mr_labels.nii.gz"));
    assert.deepEqual(mr.volume.dims, [117, 91, 20]);
    assert.deepEqual(seg.volume.dims, [117, 91, 20]);
    assert.ok(maxAbsDiff(mr.volume.affine, seg.volume.affine) < 1e-3);
    assert.ok(mr.volume.spacing.every((x) => Math.abs(x - 3) < 1e-3));
    // Label 5 (liver) is the largest organ, brighter than the kidneys (2, 3) on this T1w image, and lies on
    // the patient's right (smaller LPS x) of the spleen (label 1): image, labels and affine agree.
    const stats = new Map<number, { n: number; sum: number; x: number }>();
    const [nx, ny] = seg.volume.dims;
    for (let idx = 0; idx < seg.volume.data.length; idx++) {
      const l = seg.volume.data[idx];
      const e = stats.get(l) ?? { n: 0, sum: 0, x: 0 };
      const i = idx % nx;
      const j = Math.floor(idx / nx) % ny;
      const k = Math.floor(idx / (nx * ny));
      e.n++;
      e.sum += mr.volume.data[idx];
      e.x += applyAffine(seg.volume.affine, [i, j, k])[0];
      stats.set(l, e);
    }
    const liver = stats.get(5)!;
    const spleen = stats.get(1)!;
    const largest = [...stats.entries()].filter(([l]) => l !== 0).sort((a, b) => b[1].n - a[1].n)[0][0];
    assert.equal(largest, 5);
    assert.ok(liver.sum / liver.n > (stats.get(2)!.sum / stats.get(2)!.n) * 2);
    assert.ok(
      liver.x / liver.n < spleen.x / spleen.n - 50,
      `liver x ${liver.x / liver.n}, spleen x ${spleen.x / spleen.n}`,
    );
    assert.match(orientationCode(mr.volume.affine), /^[LR][AP][SI]$/);
  });
});
