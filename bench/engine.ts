// Engine bench: the small conv net (2x128x128 inputs) and the attention-pooling head ([batch, 22, 1024]
// features) trained with Adam in TypeScript (src/torch + src/nn) and in Python with Debian's python3-torch
// (bench/engine/peer.py): same seeds, weights, batches and thread count, in one run.
//   npm run bench -- engine [--chunks 8] [--chunk-steps 5] [--warmup 5] [--threads 1]
// The machine is shared, so the two sides alternate in short chunks of steps (TS, Python, TS, ...) and
// each side's figure is its fastest chunk (ms/step); median and CPU-time ratios (CPU time of the whole
// process per step, less sensitive to other load) are printed too. Both sides train the same
// trajectory, so their losses must agree (printed as max |loss diff|).
// Last line: JSON with cnn_ratio and head_ratio (TS ms/step over Python ms/step) and peak_rss_mb (TS).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Adam } from "../src/nn/index.ts";
import * as torch from "../src/torch/index.ts";
import { AttentionPoolHead, SmallConvNet } from "../test/nn/parity-models.ts";

const { values: args } = parseArgs({
  options: {
    chunks: { type: "string", default: "8" },
    "chunk-steps": { type: "string", default: "5" },
    warmup: { type: "string", default: "5" },
    threads: { type: "string", default: "1" },
    python: { type: "string", default: "/usr/bin/python3" },
  },
});
const chunks = Number(args.chunks);
const chunkSteps = Number(args["chunk-steps"]);
const warmup = Number(args.warmup);
const threads = Number(args.threads);

interface ModelSpec {
  model: "cnn" | "head";
  seed: number;
  input_shape: number[];
  outputs: number;
  batches: number;
  lr: number;
  widths?: number[];
  features?: number;
  hidden?: number;
  attn_hidden?: number;
}

const specs: ModelSpec[] = [
  {
    model: "cnn",
    seed: 11,
    input_shape: [8, 2, 128, 128],
    widths: [8, 16, 16],
    outputs: 5,
    batches: 4,
    lr: 1e-3,
  },
  {
    model: "head",
    seed: 22,
    input_shape: [32, 22, 1024],
    features: 1024,
    hidden: 32,
    attn_hidden: 16,
    outputs: 5,
    batches: 4,
    lr: 1e-3,
  },
];

/** The TypeScript side of one model: same construction order and seeds as peer.py's Trainer. */
class Trainer {
  private readonly model: SmallConvNet | AttentionPoolHead;
  private readonly batches: { x: torch.Tensor; y: torch.Tensor }[];
  private readonly opt: Adam;
  private step = 0;

  constructor(spec: ModelSpec) {
    torch.manualSeed(spec.seed);
    this.model =
      spec.model === "cnn"
        ? new SmallConvNet(2, spec.widths!, spec.outputs)
        : new AttentionPoolHead(spec.features!, spec.hidden!, spec.attn_hidden!, spec.outputs);
    torch.manualSeed(spec.seed + 1);
    this.batches = torch.keep(
      Array.from({ length: spec.batches }, () =>
        torch.tidy(() => {
          const x = torch.randn(spec.input_shape);
          const y = torch.rand([spec.input_shape[0]!, spec.outputs]).gt(0.5).float();
          return { x, y };
        }),
      ),
    );
    this.opt = new Adam(this.model.parameters(), { lr: spec.lr });
    this.model.train();
  }

  run(steps: number): { msPerStep: number; cpuMsPerStep: number; losses: number[] } {
    const losses: number[] = [];
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (let i = 0; i < steps; i++) {
      const { x, y } = this.batches[this.step++ % this.batches.length]!;
      losses.push(
        torch.tidy(() => {
          this.opt.zeroGrad();
          const loss = torch.functional.binaryCrossEntropyWithLogits(this.model.forward(x), y);
          loss.backward();
          this.opt.step();
          return loss.item();
        }),
      );
    }
    const cpu = process.cpuUsage(cpuStart);
    return {
      msPerStep: (performance.now() - start) / steps,
      cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
      losses,
    };
  }
}

/** The Python peer, driven one JSON line at a time. */
function startPeer(): { ask: (cmd: object) => Promise<Record<string, unknown>>; close: () => void } {
  const peer = spawn(args.python!, [fileURLToPath(new URL("./engine/peer.py", import.meta.url))], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: peer.stdout! })[Symbol.asyncIterator]();
  return {
    ask: async (cmd) => {
      peer.stdin!.write(`${JSON.stringify(cmd)}\n`);
      const next = await lines.next();
      if (next.done) throw new Error(`python peer (${args.python}) exited`);
      return JSON.parse(next.value) as Record<string, unknown>;
    },
    close: () => {
      peer.stdin!.end();
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

torch.setNumThreads(threads);
const py = startPeer();
const pyThreads = (await py.ask({ setup: specs, threads })).threads as number;
interface Series {
  ts: number[];
  py: number[];
  tsCpu: number[];
  pyCpu: number[];
  tsLoss: number[];
  pyLoss: number[];
}
const results: Record<string, Series> = {};
for (const spec of specs) {
  const ts = new Trainer(spec);
  const r: Series = { ts: [], py: [], tsCpu: [], pyCpu: [], tsLoss: [], pyLoss: [] };
  results[spec.model] = r;
  // Warm-up steps count towards the trajectory (both sides run them) but not the timing.
  r.tsLoss.push(...ts.run(warmup).losses);
  r.pyLoss.push(...((await py.ask({ run: spec.model, steps: warmup })).losses as number[]));
  for (let c = 0; c < chunks; c++) {
    const t = ts.run(chunkSteps);
    r.ts.push(t.msPerStep);
    r.tsCpu.push(t.cpuMsPerStep);
    r.tsLoss.push(...t.losses);
    const p = await py.ask({ run: spec.model, steps: chunkSteps });
    r.py.push(p.ms_per_step as number);
    r.pyCpu.push(p.cpu_ms_per_step as number);
    r.pyLoss.push(...(p.losses as number[]));
  }
  console.log(
    `${spec.model}: TS chunks ${r.ts.map((v) => v.toFixed(1)).join(" ")} ms/step; ` +
      `Python chunks ${r.py.map((v) => v.toFixed(1)).join(" ")} ms/step`,
  );
}
// Per-call overhead: a tiny element-wise op (add then mul on 16 floats), best of 5 alternating bursts.
// In a function, not top-level module code, so that V8 optimizes the loop as it would in real code.
const overheadOps = 20000;
function tinyOpBurstUs(a: torch.Tensor): number {
  const start = performance.now();
  // Results dropped inside the scope, as Python drops its temporaries.
  for (let i = 0; i < overheadOps; i++)
    torch.tidy(() => {
      a.add(a).mul(2);
    });
  return ((performance.now() - start) * 1000) / (2 * overheadOps);
}
let tsOverheadUs = Infinity;
let pyOverheadUs = Infinity;
const tiny = torch.ones([16]).keep();
for (let burst = 0; burst < 5; burst++) {
  tsOverheadUs = Math.min(tsOverheadUs, tinyOpBurstUs(tiny));
  pyOverheadUs = Math.min(pyOverheadUs, (await py.ask({ overhead: overheadOps })).us_per_op as number);
}
tiny.dispose();
console.log(
  `tiny op (add, mul on 16 floats): TS ${tsOverheadUs.toFixed(2)} µs/op, Python ${pyOverheadUs.toFixed(2)} µs/op`,
);
const pyRss = (await py.ask({ stats: true })).peak_rss_mb as number;
py.close();

const peakRssMb = process.resourceUsage().maxRSS / 1024;
const summary = (m: string) => {
  const r = results[m]!;
  const tsBest = Math.min(...r.ts);
  const pyBest = Math.min(...r.py);
  const lossDiff = Math.max(...r.tsLoss.map((l, i) => Math.abs(l - r.pyLoss[i]!)));
  const cpuRatio = median(r.tsCpu) / median(r.pyCpu);
  return {
    tsBest,
    pyBest,
    ratio: tsBest / pyBest,
    medianRatio: median(r.ts) / median(r.py),
    cpuRatio,
    lossDiff,
  };
};
const cnn = summary("cnn");
const head = summary("head");
console.log(
  `threads: TypeScript ${torch.getNumThreads()}, Python ${pyThreads}; ${warmup} warm-up + ${chunks}x${chunkSteps} timed steps per side`,
);
for (const [label, s] of [
  ["conv net  [8, 2, 128, 128]", cnn],
  ["attn head [32, 22, 1024]  ", head],
] as const) {
  console.log(
    `${label}: TS ${s.tsBest.toFixed(2)} ms/step, Python ${s.pyBest.toFixed(2)} ms/step, ratio ${s.ratio.toFixed(3)} ` +
      `(median ratio ${s.medianRatio.toFixed(3)}, CPU-time ratio ${s.cpuRatio.toFixed(3)}), ` +
      `max |loss diff| ${s.lossDiff.toExponential(1)}`,
  );
}
console.log(`peak RSS: TypeScript ${peakRssMb.toFixed(0)} MB, Python ${pyRss.toFixed(0)} MB`);
console.log(
  JSON.stringify({
    cnn_ratio: Number(cnn.ratio.toFixed(4)),
    head_ratio: Number(head.ratio.toFixed(4)),
    peak_rss_mb: Math.round(peakRssMb),
    cnn_median_ratio: Number(cnn.medianRatio.toFixed(4)),
    head_median_ratio: Number(head.medianRatio.toFixed(4)),
    cnn_cpu_ratio: Number(cnn.cpuRatio.toFixed(4)),
    head_cpu_ratio: Number(head.cpuRatio.toFixed(4)),
    cnn_ms_ts: Number(cnn.tsBest.toFixed(3)),
    cnn_ms_py: Number(cnn.pyBest.toFixed(3)),
    head_ms_ts: Number(head.tsBest.toFixed(3)),
    head_ms_py: Number(head.pyBest.toFixed(3)),
    python_peak_rss_mb: Math.round(pyRss),
    tiny_op_us_ts: Number(tsOverheadUs.toFixed(3)),
    tiny_op_us_py: Number(pyOverheadUs.toFixed(3)),
    threads,
    cnn_max_loss_diff: cnn.lossDiff,
    head_max_loss_diff: head.lossDiff,
  }),
);
