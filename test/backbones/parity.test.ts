// Replays scripts/parity/backbones_fixtures.py (torchvision 0.14) without Python: a reduced-width Swin
// stored as safetensors under torchvision's and timm < 0.9 names (F32 and F16), the same model traced to
// TorchScript, and a full-width ResNet-18 with seeded weights. Pooled features, per-stage maps (channel
// means) and the classifier must agree with torchvision to 1e-4 (max abs).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ScriptModule, saveModule } from "../../src/nn/index.ts";
import { loadBackboneWeights, resnet, SwinTransformer } from "../../src/nn/models/index.ts";
import { noGrad, type Tensor, tidy } from "../../src/torch/index.ts";
import {
  fixture,
  loadSeeded,
  type ModelFixture,
  maxAbs,
  maxAbsDiff,
  readFixtures,
  seededInput,
} from "./helpers.ts";

const TOL = 1e-4;
const fx = readFixtures(fixture("backbones_fixtures.json"));

interface Forwardable {
  forwardFeatures(x: Tensor): { pooled: Tensor; maps: Tensor[] };
}

/** Compares pooled features and each map's channel means; returns the worst pooled difference. */
function compare(model: Forwardable, f: ModelFixture, what: string): number {
  return noGrad(() =>
    tidy(() => {
      const { pooled, maps } = model.forwardFeatures(seededInput(f));
      assert.deepEqual(pooled.shape, f.pooled_shape, `${what}: pooled shape`);
      const p = pooled.toFloat32Array();
      const d = maxAbsDiff(p, f.pooled);
      assert.ok(d <= TOL, `${what}: pooled features differ by ${d} (max |value| ${maxAbs(f.pooled)})`);
      assert.ok(maxAbs(f.pooled) > 0.1, "the reference features are not all near zero");
      assert.equal(maps.length, f.map_shapes.length);
      maps.forEach((m, i) => {
        assert.deepEqual(m.shape, f.map_shapes[i], `${what}: map ${i} shape`);
        const dm = maxAbsDiff(m.mean([2, 3]).toFloat32Array(), f.map_means[i]);
        assert.ok(dm <= TOL, `${what}: map ${i} channel means differ by ${dm}`);
      });
      return d;
    }),
  );
}

function miniSwin(f: ModelFixture, numClasses = 0): SwinTransformer {
  return new SwinTransformer({ ...f.config!, numClasses }).eval();
}

test("reduced Swin from a torchvision-named safetensors file matches torchvision (features, maps, logits)", () => {
  const f = fx.models.swin_mini;
  const model = miniSwin(f, 10);
  try {
    const check = loadBackboneWeights(model, fixture("swin_mini.safetensors"), "swin");
    assert.equal(check.scheme, "torchvision");
    assert.ok(check.ok);
    // relative_position_index of every block was carried by the file, checked against our layout, ignored.
    assert.equal(check.ignored.filter((k) => k.endsWith("relative_position_index")).length, 8);
    const d = compare(model, f, "swin_mini");
    const logits = noGrad(() => tidy(() => model.classify(seededInput(f)).toFloat32Array()));
    assert.ok(maxAbsDiff(logits, f.logits!) <= TOL, "logits");
    console.log(`swin_mini vs torchvision ${fx.torchvision}: max abs ${d}`);
  } finally {
    model.dispose();
  }
});

test("the same weights under timm < 0.9 names (F16 file) and timm >= 0.9 names give the same features", () => {
  const f = fx.models.swin_mini;
  const legacy = miniSwin(f);
  const dir = mkdtempSync(join(tmpdir(), "ls-backbones-"));
  try {
    const check = loadBackboneWeights(legacy, fixture("swin_mini_legacy.safetensors"), "swin");
    assert.equal(check.scheme, "timm-legacy");
    // head.weight/head.bias ignored (features-only model), attn_mask buffers ignored.
    assert.ok(check.ignored.includes("head.weight") && check.ignored.includes("layers.0.blocks.1.attn_mask"));
    compare(legacy, f, "swin_mini (timm legacy names, F16)");
    // Our own state dict uses timm >= 0.9 names: downsample at the start of stages 1..3.
    const names = [...legacy.stateDictShapes().keys()];
    assert.ok(names.includes("layers.1.downsample.reduction.weight"));
    assert.ok(!names.some((n) => n.startsWith("layers.0.downsample")));
    assert.ok(names.includes("patch_embed.proj.weight") && names.includes("layers.3.blocks.1.mlp.fc2.bias"));
    const path = join(dir, "timm.safetensors");
    saveModule(legacy, path);
    const again = miniSwin(f);
    try {
      const c2 = loadBackboneWeights(again, path, "swin");
      assert.equal(c2.scheme, "timm");
      compare(again, f, "swin_mini (timm names)");
    } finally {
      again.dispose();
    }
  } finally {
    legacy.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("full-width ResNet-18 with seeded weights matches torchvision", () => {
  const f = fx.models.resnet18;
  const model = resnet("resnet18").eval();
  try {
    loadSeeded(model, f);
    const d = compare(model, f, "resnet18");
    console.log(`resnet18 vs torchvision: max abs ${d}`);
    // Batch norms folded into the convolutions (frozen feature extraction): same features to 1e-4.
    model.fuseForInference();
    assert.ok(model.fused);
    const df = compare(model, f, "resnet18 (batch norm folded)");
    console.log(`resnet18 with folded batch norms vs torchvision: max abs ${df}`);
    model.train();
    assert.equal(model.fused, false, "train() undoes the folding");
  } finally {
    model.dispose();
  }
});

test("a torch.jit.trace of the torchvision Swin runs as a ScriptModule with the same features", () => {
  const f = fx.models.swin_mini;
  const traced = ScriptModule.load(fixture("swin_mini.pt"));
  try {
    traced.eval();
    const out = noGrad(() => tidy(() => traced.forward(seededInput(f)).toFloat32Array()));
    assert.ok(maxAbsDiff(out, f.pooled) <= TOL);
  } finally {
    traced.dispose();
  }
});
