// The published DeepLiverNet 2.0 head: frozen per-slice features of T2w and T1w concatenated (late
// fusion), Dense 4096 -> 1024 -> 256 (ReLU) -> 1 (sigmoid), L2 1e-4 on every kernel, class-balanced BCE,
// Adamax, one binary model per threshold. The five threshold models are trained side by side in one
// module (each layer holds a [5, out, in] weight; batched matmuls), with one shared batch order: the
// losses are summed, so each model's gradient is exactly the gradient it would get alone, and each model
// stops early on its own (its weights are snapshotted when it stops and written back at the end).
import { LiverstiffError, Rng } from "../core/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import { Adamax, AdamW, Module } from "../nn/index.ts";
import { Adam } from "../nn/optim/optimizers.ts";
import {
  baddbmm,
  empty,
  functional as F,
  manualSeed,
  noGrad,
  type Tensor,
  tensor,
  tidy,
} from "../torch/index.ts";
import {
  auroc,
  classWeights,
  concatFeatures,
  featureShape,
  N_THRESHOLDS,
  requireLabels,
  thresholdLabels,
  trainValShape,
} from "./data.ts";
import type { Deepliver2Head, Recipe } from "./recipe.ts";
import type { ExamPrediction, TrainOptions, TrainSummary } from "./types.ts";

/** M independent MLPs (one per threshold) on the same input, as one module. */
export class Deepliver2Net extends Module {
  readonly sizes: number[];

  constructor(
    readonly inputDim: number,
    hidden: readonly number[],
    readonly models = N_THRESHOLDS,
    init: "glorot_uniform" | "torch" = "glorot_uniform",
  ) {
    super();
    this.sizes = [inputDim, ...hidden, 1];
    for (let l = 0; l + 1 < this.sizes.length; l++) {
      const fanIn = this.sizes[l]!;
      const fanOut = this.sizes[l + 1]!;
      const w = this.registerParameter(`fc${l + 1}_weight`, empty([models, fanOut, fanIn]));
      const b = this.registerParameter(`fc${l + 1}_bias`, empty([models, fanOut]));
      noGrad(() => {
        if (init === "glorot_uniform") {
          // Keras Dense: glorot_uniform kernel, zero bias.
          const bound = Math.sqrt(6 / (fanIn + fanOut));
          w.uniform_(-bound, bound);
          b.zero_();
        } else {
          // torch.nn.Linear: kaiming_uniform(a=sqrt 5) = U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for both.
          const bound = 1 / Math.sqrt(fanIn);
          w.uniform_(-bound, bound);
          b.uniform_(-bound, bound);
        }
      });
    }
  }

  get layers(): number {
    return this.sizes.length - 1;
  }

  weight(l: number): Tensor {
    return this.tensor(`fc${l + 1}_weight`)!;
  }

  bias(l: number): Tensor {
    return this.tensor(`fc${l + 1}_bias`)!;
  }

  /** x [B, inputDim] -> logits [M, B]. */
  forward(x: Tensor): Tensor {
    const M = this.models;
    const B = x.size(0);
    const h0 = this.sizes[1]!;
    // First layer: the M models' kernels stacked into one [M*h0, in] matrix: one GEMM.
    let h = F.linear(x, this.weight(0).view([M * h0, this.inputDim]), this.bias(0).view([M * h0]))
      .view([B, M, h0])
      .transpose(0, 1);
    for (let l = 1; l < this.layers; l++) {
      h = h.relu();
      h = baddbmm(this.bias(l).unsqueeze(1), h, this.weight(l).transpose(1, 2));
    }
    return h.squeeze(2);
  }
}

function makeOptimizer(
  net: Deepliver2Net,
  head: Deepliver2Head,
  t: Recipe["training"],
): Adamax | AdamW | Adam {
  const kernels: Tensor[] = [];
  const biases: Tensor[] = [];
  for (let l = 0; l < net.layers; l++) {
    kernels.push(net.weight(l));
    biases.push(net.bias(l));
  }
  // Keras' L2(l2) adds l2 * sum(W^2) to the loss, i.e. 2 * l2 * W to the gradient: coupled weight decay
  // 2 * l2 on kernels only (Keras regularises kernels, not biases).
  const l2 = 2 * head.l2;
  const groups = [
    { params: kernels, weightDecay: t.weightDecay + (t.optimizer === "adamw" ? 0 : l2) },
    { params: biases, weightDecay: t.weightDecay },
  ];
  const o = { lr: t.lr, betas: t.betas, eps: t.eps, weightDecay: t.weightDecay };
  if (t.optimizer === "adamax") return new Adamax(groups, o);
  if (t.optimizer === "adam") return new Adam(groups, o);
  return new AdamW(groups, o);
}

export interface Deepliver2State {
  net: Deepliver2Net;
  head: Deepliver2Head;
  featureDim: number;
  slices: number;
}

export function predictDeepliver2(s: Deepliver2State, exams: readonly ExamFeatures[]): ExamPrediction[] {
  if (exams.length === 0) return [];
  const { featureDim, slices } = featureShape(exams, "exams to predict");
  if (featureDim !== s.featureDim || slices !== s.slices) {
    throw new LiverstiffError(
      `the model was trained on ${s.slices} x ${s.featureDim} features, these exams have ${slices} x ${featureDim}`,
      { featureDim },
    );
  }
  const x = concatFeatures(exams, s.head.inputs, s.head.slices, featureDim, slices);
  const width = x.length / exams.length;
  s.net.eval();
  const probs = tidy(() =>
    noGrad(() => {
      const out: Float32Array[] = [];
      const chunk = 256;
      for (let i = 0; i < exams.length; i += chunk) {
        const n = Math.min(chunk, exams.length - i);
        const xt = tensor(x.subarray(i * width, (i + n) * width), { shape: [n, width] });
        out.push(s.net.forward(xt).sigmoid().transpose(0, 1).contiguous().toFloat32Array());
      }
      return out;
    }),
  );
  const preds: ExamPrediction[] = [];
  let i = 0;
  for (const block of probs) {
    for (let r = 0; r < block.length / N_THRESHOLDS; r++, i++) {
      preds.push({
        examId: exams[i]!.examId,
        probabilities: Array.from(block.subarray(r * N_THRESHOLDS, (r + 1) * N_THRESHOLDS)),
      });
    }
  }
  return preds;
}

/** Trains the five threshold models; returns the state and a summary. */
export function trainDeepliver2(
  recipe: Recipe,
  options: TrainOptions,
): { state: Deepliver2State; summary: TrainSummary } {
  const head = recipe.head as Deepliver2Head;
  const t = recipe.training;
  const seed = options.seed ?? t.seed;
  const started = performance.now();
  const { featureDim, slices } = trainValShape(options.train, options.val);
  const nTrain = options.train.length;
  const nVal = options.val.length;
  const xTrain = concatFeatures(options.train, head.inputs, head.slices, featureDim, slices);
  const inputDim = xTrain.length / nTrain;
  const yTrain = thresholdLabels(requireLabels(options.train, "training"));
  const wTrain = classWeights(yTrain, nTrain, t.classWeighting, t.negativeWeightOffset);
  const xVal = nVal > 0 ? concatFeatures(options.val, head.inputs, head.slices, featureDim, slices) : null;
  const yVal = nVal > 0 ? thresholdLabels(requireLabels(options.val, "validation")) : null;

  manualSeed(seed);
  const net = new Deepliver2Net(inputDim, head.hidden, N_THRESHOLDS, head.init);
  const opt = makeOptimizer(net, head, t);
  const M = N_THRESHOLDS;
  const batch = t.batchSize === "full" ? nTrain : Math.min(t.batchSize, nTrain);
  const rng = Rng.derive(seed, "deepliver2", "batches");

  const X = tensor(xTrain, { shape: [nTrain, inputDim] }).keep();
  // Labels and weights as [M, N] so that a batch is an index_select on dim 1.
  const transpose = (a: Float32Array) =>
    tensor(a, { shape: [nTrain, M] })
      .transpose(0, 1)
      .contiguous()
      .keep();
  const Y = transpose(yTrain);
  const W = transpose(wTrain);
  const XV = xVal ? tensor(xVal, { shape: [nVal, inputDim] }).keep() : null;

  const best = new Array<number>(M).fill(Number.NEGATIVE_INFINITY);
  const bestEpoch = new Array<number>(M).fill(0);
  const wait = new Array<number>(M).fill(0);
  const stoppedAt = new Array<number>(M).fill(0);
  // Per model: the weights to restore at the end (best epoch, or the epoch it stopped at).
  const snapshots: (Tensor[] | null)[] = new Array(M).fill(null);
  const snapshot = (k: number): Tensor[] =>
    noGrad(() => net.parameters().map((p) => p.select(0, k).clone().keep()));
  const freeSnapshot = (k: number) => {
    for (const s of snapshots[k] ?? []) s.dispose();
    snapshots[k] = null;
  };

  let steps = 0;
  let epoch = 0;
  const order = Array.from({ length: nTrain }, (_, i) => i);
  for (epoch = 1; epoch <= t.maxEpochs; epoch++) {
    net.train();
    rng.shuffle(order);
    for (let i = 0; i < nTrain; i += batch) {
      const idx = order.slice(i, i + batch);
      tidy(() => {
        const index = tensor(idx, { dtype: "int64" });
        const xb = X.indexSelect(0, index);
        const yb = Y.indexSelect(1, index);
        const wb = W.indexSelect(1, index);
        const logits = net.forward(xb);
        // Keras: mean over the batch of class-weighted BCE, per model; the models' losses are summed.
        const loss = F.binaryCrossEntropyWithLogits(logits, yb, { weight: wb, reduction: "none" })
          .mean(1)
          .sum();
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
      steps++;
    }
    if (XV && yVal) {
      const acc = valMetric(t.earlyStopping, net, XV, yVal, nVal);
      for (let k = 0; k < M; k++) {
        if (stoppedAt[k]) continue;
        // Keras EarlyStopping(min_delta=0): improvement = strictly better (losses are negated here).
        if (acc[k]! > best[k]!) {
          best[k] = acc[k]!;
          bestEpoch[k] = epoch;
          wait[k] = 0;
          if (t.restoreBest) {
            freeSnapshot(k);
            snapshots[k] = snapshot(k);
          }
        } else {
          wait[k]!++;
          if (wait[k]! >= t.patience) {
            stoppedAt[k] = epoch;
            if (!t.restoreBest) snapshots[k] = snapshot(k);
          }
        }
      }
      options.onProgress?.({
        stage: "train",
        done: epoch,
        total: t.maxEpochs,
        message: `deepliver2 epoch ${epoch}: ${t.earlyStopping} ${acc.map((a) => a.toFixed(3)).join(" ")}`,
      });
      if (stoppedAt.every((s) => s > 0)) break;
    } else {
      options.onProgress?.({
        stage: "train",
        done: epoch,
        total: t.maxEpochs,
        message: `deepliver2 epoch ${epoch}`,
      });
    }
  }
  const lastEpoch = Math.min(epoch, t.maxEpochs);
  noGrad(() => {
    net.parameters().forEach((p, pi) => {
      for (let k = 0; k < M; k++) {
        const snap = snapshots[k];
        if (snap) p.select(0, k).copy_(snap[pi]!);
      }
    });
  });
  for (let k = 0; k < M; k++) freeSnapshot(k);
  opt.dispose();
  for (const tt of [X, Y, W, XV]) tt?.dispose();
  net.eval();
  const summary: TrainSummary = {
    head: "deepliver2",
    seed,
    nTrain,
    nVal,
    featureDim,
    slices,
    models: Array.from({ length: M }, (_, k) => ({
      epochs: stoppedAt[k] || lastEpoch,
      bestEpoch: bestEpoch[k]!,
      bestValMetric: Number.isFinite(best[k]!) ? best[k]! : null,
      stoppedEarly: stoppedAt[k]! > 0,
    })),
    metric: t.earlyStopping,
    seconds: (performance.now() - started) / 1000,
    steps,
  };
  return { state: { net, head, featureDim, slices }, summary };
}

/**
 * Per model: validation accuracy at probability 0.5 (Keras' binary accuracy), its AUROC, or minus its
 * unweighted BCE (so that larger is always better).
 */
function valMetric(
  metric: Recipe["training"]["earlyStopping"],
  net: Deepliver2Net,
  XV: Tensor,
  yVal: Float32Array,
  nVal: number,
): number[] {
  net.eval();
  const logits = tidy(() => noGrad(() => net.forward(XV).contiguous().toFloat32Array()));
  net.train();
  const out: number[] = [];
  for (let k = 0; k < N_THRESHOLDS; k++) {
    const z = logits.subarray(k * nVal, (k + 1) * nVal);
    const y = Array.from({ length: nVal }, (_, i) => yVal[i * N_THRESHOLDS + k]!);
    if (metric === "val_accuracy") {
      let right = 0;
      for (let i = 0; i < nVal; i++) if ((z[i]! > 0 ? 1 : 0) === y[i]) right++;
      out.push(right / nVal);
    } else if (metric === "val_auroc_3_0") {
      const a = auroc(y, z);
      out.push(Number.isNaN(a) ? 0.5 : a);
    } else {
      let loss = 0;
      for (let i = 0; i < nVal; i++) {
        const zi = z[i]!;
        // BCE with logits, stable form: max(z,0) - z*y + log(1 + exp(-|z|)).
        loss += Math.max(zi, 0) - zi * y[i]! + Math.log1p(Math.exp(-Math.abs(zi)));
      }
      out.push(-loss / nVal);
    }
  }
  return out;
}
