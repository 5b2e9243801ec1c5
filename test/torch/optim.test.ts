// The fused optimizer kernels reproduce torch.optim (1.13) on three steps with fixed gradients
// (reference: test/fixtures/torch/reference.json from scripts/parity/torch_reference.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { Tensor } from "../../src/torch/index.ts";
import * as torch from "../../src/torch/index.ts";
import { assertClose, seq } from "./helpers.ts";

const { optim } = torch;
const reference = JSON.parse(
  readFileSync(new URL("../fixtures/torch/reference.json", import.meta.url), "utf8"),
) as {
  optim: Record<string, number[]>;
};

function run(name: string, step: (param: Tensor, stepNumber: number) => void): void {
  torch.tidy(() => {
    const param = seq([2, 3], 0.5).requiresGrad_(true);
    for (let s = 0; s < 3; s++) {
      param.grad = seq([2, 3], 0.3, s + 1);
      step(param, s + 1);
    }
    assertClose(param.detach().toFloat64Array(), reference.optim[name]!, 1e-12, 1e-14, name);
  });
}

function adamLike(
  name: string,
  o: { lr: number; weightDecay: number; decoupled: boolean; amsgrad?: boolean },
): void {
  const expAvg = torch.zeros([2, 3], { dtype: "float64" });
  const expAvgSq = torch.zeros([2, 3], { dtype: "float64" });
  const maxSq = o.amsgrad ? [torch.zeros([2, 3], { dtype: "float64" })] : null;
  run(name, (p, s) =>
    optim.adamStep([p], [expAvg], [expAvgSq], maxSq, [s], { ...o, beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
  );
}

test("Adam with L2 weight decay", () =>
  torch.tidy(() => adamLike("adam", { lr: 0.01, weightDecay: 0.1, decoupled: false })));
test("Adam AMSGrad", () =>
  torch.tidy(() => adamLike("adam_amsgrad", { lr: 0.01, weightDecay: 0, decoupled: false, amsgrad: true })));
test("AdamW", () => torch.tidy(() => adamLike("adamw", { lr: 0.01, weightDecay: 0.05, decoupled: true })));

test("Adamax", () =>
  torch.tidy(() => {
    const expAvg = torch.zeros([2, 3], { dtype: "float64" });
    const expInf = torch.zeros([2, 3], { dtype: "float64" });
    run("adamax", (p, s) =>
      optim.adamaxStep([p], [expAvg], [expInf], [s], {
        lr: 0.02,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0.01,
      }),
    );
  }));

// float32: the fused kernel; float64: PyTorch's formulation on the slices.
for (const dtype of ["float32", "float64"] as const) {
  test(`Adamax with active slices (${dtype}) updates those slices exactly as without, and leaves the others`, () =>
    torch.tidy(() => {
      const o = { lr: 0.02, beta1: 0.9, beta2: 0.999, eps: 1e-7, weightDecay: 2e-4 };
      const make = () => {
        const p = seq([3, 2, 4], 0.5, 0, dtype).requiresGrad_(true);
        return { p, m: torch.zeros([3, 2, 4], { dtype }), u: torch.zeros([3, 2, 4], { dtype }) };
      };
      const all = make();
      const some = make();
      const active = [true, false, true];
      for (let s = 1; s <= 3; s++) {
        all.p.grad = seq([3, 2, 4], 0.3, s, dtype);
        some.p.grad = seq([3, 2, 4], 0.3, s, dtype);
        optim.adamaxStep([all.p], [all.m], [all.u], [s], o);
        optim.adamaxStep([some.p], [some.m], [some.u], [s], o, active);
      }
      for (let k = 0; k < 3; k++) {
        const got = some.p.detach().select(0, k).toFloat64Array();
        const want = active[k] ? all.p.detach().select(0, k) : seq([3, 2, 4], 0.5, 0, dtype).select(0, k);
        assert.deepEqual(got, want.toFloat64Array(), `slice ${k}`);
        if (!active[k])
          assert.ok(
            some.m
              .select(0, k)
              .toFloat64Array()
              .every((x) => x === 0),
            "moments untouched",
          );
      }
      assert.throws(
        () => optim.adamaxStep([some.p], [some.m], [some.u], [4], o, [true, false]),
        /activeSlices has 2 entries but parameter 0 has shape \[3, 2, 4\]/,
      );
    }));
}

for (const [name, o] of [
  ["sgd_nesterov", { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true }],
  ["sgd_dampening", { lr: 0.1, momentum: 0.8, dampening: 0.3, weightDecay: 0, nesterov: false }],
] as const) {
  test(`SGD ${name}`, () =>
    torch.tidy(() => {
      let bufs: (Tensor | null)[] = [null];
      run(name, (p) => {
        bufs = optim.sgdStep([p], bufs, o, (id) => new torch.Tensor(id));
      });
      assert.ok(bufs[0] instanceof torch.Tensor);
    }));
}

test("RMSprop centered with momentum and weight decay", () =>
  torch.tidy(() => {
    const sq = torch.zeros([2, 3], { dtype: "float64" });
    const ga = torch.zeros([2, 3], { dtype: "float64" });
    const buf = torch.zeros([2, 3], { dtype: "float64" });
    run("rmsprop_centered_momentum", (p) =>
      optim.rmspropStep([p], [sq], [ga], [buf], {
        lr: 0.01,
        alpha: 0.99,
        eps: 1e-8,
        weightDecay: 0.02,
        momentum: 0.5,
      }),
    );
  }));

test("RMSprop plain", () =>
  torch.tidy(() => {
    const sq = torch.zeros([2, 3], { dtype: "float64" });
    run("rmsprop", (p) =>
      optim.rmspropStep([p], [sq], null, null, {
        lr: 0.01,
        alpha: 0.99,
        eps: 1e-8,
        weightDecay: 0,
        momentum: 0,
      }),
    );
  }));

test("parameters without a gradient are skipped", () =>
  torch.tidy(() => {
    const p = torch.ones([2], { requiresGrad: true });
    optim.adamStep([p], [torch.zeros([2])], [torch.zeros([2])], null, [1], {
      lr: 0.1,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      decoupled: false,
    });
    assert.deepEqual(p.detach().toArray(), [1, 1]);
  }));

test("clipGradNorm scales gradients to the max norm and returns the norm before", () =>
  torch.tidy(() => {
    const a = torch.zeros([2], { requiresGrad: true });
    const b = torch.zeros([1], { requiresGrad: true });
    a.grad = torch.tensor([3, 0]);
    b.grad = torch.tensor([4]);
    const norm = optim.clipGradNorm([a, b], 1);
    assert.ok(Math.abs(norm - 5) < 1e-6);
    assertClose(a.grad!.toFloat32Array(), [0.6, 0], 1e-5);
    assertClose(b.grad!.toFloat32Array(), [0.8], 1e-5);
  }));
