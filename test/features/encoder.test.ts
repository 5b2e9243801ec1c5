// Encoders: PyTorch parity of the liverstiff-cnn-v1 forward (fixtures written by
// test/fixtures/features/make_parity.py, replayed here without Python), the shipped weights and their
// checksum, determinism, errors for missing/corrupt weights, the TorchScript adapter and the registry.
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import {
  CNN_V1_CONFIG,
  createEncoder,
  DEFAULT_WEIGHTS_PATH,
  encoderNames,
  IMAGENET_NORMALIZE,
  LiverCnn,
  loadCnnEncoder,
  loadDefaultEncoder,
  loadTorchScriptEncoder,
  randomCnnEncoder,
  readEncoderManifest,
  resizeSlices,
  saveCnnWeights,
  sha256File,
} from "../../src/features/index.ts";
import { rawToTensor, readSafetensors } from "../../src/nn/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const fixture = (name: string) => new URL(`../fixtures/features/${name}`, import.meta.url).pathname;
const tmp = scratchDir("liverstiff-features-enc-");

function f32(path: string, name: string): { values: Float32Array; shape: readonly number[] } {
  const raw = readSafetensors(path).tensors.get(name);
  assert.ok(raw, `${path} lacks ${name}`);
  const t = rawToTensor(raw);
  const out = { values: t.toFloat32Array(), shape: t.shape };
  t.dispose();
  return out;
}

/** max |a - b| / max |b|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

describe("liverstiff-cnn-v1 forward", () => {
  it("matches the torch.nn twin on fixed slices (PyTorch 1.13 fixture)", () => {
    const enc = loadCnnEncoder(fixture("cnn_weights.safetensors"));
    const input = f32(fixture("cnn_parity.safetensors"), "input");
    const expected = f32(fixture("cnn_parity.safetensors"), "features");
    assert.deepEqual(expected.shape, [6, 512]);
    assert.equal(enc.identity.featureDim, 512);
    assert.equal(enc.identity.inputSize, 128);
    const out = enc.encode(input.values, 6);
    assert.equal(out.length, 6 * 512);
    const d = relDiff(out, expected.values);
    assert.ok(d < 1e-4, `relative difference ${d}`);
    // The features are not degenerate: they differ between slices.
    assert.ok(relDiff(out.subarray(0, 512), out.subarray(512, 1024)) > 1e-3);
    enc.dispose();
  });

  it("matches after bilinear resizing from 96 to 128 pixels", () => {
    const enc = loadCnnEncoder(fixture("cnn_weights.safetensors"));
    const input = f32(fixture("cnn_parity.safetensors"), "input96");
    const expected = f32(fixture("cnn_parity.safetensors"), "features96");
    const out = enc.encode(resizeSlices(input.values, 3, 96, 128), 3);
    const d = relDiff(out, expected.values);
    assert.ok(d < 1e-4, `relative difference ${d}`);
    enc.dispose();
  });

  it("is deterministic and independent of the batch size", () => {
    const input = f32(fixture("cnn_parity.safetensors"), "input").values;
    const a = loadCnnEncoder(fixture("cnn_weights.safetensors"), { batchSize: 32 });
    const b = loadCnnEncoder(fixture("cnn_weights.safetensors"), { batchSize: 4 });
    const x1 = a.encode(input, 6);
    const x2 = a.encode(input, 6);
    assert.deepEqual(x1, x2);
    assert.ok(relDiff(b.encode(input, 6), x1) < 1e-5);
    // Zero slices give an empty result; a wrong length is refused with the sizes named.
    assert.equal(a.encode(new Float32Array(0), 0).length, 0);
    assert.throws(() => a.encode(input.subarray(1), 6), /expects 6 slices of 128x128/);
    a.dispose();
    b.dispose();
    assert.throws(() => a.encode(input, 6), /disposed/);
  });

  it("saves float16 weights that load back by name with the same features", () => {
    const src = loadCnnEncoder(fixture("cnn_weights.safetensors"));
    const model = new LiverCnn(CNN_V1_CONFIG);
    const path = join(tmp, "roundtrip.safetensors");
    // Copy the fixture's weights into a fresh module through a file written by saveCnnWeights.
    const raw = readSafetensors(fixture("cnn_weights.safetensors")).tensors;
    const state = new Map([...raw].map(([k, v]) => [k, rawToTensor(v)]));
    model.loadStateDict(state);
    for (const t of state.values()) t.dispose();
    saveCnnWeights(model, path);
    model.dispose();
    const st = readSafetensors(path);
    assert.equal(st.tensors.get("blocks.0.conv.weight")?.dtype, "F16");
    assert.deepEqual(st.tensors.get("blocks.0.conv.weight")?.shape, [24, 1, 5, 5]);
    assert.equal(st.tensors.get("blocks.4.bn.num_batches_tracked")?.dtype, "I64");
    assert.equal(st.metadata["liverstiff.encoder"], "liverstiff-cnn-v1");
    const back = loadCnnEncoder(path);
    const input = f32(fixture("cnn_parity.safetensors"), "input").values;
    assert.deepEqual(back.encode(input, 6), src.encode(input, 6));
    assert.equal(back.identity.weightsSha256, sha256File(path));
    back.dispose();
    src.dispose();
  });
});

describe("shipped default encoder", () => {
  it("loads, and its sha256 matches the manifest", () => {
    const manifest = readEncoderManifest();
    const sha = sha256File(DEFAULT_WEIGHTS_PATH);
    assert.equal(sha, manifest.sha256);
    assert.ok(manifest.bytes <= 10 * 1024 * 1024, "weights at most 10 MB");
    assert.equal(readFileSync(DEFAULT_WEIGHTS_PATH).length, manifest.bytes);
    assert.equal(manifest.pretrain.labelsUsed, false);
    const enc = loadDefaultEncoder();
    assert.deepEqual(enc.identity, {
      name: "liverstiff-cnn-v1",
      weightsSha256: sha,
      featureDim: 512,
      inputSize: 128,
    });
    const input = f32(fixture("cnn_parity.safetensors"), "input").values;
    const out = enc.encode(input, 6);
    assert.ok(out.every(Number.isFinite));
    // Pretrained features differ from an untrained network's.
    const rnd = randomCnnEncoder(1);
    assert.ok(relDiff(out, rnd.encode(input, 6)) > 0.05);
    rnd.dispose();
    enc.dispose();
  });
});

describe("weights errors", () => {
  it("names a missing file and the command that rebuilds it", () => {
    assert.throws(
      () => loadCnnEncoder(join(tmp, "absent.safetensors")),
      (e: unknown) =>
        e instanceof LiverstiffError &&
        /not found/.test(e.message) &&
        /liverstiff pretrain --out assets\/encoders\/liverstiff-cnn-v1.safetensors/.test(e.message),
    );
  });

  it("refuses a truncated file with a clear error", () => {
    const bad = join(tmp, "truncated.safetensors");
    const bytes = readFileSync(fixture("cnn_weights.safetensors"));
    writeFileSync(bad, bytes.subarray(0, bytes.length - 1000));
    assert.throws(
      () => loadCnnEncoder(bad),
      (e: unknown) =>
        e instanceof LiverstiffError && e.message.includes(bad) && /invalid safetensors/.test(e.message),
    );
  });

  it("refuses a file whose checksum does not match the manifest", () => {
    const bad = join(tmp, "flipped.safetensors");
    const bytes = Buffer.from(readFileSync(fixture("cnn_weights.safetensors")));
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(bad, bytes);
    const good = sha256File(fixture("cnn_weights.safetensors"));
    assert.throws(
      () => loadCnnEncoder(bad, { expectedSha256: good }),
      /corrupt or were replaced: sha256 .* does not match/,
    );
  });

  it("refuses weights of another model, listing the offending names", () => {
    const other = join(tmp, "other.safetensors");
    const m = new LiverCnn({ channels: [8, 16, 32, 64, 96], pooled: [4], inputSize: 128 });
    saveCnnWeights(m, other);
    m.dispose();
    assert.throws(
      () => loadCnnEncoder(other),
      (e: unknown) =>
        e instanceof LiverstiffError && /shape mismatches: blocks\.0\.conv\.weight/.test(e.message),
    );
    const renamed = join(tmp, "renamed.safetensors");
    copyFileSync(fixture("cnn_weights.safetensors"), renamed);
    const b = readFileSync(renamed);
    const s = b.toString("latin1").replace("blocks.4.bn.bias", "blocks.4.bn.beta");
    writeFileSync(renamed, Buffer.from(s, "latin1"));
    assert.throws(
      () => loadCnnEncoder(renamed),
      /missing keys: blocks\.4\.bn\.bias; unexpected keys: blocks\.4\.bn\.beta/,
    );
  });
});

describe("TorchScript encoders and the registry", () => {
  it("runs a scripted backbone: grey to 3 channels, ImageNet normalisation, pooled feature map", () => {
    const enc = loadTorchScriptEncoder(fixture("ts_encoder.pt"), {
      inputSize: 64,
      channels: 3,
      normalize: IMAGENET_NORMALIZE,
    });
    assert.equal(enc.identity.name, "torchscript:ts_encoder.pt");
    assert.equal(enc.identity.featureDim, 16);
    assert.equal(enc.identity.weightsSha256, sha256File(fixture("ts_encoder.pt")));
    const input = f32(fixture("ts_parity.safetensors"), "input").values;
    const expected = f32(fixture("ts_parity.safetensors"), "features").values;
    const d = relDiff(enc.encode(input, 4), expected);
    assert.ok(d < 1e-5, `relative difference ${d}`);
    enc.dispose();
    assert.throws(
      () => loadTorchScriptEncoder(fixture("cnn_weights.safetensors"), { inputSize: 64, channels: 3 }),
      /cannot load TorchScript encoder/,
    );
  });

  it("knows encoders by name", () => {
    assert.ok(encoderNames().includes("liverstiff-cnn-v1"));
    assert.ok(encoderNames().includes("torchscript"));
    assert.throws(
      () => createEncoder("swin_b_nope"),
      /unknown encoder "swin_b_nope" \(known: .*liverstiff-cnn-v1/,
    );
    const enc = createEncoder("liverstiff-cnn-v1", { weights: fixture("cnn_weights.safetensors") });
    assert.equal(enc.identity.featureDim, 512);
    enc.dispose();
  });
});
