// Training the segmentation network on labelled series (volumes with organ masks on their grids): every
// axial slice goes to the network's grid; each step draws a batch of slices in an order fixed by the seed,
// warps each (scale, rotation, shift) and varies its contrast (gain, gamma, a linear bias field, noise),
// so that one network serves T1w in/opposed-phase and T2w of any site. Loss: cross-entropy + soft Dice of
// liver and spleen (the spleen is small; Dice keeps it from being drowned by background).
import { LiverstiffError, type ProgressSink, Rng, silentProgress } from "../core/index.ts";
import { AdamW, cosineWithWarmupSchedule, LrScheduler } from "../nn/index.ts";
import { functional as F, manualSeed, setNumThreads, type Tensor, tensor, tidy } from "../torch/index.ts";
import type { Volume } from "../volume/index.ts";
import { gridImages, labelsToGrid } from "./grid.ts";
import type { OrganMask } from "./mask.ts";
import { SEG_V1_CONFIG, SegNet, type SegNetConfig } from "./model.ts";

export const SEG_TRAIN_DEFAULTS = {
  steps: 1200,
  batch: 16,
  lr: 3e-3,
  weightDecay: 1e-4,
  warmupSteps: 30,
  seed: 1,
  threads: 2,
  /** Augmentation ranges. */
  scale: [0.88, 1.14] as readonly [number, number],
  rotateDeg: 10,
  shiftPx: 10,
  gain: 0.25,
  gamma: 0.35,
  biasField: 0.25,
  noiseSd: 0.05,
} as const;

export type SegTrainHyper = typeof SEG_TRAIN_DEFAULTS;

const BIG = Array.from({ length: 256 }, (_, i) => BigInt(i));

/** All slices of a set of series on the network's grid: images [N, S, S] and labels (0/1/2) [N, S, S]. */
export interface SliceBank {
  size: number;
  count: number;
  images: Float32Array;
  labels: Uint8Array;
}

/** Puts every axial slice of the labelled series onto the grid of `config`, in the order given. */
export function buildSliceBank(
  series: readonly { volume: Volume; mask: OrganMask }[],
  config: SegNetConfig = SEG_V1_CONFIG,
): SliceBank {
  const S = config.inputSize;
  const parts: { images: Float32Array; labels: Uint8Array }[] = [];
  for (const { volume, mask } of series) {
    if (mask.labels.length !== volume.data.length)
      throw new LiverstiffError("mask and volume differ in size", {
        voxels: volume.data.length,
        labels: mask.labels.length,
      });
    const { images, grid } = gridImages(volume, S, config.fovMm);
    parts.push({ images, labels: labelsToGrid(mask.labels, volume, grid) });
  }
  const count = parts.reduce((n, p) => n + p.labels.length / (S * S), 0);
  const images = new Float32Array(count * S * S);
  const labels = new Uint8Array(count * S * S);
  let o = 0;
  for (const p of parts) {
    images.set(p.images, o);
    labels.set(p.labels, o);
    o += p.labels.length;
  }
  return { size: S, count, images, labels };
}

/**
 * One augmented copy of slice `n` into (img, lab): inverse-mapped affine warp (bilinear image, nearest
 * label, air and background outside), then contrast changes on the image.
 */
function augmentInto(
  bank: SliceBank,
  n: number,
  img: Float32Array,
  lab: Uint8Array,
  rng: Rng,
  h: SegTrainHyper,
): void {
  const S = bank.size;
  const plane = S * S;
  const src = bank.images.subarray(n * plane, (n + 1) * plane);
  const srcLab = bank.labels.subarray(n * plane, (n + 1) * plane);
  const s = Math.exp(rng.range(Math.log(h.scale[0]), Math.log(h.scale[1])));
  const a = (rng.range(-h.rotateDeg, h.rotateDeg) * Math.PI) / 180;
  const tx = rng.range(-h.shiftPx, h.shiftPx);
  const ty = rng.range(-h.shiftPx, h.shiftPx);
  const gain = Math.exp(rng.range(-h.gain, h.gain));
  const gamma = Math.exp(rng.range(-h.gamma, h.gamma));
  const bx = rng.range(-h.biasField, h.biasField);
  const by = rng.range(-h.biasField, h.biasField);
  const c = (S - 1) / 2;
  const cos = Math.cos(a) / s;
  const sin = Math.sin(a) / s;
  for (let r = 0; r < S; r++) {
    for (let q = 0; q < S; q++) {
      const dx = q - c - tx;
      const dy = r - c - ty;
      const x = c + cos * dx - sin * dy;
      const y = c + sin * dx + cos * dy;
      const o = r * S + q;
      const xi = Math.round(x);
      const yi = Math.round(y);
      lab[o] = xi >= 0 && yi >= 0 && xi < S && yi < S ? srcLab[yi * S + xi] : 0;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const at = (yy: number, xx: number) => (xx >= 0 && yy >= 0 && xx < S && yy < S ? src[yy * S + xx] : 0);
      let v =
        (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
        fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
      // Gamma on the positive part keeps air at 0; the bias field is a linear ramp across the slice.
      v = v > 0 ? v ** gamma : v;
      img[o] = v * gain * (1 + (bx * (q - c)) / S + (by * (r - c)) / S);
    }
  }
  const sd = rng.range(0, h.noiseSd);
  for (let o = 0; o < plane; o++) img[o] += sd * rng.normal();
}

/** Soft Dice loss of classes 1..C-1 over the batch: 1 - mean Dice. */
function softDiceLoss(logits: Tensor, target: Tensor, classes: number): Tensor {
  const p = F.softmax(logits, 1);
  const t = F.oneHot(target, classes).permute([0, 3, 1, 2]).float();
  const inter = p.mul(t).sum([0, 2, 3]);
  const denom = p.sum([0, 2, 3]).add(t.sum([0, 2, 3]));
  const diceAll = inter.mul(2).add(1).div(denom.add(1));
  return diceAll
    .narrow(0, 1, classes - 1)
    .mean()
    .rsub(1);
}

export interface SegTrainOptions {
  config?: SegNetConfig;
  steps?: number;
  batch?: number;
  seed?: number;
  /** libtorch threads for the whole training (default 2); the weights depend on it. */
  threads?: number;
  lr?: number;
  onProgress?: ProgressSink;
}

export interface SegTrainResult {
  model: SegNet;
  losses: number[];
  hyper: Omit<SegTrainHyper, "steps" | "batch" | "seed" | "threads" | "lr"> & {
    steps: number;
    batch: number;
    seed: number;
    threads: number;
    lr: number;
  };
}

/**
 * Trains a fresh network on a slice bank. Deterministic for a given bank, options and thread count:
 * the thread count is set, the engine and the sampler are seeded, batches are drawn in a seeded order.
 * The returned model is in eval mode; the caller disposes of it.
 */
export function trainSegNet(bank: SliceBank, options: SegTrainOptions = {}): SegTrainResult {
  const config = options.config ?? SEG_V1_CONFIG;
  const h = { ...SEG_TRAIN_DEFAULTS };
  const steps = options.steps ?? h.steps;
  const batch = options.batch ?? h.batch;
  const seed = options.seed ?? h.seed;
  const threads = options.threads ?? h.threads;
  const lr = options.lr ?? h.lr;
  for (const [k, v] of Object.entries({ steps, batch, threads }))
    if (!Number.isInteger(v) || v < 1)
      throw new LiverstiffError(`${k} must be a positive integer`, { [k]: v });
  if (!Number.isInteger(seed)) throw new LiverstiffError("seed must be an integer", { seed });
  if (bank.size !== config.inputSize)
    throw new LiverstiffError("slice bank size differs from the network's input", {
      bank: bank.size,
      input: config.inputSize,
    });
  if (bank.count < 1) throw new LiverstiffError("no slices to train on", { slices: bank.count });
  const progress = options.onProgress ?? silentProgress;
  setNumThreads(threads);
  manualSeed(seed);
  const model = new SegNet(config);
  const rng = Rng.derive(seed, "segment-batches");
  const opt = new AdamW(model.parameters(), { lr, weightDecay: h.weightDecay });
  const sched = new LrScheduler(
    opt,
    cosineWithWarmupSchedule(Math.min(h.warmupSteps, Math.floor(steps / 10)), steps, 0.02),
  );
  const S = bank.size;
  const plane = S * S;
  const img = new Float32Array(batch * plane);
  const lab = new BigInt64Array(batch * plane);
  const labU8 = new Uint8Array(plane);
  let order: number[] = [];
  const losses: number[] = [];
  model.train();
  try {
    for (let step = 0; step < steps; step++) {
      for (let b = 0; b < batch; b++) {
        if (order.length === 0) order = rng.shuffle(Array.from({ length: bank.count }, (_, i) => i));
        const n = order.pop()!;
        augmentInto(bank, n, img.subarray(b * plane, (b + 1) * plane), labU8, rng, h);
        for (let o = 0; o < plane; o++) lab[b * plane + o] = BIG[labU8[o]];
      }
      const loss = tidy(() => {
        opt.zeroGrad();
        const x = tensor(img, { shape: [batch, 1, S, S] });
        const y = tensor(lab, { shape: [batch, S, S] });
        const logits = model.forward(x);
        const l = F.crossEntropy(logits, y).add(softDiceLoss(logits, y, config.classes));
        l.backward();
        opt.step();
        return l.item();
      });
      sched.step();
      losses.push(loss);
      progress({ stage: "segment-train", done: step + 1, total: steps, message: `loss ${loss.toFixed(3)}` });
    }
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    opt.zeroGrad();
  }
  model.eval();
  return { model, losses, hyper: { ...h, steps, batch, seed, threads, lr } };
}
