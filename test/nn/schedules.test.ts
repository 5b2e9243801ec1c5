import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  cosineSchedule,
  cosineWithWarmupSchedule,
  LrScheduler,
  stepSchedule,
} from "../../src/nn/optim/schedules.ts";

const manifest = JSON.parse(
  readFileSync(new URL("../fixtures/nn/engine_fixtures.json", import.meta.url), "utf8"),
);
const S = manifest.schedules;

function replay(schedule: (i: number) => number): number[] {
  const opt = { paramGroups: [{ lr: S.base_lr }] };
  const sched = new LrScheduler(opt, schedule);
  const out: number[] = [];
  for (let e = 0; e < S.step.lrs.length; e++) {
    out.push(opt.paramGroups[0].lr);
    sched.step();
  }
  return out;
}

function assertClose(actual: number[], expected: number[], rel = 1e-12): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    assert.ok(
      Math.abs(a - expected[i]) <= rel * Math.max(1e-12, Math.abs(expected[i])),
      `index ${i}: ${a} vs ${expected[i]}`,
    );
  });
}

test("schedules: step decay matches torch StepLR", () => {
  assertClose(replay(stepSchedule(S.step.step_size, S.step.gamma)), S.step.lrs);
});

test("schedules: cosine matches torch CosineAnnealingLR", () => {
  assertClose(replay(cosineSchedule(S.cosine.t_max, S.cosine.eta_min / S.base_lr)), S.cosine.lrs, 1e-9);
});

test("schedules: cosine with warm-up matches the LambdaLR reference and holds its floor", () => {
  const c = S.cosine_warmup;
  const f = cosineWithWarmupSchedule(c.warmup_steps, c.total_steps, c.min_lr_ratio);
  assertClose(replay(f), c.lrs);
  assert.equal(f(0), 0);
  assert.equal(f(c.warmup_steps), 1);
  assert.ok(Math.abs(f(c.total_steps) - c.min_lr_ratio) < 1e-15);
  assert.ok(Math.abs(f(c.total_steps + 50) - c.min_lr_ratio) < 1e-15);
});

test("schedules: scheduler state resumes at the same learning rate, per group", () => {
  const opt = { paramGroups: [{ lr: 0.1 }, { lr: 0.01 }] };
  const sched = new LrScheduler(opt, stepSchedule(2, 0.5));
  for (let i = 0; i < 5; i++) sched.step();
  assert.deepEqual(sched.currentLrs(), [0.025, 0.0025]);
  const saved = sched.stateDict();
  const opt2 = { paramGroups: [{ lr: 0.1 }, { lr: 0.01 }] };
  const again = new LrScheduler(opt2, stepSchedule(2, 0.5));
  again.loadStateDict(saved);
  assert.deepEqual(again.currentLrs(), [0.025, 0.0025]);
  again.step();
  assert.deepEqual(again.currentLrs(), [0.0125, 0.00125]);
  assert.throws(() => stepSchedule(0), /positive integer/);
  assert.throws(() => cosineWithWarmupSchedule(5, 5), /warmupSteps < totalSteps/);
});
