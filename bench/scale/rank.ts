// One rank of `npm run bench -- scale`: fine-tuning steps of the default encoder (liverstiff-cnn-v1's
// architecture, 1 libtorch thread) with a linear head, data-parallel over WORLD ranks with the same global
// batch; writes the median step time, the median all-reduce time per step and the gradient bytes as JSON.
//   tsx bench/scale/rank.ts OUT.json WORLD RANK PORT STEPS BATCH
import { writeFileSync } from "node:fs";
import { CNN_V1_CONFIG, LiverCnn } from "../../src/features/index.ts";
import { AdamW, DataParallel, Linear } from "../../src/nn/index.ts";
import { manualSeed, ProcessGroup, randn, setNumThreads, tidy } from "../../src/torch/index.ts";

const [out, world, rank, port, steps, batch] = [
  process.argv[2]!,
  Number(process.argv[3]),
  Number(process.argv[4]),
  process.argv[5],
  Number(process.argv[6]),
  Number(process.argv[7]),
];
setNumThreads(1);
const group =
  world > 1
    ? ProcessGroup.init({ initMethod: `tcp://127.0.0.1:${port}`, worldSize: world, rank, timeoutS: 300 })
    : undefined;
const dp = new DataParallel(group);
manualSeed(1);
const encoder = new LiverCnn(CNN_V1_CONFIG);
const head = new Linear(encoder.featureDim, 1);
const params = [...encoder.parameters(), ...head.parameters()];
dp.broadcastFromRankZero(params);
const opt = new AdamW(params, { lr: 1e-4 });
encoder.train();
const S = CNN_V1_CONFIG.inputSize;
const local = dp.shard(Array.from({ length: batch }, (_, i) => i)).length;
const stepS: number[] = [];
const reduceS: number[] = [];
for (let step = 0; step < steps + 2; step++) {
  const t0 = performance.now();
  let t1 = t0;
  let t2 = t0;
  tidy(() => {
    opt.zeroGrad();
    const x = randn([local, 1, S, S]);
    const loss = head.forward(encoder.forward(x)).square().mean().mul(dp.lossScale(local, batch));
    loss.backward();
    t1 = performance.now();
    dp.reduceGradients(params);
    t2 = performance.now();
    opt.step();
  });
  // The first two steps warm the allocator and the connections.
  if (step >= 2) {
    stepS.push((performance.now() - t0) / 1000);
    reduceS.push((t2 - t1) / 1000);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const gradBytes = params.reduce((s, p) => s + p.numel() * 4, 0);
writeFileSync(
  out,
  JSON.stringify({ stepS: median(stepS), allReduceS: median(reduceS), gradBytes, localBatch: local }),
);
group?.close();
