import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { Optimizer } from "../../src/nn/optim/optimizer.ts";
import { Adam, Adamax, type AdamOptions, AdamW, RMSprop, SGD } from "../../src/nn/optim/optimizers.ts";
import { type Tensor, tensor, tidy } from "../../src/torch/index.ts";

interface Case {
  optimizer: string;
  defaults: Record<string, unknown>;
  group2: Record<string, unknown>;
  shapes: number[][];
  initial: number[][];
  grads: number[][][];
  after: number[][][];
}

const manifest = JSON.parse(
  readFileSync(new URL("../fixtures/nn/engine_fixtures.json", import.meta.url), "utf8"),
);
const cases: Case[] = manifest.optimizer_cases;

/** torch's snake_case options -> ours. */
function options(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return out;
}

function build(c: Case, params: Tensor[]): Optimizer<{ lr: number; weightDecay: number }> {
  const groups = [{ params: [params[0]] }, { params: [params[1]], ...options(c.group2) }];
  const d = options(c.defaults);
  switch (c.optimizer) {
    case "SGD":
      return new SGD(groups, d as { lr: number });
    case "Adam":
      return new Adam(groups, d as Partial<AdamOptions>);
    case "AdamW":
      return new AdamW(groups, d as Partial<AdamOptions>);
    case "Adamax":
      return new Adamax(groups, d);
    case "RMSprop":
      return new RMSprop(groups, d);
  }
  throw new Error(c.optimizer);
}

function maxRelDiff(actual: Float32Array, expected: number[]): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1e-6, Math.abs(expected[i])));
  }
  return worst;
}

for (const [ci, c] of cases.entries()) {
  test(`optim parity: ${c.optimizer} case ${ci} ${JSON.stringify(c.defaults)} / group2 ${JSON.stringify(c.group2)}`, () => {
    const params = c.initial.map((v, i) =>
      tensor(Float32Array.from(v), { shape: c.shapes[i] }).requiresGrad_(),
    );
    const opt = build(c, params);
    for (let s = 0; s < c.grads.length; s++) {
      tidy(() => {
        params.forEach((p, i) => {
          p.grad = tensor(Float32Array.from(c.grads[s][i]), { shape: c.shapes[i] });
        });
        opt.step();
      });
      params.forEach((p, i) => {
        const diff = maxRelDiff(p.toFloat32Array(), c.after[s][i]);
        // same kernels and scalar arithmetic as torch (measured: bit-identical on Debian libtorch 1.13)
        assert.ok(diff <= 1e-6, `step ${s + 1} param ${i}: relative difference ${diff}`);
      });
    }
    opt.dispose();
    for (const p of params) p.dispose();
  });
}

test("optim: state dict round trip resumes the exact trajectory (Adam with AMSGrad, two groups)", () => {
  const c = cases.find((x) => x.optimizer === "Adam" && x.defaults.amsgrad)!;
  const params = c.initial.map((v, i) =>
    tensor(Float32Array.from(v), { shape: c.shapes[i] }).requiresGrad_(),
  );
  const opt = build(c, params);
  const stepWith = (o: Optimizer<{ lr: number; weightDecay: number }>, ps: Tensor[], s: number) =>
    tidy(() => {
      ps.forEach((p, i) => {
        p.grad = tensor(Float32Array.from(c.grads[s][i]), { shape: c.shapes[i] });
      });
      o.step();
    });
  stepWith(opt, params, 0);
  stepWith(opt, params, 1);
  const sd = opt.stateDict();
  assert.equal(sd.type, "Adam");
  assert.deepEqual(
    sd.paramGroups.map((g) => g.params),
    [[0], [1]],
  );
  assert.equal(sd.state.get(0)!.step, 2);
  assert.deepEqual(Object.keys(sd.state.get(1)!).sort(), ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]);
  // a fresh optimizer over copies of the parameters, restored from the state dict
  const params2 = params.map((p) => p.detach().clone().requiresGrad_());
  const opt2 = build(c, params2);
  opt2.loadStateDict(sd);
  for (let s = 2; s < c.grads.length; s++) {
    stepWith(opt, params, s);
    stepWith(opt2, params2, s);
  }
  params.forEach((p, i) => {
    assert.deepEqual(params2[i].toFloat32Array(), p.toFloat32Array());
    assert.ok(maxRelDiff(p.toFloat32Array(), c.after.at(-1)![i]) <= 1e-6);
  });
  // the restored state is a copy: disposing the first optimizer leaves the second intact
  opt.dispose();
  stepWith(opt2, params2, 0);
  opt2.dispose();
});

test("optim: misuse gives clear errors", () => {
  const p = tensor([1, 2, 3]).requiresGrad_();
  assert.throws(() => new Adam([p], { lr: -1 }), /invalid learning rate/);
  assert.throws(() => new Adam([p], { betas: [1, 0.9] }), /beta parameter at index 0/);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /Nesterov/);
  assert.throws(
    () => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }),
    /more than one parameter group/,
  );
  assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
  const adam = new Adam([p]);
  const sgd = new SGD([p], { lr: 0.1 });
  assert.throws(() => sgd.loadStateDict(adam.stateDict()), /state is for Adam, not SGD/);
  const q = tensor([1, 2]).requiresGrad_();
  const two = new Adam([{ params: [p] }, { params: [q] }]);
  assert.throws(() => adam.loadStateDict(two.stateDict()), /2 parameter groups/);
  // a parameter without a gradient is skipped and gets no state
  const r = tensor([5]).requiresGrad_();
  const opt = new Adam([p, r], { lr: 0.1 });
  p.grad = tensor([1, 1, 1]);
  opt.step();
  assert.deepEqual(r.toArray(), [5]);
  assert.deepEqual([...opt.stateDict().state.keys()], [0]);
  opt.zeroGrad();
  assert.equal(p.grad, null);
});
