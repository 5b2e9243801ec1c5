// Volumes assembled from whole series must match dcm2niix's NIfTI output of the same series: identical
// voxels after reorientation, affine within 1e-3 mm. Runs dcm2niix when present; skips with a reason if not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { orientationCode } from "../../src/volume/index.ts";
import { makeSeriesFromTemplate } from "../fixtures/volume/make-series.ts";
import { assembleBoth, assertSame, DCM2NIIX } from "../fixtures/volume/parity.ts";

// The permissively licensed real samples (test/fixtures/dicom-samples/README.md).
const SAMPLES = fileURLToPath(new URL("../fixtures/dicom-samples/", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "liverstiff-parity-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function skipReason(): string | undefined {
  if (!DCM2NIIX) return "dcm2niix not installed (apt-get install dcm2niix)";
  if (!existsSync(SAMPLES)) return `sample folder absent: ${SAMPLES}`;
  return undefined;
}

describe("parity with dcm2niix", () => {
  const template = join(SAMPLES, "ge_mr750_brain_t1.dcm");

  it("oblique sagittal classic series with InstanceNumbers against position (GE template)", async (t) => {
    const why = skipReason();
    if (why) return t.skip(why);
    const dir = join(tmp, "ge-sag");
    makeSeriesFromTemplate(template, dir, { slices: 6, stepMm: 4, uidRoot: "1.2.826.0.1.3680043.9.7777.11" });
    const pairs = await assembleBoth(dir, join(tmp, "ge-sag-out"));
    assert.equal(pairs.length, 1);
    assert.equal(orientationCode(pairs[0].ours.affine), "PIR"); // normal = row x column points right
    assertSame(pairs[0]);
  });

  it("axial and double-oblique axial classic series", async (t) => {
    const why = skipReason();
    if (why) return t.skip(why);
    const c = Math.cos(0.35);
    const s = Math.sin(0.35);
    const ct = Math.cos(0.15);
    const st = Math.sin(0.15);
    // row: rotated in the axial plane; column: rotated and tilted toward the feet
    const rowDir = [c, s, 0];
    const colDir = [-s * ct, c * ct, -st];
    for (const [name, iop] of [
      ["axial", [1, 0, 0, 0, 1, 0]],
      ["oblique", [...rowDir, ...colDir]],
    ] as const) {
      const dir = join(tmp, name);
      makeSeriesFromTemplate(template, dir, {
        slices: 7,
        stepMm: 5.5,
        iop: iop as unknown as [number, number, number, number, number, number],
        uidRoot: `1.2.826.0.1.3680043.9.7777.${name === "axial" ? 12 : 13}`,
      });
      const pairs = await assembleBoth(dir, join(tmp, `${name}-out`));
      assert.equal(pairs.length, 1);
      assertSame(pairs[0]);
    }
  });

  it("enhanced multi-frame: Siemens Vida XA10 and Philips Achieva", async (t) => {
    const why = skipReason();
    if (why) return t.skip(why);
    for (const f of ["enh_siemens_vida_xa10_epi.dcm", "enh_philips_achieva_t1ffe_brain.dcm"]) {
      const dir = join(tmp, f.replace(/\.dcm$/, ""));
      mkdirSync(dir, { recursive: true });
      copyFileSync(join(SAMPLES, f), join(dir, f));
      const pairs = await assembleBoth(dir, join(tmp, `${f.slice(4, 11)}-out`));
      assert.equal(pairs.length, 1, f);
      assert.ok(pairs[0].ours.dims[2] > 1, `${f}: a 3D stack`);
      assertSame(pairs[0]);
    }
  });

  it("single images of every vendor and compressed syntax (decompressed with dcmtk/GDCM for dcm2niix)", async (t) => {
    const why = skipReason();
    if (why) return t.skip(why);
    // [file, how to give dcm2niix a file it can decode (it reads native, RLE and single-fragment JPEG)]
    const cases: [string, string[] | undefined][] = [
      ["abd_siemens_avanto_liver_t1vibe_overlay.dcm", undefined],
      ["ge_mr750_brain_t1.dcm", undefined],
      ["pydicom_MR_small_toshiba_rle.dcm", undefined],
      ["siemens_aera_head_loc_jpegll.dcm", undefined],
      ["wg04_MR1_toshiba_brain_jpegll.dcm", ["dcmdjpeg"]],
      ["wg04_MR3_ge_knee_jpegls.dcm", ["dcmdjpls"]],
      ["wg04_MR4_philips_brain_j2k_lossless.dcm", ["gdcmconv", "--raw"]],
    ];
    let compared = 0;
    const skipped: string[] = [];
    for (const [f, tool] of cases) {
      const ours = join(tmp, `one-${f}`);
      const theirs = join(tmp, `one-d-${f}`);
      mkdirSync(ours, { recursive: true });
      mkdirSync(theirs, { recursive: true });
      copyFileSync(join(SAMPLES, f), join(ours, f));
      if (tool) {
        const r = spawnSync(tool[0], [...tool.slice(1), join(SAMPLES, f), join(theirs, f)], {
          encoding: "utf8",
        });
        if (r.error || r.status !== 0) {
          skipped.push(`${f} (${tool[0]} unavailable or failed)`);
          continue;
        }
      } else copyFileSync(join(SAMPLES, f), join(theirs, f));
      // Our volume from the original (compressed) file, dcm2niix's from the decompressed copy.
      const pairs = await assembleBoth(ours, join(tmp, `one-out-${f}`), theirs);
      assert.equal(pairs.length, 1, f);
      assert.equal(pairs[0].ours.dims[2], 1, f);
      // MR4 has RescaleSlope 9.570207 and RescaleIntercept -19595: dcm2niix keeps the slope as a float32
      // scl_slope, so its values are off by up to 4095 * 9.57 * 2^-24 ≈ 2.4e-3 after the cancellation.
      assertSame(pairs[0], f.startsWith("wg04_MR4") ? 2.5e-3 : 0);
      compared++;
    }
    if (skipped.length) t.diagnostic(`not compared: ${skipped.join("; ")}`);
    assert.ok(compared >= 4, `compared ${compared}`);
    if (!skipped.length) assert.equal(compared, 7);
  });
});
