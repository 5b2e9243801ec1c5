// One rank of test/nn/parallel.test.ts: trains a small MLP with AdamW on fixed batches, data-parallel over
// the group the arguments name (or alone), and writes its parameters (at creation, after the broadcast
// from rank 0, after training) as JSON.
// With MODE "contrastive", the loss is pretraining's NT-Xent over pairs with the other ranks' embeddings
// gathered (features/pretrain.ts), on a model without BatchNorm.
//   tsx parallel-worker.ts OUT.json WORLD RANK PORT [MODE]
import { writeFileSync } from "node:fs";
import { gatherRows, ntXent, shardOf, shardRows } from "../../src/features/pretrain.ts";
import { AdamW, DataParallel, Linear, Sequential, Tanh } from "../../src/nn/index.ts";
import { manualSeed, ProcessGroup, tensor, tidy } from "../../src/torch/index.ts";

const [out, world, rank, port] = [
  process.argv[2]!,
  Number(process.argv[3]),
  Number(process.argv[4]),
  process.argv[5],
];
const mode = process.argv[6] ?? "mse";
const contrastive = mode === "contrastive";
const group =
  world > 1
    ? ProcessGroup.init({ initMethod: `tcp://127.0.0.1:${port}`, worldSize: world, rank, timeoutS: 60 })
    : undefined;
const dp = new DataParallel(group, 256); // small buckets: several collectives per step
if (mode === "die" && rank === 1) process.exit(3); // a rank lost after the rendezvous
// Known sums first: rank r contributes r + 1 (float32, over two buckets) and 10^r (int64).
const known = [tensor([rank + 1, 2 * (rank + 1), 0.5], { shape: [3] }), tensor([1, 2], { shape: [2] })];
const counts = tensor(BigInt64Array.from([BigInt(10 ** rank)]), { shape: [1] });
group?.allReduceSum([...known, counts], 8);
const sums = [...known.map((t) => t.toArray()), counts.toArray().map(Number)];

manualSeed(7 + rank); // a different init on every rank: broadcastFromRankZero must make them equal
const net = new Sequential(new Linear(6, 16), new Tanh(), new Linear(16, contrastive ? 4 : 1));
const flat = () => net.parameters().flatMap((p) => p.toArray().flat(3) as number[]);
const before = flat();
dp.broadcastFromRankZero(net.parameters());
const start = flat();
const opt = new AdamW(net.parameters(), { lr: 0.05, weightDecay: 0.01 });

// 20 steps: batches of 8, with one of 5 (shards of 2 and 3) and one of 1 (one rank's shard is empty).
const sizes = Array.from({ length: 20 }, (_, i) => (i === 3 ? 5 : i === 7 ? 1 : 8));
let seed = 11;
const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const data = sizes.map((n) =>
  Array.from({ length: n }, () => ({ x: Array.from({ length: 6 }, next), y: next() })),
);
for (const batch of data) {
  tidy(() => {
    opt.zeroGrad();
    if (contrastive) {
      // Pairs: exam i's two views are rows i and i + B.
      const b = batch.length;
      const x = tensor(
        [...batch.flatMap((r) => r.x), ...batch.flatMap((r) => r.x.map((v) => v + 0.1 * r.y))],
        { shape: [2 * b, 6] },
      );
      const rows = shardRows(dp, b);
      const z = net.forward(rows ? shardOf(x, rows) : x);
      ntXent(rows ? gatherRows(dp, z, rows) : z, 0.5).backward();
    } else {
      const mine = dp.shard(batch);
      if (mine.length > 0) {
        const x = tensor(
          mine.flatMap((r) => r.x),
          { shape: [mine.length, 6] },
        );
        const y = tensor(
          mine.map((r) => r.y),
          { shape: [mine.length, 1] },
        );
        net.forward(x).sub(y).square().mean().mul(dp.lossScale(mine.length, batch.length)).backward();
      }
    }
    dp.reduceGradients(net.parameters());
    opt.step();
  });
}
writeFileSync(out, JSON.stringify({ before, start, final: flat(), sums }));
group?.barrier();
group?.close();
