// The backbones can be fine-tuned: in training mode gradients flow through the shifted-window attention
// (in-place bias addition included), the relative position bias table and the patch merging, and they
// agree with finite differences (float64); DropPath acts only in training.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Linear } from "../../src/nn/index.ts";
import { ChannelsLastLinear } from "../../src/nn/models/channels-last-linear.ts";
import { resnet, SwinTransformer } from "../../src/nn/models/index.ts";
import { manualSeed, noGrad, randn, type Tensor, tidy } from "../../src/torch/index.ts";

function loss(model: SwinTransformer, x: Tensor): Tensor {
  return model.forward(x).pow(2).sum();
}

test("Swin gradients match finite differences (bias table, qkv weight, patch merging) in float64", () => {
  manualSeed(3);
  // 56 x 56 input, patch 4 -> 14 x 14 tokens: two 7 x 7 windows per side, shifted blocks with masks.
  const model = new SwinTransformer({ embedDim: 8, depths: [2, 2], numHeads: [1, 2] }).to("float64");
  try {
    model.eval(); // deterministic (no DropPath); gradients are still recorded
    const x = randn([2, 3, 56, 56], { dtype: "float64" }).keep();
    tidy(() => loss(model, x).backward());
    const params = new Map(model.namedParameters());
    const probe = [
      ["layers.0.blocks.1.attn.relative_position_bias_table", 84],
      ["layers.0.blocks.1.attn.qkv.weight", 5],
      ["layers.1.downsample.reduction.weight", 7],
    ] as const;
    for (const [name, index] of probe) {
      const p = params.get(name)!;
      const analytic = tidy(() => p.grad!.flatten().select(0, index).item());
      const h = 1e-6;
      const flat = p.detach().view([-1]);
      const at = (delta: number) =>
        noGrad(() =>
          tidy(() => {
            flat.select(0, index).add_(delta);
            const l = loss(model, x).item();
            flat.select(0, index).sub_(delta);
            return l;
          }),
        );
      const numeric = (at(h) - at(-h)) / (2 * h);
      assert.ok(Math.abs(analytic) > 1e-8, `${name}: gradient is not zero`);
      assert.ok(
        Math.abs(analytic - numeric) <= 1e-5 * Math.max(1, Math.abs(numeric)),
        `${name}: analytic ${analytic} vs numeric ${numeric}`,
      );
    }
    x.dispose();
  } finally {
    model.dispose();
  }
});

test("DropPath acts only in training; a ResNet trains with batch statistics", () => {
  manualSeed(4);
  const model = new SwinTransformer({ embedDim: 8, depths: [2, 2], numHeads: [1, 2], dropPathRate: 0.5 });
  const r = resnet("resnet18");
  try {
    const x = randn([4, 3, 56, 56]).keep();
    const run = () => tidy(() => model.forward(x).toFloat32Array());
    model.eval();
    assert.deepEqual(run(), run(), "eval is deterministic");
    model.train();
    const a = run();
    const b = run();
    assert.ok(
      a.some((v, i) => v !== b[i]),
      "training draws new DropPath masks",
    );
    r.train();
    tidy(() => r.forward(x).sum().backward());
    assert.ok(tidy(() => r.conv1.weight.grad!.abs().sum().item()) > 0);
    assert.equal(
      tidy(() => r.bn1.numBatchesTracked!.item()),
      1,
    );
    x.dispose();
  } finally {
    model.dispose();
    r.dispose();
  }
});

test("ChannelsLastLinear (oneDNN) equals Linear in value and gradients, for 2-d to 4-d inputs", () => {
  manualSeed(5);
  const fast = new ChannelsLastLinear(24, 40);
  const plain = new Linear(24, 40);
  try {
    plain.loadStateDict(fast.stateDict());
    for (const shape of [
      [7, 24],
      [3, 5, 24],
      [2, 3, 4, 24],
    ]) {
      tidy(() => {
        const x = randn(shape);
        const a = fast.forward(x);
        const b = plain.forward(x);
        assert.deepEqual(a.shape, [...shape.slice(0, -1), 40]);
        assert.ok(a.sub(b).abs().max().item() < 1e-5, `forward ${shape}`);
        fast.zeroGrad();
        plain.zeroGrad();
        a.pow(2).sum().backward();
        b.pow(2).sum().backward();
        const gw = fast.weight.grad!.sub(plain.weight.grad!).abs().max().item();
        const gb = fast.bias!.grad!.sub(plain.bias!.grad!).abs().max().item();
        assert.ok(gw < 1e-4 && gb < 1e-4, `gradients ${shape}: ${gw}, ${gb}`);
        assert.ok(plain.weight.grad!.abs().max().item() > 1e-2, "gradients are not trivially zero");
      });
    }
  } finally {
    fast.dispose();
    plain.dispose();
  }
});
