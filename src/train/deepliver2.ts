// The published DeepLiverNet 2.0 head: frozen per-slice features of T2w and T1w concatenated (late
// fusion), Dense 4096 -> 1024 -> 256 (ReLU) -> 1 (sigmoid), L2 1e-4 on every kernel, class-balanced BCE,
// Adamax, one binary model per threshold. The five threshold models are trained side by side in one
// module (each layer holds a [5, out, in] weight; batched matmuls), with one shared batch order: the
// losses are summed, so each model's gradient is exactly the gradient it would get alone, and each model
// stops early on its own (its weights are snapshotted when it stops and written back at the end).
import { Rng } from "../core/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import { Module } from "../nn/index.ts";
import {
  baddbmm,
  dispose,
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
  N_THRESHOLDS,
  predictShape,
  requireLabels,
  thresholdLabels,
  trainValShape,
} from "./data.ts";
import type { OptimizerGroup, ValScore } from "./loop.ts";
import { descend, kept, loopSettings, makeOptimizer, runLoop, training } from "./loop.ts";
import { type Deepliver2Head, headOf, type Recipe } from "./recipe.ts";
import type { ExamPrediction, Trained, TrainOptions } from "./types.ts";

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

/** Keras' L2(l2) on the kernels: l2 * sum(W^2) in the loss, i.e. coupled weight decay 2 * l2 on them. */
function parameterGroups(net: Deepliver2Net, head: Deepliver2Head, t: Recipe["training"]): OptimizerGroup[] {
  const kernels: Tensor[] = [];
  const biases: Tensor[] = [];
  for (let l = 0; l < net.layers; l++) {
    kernels.push(net.weight(l));
    biases.push(net.bias(l));
  }
  // Keras regularises kernels, not biases; with AdamW only the recipe's (decoupled) decay applies.
  const l2 = 2 * head.l2;
  return [
    { params: kernels, weightDecay: t.weightDecay + (t.optimizer === "adamw" ? 0 : l2) },
    { params: biases, weightDecay: t.weightDecay },
  ];
}

export interface Deepliver2State {
  net: Deepliver2Net;
  head: Deepliver2Head;
  featureDim: number;
  slices: number;
}

export function predictDeepliver2(s: Deepliver2State, exams: readonly ExamFeatures[]): ExamPrediction[] {
  if (exams.length === 0) return [];
  const { featureDim, slices } = predictShape(exams, s);
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
export function trainDeepliver2(recipe: Recipe, options: TrainOptions): Trained<Deepliver2State> {
  return training(recipe, options, ({ owner, t, seed, summary }) => {
    const head = headOf(recipe, "deepliver2");
    const { featureDim, slices } = trainValShape(options.train, options.val);
    const data = owner.own(deepliver2Data(options, head, t, featureDim, slices));
    manualSeed(seed);
    const net = owner.result(new Deepliver2Net(data.inputDim, head.hidden, N_THRESHOLDS, head.init));
    const opt = owner.own(makeOptimizer(t, parameterGroups(net, head, t)));
    const run = runLoop({
      ...loopSettings(t, data.n),
      rng: Rng.derive(seed, "deepliver2", "batches"),
      models: N_THRESHOLDS,
      // Keras EarlyStopping(min_delta=0): an improvement is a strictly better metric.
      improvement: "strict",
      tensorsOf: (k) => net.parameters().map((p) => p.select(0, k)),
      beginEpoch: () => net.train(),
      step: (idx, active) => deepliver2Step(net, opt, data, idx, active),
      ...(data.val
        ? { validate: () => valMetric(t.earlyStopping, net, data.val!.x, data.val!.y, data.val!.n) }
        : {}),
      endEpoch: (epoch, scores) =>
        options.onProgress?.({
          stage: "train",
          done: epoch,
          total: t.maxEpochs,
          message: scores
            ? `deepliver2 epoch ${epoch}: ${t.earlyStopping} ${scores.map((a) => a.metric.toFixed(3)).join(" ")}`
            : `deepliver2 epoch ${epoch}`,
        }),
    });
    net.eval();
    return {
      state: { net, head, featureDim, slices },
      summary: summary("deepliver2", { featureDim, slices }, run),
    };
  });
}

/** The training part as tensors (labels and weights [M, N], so that a batch is an index_select on dim 1). */
interface Deepliver2Data {
  n: number;
  inputDim: number;
  x: Tensor;
  y: Tensor;
  w: Tensor;
  /** The validation part: features as a tensor, labels [N, M] as numbers. */
  val: { x: Tensor; y: Float32Array; n: number } | null;
  dispose(): void;
}

function deepliver2Data(
  options: TrainOptions,
  head: Deepliver2Head,
  t: Recipe["training"],
  featureDim: number,
  slices: number,
): Deepliver2Data {
  const n = options.train.length;
  const nVal = options.val.length;
  const xTrain = concatFeatures(options.train, head.inputs, head.slices, featureDim, slices);
  const inputDim = xTrain.length / n;
  const yTrain = thresholdLabels(requireLabels(options.train, "training"));
  const wTrain = classWeights(yTrain, n, t.classWeighting, t.negativeWeightOffset);
  const xVal = nVal > 0 ? concatFeatures(options.val, head.inputs, head.slices, featureDim, slices) : null;
  const yVal = nVal > 0 ? thresholdLabels(requireLabels(options.val, "validation")) : null;
  const byModel = (a: Float32Array) =>
    tensor(a, { shape: [n, N_THRESHOLDS] })
      .transpose(0, 1)
      .contiguous();
  const tensors = kept(() => ({
    x: tensor(xTrain, { shape: [n, inputDim] }),
    y: byModel(yTrain),
    w: byModel(wTrain),
    xVal: xVal ? tensor(xVal, { shape: [nVal, inputDim] }) : null,
  }));
  return {
    n,
    inputDim,
    x: tensors.x,
    y: tensors.y,
    w: tensors.w,
    val: tensors.xVal && yVal ? { x: tensors.xVal, y: yVal, n: nVal } : null,
    dispose: () => dispose(tensors),
  };
}

/**
 * One Adamax (or Adam/AdamW) step of the five models on the batch idx. The models that have stopped are
 * left out of the update (Adamax skips them; their state at the stop is the one kept), which for the
 * published widths is most of a step's cost once some have stopped.
 */
function deepliver2Step(
  net: Deepliver2Net,
  opt: ReturnType<typeof makeOptimizer>,
  data: Deepliver2Data,
  idx: number[],
  active: readonly boolean[],
): void {
  opt.activeSlices = active;
  const index = tensor(idx, { dtype: "int64" });
  const logits = net.forward(data.x.indexSelect(0, index));
  // Keras: mean over the batch of class-weighted BCE, per model; the models' losses are summed.
  const loss = F.binaryCrossEntropyWithLogits(logits, data.y.indexSelect(1, index), {
    weight: data.w.indexSelect(1, index),
    reduction: "none",
  })
    .mean(1)
    .sum();
  descend(opt, loss);
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
): ValScore[] {
  net.eval();
  const logits = tidy(() => noGrad(() => net.forward(XV).contiguous().toFloat32Array()));
  net.train();
  const out: ValScore[] = [];
  for (let k = 0; k < N_THRESHOLDS; k++) {
    const z = logits.subarray(k * nVal, (k + 1) * nVal);
    const y = Array.from({ length: nVal }, (_, i) => yVal[i * N_THRESHOLDS + k]!);
    if (metric === "val_accuracy") {
      let right = 0;
      for (let i = 0; i < nVal; i++) if ((z[i]! > 0 ? 1 : 0) === y[i]) right++;
      out.push({ metric: right / nVal, loss: Number.NaN });
    } else if (metric === "val_auroc_3_0") {
      const a = auroc(y, z);
      out.push({ metric: Number.isNaN(a) ? 0.5 : a, loss: Number.NaN });
    } else {
      let loss = 0;
      for (let i = 0; i < nVal; i++) {
        const zi = z[i]!;
        // BCE with logits, stable form: max(z,0) - z*y + log(1 + exp(-|z|)).
        loss += Math.max(zi, 0) - zi * y[i]! + Math.log1p(Math.exp(-Math.abs(zi)));
      }
      out.push({ metric: -loss / nVal, loss: loss / nVal });
    }
  }
  return out;
}
