// Soak: 20,000 training steps of a small MLP (Adam, fused kernel) under tidy(). Resident memory after
// warm-up must grow by less than 50 MB and the handle table must not grow. LIVERSTIFF_SOAK_STEPS changes
// the step count (default 20,000; a few seconds on one core).
import assert from "node:assert/strict";
import { test } from "node:test";
import * as torch from "../../src/torch/index.ts";

const F = torch.functional;
const steps = Number(process.env.LIVERSTIFF_SOAK_STEPS ?? 20000);
const warmup = Math.min(2000, Math.floor(steps / 4));

test(`soak: ${steps} training steps keep memory flat`, (t) => {
  torch.manualSeed(0);
  const params = torch.tidy(() => ({
    w1: torch.randn([32, 64]).mul(0.1).requiresGrad_(true),
    b1: torch.zeros([64], { requiresGrad: true }),
    w2: torch.randn([64, 1]).mul(0.1).requiresGrad_(true),
    b2: torch.zeros([1], { requiresGrad: true }),
  }));
  torch.keep(params);
  const list = [params.w1, params.b1, params.w2, params.b2];
  const expAvg = torch.keep(list.map((p) => torch.zerosLike(p)));
  const expAvgSq = torch.keep(list.map((p) => torch.zerosLike(p)));
  const x = torch.randn([16, 32]).keep();
  const y = torch.noGrad(() => x.sum(1, true).gt(0).float()).keep();
  let rssAfterWarmup = 0;
  let liveAfterWarmup = 0;
  let firstLoss = 0;
  let lastLoss = 0;
  for (let step = 1; step <= steps; step++) {
    const loss = torch.tidy(() => {
      for (const p of list) p.zeroGrad();
      const h = F.relu(x.matmul(params.w1).add(params.b1));
      const logits = h.matmul(params.w2).add(params.b2);
      const l = F.binaryCrossEntropyWithLogits(logits, y);
      l.backward();
      torch.optim.adamStep(list, expAvg, expAvgSq, null, new Array(list.length).fill(step), {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        decoupled: false,
      });
      return step === 1 || step === steps ? l.item() : 0;
    });
    if (step === 1) firstLoss = loss;
    if (step === steps) lastLoss = loss;
    if (step === warmup) {
      rssAfterWarmup = process.memoryUsage().rss;
      liveAfterWarmup = torch.memoryStats().liveTensors;
    }
  }
  const growthMb = (process.memoryUsage().rss - rssAfterWarmup) / 2 ** 20;
  t.diagnostic(`rss growth after warm-up: ${growthMb.toFixed(1)} MB`);
  assert.ok(growthMb < 50, `resident memory grew by ${growthMb.toFixed(1)} MB after warm-up`);
  assert.equal(torch.memoryStats().liveTensors, liveAfterWarmup);
  assert.ok(lastLoss < firstLoss * 0.5, `the model did not learn: loss ${firstLoss} -> ${lastLoss}`);
  torch.dispose([params, expAvg, expAvgSq, x, y]);
});
