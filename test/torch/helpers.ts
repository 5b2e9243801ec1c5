// Shared test helpers for the torch engine: deterministic inputs, closeness checks, a gradcheck.
import assert from "node:assert/strict";
import type { Tensor } from "../../src/torch/index.ts";
import * as torch from "../../src/torch/index.ts";

/** The same closed-form values as scripts/parity/torch_reference.py's seq(). */
export function seq(shape: number[], scale = 0.37, offset = 0, dtype: torch.DType = "float64"): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * scale + offset);
  return torch.tensor(data, { shape, dtype });
}

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-6,
  atol = 1e-8,
  what = "",
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}: element ${i}: ${a} != ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/**
 * Compares autograd gradients of sum(f(inputs) * w) (w fixed, non-uniform) with central finite differences,
 * in float64. Inputs marked false in `differentiable` are passed through untouched.
 */
export function gradcheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  o: { eps?: number; rtol?: number; atol?: number; differentiable?: boolean[]; name?: string } = {},
): void {
  const eps = o.eps ?? 1e-6;
  const rtol = o.rtol ?? 1e-4;
  const atol = o.atol ?? 1e-6;
  const diff = o.differentiable ?? inputs.map(() => true);
  torch.tidy(() => {
    const leaves = inputs.map((t, i) => (diff[i] ? t.detach().clone().requiresGrad_(true) : t));
    const out = f(...leaves);
    const weights = seq([...out.shape], 0.71, 0.3).to(out.dtype);
    out.mul(weights).sum().backward();
    const objective = (xs: Tensor[]): number =>
      torch.noGrad(() =>
        torch.tidy(() =>
          f(...xs)
            .mul(weights)
            .sum()
            .item(),
        ),
      );
    leaves.forEach((leaf, i) => {
      if (!diff[i]) return;
      const analytic = leaf.grad?.toFloat64Array() ?? new Float64Array(leaf.numel());
      const base = leaf.detach().toFloat64Array();
      const numeric = new Float64Array(base.length);
      for (let k = 0; k < base.length; k++) {
        const probe = (delta: number): number =>
          torch.tidy(() => {
            const data = base.slice();
            data[k] = data[k]! + delta;
            const xs = leaves.map((l, j) =>
              j === i ? torch.tensor(data, { shape: [...leaf.shape] }) : l.detach(),
            );
            return objective(xs);
          });
        numeric[k] = (probe(eps) - probe(-eps)) / (2 * eps);
      }
      assertClose(analytic, numeric, rtol, atol, `${o.name ?? "gradcheck"} input ${i}`);
    });
  });
}
