// Volumes assembled from whole series must match dcm2niix's NIfTI output of the same series: identical
// voxels after reorientation, affine within 1e-3 mm. Runs dcm2niix when present; skips with a reason if not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { indexDicom, readFramePixels } from "../../src/dicom/index.ts";
import {
  assembleVolume,
  framesByEcho,
  maxAbsDiff,
  orientationCode,
  readNifti,
  reorientToCanonical,
  type Volume,
} from "../../src/volume/index.ts";
import { makeSeriesFromTemplate } from "../fixtures/volume/make-series.ts";

const SAMPLES = fileURLToPath(new URL("../../../shared/data/dicom-samples/", import.meta.url));
const probe = spawnSync("dcm2niix", ["-v"], { encoding: "utf8" });
const DCM2NIIX = probe.error ? undefined : "dcm2niix";
const tmp = mkdtempSync(join(tmpdir(), "liverstiff-parity-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function skipReason(): string | undefined {
  if (!DCM2NIIX) return "dcm2niix not installed (apt-get install dcm2niix)";
  if (!existsSync(SAMPLES)) return `sample folder absent: ${SAMPLES}`;
  return undefined;
}

interface Pair {
  ours: Volume;
  theirs: Volume;
  seriesNumber?: number;
}

/** Runs dcm2niix on a folder and pairs each of our assembled (series, echo) volumes with its output. */
async function assembleBoth(dir: string, name: string): Promise<Pair[]> {
  const out = join(tmp, `${name}-out`);
  mkdirSync(out, { recursive: true });
  // -p n: display scaling (RescaleSlope), as DICOM defines real-world values; no Philips float scaling.
  const r = spawnSync(DCM2NIIX!, ["-p", "n", "-z", "n", "-f", "%s_e%e", "-o", out, dir], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const index = await indexDicom([dir]);
  const pairs: Pair[] = [];
  for (const s of index.series) {
    const echoes = [...framesByEcho(s.frames).entries()].sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
    for (const [e, [, frames]] of echoes.entries()) {
      const { volume } = await assembleVolume(frames, { readPixels: (f) => readFramePixels(f) });
      const candidates = readdirSync(out).filter((f) => f.endsWith(".nii"));
      const exact = candidates.find((f) => f === `${s.seriesNumber}_e${e + 1}.nii`);
      const file = exact ?? (candidates.length === 1 && echoes.length === 1 ? candidates[0] : undefined);
      assert.ok(
        file,
        `no dcm2niix output for series ${s.seriesNumber} echo ${e + 1} in ${candidates.join(", ")}`,
      );
      pairs.push({ ours: volume, theirs: readNifti(join(out, file)).volume, seriesNumber: s.seriesNumber });
    }
  }
  return pairs;
}

function assertSame(p: Pair): void {
  const a = reorientToCanonical(p.ours, "LPS");
  const b = reorientToCanonical(p.theirs, "LPS");
  assert.deepEqual(a.dims, b.dims, "dims after reorientation");
  const d = maxAbsDiff(a.affine, b.affine);
  assert.ok(
    d < 1e-3,
    `affine differs by ${d} mm\nours   ${a.affine.map((x) => x.toFixed(4))}\ntheirs ${b.affine.map((x) => x.toFixed(4))}`,
  );
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.data.length; i++) {
    const diff = Math.abs(a.data[i] - b.data[i]) / Math.max(1, Math.abs(b.data[i]));
    if (diff > worst) {
      worst = diff;
      at = i;
    }
  }
  assert.ok(worst < 1e-5, `voxel ${at} differs: ours ${a.data[at]}, dcm2niix ${b.data[at]}`);
}

describe("parity with dcm2niix", () => {
  const template = join(SAMPLES, "ge_mr750_brain_t1.dcm");

  it("oblique sagittal classic series with InstanceNumbers against position (GE template)", async (t) => {
    const why = skipReason();
    if (why) return t.skip(why);
    const dir = join(tmp, "ge-sag");
    makeSeriesFromTemplate(template, dir, { slices: 6, stepMm: 4, uidRoot: "1.2.826.0.1.3680043.9.7777.11" });
    const pairs = await assembleBoth(dir, "ge-sag");
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
      const pairs = await assembleBoth(dir, name);
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
      const pairs = await assembleBoth(dir, f.slice(4, 11));
      assert.equal(pairs.length, 1, f);
      assert.ok(pairs[0].ours.dims[2] > 1, `${f}: a 3D stack`);
      assertSame(pairs[0]);
    }
  });
});
