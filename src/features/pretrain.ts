import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { ingest, loadPrepared, openCatalog, type PrepConfig } from "../cohort/index.ts";
import {
  codeCommit,
  LiverstiffError,
  type ProgressSink,
  Rng,
  silentProgress,
  writeJsonAtomic,
} from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import {
  AdamW,
  Conv2d,
  cosineWithWarmupSchedule,
  DataParallel,
  Linear,
  LrScheduler,
  Module,
} from "../nn/index.ts";
import {
  cat,
  eye,
  functional as F,
  getNumThreads,
  manualSeed,
  type ProcessGroup,
  rand,
  randn,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from "../torch/index.ts";
import { CNN_V1_CONFIG, LiverCnn } from "./cnn.ts";
import { DEFAULT_ENCODER_NAME, type EncoderManifest, saveCnnWeights, sha256File } from "./weights.ts";

/** The pretraining cohort's synth seed: a string no evaluation cohort uses (they use integers). */
export const PRETRAIN_COHORT_SEED = "liverstiff-pretrain-v1";
export const PRETRAIN_DEFAULTS = {
  exams: 240,
  seed: 1,
  steps: 200,
  batch: 24,
  slices: 9,
  lr: 2e-3,
  weightDecay: 1e-4,
  temperature: 0.2,
  crossRole: 0.5,
  shiftPx: 10,
  objective: "contrastive" as PretrainObjective,
  maskRatio: 0.3,
  maskPatch: 8,
  reconWeight: 1,
  planes: "mm+pixels" as "mm" | "mm+pixels",
  /**
   * libtorch intra-op threads while training. Fixed (not "all cores") because the thread count decides
   * how float reductions are split, hence the last bits of the weights: the same seed and thread count
   * give the same bytes on the same kind of CPU.
   */
  threads: 2,
} as const;

/**
 * "contrastive": NT-Xent only. "contrastive+masked": also masks 8x8 patches of every view (30%) and
 * reconstructs them from the third block's map (a 3x3 conv to 64 = 8x8 pixels per location), which
 * weighs local texture and organ outlines more than instance discrimination alone does.
 */
export type PretrainObjective = "contrastive" | "contrastive+masked";

export interface PretrainOptions {
  /** Weights file to write (safetensors); a manifest <name>.json is written beside it. */
  out: string;
  /** Exams in the pretraining cohort (default 240). */
  exams?: number;
  /** Training seed (initialisation, sampling, augmentation); default 1. */
  seed?: number;
  /** Optimisation steps (default 200) and exams per step (default 24; two views each). */
  steps?: number;
  batch?: number;
  /** Where the synthetic cohort and its catalog go (default: a temporary folder, removed afterwards). */
  workdir?: string;
  /** Synth seed of the pretraining cohort (default PRETRAIN_COHORT_SEED). */
  cohortSeed?: string | number;
  /** Synth worker threads (default 2; the cohort does not depend on it). */
  workers?: number;
  /** libtorch intra-op threads while pretraining (default 2); restored afterwards. Part of the weights' identity. */
  threads?: number;
  objective?: PretrainObjective;
  /**
   * In-plane preparations the slices come from: "mm" (400 mm field of view) or "mm+pixels" (also the
   * published 256-pixel crop, so that the encoder knows both scales; pairs never mix them).
   */
  planes?: "mm" | "mm+pixels";
  /** Intensity normalisation of the prepared slices (default "zscore", as published). */
  normalize?: PrepConfig["normalize"];
  onProgress?: ProgressSink;
  /**
   * Data-parallel ranks (torch.ProcessGroup): each rank encodes its shard of every batch and the
   * gradients are summed. Every rank makes its own copy of the cohort (rank r > 0 under WORKDIR/rank-r)
   * and only rank 0 writes the weights.
   */
  group?: ProcessGroup;
}

export interface PretrainResult {
  out: string;
  /** The manifest written beside the weights (absent on ranks other than 0, which write nothing). */
  manifest?: EncoderManifest;
  seconds: { synth: number; ingest: number; train: number; total: number };
  losses: number[];
}

const ROLES: readonly SeriesRole[] = ["t1_in", "t1_opp", "t2"];

/** Prepared slices of the pretraining cohort, in memory: per exam, per role present, slices x S x S. */
export interface SliceBank {
  size: number;
  slices: number;
  exams: { examId: string; roles: Partial<Record<SeriesRole, Float32Array>> }[];
}

export function loadSliceBank(workdir: string, prep: string): SliceBank {
  const catalog = openCatalog(workdir);
  let ids: string[];
  try {
    ids = catalog.usableExams({ requireLabel: false }).map((e) => e.examId);
  } finally {
    catalog.close();
  }
  if (ids.length < 4)
    throw new LiverstiffError("too few usable exams to pretrain on", { workdir, exams: ids.length });
  let size = 0;
  let slices = 0;
  const exams = ids.map((examId) => {
    const p = loadPrepared(workdir, examId, prep);
    size = p.height;
    slices = p.slices;
    return { examId, roles: p.roles };
  });
  return { size, slices, exams };
}

/** Projection head of the contrastive objective (discarded after pretraining). */
class Projection extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(inDim: number, hidden: number, outDim: number) {
    super();
    this.fc1 = this.registerModule("fc1", new Linear(inDim, hidden));
    this.fc2 = this.registerModule("fc2", new Linear(hidden, outDim));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(F.relu(this.fc1.forward(x)));
  }
}

/** One augmented view: a slice shifted by (dy, dx) pixels (edge value fill), then gain and offset. */
function augmentInto(
  dst: Float32Array,
  src: Float32Array,
  size: number,
  dy: number,
  dx: number,
  gain: number,
  offset: number,
): void {
  const fill = src[0];
  for (let r = 0; r < size; r++) {
    const sr = r - dy;
    for (let c = 0; c < size; c++) {
      const sc = c - dx;
      const v = sr >= 0 && sr < size && sc >= 0 && sc < size ? src[sr * size + sc] : fill;
      dst[r * size + c] = v * gain + offset;
    }
  }
}

/** Draws a batch of positive pairs: [2B, 1, S, S] values (views A then views B) and noise levels. */
export function drawPairs(
  bank: SliceBank,
  rng: Rng,
  batch: number,
  o: { crossRole: number; shiftPx: number },
): { values: Float32Array; noise: Float32Array } {
  const S = bank.size;
  const plane = S * S;
  const values = new Float32Array(2 * batch * plane);
  const noise = new Float32Array(2 * batch);
  const order = rng.shuffle(bank.exams.map((_, i) => i)).slice(0, batch);
  order.forEach((ei, b) => {
    const ex = bank.exams[ei];
    const present = ROLES.filter((r) => ex.roles[r] !== undefined);
    const roleA = rng.pick(present);
    const sA = rng.int(bank.slices);
    let roleB = roleA;
    let sB: number;
    if (present.length > 1 && rng.bernoulli(o.crossRole)) {
      roleB = rng.pick(present.filter((r) => r !== roleA));
      sB = Math.min(bank.slices - 1, Math.max(0, sA + rng.int(3) - 1));
    } else {
      do sB = Math.min(bank.slices - 1, Math.max(0, sA + rng.int(5) - 2));
      while (sB === sA && bank.slices > 1);
    }
    const views: [SeriesRole, number][] = [
      [roleA, sA],
      [roleB, sB],
    ];
    views.forEach(([role, s], v) => {
      const src = ex.roles[role]!.subarray(s * plane, (s + 1) * plane);
      const k = v * batch + b;
      const dy = rng.int(2 * o.shiftPx + 1) - o.shiftPx;
      const dx = rng.int(2 * o.shiftPx + 1) - o.shiftPx;
      const gain = Math.exp(rng.range(-0.3, 0.3));
      const offset = rng.range(-0.3, 0.3);
      augmentInto(values.subarray(k * plane, (k + 1) * plane), src, S, dy, dx, gain, offset);
      noise[k] = rng.range(0, 0.12);
    });
  });
  return { values, noise };
}

/** NT-Xent loss over 2B embeddings: view i and view i+B are positives, all others negatives. */
export function ntXent(z: Tensor, temperature: number): Tensor {
  const n = z.shape[0];
  const b = n / 2;
  const zn = z.div(z.norm(2, 1, true).clampMin(1e-8));
  const sim = zn.mm(zn.t()).div(temperature).sub(eye(n).mul(1e9));
  const targets = tensor(
    BigInt64Array.from({ length: n }, (_, i) => BigInt(i < b ? i + b : i - b)),
    { shape: [n] },
  );
  return F.crossEntropy(sim, targets);
}

/** The exams [lo, hi) of a batch that a rank encodes (both views of each); undefined for one process. */
export interface ShardRows {
  lo: number;
  hi: number;
  batch: number;
}

export function shardRows(dp: DataParallel, batch: number): ShardRows | undefined {
  if (dp.worldSize === 1) return undefined;
  const exams = dp.shard(Array.from({ length: batch }, (_, i) => i));
  const lo = exams[0] ?? 0;
  return { lo, hi: lo + exams.length, batch };
}

/** A [2B, ...] tensor's rows of the shard: views A of exams lo..hi, then their views B. */
export function shardOf(t: Tensor, r: ShardRows): Tensor {
  return cat([t.slice(0, r.lo, r.hi), t.slice(0, r.batch + r.lo, r.batch + r.hi)]);
}

/**
 * The whole batch's [2B, D] embeddings on every rank: the other ranks' rows arrive by an all-reduce of
 * zero-padded copies (without gradient), this rank's rows keep theirs. The NT-Xent of it is the whole
 * batch's loss, and its gradient reaches only this rank's encoder pass, so that the ranks' summed
 * gradients are one process's (SimCLR's global negatives).
 */
export function gatherRows(dp: DataParallel, z: Tensor, r: ShardRows): Tensor {
  const { lo, hi, batch } = r;
  const m = hi - lo;
  const d = z.shape[1]!;
  const gap = (rows: number) => zeros([rows, d]);
  const zd = z.detach();
  const all = cat([
    gap(lo),
    zd.slice(0, 0, m),
    gap(batch - hi),
    gap(lo),
    zd.slice(0, m, 2 * m),
    gap(batch - hi),
  ]);
  dp.group!.allReduceSum([all]);
  return cat([
    all.slice(0, 0, lo),
    z.slice(0, 0, m),
    all.slice(0, hi, batch + lo),
    z.slice(0, m, 2 * m),
    all.slice(0, batch + hi, 2 * batch),
  ]);
}

/** Trains the encoder on a slice bank; returns the per-step losses. The model is left in eval mode. */
export function trainContrastive(
  model: LiverCnn,
  bank: SliceBank,
  o: {
    seed: number;
    steps: number;
    batch: number;
    lr?: number;
    weightDecay?: number;
    temperature?: number;
    crossRole?: number;
    shiftPx?: number;
    objective?: PretrainObjective;
    onProgress?: ProgressSink;
    /** Data-parallel ranks (nn.DataParallel): each encodes its shard of every batch. */
    parallel?: DataParallel;
  },
): number[] {
  const objective = o.objective ?? PRETRAIN_DEFAULTS.objective;
  const masked = objective === "contrastive+masked";
  const progress = o.onProgress ?? silentProgress;
  const rng = Rng.derive(o.seed, "pretrain-sampling");
  manualSeed(o.seed + 1);
  const head = new Projection(model.featureDim, 256, 128);
  const P = PRETRAIN_DEFAULTS.maskPatch;
  const decoder = masked ? new Conv2d(model.config.channels[2], P * P, 3, { padding: 1 }) : undefined;
  const params = [...model.parameters(), ...head.parameters(), ...(decoder?.parameters() ?? [])];
  const opt = new AdamW(params, {
    lr: o.lr ?? PRETRAIN_DEFAULTS.lr,
    weightDecay: o.weightDecay ?? PRETRAIN_DEFAULTS.weightDecay,
  });
  const sched = new LrScheduler(
    opt,
    cosineWithWarmupSchedule(Math.min(20, Math.floor(o.steps / 10)), o.steps, 0.02),
  );
  const batch = Math.min(o.batch, bank.exams.length);
  const S = bank.size;
  const losses: number[] = [];
  const dp = o.parallel ?? new DataParallel(undefined);
  // Every rank draws the whole batch (the same sampling and noise); each encodes the rows of its shard.
  const rows = shardRows(dp, batch);
  dp.broadcastFromRankZero([...params, ...model.buffers()]);
  model.train();
  head.train();
  try {
    for (let step = 0; step < o.steps; step++) {
      const { values, noise } = drawPairs(bank, rng, batch, {
        crossRole: o.crossRole ?? PRETRAIN_DEFAULTS.crossRole,
        shiftPx: o.shiftPx ?? PRETRAIN_DEFAULTS.shiftPx,
      });
      const loss = tidy(() => {
        opt.zeroGrad();
        const x0 = tensor(values, { shape: [2 * batch, 1, S, S] });
        const sd = tensor(noise, { shape: [2 * batch, 1, 1, 1] });
        let x = x0.add(randn([2 * batch, 1, S, S]).mul(sd));
        let mask: Tensor | undefined;
        if (decoder) {
          const g = S / P;
          const m16 = rand([2 * batch, 1, g, g])
            .lt(PRETRAIN_DEFAULTS.maskRatio)
            .float();
          mask = F.interpolate(m16, { size: [S, S], mode: "nearest" });
          x = x.mul(mask.rsub(1));
        }
        const mine = (t: Tensor) => (rows ? shardOf(t, rows) : t);
        const n = rows ? 2 * (rows.hi - rows.lo) : 2 * batch;
        const { features, maps } = model.forwardMaps(mine(x));
        const z = head.forward(features);
        const ntx = ntXent(
          rows ? gatherRows(dp, z, rows) : z,
          o.temperature ?? PRETRAIN_DEFAULTS.temperature,
        );
        let l = ntx;
        let err: Tensor | undefined;
        if (decoder && mask) {
          const h = maps[2];
          const g = h.shape[2];
          // [N, P*P, g, g] -> [N, 1, g*P, g*P] (pixel shuffle: channel dy*P+dx is pixel (dy, dx) of a patch).
          const pred = decoder
            .forward(h)
            .reshape([n, P, P, g, g])
            .permute([0, 3, 1, 4, 2])
            .reshape([n, 1, g * P, g * P]);
          // The shard's squared error over the whole batch's masked pixels: the ranks' terms sum to it.
          err = pred
            .sub(mine(x0))
            .square()
            .mul(mine(mask))
            .sum()
            .div(mask.sum().clampMin(1))
            .mul(PRETRAIN_DEFAULTS.reconWeight);
          l = l.add(err);
        }
        l.backward();
        dp.reduceGradients(params);
        opt.step();
        // BatchNorm's running statistics come from each rank's shard: rank 0's are kept, as DDP does.
        dp.broadcastFromRankZero(model.buffers());
        if (!rows || !err) return l.item();
        // The loss one process reports: the NT-Xent (the same on every rank) plus the ranks' error terms.
        const errSum = err.detach().clone();
        dp.group!.allReduceSum([errSum]);
        return ntx.item() + errSum.item();
      });
      sched.step();
      losses.push(loss);
      progress({ stage: "pretrain", done: step + 1, total: o.steps, message: `loss ${loss.toFixed(3)}` });
    }
  } finally {
    opt.zeroGrad();
    head.dispose();
    decoder?.dispose();
  }
  model.eval();
  return losses;
}

/** The whole pretraining: synthesize the cohort, ingest it (no labels), train, write weights + manifest. */
export async function pretrain(options: PretrainOptions): Promise<PretrainResult> {
  const t0 = performance.now();
  const progress = options.onProgress ?? silentProgress;
  const exams = options.exams ?? PRETRAIN_DEFAULTS.exams;
  const seed = options.seed ?? PRETRAIN_DEFAULTS.seed;
  const steps = options.steps ?? PRETRAIN_DEFAULTS.steps;
  const batch = options.batch ?? PRETRAIN_DEFAULTS.batch;
  const cohortSeed = options.cohortSeed ?? PRETRAIN_COHORT_SEED;
  const objective = options.objective ?? PRETRAIN_DEFAULTS.objective;
  if (objective !== "contrastive" && objective !== "contrastive+masked")
    throw new LiverstiffError("--objective must be contrastive or contrastive+masked", { objective });
  for (const [k, v] of Object.entries({ exams, steps, batch }))
    if (!Number.isInteger(v) || v < 1)
      throw new LiverstiffError(`--${k} must be a positive integer`, { [k]: v });
  if (!Number.isInteger(seed)) throw new LiverstiffError("--seed must be an integer", { seed });
  const threads = options.threads ?? PRETRAIN_DEFAULTS.threads;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256)
    throw new LiverstiffError("--threads must be an integer from 1 to 256", { threads });
  const outDir = dirname(options.out);
  if (!existsSync(outDir)) throw new LiverstiffError("output folder does not exist", { out: options.out });

  const temp = options.workdir === undefined;
  const rank = options.group?.rank ?? 0;
  const worldSize = options.group?.worldSize ?? 1;
  const given = options.workdir && rank > 0 ? join(options.workdir, `rank-${rank}`) : options.workdir;
  const root = given ?? mkdtempSync(join(tmpdir(), "liverstiff-pretrain-"));
  const cohortDir = join(root, "cohort");
  const workdir = join(root, "work");
  const planes = options.planes ?? PRETRAIN_DEFAULTS.planes;
  if (planes !== "mm" && planes !== "mm+pixels")
    throw new LiverstiffError("--planes must be mm or mm+pixels", { planes });
  const normalize = options.normalize ?? "zscore";
  const base = { slices: PRETRAIN_DEFAULTS.slices, size: CNN_V1_CONFIG.inputSize, normalize };
  const preps: Partial<PrepConfig>[] =
    planes === "mm"
      ? [{ ...base, inPlane: "mm", fovMm: 400 }]
      : [
          { ...base, inPlane: "mm", fovMm: 400 },
          { ...base, inPlane: "pixels", cropPx: 256 },
        ];
  // Read before anything runs, so that edits made while it trains do not mislabel the result.
  const version = codeCommit();
  const threadsBefore = getNumThreads();
  setNumThreads(threads);
  try {
    // 1. The independent cohort (reused when the folder already holds the same one).
    const { synthesize } = await import("../synth/index.ts");
    const manifestPath = join(cohortDir, "manifest.json");
    let reuse = false;
    if (existsSync(manifestPath)) {
      const m = JSON.parse(readFileSync(manifestPath, "utf8")) as { seed?: unknown; exams?: unknown };
      reuse = m.seed === cohortSeed && m.exams === exams;
    }
    if (!reuse) {
      await synthesize(
        { out: cohortDir, exams, seed: cohortSeed, workers: options.workers ?? 2, force: true },
        progress,
      );
    }
    const t1 = performance.now();
    // 2. Ingest without labels: catalog + prepared slices (9 central slices, 128 px).
    const prepNames: string[] = [];
    for (const prep of preps) {
      const summary = await ingest({
        roots: [join(cohortDir, "dicom")],
        workdir,
        prep,
        // No site salt: exam ids (and so the catalog's order, hence the sampling) must not depend on
        // a LIVERSTIFF_ID_SALT in the environment.
        idSalt: "",
        onProgress: progress,
      });
      prepNames.push(summary.prepName);
    }
    const t2 = performance.now();
    const banks = prepNames.map((name) => loadSliceBank(workdir, name));
    const bank: SliceBank = { ...banks[0], exams: banks.flatMap((b) => b.exams) };
    // 3. Train.
    manualSeed(seed);
    const model = new LiverCnn(CNN_V1_CONFIG);
    let losses: number[];
    try {
      const parallel = new DataParallel(options.group);
      losses = trainContrastive(model, bank, {
        seed,
        steps,
        batch,
        objective,
        onProgress: progress,
        parallel,
      });
      const t3 = performance.now();
      const actualThreads = getNumThreads();
      if (actualThreads !== threads)
        throw new LiverstiffError("libtorch did not keep the requested thread count", {
          threads,
          actualThreads,
        });
      // What determines the weights, and nothing else: no output path, timings or code version, so
      // that the same code, cohort, seed and thread count give the same bytes wherever they are written.
      const determinants = {
        objective: `${objective}: NT-Xent, positives = same exam (nearby slice, same or other series)${objective === "contrastive+masked" ? "; plus masked 8x8 patch reconstruction" : ""}`,
        cohort: {
          generator: "liverstiff synth",
          seed: cohortSeed,
          exams,
          usableExams: banks[0].exams.length,
          preps: prepNames,
        },
        seed,
        steps,
        batch,
        hyper: { ...PRETRAIN_DEFAULTS, exams, seed, steps, batch, objective, planes, normalize, threads },
        threads,
        // BatchNorm's batch statistics are per rank: the world size is part of the weights' identity.
        ...(worldSize > 1 ? { worldSize } : {}),
        loss: { first10: mean(losses.slice(0, 10)), last10: mean(losses.slice(-10)) },
        labelsUsed: false,
      };
      const seconds = {
        synth: reuse ? 0 : Math.round((t1 - t0) / 100) / 10,
        ingest: Math.round((t2 - t1) / 100) / 10,
        train: Math.round((t3 - t2) / 100) / 10,
      };
      // The other ranks hold the same weights: rank 0 writes them.
      if (rank > 0)
        return { out: options.out, seconds: { ...seconds, total: (performance.now() - t0) / 1000 }, losses };
      saveCnnWeights(model, options.out, {
        metadata: { "liverstiff.pretrain": JSON.stringify(determinants) },
      });
      // The manifest beside the file adds the command, timings and code version.
      const info = {
        command: `liverstiff pretrain --out ${options.out} --exams ${exams} --seed ${seed} --steps ${steps} --batch ${batch} --objective ${objective} --planes ${planes}${normalize === "zscore" ? "" : ` --normalize ${normalize}`} --threads ${threads}${worldSize > 1 ? ` (${worldSize} data-parallel ranks)` : ""}`,
        ...determinants,
        seconds,
        codeVersion: version,
      };
      const manifest: EncoderManifest = {
        name: DEFAULT_ENCODER_NAME,
        file: basename(options.out),
        sha256: sha256File(options.out),
        bytes: statSync(options.out).size,
        config: CNN_V1_CONFIG,
        featureDim: model.featureDim,
        inputSize: CNN_V1_CONFIG.inputSize,
        pretrain: info,
      };
      writeJsonAtomic(options.out.replace(/\.safetensors$/, "") + ".json", manifest);
      const total = (performance.now() - t0) / 1000;
      return {
        out: options.out,
        manifest,
        seconds: { synth: info.seconds.synth, ingest: info.seconds.ingest, train: info.seconds.train, total },
        losses,
      };
    } finally {
      model.dispose();
    }
  } finally {
    setNumThreads(threadsBefore);
    if (temp) rmSync(root, { recursive: true, force: true });
  }
}

function mean(a: number[]): number {
  return a.length ? Math.round((a.reduce((s, x) => s + x, 0) / a.length) * 1e4) / 1e4 : Number.NaN;
}
