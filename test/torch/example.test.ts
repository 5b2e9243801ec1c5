// The example of docs/engine.md ("Training a tiny model"), kept runnable: fits y = 3x - 1 with Adam.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as torch from "../../src/torch/index.ts";

test("docs/engine.md example trains a tiny model", () => {
  torch.manualSeed(0);
  const F = torch.functional;
  const w = torch.zeros([1, 1], { requiresGrad: true }).keep();
  const b = torch.zeros([1], { requiresGrad: true }).keep();
  const state = torch.keep([torch.zerosLike(w), torch.zerosLike(b), torch.zerosLike(w), torch.zerosLike(b)]);
  const x = torch.linspace(-1, 1, 64).reshape([64, 1]).keep();
  const y = x.mul(3).sub(1).keep();
  for (let step = 1; step <= 500; step++) {
    torch.tidy(() => {
      w.zeroGrad();
      b.zeroGrad();
      F.mseLoss(F.linear(x, w, b), y).backward();
      torch.optim.adamStep([w, b], state.slice(0, 2), state.slice(2), null, [step, step], {
        lr: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        decoupled: false,
      });
    });
  }
  assert.ok(Math.abs(w.item() - 3) < 0.01, `w = ${w.item()}`);
  assert.ok(Math.abs(b.item() + 1) < 0.01, `b = ${b.item()}`);
  torch.dispose([w, b, state, x, y]);
});
