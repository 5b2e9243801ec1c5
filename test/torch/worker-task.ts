// Worker body for worker.test.ts: loads the addon in this thread and fits a tiny linear model.
import { parentPort, workerData } from "node:worker_threads";
import * as torch from "../../src/torch/index.ts";

const { seed, steps } = workerData as { seed: number; steps: number };
torch.manualSeed(seed);
const w = torch.zeros([3], { requiresGrad: true }).keep();
const x = torch.randn([64, 3]).keep();
const trueW = torch.tensor([1.5, -2, 0.5]).keep();
const y = torch.noGrad(() => x.matmul(trueW)).keep();
for (let i = 0; i < steps; i++) {
  torch.tidy(() => {
    w.zeroGrad();
    torch.functional.mseLoss(x.matmul(w), y).backward();
    torch.noGrad(() => w.sub_(w.grad!, 0.1));
  });
}
// Leave a few tensors alive on purpose: terminating the worker must clean them up without a crash.
torch.ones([1000]);
parentPort!.postMessage({ w: w.toArray(), live: torch.memoryStats().liveTensors });
