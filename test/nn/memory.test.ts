// Training through Module + optimizer inside tidy() leaves no native tensor behind: the number of live
// tensors after warm-up stays exactly constant (a deterministic leak check, not a timing one).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Adam, clipGradNorm, ScriptModule, SGD } from "../../src/nn/index.ts";
import {
  functional as F,
  manualSeed,
  memoryStats,
  randint,
  randn,
  setNumThreads,
  tidy,
} from "../../src/torch/index.ts";
import { AttentionPoolHead, SmallConvNet } from "./parity-models.ts";

setNumThreads(1);
const live = () => memoryStats().liveTensors;

test("memory: conv net + Adam training steps keep the live tensor count constant", () => {
  manualSeed(11);
  const model = new SmallConvNet(2, [4, 8], 5);
  const opt = new Adam(model.parameters(), { lr: 1e-3, amsgrad: true });
  const x = randn([2, 2, 16, 16]).keep();
  const y = randn([2, 5]).gt(0).to("float32").keep();
  const step = () =>
    tidy(() => {
      opt.zeroGrad();
      const loss = F.binaryCrossEntropyWithLogits(model.forward(x), y);
      loss.backward();
      clipGradNorm(model.parameters(), 1);
      opt.step();
      model.stateDict(); // aliases made and dropped inside the scope
      return loss.item();
    });
  for (let i = 0; i < 3; i++) step();
  const warm = live();
  for (let i = 0; i < 40; i++) step();
  assert.equal(live(), warm, "live tensors after 40 more steps");
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
});

test("memory: attention head + SGD momentum, and a TorchScript module, keep the live tensor count constant", () => {
  manualSeed(12);
  const head = new AttentionPoolHead(64, 16, 8, 3);
  const opt = new SGD(head.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true });
  const ts = ScriptModule.load(new URL("../fixtures/nn/ts_module.pt", import.meta.url).pathname);
  const tsOpt = new Adam(ts.parameters());
  const step = () =>
    tidy(() => {
      opt.zeroGrad();
      F.crossEntropy(head.forward(randn([4, 22, 64])), randint(0, 3, [4])).backward();
      opt.step();
      tsOpt.zeroGrad();
      F.crossEntropy(ts.forward(randn([8, 16])), randint(0, 3, [8])).backward();
      tsOpt.step();
    });
  for (let i = 0; i < 3; i++) step();
  const warm = live();
  for (let i = 0; i < 40; i++) step();
  assert.equal(live(), warm);
  const before = live();
  tsOpt.dispose();
  opt.dispose();
  ts.dispose();
  head.dispose();
  assert.ok(live() < before, "dispose frees parameters and optimizer state");
});
