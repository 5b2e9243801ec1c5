// State dicts and optimizer state through safetensors files, and every class of loading misuse.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import {
  Adam,
  type BaseGroupOptions,
  Linear,
  loadModule,
  loadOptimizer,
  loadTensors,
  type Module,
  type Optimizer,
  readSafetensors,
  Sequential,
  SGD,
  StateDictMismatchError,
  saveModule,
  saveOptimizer,
  saveTensors,
} from "../../src/nn/index.ts";
import { functional as F, manualSeed, randn, type Tensor, tensor, tidy } from "../../src/torch/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { SmallConvNet } from "./parity-models.ts";

const dir = scratchDir("ls-nn-weights-");
const fixture = (name: string) => new URL(`../fixtures/nn/${name}`, import.meta.url).pathname;

function values(m: Module): Map<string, number[]> {
  return tidy(() => new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray()])));
}

test("weights: a module's state dict round-trips through safetensors (parameters and buffers)", () => {
  manualSeed(1);
  const a = new SmallConvNet(2, [4, 4], 3);
  // give the BatchNorm buffers non-default values
  tidy(() => a.forward(randn([2, 2, 16, 16])));
  const path = join(dir, "conv.safetensors");
  saveModule(a, path, { note: "test" });
  assert.ok(!readdirSync(dir).some((f) => f.endsWith(".tmp")));
  const file = readSafetensors(path);
  assert.equal(file.metadata.format, "pt");
  assert.equal(file.tensors.get("features.1.num_batches_tracked")!.dtype, "I64");
  manualSeed(2);
  const b = new SmallConvNet(2, [4, 4], 3);
  assert.notDeepEqual(values(b), values(a));
  assert.deepEqual(loadModule(b, path), { missingKeys: [], unexpectedKeys: [] });
  assert.deepEqual(values(b), values(a));
  a.dispose();
  b.dispose();
});

test("weights: every dtype survives saveTensors/loadTensors exactly", () => {
  const path = join(dir, "dtypes.safetensors");
  tidy(() => {
    const src = new Map<string, Tensor>([
      ["f32", tensor([1.5, -2, 3e-8])],
      ["f64", tensor([Math.PI, -1e200], { dtype: "float64" })],
      ["f16", tensor([0.5, -65504, 1e-3], { dtype: "float16" })],
      ["bf16", tensor([0.1, 3e38, -7], { dtype: "bfloat16" })],
      ["i64", tensor(new BigInt64Array([-(2n ** 40n), 7n]), { shape: [2, 1] })],
      ["i32", tensor(new Int32Array([-5, 2 ** 30]))],
      ["u8", tensor(new Uint8Array([0, 200, 255]))],
      ["bool", tensor([true, false, true])],
      ["scalar", tensor(new Float32Array([42]), { shape: [] })],
    ]);
    saveTensors(path, src);
    const back = loadTensors(path).tensors;
    for (const [name, t] of src) {
      const r = back.get(name)!;
      assert.equal(r.dtype, t.dtype, name);
      assert.deepEqual(r.shape, t.shape, name);
      assert.deepEqual(r.toTypedArray(), t.toTypedArray(), name);
    }
  });
});

test("weights: strict loading lists missing, unexpected and shape-mismatched keys and changes nothing", () => {
  manualSeed(3);
  const model = new Sequential(new Linear(4, 3), new Linear(3, 2));
  const before = values(model);
  const path = join(dir, "wrong.safetensors");
  tidy(() =>
    saveTensors(path, {
      "0.weight": randn([3, 4]),
      "0.bias": randn([5]), // wrong shape
      "1.weight": randn([2, 3]),
      // "1.bias" missing
      "2.weight": randn([1]), // unexpected
    }),
  );
  let err: unknown;
  try {
    loadModule(model, path);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof StateDictMismatchError);
  assert.ok(err instanceof LiverstiffError, "user-facing error with context");
  assert.deepEqual(err.missingKeys, ["1.bias"]);
  assert.deepEqual(err.unexpectedKeys, ["2.weight"]);
  assert.deepEqual(err.shapeMismatches, [{ key: "0.bias", expected: [3], got: [5] }]);
  assert.match(err.message, /missing keys: 1\.bias/);
  assert.match(err.message, /unexpected keys: 2\.weight/);
  assert.match(err.message, /0\.bias \(checkpoint \[5\], model \[3\]\)/);
  assert.equal(err.context.file, path);
  assert.deepEqual(values(model), before, "nothing copied on error");
  // the process goes on: the model still works
  tidy(() => assert.deepEqual(model.forward(randn([1, 4])).shape, [1, 2]));
  model.dispose();
});

test("weights: non-strict loading reports missing and unexpected keys but still refuses shape mismatches", () => {
  manualSeed(4);
  const model = new Sequential(new Linear(4, 3), new Linear(3, 2));
  const path = join(dir, "partial.safetensors");
  tidy(() => saveTensors(path, { "0.weight": randn([3, 4]).fill_(0.25), "extra.x": randn([2]) }));
  const r = loadModule(model, path, { strict: false });
  assert.deepEqual(r, { missingKeys: ["0.bias", "1.weight", "1.bias"], unexpectedKeys: ["extra.x"] });
  tidy(() => assert.ok((model.at(0) as Linear).weight.toArray().every((v) => v === 0.25)));
  tidy(() => saveTensors(path, { "0.weight": randn([4, 3]) }));
  assert.throws(() => loadModule(model, path, { strict: false }), /shape mismatches: 0\.weight/);
  // in-memory state dicts get the same checks
  assert.throws(() => model.loadStateDict(new Map()), /missing keys: 0\.weight, 0\.bias, 1\.weight, 1\.bias/);
  model.dispose();
});

test("weights: a truncated or corrupt weights file names the file and the first bad tensor", () => {
  const model = new SmallConvNet();
  const good = readFileSync(fixture("conv_initial.safetensors"));
  const path = join(dir, "truncated.safetensors");
  writeFileSync(path, good.subarray(0, good.length - 100));
  assert.throws(
    () => loadModule(model, path),
    (e: unknown) =>
      e instanceof LiverstiffError &&
      e.context.file === path &&
      e.context.tensor === "head.weight" &&
      /truncated/.test(e.message),
  );
  const corrupt = Buffer.from(good);
  corrupt.write("{", 8 + 1); // `{"features...` becomes `{{features...`: not JSON
  writeFileSync(path, corrupt);
  assert.throws(() => loadModule(model, path), /not valid UTF-8 JSON/);
  // a PyTorch file for another architecture: every difference listed
  const other = new SmallConvNet(2, [8, 16], 5);
  assert.throws(
    () => loadModule(other, fixture("conv_initial.safetensors")),
    /\): unexpected keys: features\.9\.num_batches_tracked, features\.8\.bias, features\.8\.weight, features\.9\.bias, features\.9\.running_mean, features\.9\.running_var, features\.9\.weight$/,
  );
  model.dispose();
  other.dispose();
});

test("weights: optimizer state through safetensors resumes training exactly (Adam, SGD momentum)", () => {
  const makers: ((ps: Tensor[]) => Optimizer<BaseGroupOptions>)[] = [
    (ps: Tensor[]) => new Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 0.01 }),
    (ps: Tensor[]) =>
      new SGD([{ params: ps.slice(0, 1) }, { params: ps.slice(1), lr: 0.05 }], { lr: 0.1, momentum: 0.9 }),
  ];
  for (const make of makers) {
    manualSeed(5);
    const a = new Linear(6, 3);
    const b = new Linear(6, 3);
    b.loadStateDict(a.stateDict());
    const optA = make(a.parameters());
    const optB = make(b.parameters());
    const trainStep = (m: Linear, opt: { zeroGrad(): void; step(): void }, seed: number) =>
      tidy(() => {
        manualSeed(seed);
        opt.zeroGrad();
        F.mseLoss(m.forward(randn([8, 6])), randn([8, 3])).backward();
        opt.step();
      });
    for (let s = 0; s < 3; s++) trainStep(a, optA, 100 + s);
    const path = join(dir, "opt.safetensors");
    saveOptimizer(optA, path);
    saveModule(a, join(dir, "lin.safetensors"));
    loadModule(b, join(dir, "lin.safetensors"));
    loadOptimizer(optB, path);
    for (let s = 3; s < 6; s++) {
      trainStep(a, optA, 100 + s);
      trainStep(b, optB, 100 + s);
    }
    assert.deepEqual(values(b), values(a));
    optA.dispose();
    optB.dispose();
    a.dispose();
    b.dispose();
  }
  // a weights file is not an optimizer state
  const lin = new Linear(2, 2);
  const opt = new Adam(lin.parameters());
  assert.throws(() => loadOptimizer(opt, fixture("conv_initial.safetensors")), /holds no optimizer state/);
  lin.dispose();
});

test("weights: Module.to converts floating parameters and keeps integer buffers", () => {
  const m = new SmallConvNet(2, [4], 2);
  m.to("float64");
  const dtypes = new Map(m.namedParameters().map(([n, t]) => [n, t.dtype]));
  assert.ok([...dtypes.values()].every((d) => d === "float64"));
  assert.equal(m.namedBuffers().find(([n]) => n.endsWith("num_batches_tracked"))![1].dtype, "int64");
  assert.ok(m.parameters().every((p) => p.requiresGrad));
  tidy(() => assert.equal(m.forward(randn([1, 2, 8, 8], { dtype: "float64" })).dtype, "float64"));
  m.dispose();
});

test("weights: rename maps a checkpoint's keys onto the module's names (and drops keys mapped to null)", () => {
  manualSeed(6);
  const src = new Sequential(new Linear(3, 2));
  const path = join(dir, "prefixed.safetensors");
  tidy(() => {
    const sd = src.stateDict();
    saveTensors(path, {
      "module.0.weight": sd.get("0.weight")!,
      "module.0.bias": sd.get("0.bias")!,
      "head.fc.weight": randn([7]),
    });
  });
  const dst = new Sequential(new Linear(3, 2));
  assert.throws(() => loadModule(dst, path), /unexpected keys: .*module\.0\.weight/);
  loadModule(dst, path, { rename: (k) => (k.startsWith("module.") ? k.slice(7) : null) });
  assert.deepEqual(values(dst), values(src));
  assert.throws(() => loadModule(dst, path, { rename: () => "0.weight" }), /map to the same name/);
  src.dispose();
  dst.dispose();
});
