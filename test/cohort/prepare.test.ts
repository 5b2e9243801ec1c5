import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  centralSlices,
  intensityStats,
  otsuBin,
  prepareVolume,
  prepFingerprint,
  prepName,
  readPrepared,
  resolvePrep,
  sourceFingerprint,
  writePrepared,
} from "../../src/cohort/prepare.ts";
import { floatToHalf, halfToFloat } from "../../src/core/index.ts";
import { readSafetensors } from "../../src/nn/safetensors.ts";
import { makeVolume } from "../../src/volume/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-prep-");

describe("central slices", () => {
  it("takes mid-2..mid+2 (5) and mid-5..mid+5 (11), as the published method", () => {
    assert.deepEqual(centralSlices(20, 5), [8, 9, 10, 11, 12]);
    assert.deepEqual(centralSlices(21, 11), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    assert.deepEqual(centralSlices(5, 5), [0, 1, 2, 3, 4]);
    assert.throws(() => centralSlices(4, 5), /has 4 slices, the preparation needs 5/);
  });
});

describe("prepareVolume", () => {
  // 40 x 40 x 9 axial volume, 1 mm pixels, 5 mm slices; background 0 and a 10x10 mm bright square whose
  // left-posterior corner is at voxel (10, 20); slice value offsets let us check which slices were taken.
  const nx = 40;
  const ny = 40;
  const nz = 9;
  const data = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++)
        data[i + nx * (j + ny * k)] = i >= 10 && i < 20 && j >= 20 && j < 30 ? 100 + k : 0;
  // Stored with k running superior -> inferior (descending): preparation must reorient.
  const affine = [1, 0, 0, -20, 0, 1, 0, -20, 0, 0, -5, 40, 0, 0, 0, 1];
  const vol = makeVolume(data, [nx, ny, nz], affine);

  it("in mm mode, places anatomy by its position in millimetres", () => {
    const prep = resolvePrep({
      slices: 3,
      size: 20,
      fovMm: 40,
      normalize: "percentile",
      percentiles: [0, 100],
    });
    const out = prepareVolume(vol, prep);
    assert.equal(out.length, 3 * 20 * 20);
    // 2 mm output pixels over the same 40 mm: the square covers output columns 5..9 and rows 10..14.
    const at = (s: number, r: number, c: number) => out[s * 400 + r * 20 + c];
    assert.ok(at(1, 12, 7) > 0.9, `inside ${at(1, 12, 7)}`);
    assert.equal(at(1, 2, 2), 0);
    assert.equal(at(1, 12, 12), 0);
    // Central 3 of 9 after reorientation (inferior -> superior): reoriented k 3,4,5 = stored k 5,4,3:
    // values rise with stored k, so they fall across the prepared slices.
    assert.ok(at(0, 12, 7) > at(1, 12, 7) && at(1, 12, 7) > at(2, 12, 7));
  });

  it("in pixels mode (published), crops/pads to cropPx then resizes", () => {
    const prep = resolvePrep({ slices: 1, size: 16, inPlane: "pixels", cropPx: 32, normalize: "zscore" });
    const out = prepareVolume(vol, prep);
    // crop 32 of 40 from offset 4: the square spans crop columns 6..15, rows 16..25 -> output 3..7, 8..12
    let mean = 0;
    for (const x of data) mean += x;
    mean /= data.length;
    const inside = out[10 * 16 + 5];
    const outside = out[1 * 16 + 1];
    assert.ok(inside > 2, `inside z ${inside}`);
    assert.ok(Math.abs(outside - (0 - mean) / Math.sqrt(variance(data, mean))) < 1e-4);
  });

  it("names preparations and fingerprints them by source and config", () => {
    const p5 = resolvePrep({});
    assert.equal(prepName(p5), "s5-224-mm400-zscore-f32");
    assert.equal(
      prepName(resolvePrep({ slices: 11, size: 128, inPlane: "pixels" })),
      "s11-128-px256-zscore-f32",
    );
    const src = sourceFingerprint({ t2: { sopFrames: ["1#0", "2#0"] } });
    assert.equal(src, sourceFingerprint({ t2: { sopFrames: ["2#0", "1#0"] } }));
    assert.notEqual(src, sourceFingerprint({ t2: { sopFrames: ["1#0", "3#0"] } }));
    assert.notEqual(prepFingerprint(src, p5), prepFingerprint(src, resolvePrep({ size: 128 })));
  });
});

function variance(d: Float32Array, mean: number): number {
  let s = 0;
  for (const x of d) s += (x - mean) ** 2;
  return s / d.length;
}

describe("prepared cache format (safetensors layout)", () => {
  const roles = {
    t2: new Float32Array([0.5, -1.25, 3, 1e-3, 0, 7, 8, 9]),
    t1_in: new Float32Array(8).fill(2),
  };
  const exam = {
    examId: "ex_1",
    prepName: "p",
    fingerprint: "abc",
    slices: 2,
    height: 2,
    width: 2,
    roles,
    meta: { "t2.series": "1.2.3" },
  };

  it("round-trips float32 exactly and float16 to half precision", () => {
    writePrepared(join(tmp, "a.safetensors"), exam, "f32");
    const a = readPrepared(join(tmp, "a.safetensors"));
    assert.deepEqual(Array.from(a.roles.t2!), Array.from(roles.t2));
    assert.equal(a.fingerprint, "abc");
    assert.equal(a.meta["t2.series"], "1.2.3");
    writePrepared(join(tmp, "h.safetensors"), exam, "f16");
    const h = readPrepared(join(tmp, "h.safetensors"));
    assert.deepEqual(Array.from(h.roles.t2!).slice(0, 3), [0.5, -1.25, 3]);
    assert.ok(Math.abs(h.roles.t2![3] - 1e-3) < 1e-6);
    assert.equal(halfToFloat(floatToHalf(65504)), 65504);
    assert.equal(halfToFloat(floatToHalf(1e6)), Number.POSITIVE_INFINITY);
    assert.equal(halfToFloat(floatToHalf(-2.5e-8)), -0);
  });

  it("passes src/nn's safetensors reader, which validates as the reference implementation does", () => {
    writePrepared(join(tmp, "nn.safetensors"), exam, "f32");
    const parsed = readSafetensors(join(tmp, "nn.safetensors"));
    assert.deepEqual([...parsed.tensors.keys()].sort(), ["t1_in", "t2"]);
    const t2 = parsed.tensors.get("t2")!;
    assert.equal(t2.dtype, "F32");
    assert.deepEqual([...t2.shape], [2, 2, 2]);
    const copy = new Uint8Array(t2.bytes);
    assert.deepEqual(Array.from(new Float32Array(copy.buffer)), Array.from(roles.t2));
    assert.equal(parsed.metadata.fingerprint, "abc");
  });

  it("is readable by a plain safetensors parser (Python json + numpy)", (t) => {
    if (!existsSync("/usr/bin/python3")) return t.skip("/usr/bin/python3 absent");
    const probe = spawnSync("/usr/bin/python3", ["-c", "import numpy"]);
    if (probe.status !== 0) return t.skip("numpy absent for /usr/bin/python3");
    writePrepared(join(tmp, "py.safetensors"), exam, "f16");
    const script = [
      "import json,struct,sys,numpy as np",
      "b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n])",
      "t=h['t2']; a,e=t['data_offsets']; x=np.frombuffer(b[8+n+a:8+n+e],dtype='<f2').reshape(t['shape'])",
      "print(json.dumps({'shape':t['shape'],'dtype':t['dtype'],'v':float(x[0,0,1]),'fp':h['__metadata__']['fingerprint'],'aligned':(8+n)%8}))",
    ].join("\n");
    const r = spawnSync("/usr/bin/python3", ["-c", script, join(tmp, "py.safetensors")], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      shape: [2, 2, 2],
      dtype: "F16",
      v: -1.25,
      fp: "abc",
      aligned: 0,
    });
  });
});

describe("zscore-body normalisation", () => {
  it("Otsu splits a two-level histogram between the levels", () => {
    const hist = new Float64Array(100);
    hist[10] = 700; // air
    hist[80] = 300; // body
    const t = otsuBin(hist);
    assert.ok(t > 10 && t <= 80, `threshold bin ${t}`);
  });

  it("the body's scale does not depend on how much air surrounds it (whole-volume zscore does)", () => {
    // The same 8x8 'body' (values 100..163) centred in 16x16 and in 48x48 fields of air (noise ~2).
    const body = (n: number) => {
      const data = new Float32Array(n * n);
      for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 5) * 0.5;
      const o = (n - 8) / 2;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) data[(o + y) * n + o + x] = 100 + y * 8 + x;
      return data;
    };
    const stats = (n: number, normalize: "zscore" | "zscore-body") =>
      intensityStats(body(n), { normalize, percentiles: [1, 99] });
    const [mSmall, sSmall] = stats(16, "zscore-body");
    const [mLarge, sLarge] = stats(48, "zscore-body");
    assert.ok(Math.abs(mSmall - 131.5) < 1e-9 && Math.abs(mLarge - 131.5) < 1e-9, `${mSmall} ${mLarge}`);
    assert.ok(Math.abs(sSmall - sLarge) < 1e-9);
    const [zSmall] = stats(16, "zscore");
    const [zLarge] = stats(48, "zscore");
    assert.ok(Math.abs(zSmall - zLarge) > 10, "the whole-volume mean moves with the field of view");
    assert.equal(prepName(resolvePrep({ normalize: "zscore-body" })), "s5-224-mm400-zbody-f32");
  });
});
