// The example of docs/engine-nn.md, run as written (in a temporary folder): a tiny MLP learns a
// separable target, its weights round-trip through a safetensors file.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  Adam,
  cosineWithWarmupSchedule,
  Linear,
  LrScheduler,
  loadModule,
  Module,
  ReLU,
  Sequential,
  saveModule,
} from "../../src/nn/index.ts";
import { functional as F, manualSeed, randn, type Tensor, tidy } from "../../src/torch/index.ts";

class Mlp extends Module {
  readonly body = this.registerModule(
    "body",
    new Sequential(new Linear(4, 16), new ReLU(), new Linear(16, 1)),
  );
  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

test("docs example: a tiny MLP trains (loss falls below a third) and its weights round-trip", () => {
  const dir = mkdtempSync(join(tmpdir(), "ls-nn-example-"));
  try {
    manualSeed(0);
    const model = new Mlp();
    const opt = new Adam(model.parameters(), { lr: 1e-2 });
    const sched = new LrScheduler(opt, cosineWithWarmupSchedule(10, 200, 0.1));
    const x = randn([64, 4]).keep();
    const y = x.sum(1, true).gt(0).to("float32").keep();
    const losses: number[] = [];
    for (let step = 0; step < 200; step++) {
      const loss = tidy(() => {
        opt.zeroGrad();
        const l = F.binaryCrossEntropyWithLogits(model.forward(x), y);
        l.backward();
        opt.step();
        return l.item();
      });
      sched.step();
      losses.push(loss);
    }
    assert.ok(losses[0] > 0.5, `initial loss ${losses[0]}`);
    assert.ok(losses.at(-1)! < losses[0] / 3, `final loss ${losses.at(-1)} vs initial ${losses[0]}`);
    assert.ok(Math.abs(opt.paramGroups[0].lr - 1e-3) < 1e-12, "schedule ends at minRatio * base lr");
    const path = join(dir, "mlp.safetensors");
    saveModule(model, path);
    const again = new Mlp();
    loadModule(again, path);
    tidy(() => assert.deepEqual(again.forward(x).toArray(), model.forward(x).toArray()));
    for (const d of [model, again, opt, x, y]) d.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
