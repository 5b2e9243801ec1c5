// Single layers against torch.nn 1.13 (fixture layers.safetensors): default initialisation drawn from the
// same seed in the same order, and forward outputs on fixed inputs.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv2d,
  Conv3d,
  clipGradNorm,
  Dropout,
  DropPath,
  Embedding,
  GroupNorm,
  LayerNorm,
  Linear,
  loadTensors,
  type Module,
  ModuleList,
  MultiheadAttention,
  ReLU,
  Sequential,
} from "../../src/nn/index.ts";
import {
  grad,
  manualSeed,
  noGrad,
  ones,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from "../../src/torch/index.ts";

setNumThreads(1);
const fixture = new URL("../fixtures/nn/layers.safetensors", import.meta.url).pathname;

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.toFloat64Array();
  const y = b.toFloat64Array();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

function buildLayers() {
  return {
    linear: new Linear(7, 5),
    conv2d: new Conv2d(3, 4, 3, { stride: 2, padding: 1 }),
    bn: new BatchNorm2d(4),
    ln: new LayerNorm(6),
    gn: new GroupNorm(2, 4),
    emb: new Embedding(10, 4),
    mha: new MultiheadAttention(8, 2, { batchFirst: true }),
  };
}

test("layers: default initialisation equals torch.nn's for the same seed (Linear, Conv2d, norms, Embedding, MHA)", () => {
  manualSeed(7);
  const layers = buildLayers();
  tidy(() => {
    const ref = loadTensors(fixture).tensors;
    for (const [prefix, m] of Object.entries(layers) as [string, Module][]) {
      const names = [...m.stateDict().keys()];
      const refNames = [...ref.keys()]
        .filter((k) => k.startsWith(`${prefix}.`) && !k.includes(".after_train."))
        .map((k) => k.slice(prefix.length + 1));
      assert.deepEqual([...names].sort(), refNames.sort(), `${prefix}: state dict names`);
      for (const [name, t] of m.stateDict()) {
        const r = ref.get(`${prefix}.${name}`)!;
        assert.equal(t.dtype, r.dtype, `${prefix}.${name} dtype`);
        assert.equal(maxAbsDiff(t, r), 0, `${prefix}.${name} differs from torch's initialisation`);
      }
    }
    // MHA parameter order follows PyTorch's registration order
    assert.deepEqual(
      [...layers.mha.stateDict().keys()],
      ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"],
    );
  });
  for (const m of Object.values(layers)) m.dispose();
});

test("layers: forward outputs match torch.nn on fixed inputs", () => {
  manualSeed(7);
  const L = buildLayers();
  tidy(() => {
    const ref = loadTensors(fixture).tensors;
    const close = (name: string, out: Tensor, tol = 1e-6) => {
      const d = maxAbsDiff(out, ref.get(name)!);
      assert.ok(d <= tol, `${name}: max abs difference ${d}`);
    };
    noGrad(() => {
      close("out.linear", L.linear.forward(ref.get("in.linear")!));
      close("out.conv2d", L.conv2d.forward(ref.get("in.conv2d")!));
      L.bn.train();
      close("out.bn.train", L.bn.forward(ref.get("in.bn")!));
      close("bn.after_train.running_mean", L.bn.runningMean!);
      close("bn.after_train.running_var", L.bn.runningVar!);
      assert.equal(L.bn.numBatchesTracked!.item(), 1);
      L.bn.eval();
      close("out.bn.eval", L.bn.forward(ref.get("in.bn")!));
      assert.equal(L.bn.numBatchesTracked!.item(), 1, "eval does not count batches");
      close("out.ln", L.ln.forward(ref.get("in.ln")!));
      close("out.gn", L.gn.forward(ref.get("in.bn")!));
      close("out.emb", L.emb.forward(ref.get("in.emb")!));
      L.mha.eval();
      const q = ref.get("in.mha.q")!;
      const k = ref.get("in.mha.k")!;
      close("out.mha.self", L.mha.forward(q, q, q, { needWeights: false }).output);
      const cross = L.mha.forward(q, k, k, { keyPaddingMask: ref.get("in.mha.key_padding_mask")! });
      close("out.mha.cross", cross.output);
      close("out.mha.cross_weights", cross.weights!);
      // padded keys get exactly zero attention
      const w = cross.weights!.select(0, 1).toFloat32Array();
      for (let t = 0; t < 5; t++) assert.deepEqual([w[t * 6 + 4], w[t * 6 + 5]], [0, 0]);
    });
  });
  for (const m of Object.values(L)) m.dispose();
});

test("layers: MultiheadAttention in [seq, batch, embed] layout gives the transposed batch-first result", () => {
  manualSeed(3);
  const a = new MultiheadAttention(8, 4, { batchFirst: true });
  const b = new MultiheadAttention(8, 4, { batchFirst: false });
  b.loadStateDict(a.stateDict());
  tidy(() => {
    manualSeed(4);
    const x = ones([2, 3, 8]).normal_();
    const ya = a.forward(x).output;
    const yb = b.forward(x.transpose(0, 1)).output.transpose(0, 1);
    assert.ok(maxAbsDiff(ya, yb) < 1e-6);
  });
  a.dispose();
  b.dispose();
});

test("layers: dropout is active in training only; train/eval reach every descendant", () => {
  const net = new Sequential(new Linear(4, 4), new Dropout(0.5), new Sequential(new BatchNorm2d(2)));
  assert.ok(net.namedModules().every(([, m]) => m.training));
  net.eval();
  assert.ok(net.namedModules().every(([, m]) => !m.training));
  tidy(() => {
    const x = ones([64, 4]);
    const drop = net.at(1) as Dropout;
    assert.deepEqual(drop.forward(x).toArray(), x.toArray());
    net.train();
    const y = drop.forward(x).toArray();
    assert.ok(y.some((v) => v === 0) && y.some((v) => v === 2), "training dropout zeroes and rescales");
  });
  assert.deepEqual(
    net.namedParameters().map(([n]) => n),
    ["0.weight", "0.bias", "2.0.weight", "2.0.bias"],
  );
  assert.deepEqual(
    net.namedBuffers().map(([n]) => n),
    ["2.0.running_mean", "2.0.running_var", "2.0.num_batches_tracked"],
  );
  assert.equal(net.numParameters(), 4 * 4 + 4 + 2 + 2);
  net.dispose();
});

test("layers: parameters survive memory scopes, temporaries do not", () => {
  const lin = tidy(() => new Linear(3, 2));
  assert.equal(lin.weight.isDisposed, false);
  const out = tidy(() => {
    const y = lin.forward(zeros([1, 3]));
    return y;
  });
  assert.deepEqual(out.shape, [1, 2]);
  lin.dispose();
  assert.equal(lin.weight.isDisposed, true);
  assert.throws(() => lin.forward(zeros([1, 3])), /after dispose/);
});

test("layers: constructor misuse is reported", () => {
  assert.throws(() => new Conv2d(3, 4, 3, { groups: 2 }), /not divisible by groups/);
  assert.throws(() => new GroupNorm(3, 4), /not divisible/);
  assert.throws(() => new MultiheadAttention(10, 3), /not divisible/);
  assert.throws(() => new Dropout(1.5), /probability/);
  assert.throws(() => new Embedding(4, 2, { paddingIdx: 4 }), /out of range/);
  const bn = new BatchNorm2d(3);
  tidy(() =>
    assert.throws(() => bn.forward(zeros([2, 3])), /expects a 4-d \[N, C, H, W\] input, got \[2, 3\]/),
  );
  tidy(() => assert.throws(() => new Linear(3, 2).forward(zeros([2, 4])), /shape|size|mat1/i));
  bn.dispose();
});

test("layers: BatchNorm1d on [N, C] equals BatchNorm2d on [N, C, 1, 1], running statistics included", () => {
  const a = new BatchNorm1d(3, { momentum: null });
  const b = new BatchNorm2d(3, { momentum: null });
  tidy(() => {
    manualSeed(9);
    for (let i = 0; i < 3; i++) {
      const x = ones([5, 3]).normal_(2, 3);
      const ya = a.forward(x);
      const yb = b.forward(x.view([5, 3, 1, 1])).view([5, 3]);
      assert.ok(maxAbsDiff(ya, yb) < 1e-6);
    }
    // momentum null: cumulative average over the 3 batches
    assert.equal(a.numBatchesTracked!.item(), 3);
    assert.ok(maxAbsDiff(a.runningMean!, b.runningMean!) < 1e-6);
    assert.ok(a.runningMean!.toArray().every((v) => Math.abs(v - 2) < 2.5));
  });
  assert.throws(() => tidy(() => a.forward(zeros([2]))), /2-d \[N, C\] or 3-d/);
  a.dispose();
  b.dispose();
});

test("utils: clipGradNorm scales all gradients to the joint maximum norm", () => {
  const p = tensor([1, 2]).requiresGrad_();
  const q = tensor([3]).requiresGrad_();
  p.grad = tensor([3, 0]);
  q.grad = tensor([4]);
  const norm = clipGradNorm([p, q], 1);
  assert.ok(Math.abs(norm - 5) < 1e-6);
  tidy(() => {
    const g = [...p.grad!.toArray(), ...q.grad!.toArray()];
    assert.ok(Math.abs(g[0] - 0.6) < 1e-6 && g[1] === 0 && Math.abs(g[2] - 0.8) < 1e-6, `clipped ${g}`);
  });
});

test("layers: MultiheadAttention gradients agree with central finite differences in float64", () => {
  manualSeed(21);
  const mha = new MultiheadAttention(6, 2).to("float64");
  tidy(() => {
    const x = ones([2, 4, 6], { dtype: "float64" }).normal_().requiresGrad_();
    const mask = tensor([
      [false, false, false, true],
      [false, false, false, false],
    ]);
    const f = () => mha.forward(x, x, x, { keyPaddingMask: mask }).output.square().sum();
    const [analytic] = grad(f(), [x]);
    const g = analytic!.toFloat64Array();
    const h = 1e-6;
    const flat = x.detach().view([-1]);
    for (const i of [0, 7, 13, 29, 47]) {
      const orig = flat.select(0, i).item();
      noGrad(() => flat.select(0, i).fill_(orig + h));
      const up = noGrad(() => f().item());
      noGrad(() => flat.select(0, i).fill_(orig - h));
      const down = noGrad(() => f().item());
      noGrad(() => flat.select(0, i).fill_(orig));
      const numeric = (up - down) / (2 * h);
      assert.ok(
        Math.abs(numeric - g[i]) <= 1e-6 * Math.max(1, Math.abs(g[i])),
        `element ${i}: ${numeric} vs ${g[i]}`,
      );
    }
    // and the gradient reaches every parameter
    f().backward();
    for (const [name, p] of mha.namedParameters()) assert.ok(p.grad !== null, `${name} has a gradient`);
  });
  mha.dispose();
});

test("layers: Conv3d and BatchNorm3d initialise and compute like torch.nn; DropPath draws timm's mask", () => {
  manualSeed(9);
  const conv = new Conv3d(2, 3, [3, 3, 1], { stride: [2, 1, 1], padding: [1, 1, 0] });
  const bn = new BatchNorm3d(3);
  const drop = new DropPath(0.5);
  tidy(() => {
    const ref = loadTensors(fixture).tensors;
    for (const [name, t] of conv.stateDict())
      assert.equal(maxAbsDiff(t, ref.get(`conv3d.${name}`)!), 0, name);
    for (const [name, t] of bn.stateDict()) assert.equal(maxAbsDiff(t, ref.get(`bn3d.${name}`)!), 0, name);
    const y = noGrad(() => conv.forward(ref.get("in.conv3d")!));
    assert.ok(maxAbsDiff(y, ref.get("out.conv3d")!) <= 1e-6);
    assert.ok(
      maxAbsDiff(
        noGrad(() => bn.forward(y)),
        ref.get("out.bn3d.train")!,
      ) <= 1e-6,
    );
    const xd = ref.get("in.drop_path")!;
    manualSeed(10);
    const dropped = drop.forward(xd);
    assert.equal(maxAbsDiff(dropped, ref.get("out.drop_path")!), 0);
    // whole samples are dropped or scaled by 2
    const per = dropped.view([6, -1]).abs().sum(1).toArray();
    const src = xd.view([6, -1]).abs().sum(1).toArray();
    assert.ok(per.some((v) => v === 0));
    per.forEach((v, i) => {
      assert.ok(v === 0 || Math.abs(v - 2 * src[i]) < 1e-5);
    });
    drop.eval();
    assert.equal(drop.forward(xd), xd);
  });
  assert.throws(() => new DropPath(1), /\[0, 1\)/);
  conv.dispose();
  bn.dispose();
});

test("layers: ModuleList registers its modules by index and is iterable", () => {
  const list = new ModuleList([new Linear(2, 3), new Linear(3, 1)]);
  assert.equal(list.length, 2);
  assert.deepEqual(
    list.namedParameters().map(([n]) => n),
    ["0.weight", "0.bias", "1.weight", "1.bias"],
  );
  tidy(() => {
    let x = ones([4, 2]);
    for (const layer of list) x = layer.forward(x);
    assert.deepEqual(x.shape, [4, 1]);
  });
  assert.throws(() => list.at(2), /out of range/);
  assert.throws(() => list.forward(), /no forward/);
  list.dispose();
});

test("module: a shared submodule is traversed once, its parameters listed once, its state under both names", () => {
  const shared = new Linear(2, 2);
  const net = new Sequential(shared, new ReLU(), shared);
  assert.equal(net.namedModules().length, 3, "root, the shared Linear, ReLU");
  assert.deepEqual(
    net.namedParameters().map(([n]) => n),
    ["0.weight", "0.bias"],
  );
  assert.deepEqual([...net.stateDictShapes().keys()], ["0.weight", "0.bias", "2.weight", "2.bias"]);
  net.dispose();
});
