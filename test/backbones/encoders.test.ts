// Backbones as encoders of the features stage (grey slice -> 3 channels -> ImageNet normalisation ->
// pooled features), the weights cache and `liverstiff weights` through the real CLI. No network, no
// downloaded weights: files are written here from seeded weights and the committed fixtures.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  createBackboneEncoder,
  installWeights,
  readInstalled,
  weightsCacheDir,
} from "../../src/features/backbones.ts";
import {
  createEncoder,
  encoderFactory,
  encoderNames,
  IMAGENET_NORMALIZE,
  loadTorchScriptEncoder,
  ModuleEncoder,
} from "../../src/features/index.ts";
import { saveTensors } from "../../src/nn/index.ts";
import { loadBackboneWeights, resnet, SwinTransformer } from "../../src/nn/models/index.ts";
import { manualSeed, noGrad, rand, randn, type Tensor, tensor, tidy } from "../../src/torch/index.ts";
import { runCli } from "../fixtures/cli.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { fixture, loadSeeded, maxAbsDiff, readFixtures } from "./helpers.ts";

const tmp = scratchDir("ls-bb-enc-");
const fx = readFixtures(fixture("backbones_fixtures.json"));

function greySlices(n: number, seed: number): Float32Array {
  manualSeed(seed);
  return tidy(() => rand([n, 224, 224]).toFloat32Array());
}

/** A torchvision-named resnet18 safetensors file with the fixture's seeded weights. */
function writeResnet18(path: string): void {
  const f = fx.models.resnet18;
  tidy(() => {
    manualSeed(f.weights_seed!);
    const state = new Map<string, Tensor>();
    for (const r of f.recipes!)
      state.set(r.name, (r.draw === "rand" ? rand(r.shape) : randn(r.shape)).mul(r.mul).add(r.add));
    saveTensors(path, state, { format: "pt" });
  });
}

test("the backbones are registered encoders (swin_t/s/b, resnet18/50) and say how to get weights", () => {
  for (const name of ["swin_b", "swin_s", "swin_t", "resnet18", "resnet50"])
    assert.ok(encoderNames().includes(name), name);
  // The published preparation: z-score, 256-pixel field of view, 224 input, 5 central slices.
  assert.deepEqual(encoderFactory("swin_b")?.recommendedPrep, {
    size: 224,
    inPlane: "pixels",
    cropPx: 256,
    normalize: "zscore",
    slices: 5,
  });
  const dir = join(tmp, "empty-cache");
  assert.throws(
    () => createBackboneEncoder("swin_b", { dir }),
    /no weights installed for swin_b: download timm\/swin_base_patch4_window7_224\.ms_in22k .*liverstiff weights install swin_b FILE/,
  );
  assert.throws(
    () => createBackboneEncoder("vgg19"),
    /unknown backbone "vgg19" \(supported: swin_b, swin_s, swin_t, resnet50, resnet18\)/,
  );
});

test("the weights cache follows LIVERSTIFF_WEIGHTS_DIR, then XDG_CACHE_HOME, then ~/.cache", () => {
  assert.equal(weightsCacheDir({ LIVERSTIFF_WEIGHTS_DIR: "/w" }), "/w");
  assert.equal(weightsCacheDir({ XDG_CACHE_HOME: "/x" }), "/x/liverstiff/weights");
  assert.match(weightsCacheDir({}), /\.cache\/liverstiff\/weights$/);
});

test("resnet18 encoder: installed weights, grey slice -> 3 channels -> ImageNet normalisation -> 512 features", () => {
  const file = join(tmp, "resnet18-tv.safetensors");
  writeResnet18(file);
  const dir = join(tmp, "cache");
  const rec = installWeights("resnet18", file, { dir });
  assert.equal(rec.scheme, "timm"); // torchvision and timm name ResNets alike
  assert.ok(existsSync(rec.file) && readInstalled("resnet18", dir)?.sha256 === rec.sha256);
  const enc = createBackboneEncoder("resnet18", { dir, batchSize: 2 });
  const model = resnet("resnet18").eval();
  try {
    assert.deepEqual(
      { ...enc.identity },
      { name: "resnet18", weightsSha256: rec.sha256, featureDim: 512, inputSize: 224 },
    );
    const slices = greySlices(3, 5);
    const feats = enc.encode(slices, 3);
    assert.equal(feats.length, 3 * 512);
    // The same by hand: repeat to 3 channels, (x - mean) / std per channel, forward, pooled.
    loadSeeded(model, fx.models.resnet18);
    const expected = noGrad(() =>
      tidy(() => {
        const x = tensor(slices, { shape: [3, 1, 224, 224] }).expand([3, 3, 224, 224]);
        const mean = tensor(Float32Array.from(IMAGENET_NORMALIZE.mean), { shape: [1, 3, 1, 1] });
        const std = tensor(Float32Array.from(IMAGENET_NORMALIZE.std), { shape: [1, 3, 1, 1] });
        return model.forward(x.sub(mean).div(std)).toFloat32Array();
      }),
    );
    assert.ok(maxAbsDiff(feats, expected) <= 1e-5);
    // Batching (2 + 1) does not change a slice's features; slices differ from each other.
    assert.ok(maxAbsDiff(enc.encode(slices.subarray(2 * 224 * 224), 1), expected.subarray(2 * 512)) <= 1e-5);
    assert.ok(maxAbsDiff(feats.subarray(0, 512), feats.subarray(512, 1024)) > 1e-3);
  } finally {
    enc.dispose();
    model.dispose();
  }
  // A wrong checksum of an installed file (replaced after install) is refused before use.
  writeResnet18(join(tmp, "other.safetensors"));
  assert.throws(
    () => createBackboneEncoder("resnet18", { dir, expectedSha256: "f".repeat(64) }),
    /has sha256 [0-9a-f]{64}, expected f{64}/,
  );
});

test("a TorchScript export of the torchvision Swin and the TypeScript Swin are the same encoder", () => {
  const f = fx.models.swin_mini;
  const ts = loadTorchScriptEncoder(fixture("swin_mini.pt"), {
    inputSize: 224,
    channels: 3,
    normalize: IMAGENET_NORMALIZE,
    batchSize: 2,
  });
  const model = new SwinTransformer(f.config!);
  loadBackboneWeights(model, fixture("swin_mini.safetensors"), "swin");
  const ours = new ModuleEncoder(
    model,
    { name: "swin_mini", weightsSha256: "x", featureDim: 96, inputSize: 224 },
    { channels: 3, normalize: IMAGENET_NORMALIZE, batchSize: 2 },
  );
  try {
    assert.equal(ts.identity.featureDim, 96);
    const slices = greySlices(2, 9);
    const a = ts.encode(slices, 2);
    const b = ours.encode(slices, 2);
    assert.ok(maxAbsDiff(a, b) <= 1e-4, `TorchScript vs TypeScript: ${maxAbsDiff(a, b)}`);
  } finally {
    ts.dispose();
    ours.dispose();
  }
  // The registry's generic "torchscript" encoder takes the same file.
  const viaRegistry = createEncoder("torchscript", { weights: fixture("swin_mini.pt") });
  assert.equal(viaRegistry.identity.featureDim, 96);
  viaRegistry.dispose();
});

function cli(env: Record<string, string>, ...args: string[]) {
  const r = runCli(args, { env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("liverstiff weights: list, download (printed only), verify, install", () => {
  const env = { LIVERSTIFF_WEIGHTS_DIR: join(tmp, "cli-cache") };
  const list = cli(env, "weights", "list", "--json");
  assert.equal(list.code, 0, list.err);
  const parsed = JSON.parse(list.out);
  assert.equal(parsed.cache, env.LIVERSTIFF_WEIGHTS_DIR);
  const swinB = parsed.backbones.find((b: { backbone: string }) => b.backbone === "swin_b");
  assert.equal(swinB.featureDim, 1024);
  assert.equal(swinB.sources[0].id, "timm/swin_base_patch4_window7_224.ms_in22k");
  assert.equal(swinB.installed, null);
  const r50 = parsed.backbones.find((b: { backbone: string }) => b.backbone === "resnet50");
  assert.ok(r50.sources.some((s: { id: string }) => s.id === "torchvision/ResNet50_Weights.IMAGENET1K_V2"));

  const dl = cli(env, "weights", "download", "swin_b", "/tmp/x.safetensors");
  assert.equal(dl.code, 0);
  assert.match(
    dl.out,
    /curl -L -o \/tmp\/x\.safetensors https:\/\/huggingface\.co\/timm\/swin_base_patch4_window7_224\.ms_in22k\/resolve\/main\/model\.safetensors/,
  );

  // The reduced Swin is not a Swin-B: one line naming the first mismatched tensor, exit 1.
  const bad = cli(env, "weights", "verify", "swin_b", fixture("swin_mini.safetensors"));
  assert.equal(bad.code, 1);
  assert.match(
    bad.err,
    /^liverstiff: error: weights file .* does not fit swin_b .*first: patch_embed\.proj\.weight \(file \[12, 3, 4, 4\], swin_b \[128, 3, 4, 4\]\)/,
  );
  assert.equal(bad.err.trim().split("\n").length, 1);

  const file = join(tmp, "cli-r18.safetensors");
  writeResnet18(file);
  const ok = cli(env, "weights", "verify", "resnet18", file);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /fits resnet18 \(timm names, 100 tensors, 2 ignored/);
  const inst = cli(env, "weights", "install", "resnet18", file);
  assert.equal(inst.code, 0, inst.err);
  assert.ok(existsSync(join(env.LIVERSTIFF_WEIGHTS_DIR, "resnet18.safetensors")));
  const again = JSON.parse(cli(env, "weights", "list", "--json").out);
  assert.ok(
    again.backbones.find((b: { backbone: string }) => b.backbone === "resnet18").installed.sha256.length ===
      64,
  );
});
