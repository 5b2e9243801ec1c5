// Volumes assembled from whole series must match dcm2niix's NIfTI output of the same series: identical
// voxels after reorientation, affine within 1e-3 mm. Runs dcm2niix when present; skips with a reason if not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { convertToNifti, orientationCode, readNifti, type Volume } from "../../src/volume/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { makeSeriesFromTemplate } from "../fixtures/volume/make-series.ts";
import { assembleBoth, assertSame, DCM2NIIX } from "../fixtures/volume/parity.ts";

// The permissively licensed real samples (test/fixtures/dicom-samples/README.md).
const SAMPLES = fileURLToPath(new URL("../fixtures/dicom-samples/", import.meta.url));
const tmp = scratchDir("liverstiff-parity-");

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
  it("a diffusion series as one 4D file with FSL's .bval/.bvec, as dcm2niix writes it", async (t) => {
    const why = skipReason();
    if (why) return t.skip(why);
    // 4 positions x 4 volumes (b = 0, then three directions), double-oblique, instance numbers volume by volume.
    const positions = 4;
    const bvals = [0, 800, 800, 800];
    const gradients = [
      [0, 0, 0],
      [1, 0, 0],
      [0, 0.6, 0.8],
      [0.48, -0.6, 0.64],
    ];
    const c = Math.cos(0.35);
    const s = Math.sin(0.35);
    const dir = join(tmp, "dwi");
    makeSeriesFromTemplate(template, dir, {
      slices: positions * bvals.length,
      stepMm: 4,
      uidRoot: "1.2.826.0.1.3680043.9.7777.91",
      iop: [c, s, 0, -s * Math.cos(0.15), c * Math.cos(0.15), -Math.sin(0.15)],
      positions: Array.from({ length: positions * bvals.length }, (_, k) => (k % positions) * 4),
      instanceNumber: (k) => k + 1,
      // A vendor dcm2niix has no private rules for, so that both read the standard diffusion attributes.
      extra: { Manufacturer: "LIVERSTIFF TEST", SeriesDescription: "dwi", RepetitionTime: 4000 },
      extraForSlice: (k) => ({
        DiffusionBValue: bvals[Math.floor(k / positions)],
        DiffusionGradientOrientation: gradients[Math.floor(k / positions)],
      }),
    });
    const theirDir = join(tmp, "dwi-dcm2niix");
    mkdirSync(theirDir);
    const r = spawnSync(DCM2NIIX!, ["-z", "n", "-f", "%s", "-o", theirDir, dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const ours = await convertToNifti({ inputs: [dir], outDir: join(tmp, "dwi-ours") });
    assert.equal(ours.converted.length, 1, JSON.stringify(ours.failed));
    const c0 = ours.converted[0]!;
    assert.deepEqual([c0.dims, c0.volumes], [[256, 256, positions], 4]);
    const theirs = join(theirDir, readdirSync(theirDir).find((f) => f.endsWith(".nii"))!);
    for (let v = 0; v < bvals.length; v++) {
      assertSame({
        ours: readNifti(c0.file!, { volumeIndex: v }).volume,
        theirs: readNifti(theirs, { volumeIndex: v }).volume,
      });
    }
    const text = (f: string, ext: string) => readFileSync(f.replace(/\.nii(\.gz)?$/, ext), "utf8");
    assert.equal(text(c0.file!, ".bval").trim(), text(theirs, ".bval").trim());
    // The bvec's voxel axes differ between the files (dcm2niix flips the rows): compare in world space.
    const world = (f: string) => {
      const rows = text(f, ".bvec")
        .trim()
        .split("\n")
        .map((l) => l.trim().split(/\s+/).map(Number));
      const vol = readNifti(f, { volumeIndex: 0 }).volume;
      return bvals.map((_, v) => bvecToWorld(vol, [rows[0]![v]!, rows[1]![v]!, rows[2]![v]!]));
    };
    const a = world(c0.file!);
    const b = world(theirs);
    for (let v = 0; v < bvals.length; v++)
      for (let i = 0; i < 3; i++)
        assert.ok(Math.abs(a[v]![i]! - b[v]![i]!) < 1e-4, `volume ${v}: ${a[v]} vs ${b[v]}`);
    // The gradients given, in patient coordinates (LPS), come back.
    for (let v = 1; v < bvals.length; v++)
      for (let i = 0; i < 3; i++)
        assert.ok(Math.abs(a[v]![i]! - gradients[v]![i]!) < 1e-4, `volume ${v}: ${a[v]}`);
    const side = JSON.parse(text(c0.file!, ".json"));
    assert.equal(side.Liverstiff.volumes, 4);
  });
});

/**
 * An FSL bvec (voxel axes; x negated when the voxel-to-world rotation keeps handedness) as a direction in
 * patient LPS, through a volume's LPS affine.
 */
function bvecToWorld(vol: Volume, b: [number, number, number]): number[] {
  const axes = [0, 1, 2].map((c) => {
    const v = [vol.affine[c]!, vol.affine[4 + c]!, vol.affine[8 + c]!];
    const len = Math.hypot(...v);
    return v.map((x) => x / len);
  });
  // The handedness of the RAS rotation equals the LPS one's (two rows negated).
  const [x, y, z] = axes as [number[], number[], number[]];
  const det =
    x[0]! * (y[1]! * z[2]! - y[2]! * z[1]!) -
    y[0]! * (x[1]! * z[2]! - x[2]! * z[1]!) +
    z[0]! * (x[1]! * y[2]! - x[2]! * y[1]!);
  const v = [det > 0 ? -b[0] : b[0], b[1], b[2]];
  return [0, 1, 2].map((i) => axes[0]![i]! * v[0]! + axes[1]![i]! * v[1]! + axes[2]![i]! * v[2]!);
}
