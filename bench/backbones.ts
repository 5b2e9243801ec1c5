// Backbones bench: Swin-B and ResNet-50 feature extraction (pooled features, eval, no grad) at batch 8,
// 224 x 224, in TypeScript (src/nn/models) and in Python with Debian's python3-torchvision 0.14
// (bench/backbones/peer.py, classifier replaced by Identity), same thread count, in one run.
//   npm run bench -- backbones [--chunks 3] [--chunk-iters 1] [--threads 2] [--batch 8] [--models swin_b,resnet50]
// The machine is shared, so the two sides alternate in short chunks (TS, Python, TS, ...) after one
// warm-up forward each; a side's figure is its fastest chunk (images/s); medians and CPU-time figures
// (process CPU time per forward, less sensitive to other load) are printed too.
// Last line: JSON with swin_b_ratio and resnet50_ratio (TS images/s divided by Python images/s).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type ResNet, resnet, type SwinTransformer, swin } from "../src/nn/models/index.ts";
import {
  getNumThreads,
  manualSeed,
  noGrad,
  randn,
  setNumThreads,
  type Tensor,
  tidy,
} from "../src/torch/index.ts";

const { values: args } = parseArgs({
  options: {
    chunks: { type: "string", default: "3" },
    "chunk-iters": { type: "string", default: "1" },
    threads: { type: "string", default: "2" },
    batch: { type: "string", default: "8" },
    models: { type: "string", default: "swin_b,resnet50" },
    python: { type: "string", default: "/usr/bin/python3" },
  },
});
const chunks = Number(args.chunks);
const chunkIters = Number(args["chunk-iters"]);
const threads = Number(args.threads);
const batch = Number(args.batch);
const names = args.models.split(",") as ("swin_b" | "resnet50")[];

setNumThreads(threads);

// ---- Python peer -------------------------------------------------------------------------------------
const peer = spawn(args.python, [fileURLToPath(new URL("./backbones/peer.py", import.meta.url))], {
  stdio: ["pipe", "pipe", "inherit"],
});
const lines = createInterface({ input: peer.stdout });
const pending: ((v: unknown) => void)[] = [];
lines.on("line", (l) => pending.shift()?.(JSON.parse(l)));
function ask<T>(req: object): Promise<T> {
  return new Promise((resolve) => {
    pending.push(resolve as (v: unknown) => void);
    peer.stdin.write(`${JSON.stringify(req)}\n`);
  });
}

interface Timing {
  ms: number[];
  cpu_ms: number[];
  out_sum: number;
}

function runTs(model: SwinTransformer | ResNet, x: Tensor, iters: number): Timing {
  const ms: number[] = [];
  const cpu: number[] = [];
  let outSum = 0;
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    outSum = noGrad(() => tidy(() => model.forward(x).sum().item()));
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { ms, cpu_ms: cpu, out_sum: outSum };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const info = await ask<{ torch: string; torchvision: string; threads: number }>({ cmd: "init", threads });
console.log(
  `backbones bench: batch ${batch}, 224x224, ${threads} thread(s) on both sides (TS ${getNumThreads()}, ` +
    `Python ${info.threads}); python torch ${info.torch}, torchvision ${info.torchvision}; ` +
    `${chunks} chunks of ${chunkIters} forwards per side, alternating. The machine is shared: numbers are noisy.`,
);

const result: Record<string, number> = {};
for (const name of names) {
  manualSeed(0);
  const model = name === "swin_b" ? swin("swin_b") : resnet("resnet50");
  model.eval();
  model.requiresGrad_(false);
  manualSeed(1);
  const x = randn([batch, 3, 224, 224]).keep();
  // Warm-up (first-call allocations, oneDNN primitive creation) on both sides.
  runTs(model, x, 1);
  await ask<Timing>({ cmd: "run", model: name, batch, iters: 1 });
  const ts: Timing[] = [];
  const py: Timing[] = [];
  for (let c = 0; c < chunks; c++) {
    ts.push(runTs(model, x, chunkIters));
    py.push(await ask<Timing>({ cmd: "run", model: name, batch, iters: chunkIters }));
    const last = (t: Timing[]) =>
      t
        .at(-1)!
        .ms.map((m) => m.toFixed(0))
        .join("/");
    console.log(`  ${name} chunk ${c + 1}: TS ${last(ts)} ms, Python ${last(py)} ms per forward`);
  }
  const best = (t: Timing[]) => Math.min(...t.map((c) => median(c.ms)));
  const ips = (ms: number) => (batch * 1000) / ms;
  const tsIps = ips(best(ts));
  const pyIps = ips(best(py));
  const tsMed = ips(median(ts.flatMap((c) => c.ms)));
  const pyMed = ips(median(py.flatMap((c) => c.ms)));
  const tsCpu = median(ts.flatMap((c) => c.cpu_ms));
  const pyCpu = median(py.flatMap((c) => c.cpu_ms));
  console.log(
    `${name}: TS ${tsIps.toFixed(2)} images/s (median ${tsMed.toFixed(2)}), Python ${pyIps.toFixed(2)} images/s ` +
      `(median ${pyMed.toFixed(2)}); ratio ${(tsIps / pyIps).toFixed(3)} (median ${(tsMed / pyMed).toFixed(3)}); ` +
      `CPU ms per forward TS ${tsCpu.toFixed(0)}, Python ${pyCpu.toFixed(0)} (CPU-time ratio ${(pyCpu / tsCpu).toFixed(3)})`,
  );
  result[`${name}_ts_images_per_s`] = Number(tsIps.toFixed(3));
  result[`${name}_py_images_per_s`] = Number(pyIps.toFixed(3));
  result[`${name}_ratio`] = Number((tsIps / pyIps).toFixed(3));
  result[`${name}_median_ratio`] = Number((tsMed / pyMed).toFixed(3));
  result[`${name}_cpu_ratio`] = Number((pyCpu / tsCpu).toFixed(3));
  x.dispose();
  model.dispose();
}
peer.stdin.end();
console.log(JSON.stringify({ batch, threads, ...result }));
