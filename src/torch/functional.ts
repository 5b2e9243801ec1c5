// torch.nn.functional: stateless layers, activations and losses, same arguments and defaults as PyTorch.
import { type DType, dtypeCode } from "./dtype.ts";
import { native, type TensorId } from "./native.ts";
import { OP } from "./ops.ts";
import { Tensor } from "./tensor.ts";

const call = native.call;

type Pair = number | readonly number[];
type Reduction = "none" | "mean" | "sum";

function reductionCode(r: Reduction | undefined): number {
  return r === "none" ? 0 : r === "sum" ? 2 : 1;
}

function opt(t: Tensor | null | undefined): TensorId | null {
  return t ? t.id : null;
}

export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(call(OP.linear, input.id, weight.id, opt(bias)) as TensorId);
}

export interface ConvOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** conv1d/2d/3d share one ATen signature: (input, weight, bias, stride, padding, dilation, groups). */
function convolution(
  op: number,
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null | undefined,
  o: ConvOptions,
): Tensor {
  return new Tensor(
    call(
      op,
      input.id,
      weight.id,
      opt(bias),
      o.stride ?? 1,
      o.padding ?? 0,
      o.dilation ?? 1,
      o.groups ?? 1,
    ) as TensorId,
  );
}

export function conv1d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: ConvOptions = {}): Tensor {
  return convolution(OP.conv1d, input, weight, bias, o);
}

export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: ConvOptions = {}): Tensor {
  return convolution(OP.conv2d, input, weight, bias, o);
}

export function conv3d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: ConvOptions = {}): Tensor {
  return convolution(OP.conv3d, input, weight, bias, o);
}

export function convTranspose2d(
  input: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  o: ConvOptions & { outputPadding?: Pair } = {},
): Tensor {
  return new Tensor(
    call(
      OP.convTranspose2d,
      input.id,
      weight.id,
      opt(bias),
      o.stride ?? 1,
      o.padding ?? 0,
      o.outputPadding ?? 0,
      o.groups ?? 1,
      o.dilation ?? 1,
    ) as TensorId,
  );
}

export interface PoolOptions {
  /** Defaults to kernelSize, as in PyTorch. */
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}

type MaxPoolOptions = PoolOptions & { dilation?: Pair };
type AvgPoolOptions = PoolOptions & { countIncludePad?: boolean };

// The 2D and 3D pools share their ATen signatures; the stride defaults to the kernel size ([]).
function pool(op: number, input: Tensor, kernelSize: Pair, o: PoolOptions, ...rest: unknown[]): Tensor {
  return new Tensor(call(op, input.id, kernelSize, o.stride ?? [], o.padding ?? 0, ...rest) as TensorId);
}

function maxPool(op: number, input: Tensor, kernelSize: Pair, o: MaxPoolOptions): Tensor {
  return pool(op, input, kernelSize, o, o.dilation ?? 1, o.ceilMode ?? false);
}

function avgPool(op: number, input: Tensor, kernelSize: Pair, o: AvgPoolOptions): Tensor {
  return pool(op, input, kernelSize, o, o.ceilMode ?? false, o.countIncludePad ?? true, null);
}

export function maxPool2d(input: Tensor, kernelSize: Pair, o: MaxPoolOptions = {}): Tensor {
  return maxPool(OP.maxPool2d, input, kernelSize, o);
}

export function maxPool3d(input: Tensor, kernelSize: Pair, o: MaxPoolOptions = {}): Tensor {
  return maxPool(OP.maxPool3d, input, kernelSize, o);
}

export function avgPool2d(input: Tensor, kernelSize: Pair, o: AvgPoolOptions = {}): Tensor {
  return avgPool(OP.avgPool2d, input, kernelSize, o);
}

export function avgPool3d(input: Tensor, kernelSize: Pair, o: AvgPoolOptions = {}): Tensor {
  return avgPool(OP.avgPool3d, input, kernelSize, o);
}

export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return new Tensor(call(OP.adaptiveAvgPool2d, input.id, outputSize) as TensorId);
}

export function adaptiveAvgPool3d(input: Tensor, outputSize: Pair): Tensor {
  return new Tensor(call(OP.adaptiveAvgPool3d, input.id, outputSize) as TensorId);
}

export function adaptiveMaxPool2d(input: Tensor, outputSize: Pair): Tensor {
  const [values, indices] = call(OP.adaptiveMaxPool2d, input.id, outputSize) as [TensorId, TensorId];
  native.dispose(indices);
  return new Tensor(values);
}

/**
 * Batch normalisation. In training mode with running stats, runningMean/runningVar are updated in place
 * with momentum (PyTorch's convention: new = (1 - momentum) * old + momentum * batch).
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  o: {
    weight?: Tensor | null;
    bias?: Tensor | null;
    training?: boolean;
    momentum?: number;
    eps?: number;
  } = {},
): Tensor {
  return new Tensor(
    call(
      OP.batchNorm,
      input.id,
      opt(o.weight),
      opt(o.bias),
      opt(runningMean),
      opt(runningVar),
      o.training ?? false,
      o.momentum ?? 0.1,
      o.eps ?? 1e-5,
      true,
    ) as TensorId,
  );
}

export function layerNorm(
  input: Tensor,
  normalizedShape: readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return new Tensor(
    call(OP.layerNorm, input.id, normalizedShape, opt(weight), opt(bias), eps, true) as TensorId,
  );
}

export function groupNorm(
  input: Tensor,
  numGroups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return new Tensor(call(OP.groupNorm, input.id, numGroups, opt(weight), opt(bias), eps, true) as TensorId);
}

/** Zeroes elements with probability p and scales the rest by 1/(1-p) when training; identity otherwise. */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  return new Tensor(call(OP.dropout, input.id, p, training) as TensorId);
}

export function relu(input: Tensor): Tensor {
  return new Tensor(call(OP.relu, input.id) as TensorId);
}

export function leakyRelu(input: Tensor, negativeSlope = 0.01): Tensor {
  return new Tensor(call(OP.leakyRelu, input.id, negativeSlope) as TensorId);
}

/** GELU; approximate "tanh" for the tanh approximation. */
export function gelu(input: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  return new Tensor(call(OP.gelu, input.id, approximate) as TensorId);
}

export function silu(input: Tensor): Tensor {
  return new Tensor(call(OP.silu, input.id) as TensorId);
}

export function sigmoid(input: Tensor): Tensor {
  return new Tensor(call(OP.sigmoid, input.id) as TensorId);
}

export function tanh(input: Tensor): Tensor {
  return new Tensor(call(OP.tanh, input.id) as TensorId);
}

export function softplus(input: Tensor, beta = 1, threshold = 20): Tensor {
  return new Tensor(call(OP.softplus, input.id, beta, threshold) as TensorId);
}

export function elu(input: Tensor, alpha = 1): Tensor {
  return new Tensor(call(OP.elu, input.id, alpha, 1, 1) as TensorId);
}

export function hardtanh(input: Tensor, min = -1, max = 1): Tensor {
  return new Tensor(call(OP.hardtanh, input.id, min, max) as TensorId);
}

export function softmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return new Tensor(
    call(OP.softmax, input.id, dim, dtype === undefined ? null : dtypeCode[dtype]) as TensorId,
  );
}

export function logSoftmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return new Tensor(
    call(OP.logSoftmax, input.id, dim, dtype === undefined ? null : dtypeCode[dtype]) as TensorId,
  );
}

/**
 * Resizes [N, C, H, W] (or [N, C, D, H, W]) input to size or by scaleFactor. mode "bilinear" (2-d) and
 * "trilinear" (3-d) honour alignCorners (default false, as in PyTorch); "nearest" is PyTorch's legacy nearest.
 */
export function interpolate(
  input: Tensor,
  o: {
    size?: readonly number[];
    scaleFactor?: number | readonly number[];
    mode?: "nearest" | "bilinear" | "trilinear";
    alignCorners?: boolean;
  },
): Tensor {
  const spatial = input.ndim - 2;
  const mode = o.mode ?? "nearest";
  const size = o.size ?? null;
  const scales =
    o.size !== undefined
      ? null
      : typeof o.scaleFactor === "number"
        ? new Array<number>(spatial).fill(o.scaleFactor)
        : (o.scaleFactor ?? null);
  if (size === null && scales === null) throw new Error("interpolate: give size or scaleFactor");
  if (mode === "bilinear") {
    if (spatial !== 2) throw new Error("interpolate: bilinear needs a 4-d input");
    return new Tensor(
      call(OP.upsampleBilinear2d, input.id, size, o.alignCorners ?? false, scales) as TensorId,
    );
  }
  if (mode === "trilinear") {
    if (spatial !== 3) throw new Error("interpolate: trilinear needs a 5-d input");
    return new Tensor(
      call(OP.upsampleTrilinear3d, input.id, size, o.alignCorners ?? false, scales) as TensorId,
    );
  }
  if (spatial === 2) return new Tensor(call(OP.upsampleNearest2d, input.id, size, scales) as TensorId);
  if (spatial === 3) return new Tensor(call(OP.upsampleNearest3d, input.id, size, scales) as TensorId);
  throw new Error(`interpolate: unsupported input rank ${input.ndim}`);
}

/** Rows of weight picked by integer indices. */
export function embedding(indices: Tensor, weight: Tensor, paddingIdx = -1): Tensor {
  return new Tensor(call(OP.embedding, weight.id, indices.id, paddingIdx, false, false) as TensorId);
}

export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return new Tensor(call(OP.oneHot, indices.id, numClasses) as TensorId);
}

/**
 * Pads the last dims: pad = [left, right, top, bottom, ...] as in torch.nn.functional.pad.
 * mode "constant" (with value), "reflect", "replicate" or "circular".
 */
export function pad(
  input: Tensor,
  padding: readonly number[],
  mode: "constant" | "reflect" | "replicate" | "circular" = "constant",
  value = 0,
): Tensor {
  if (mode === "constant") return new Tensor(call(OP.constantPadNd, input.id, padding, value) as TensorId);
  return new Tensor(call(OP.pad, input.id, padding, mode, null) as TensorId);
}

export function cosineSimilarity(a: Tensor, b: Tensor, dim = 1, eps = 1e-8): Tensor {
  return new Tensor(call(OP.cosineSimilarity, a.id, b.id, dim, eps) as TensorId);
}

// ---- losses ---------------------------------------------------------------------------------------

/**
 * Binary cross-entropy on logits. weight: per-element (per-sample) weights broadcast to input;
 * posWeight: weight of positive examples (per class, broadcast along the last dim).
 */
export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {},
): Tensor {
  return new Tensor(
    call(
      OP.bceWithLogits,
      input.id,
      target.id,
      opt(o.weight),
      opt(o.posWeight),
      reductionCode(o.reduction),
    ) as TensorId,
  );
}

/** Binary cross-entropy on probabilities. */
export function binaryCrossEntropy(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction } = {},
): Tensor {
  return new Tensor(call(OP.bce, input.id, target.id, opt(o.weight), reductionCode(o.reduction)) as TensorId);
}

/** Cross-entropy on logits [N, C] (or [N, C, ...]) against class indices (int64) or class probabilities. */
export function crossEntropy(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  return new Tensor(
    call(
      OP.crossEntropy,
      input.id,
      target.id,
      opt(o.weight),
      reductionCode(o.reduction),
      o.ignoreIndex ?? -100,
      o.labelSmoothing ?? 0,
    ) as TensorId,
  );
}

export function nllLoss(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction; ignoreIndex?: number } = {},
): Tensor {
  return new Tensor(
    call(
      OP.nllLoss,
      input.id,
      target.id,
      opt(o.weight),
      reductionCode(o.reduction),
      o.ignoreIndex ?? -100,
    ) as TensorId,
  );
}

export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = "mean"): Tensor {
  return new Tensor(call(OP.mseLoss, input.id, target.id, reductionCode(reduction)) as TensorId);
}

export function l1Loss(input: Tensor, target: Tensor, reduction: Reduction = "mean"): Tensor {
  return new Tensor(call(OP.l1Loss, input.id, target.id, reductionCode(reduction)) as TensorId);
}

export function smoothL1Loss(input: Tensor, target: Tensor, reduction: Reduction = "mean", beta = 1): Tensor {
  return new Tensor(call(OP.smoothL1Loss, input.id, target.id, reductionCode(reduction), beta) as TensorId);
}

export function huberLoss(input: Tensor, target: Tensor, reduction: Reduction = "mean", delta = 1): Tensor {
  return new Tensor(call(OP.huberLoss, input.id, target.id, reductionCode(reduction), delta) as TensorId);
}

/**
 * softmax(q k^T / sqrt(d) + mask) v over the last two dims; mask: additive float or boolean (true = keep),
 * broadcast to [..., Lq, Lk]. Composed of matmul/softmax, so it runs (and differentiates) everywhere.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  o: { mask?: Tensor | null; dropoutP?: number; training?: boolean; scale?: number } = {},
): Tensor {
  const scale = o.scale ?? 1 / Math.sqrt(q.size(-1));
  const kt = k.transpose(-2, -1);
  let scores = q.matmul(kt);
  kt.dispose();
  scores.mul_(scale);
  if (o.mask) {
    if (o.mask.dtype === "bool") {
      const inv = o.mask.logicalNot();
      const masked = scores.maskedFill(inv, Number.NEGATIVE_INFINITY);
      inv.dispose();
      scores.dispose();
      scores = masked;
    } else {
      scores.add_(o.mask);
    }
  }
  let weights = softmax(scores, -1);
  scores.dispose();
  if (o.dropoutP && (o.training ?? true)) {
    const dropped = dropout(weights, o.dropoutP, true);
    weights.dispose();
    weights = dropped;
  }
  const out = weights.matmul(v);
  weights.dispose();
  return out;
}
