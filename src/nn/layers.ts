// Layers with PyTorch's parameter names, shapes, defaults and initialisations (torch.nn 1.13), so that a
// PyTorch state dict loads by name and a model built after manualSeed(s) starts from the same weights as
// its PyTorch twin built after torch.manual_seed(s).
import { type DType, empty, functional as F, ones, type Tensor, zeros } from "../torch/index.ts";
import { constant_, normal_, resetLinearLike, xavierUniform_ } from "./init.ts";
import { Module } from "./module.ts";

type Pair = number | readonly [number, number];

function pair(p: Pair): [number, number] {
  return typeof p === "number" ? [p, p] : [p[0], p[1]];
}

export interface FactoryOptions {
  dtype?: DType;
}

/**
 * A layer with a weight [out, ...] and an optional bias [out], initialised as PyTorch's Linear and ConvNd
 * (kaiming_uniform_ with a = sqrt(5), bias uniform in +-1/sqrt(fan_in)).
 */
abstract class WeightAndBias extends Module {
  protected registerWeightAndBias(weightShape: number[], o: FactoryOptions & { bias?: boolean }): void {
    const dtype = o.dtype ?? "float32";
    this.registerParameter("weight", empty(weightShape, { dtype }));
    this.registerParameter("bias", (o.bias ?? true) ? empty([weightShape[0]], { dtype }) : null);
    this.resetParameters();
  }

  get weight(): Tensor {
    return this.tensor("weight")!;
  }

  get bias(): Tensor | null {
    return this.tensor("bias");
  }

  resetParameters(): void {
    resetLinearLike(this.weight, this.bias);
  }
}

/** y = x W^T + b. weight [out, in], bias [out]. */
export class Linear extends WeightAndBias {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    o: FactoryOptions & { bias?: boolean } = {},
  ) {
    super();
    this.registerWeightAndBias([outFeatures, inFeatures], o);
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export interface Conv2dOptions extends FactoryOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

type Triple = number | readonly [number, number, number];

function triple(p: Triple): [number, number, number] {
  return typeof p === "number" ? [p, p, p] : [p[0], p[1], p[2]];
}

export interface Conv3dOptions extends FactoryOptions {
  stride?: Triple;
  padding?: Triple;
  dilation?: Triple;
  groups?: number;
  bias?: boolean;
}

/**
 * What Conv2d and Conv3d share: per-dimension kernel, stride, padding and dilation, groups, and the
 * parameters weight [out, in / groups, ...kernel] and bias [out] with PyTorch's initialisation.
 */
abstract class ConvNd<K extends number[]> extends WeightAndBias {
  readonly kernelSize: K;
  readonly stride: K;
  readonly padding: K;
  readonly dilation: K;
  readonly groups: number;

  protected constructor(
    kind: string,
    readonly inChannels: number,
    readonly outChannels: number,
    perDim: (p: number | readonly number[]) => K,
    kernelSize: number | readonly number[],
    o: {
      stride?: number | readonly number[];
      padding?: number | readonly number[];
      dilation?: number | readonly number[];
      groups?: number;
      bias?: boolean;
    } & FactoryOptions,
  ) {
    super();
    this.kernelSize = perDim(kernelSize);
    this.stride = perDim(o.stride ?? 1);
    this.padding = perDim(o.padding ?? 0);
    this.dilation = perDim(o.dilation ?? 1);
    this.groups = o.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(
        `${kind}: channels ${inChannels} -> ${outChannels} are not divisible by groups ${this.groups}`,
      );
    }
    this.registerWeightAndBias([outChannels, inChannels / this.groups, ...this.kernelSize], o);
  }

  protected convOptions(): { stride: K; padding: K; dilation: K; groups: number } {
    return { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups };
  }
}

/** 2-d convolution. weight [out, in / groups, kh, kw], bias [out]. */
export class Conv2d extends ConvNd<[number, number]> {
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, o: Conv2dOptions = {}) {
    super("Conv2d", inChannels, outChannels, (p) => pair(p as Pair), kernelSize, o);
  }

  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, this.convOptions());
  }
}

/** 3-d convolution over [N, C, D, H, W]. weight [out, in / groups, kd, kh, kw], bias [out]. */
export class Conv3d extends ConvNd<[number, number, number]> {
  constructor(inChannels: number, outChannels: number, kernelSize: Triple, o: Conv3dOptions = {}) {
    super("Conv3d", inChannels, outChannels, (p) => triple(p as Triple), kernelSize, o);
  }

  forward(x: Tensor): Tensor {
    return F.conv3d(x, this.weight, this.bias, this.convOptions());
  }
}

export interface BatchNormOptions extends FactoryOptions {
  eps?: number;
  /** Running-average factor; null = cumulative average (PyTorch's momentum=None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/** Batch normalisation (weight, bias, running_mean, running_var, num_batches_tracked), as torch's _BatchNorm. */
abstract class BatchNormBase extends Module {
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  /** Accepted input ranks, for the error message of a wrong input. */
  protected abstract readonly ranks: readonly number[];
  protected abstract readonly layout: string;

  constructor(
    readonly numFeatures: number,
    o: BatchNormOptions = {},
  ) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum === undefined ? 0.1 : o.momentum;
    this.affine = o.affine ?? true;
    this.trackRunningStats = o.trackRunningStats ?? true;
    const dtype = o.dtype ?? "float32";
    this.registerParameter("weight", this.affine ? ones([numFeatures], { dtype }) : null);
    this.registerParameter("bias", this.affine ? zeros([numFeatures], { dtype }) : null);
    this.registerBuffer("running_mean", this.trackRunningStats ? zeros([numFeatures], { dtype }) : null);
    this.registerBuffer("running_var", this.trackRunningStats ? ones([numFeatures], { dtype }) : null);
    this.registerBuffer("num_batches_tracked", this.trackRunningStats ? zeros([], { dtype: "int64" }) : null);
  }

  get weight(): Tensor | null {
    return this.tensor("weight");
  }

  get bias(): Tensor | null {
    return this.tensor("bias");
  }

  get runningMean(): Tensor | null {
    return this.tensor("running_mean");
  }

  get runningVar(): Tensor | null {
    return this.tensor("running_var");
  }

  get numBatchesTracked(): Tensor | null {
    return this.tensor("num_batches_tracked");
  }

  forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.ndim)) {
      throw new Error(`${this.constructor.name} expects a ${this.layout} input, got [${x.shape.join(", ")}]`);
    }
    let factor = this.momentum ?? 0;
    const tracked = this.numBatchesTracked;
    if (this.training && this.trackRunningStats && tracked !== null) {
      tracked.add_(1);
      if (this.momentum === null) factor = 1 / tracked.item();
    }
    // Batch statistics in training, and in eval when no running statistics are kept.
    const useBatchStats = this.training || this.runningMean === null;
    const trackNow = !this.training || this.trackRunningStats;
    return F.batchNorm(x, trackNow ? this.runningMean : null, trackNow ? this.runningVar : null, {
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum: factor,
      eps: this.eps,
    });
  }
}

/** Batch normalisation over [N, C] or [N, C, L] (MLP heads, sequences). */
export class BatchNorm1d extends BatchNormBase {
  protected readonly ranks = [2, 3];
  protected readonly layout = "2-d [N, C] or 3-d [N, C, L]";
}

/** Batch normalisation over [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  protected readonly ranks = [4];
  protected readonly layout = "4-d [N, C, H, W]";
}

/** Batch normalisation over [N, C, D, H, W]. */
export class BatchNorm3d extends BatchNormBase {
  protected readonly ranks = [5];
  protected readonly layout = "5-d [N, C, D, H, W]";
}

/** Layer normalisation over the trailing dims normalizedShape. */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];

  constructor(
    normalizedShape: number | readonly number[],
    readonly o: FactoryOptions & { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
    const affine = o.elementwiseAffine ?? true;
    const dtype = o.dtype ?? "float32";
    this.registerParameter("weight", affine ? ones(this.normalizedShape, { dtype }) : null);
    this.registerParameter("bias", affine ? zeros(this.normalizedShape, { dtype }) : null);
  }

  get eps(): number {
    return this.o.eps ?? 1e-5;
  }

  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.tensor("weight"), this.tensor("bias"), this.eps);
  }
}

/** Group normalisation over [N, C, ...] with numGroups groups of channels. */
export class GroupNorm extends Module {
  readonly eps: number;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    o: FactoryOptions & { eps?: number; affine?: boolean } = {},
  ) {
    super();
    if (numChannels % numGroups !== 0)
      throw new Error(`GroupNorm: ${numChannels} channels not divisible by ${numGroups} groups`);
    this.eps = o.eps ?? 1e-5;
    const affine = o.affine ?? true;
    const dtype = o.dtype ?? "float32";
    this.registerParameter("weight", affine ? ones([numChannels], { dtype }) : null);
    this.registerParameter("bias", affine ? zeros([numChannels], { dtype }) : null);
  }

  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.tensor("weight"), this.tensor("bias"), this.eps);
  }
}

/** Zeroes elements with probability p while training (scaling the rest by 1/(1-p)); identity in eval. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout probability must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/**
 * Stochastic depth (timm's DropPath): while training, each sample's whole residual branch is dropped
 * with probability p and kept ones are scaled by 1/(1-p); identity in eval. Draws one Bernoulli per
 * sample from the global generator, as timm does.
 */
export class DropPath extends Module {
  constructor(
    readonly p = 0,
    readonly scaleByKeep = true,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`DropPath probability must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    if (this.p === 0 || !this.training) return x;
    const keep = 1 - this.p;
    const mask = empty([x.size(0), ...Array<number>(x.ndim - 1).fill(1)], {
      dtype: x.dtype,
      device: x.device,
    });
    mask.bernoulli_(keep);
    if (this.scaleByKeep) mask.div_(keep);
    return x.mul(mask);
  }
}

/** A lookup table [numEmbeddings, embeddingDim] initialised N(0, 1); the paddingIdx row is zero. */
export class Embedding extends Module {
  readonly paddingIdx: number | null;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    o: FactoryOptions & { paddingIdx?: number } = {},
  ) {
    super();
    let pad = o.paddingIdx ?? null;
    if (pad !== null) {
      if (pad >= numEmbeddings || pad < -numEmbeddings) throw new Error(`paddingIdx ${pad} out of range`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    const weight = this.registerParameter(
      "weight",
      empty([numEmbeddings, embeddingDim], { dtype: o.dtype ?? "float32" }),
    );
    normal_(weight);
    if (pad !== null) constant_(weight.select(0, pad), 0);
  }

  get weight(): Tensor {
    return this.tensor("weight")!;
  }

  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight, this.paddingIdx ?? -1);
  }
}

/** A module whose forward is a fixed function of one tensor (activations, pooling, flatten). */
export class Lambda extends Module {
  constructor(
    readonly fn: (x: Tensor) => Tensor,
    readonly label = "Lambda",
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

export class ReLU extends Lambda {
  constructor() {
    super(F.relu, "ReLU");
  }
}

export class Tanh extends Lambda {
  constructor() {
    super(F.tanh, "Tanh");
  }
}

export class Sigmoid extends Lambda {
  constructor() {
    super(F.sigmoid, "Sigmoid");
  }
}

export class LeakyReLU extends Lambda {
  constructor(negativeSlope = 0.01) {
    super((x) => F.leakyRelu(x, negativeSlope), "LeakyReLU");
  }
}

export class SiLU extends Lambda {
  constructor() {
    super(F.silu, "SiLU");
  }
}

export class GELU extends Lambda {
  constructor(approximate: "none" | "tanh" = "none") {
    super((x) => F.gelu(x, approximate), "GELU");
  }
}

export class Identity extends Lambda {
  constructor() {
    super((x) => x, "Identity");
  }
}

export class Flatten extends Lambda {
  constructor(startDim = 1, endDim = -1) {
    super((x) => x.flatten(startDim, endDim), "Flatten");
  }
}

export class MaxPool2d extends Lambda {
  constructor(kernelSize: Pair, o: { stride?: Pair; padding?: Pair } = {}) {
    super(
      (x) => F.maxPool2d(x, kernelSize, { stride: o.stride ?? kernelSize, padding: o.padding ?? 0 }),
      "MaxPool2d",
    );
  }
}

export class AvgPool2d extends Lambda {
  constructor(kernelSize: Pair, o: { stride?: Pair; padding?: Pair } = {}) {
    super(
      (x) => F.avgPool2d(x, kernelSize, { stride: o.stride ?? kernelSize, padding: o.padding ?? 0 }),
      "AvgPool2d",
    );
  }
}

export class MaxPool3d extends Lambda {
  constructor(kernelSize: Triple, o: { stride?: Triple; padding?: Triple } = {}) {
    super(
      (x) => F.maxPool3d(x, kernelSize, { stride: o.stride ?? kernelSize, padding: o.padding ?? 0 }),
      "MaxPool3d",
    );
  }
}

export class AdaptiveAvgPool3d extends Lambda {
  constructor(outputSize: Triple) {
    super((x) => F.adaptiveAvgPool3d(x, outputSize), "AdaptiveAvgPool3d");
  }
}

export class AdaptiveAvgPool2d extends Lambda {
  constructor(outputSize: Pair) {
    super((x) => F.adaptiveAvgPool2d(x, outputSize), "AdaptiveAvgPool2d");
  }
}

/** Child modules registered under "0", "1", ... as in PyTorch, in the order they were appended. */
abstract class IndexedModules<M extends Module> extends Module {
  protected readonly items: M[] = [];

  constructor(
    private readonly kind: string,
    private readonly unit: string,
    modules: Iterable<M>,
  ) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: M): this {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(index: number): M {
    const m = this.items.at(index);
    if (m === undefined)
      throw new Error(`${this.kind} index ${index} out of range (${this.items.length} ${this.unit})`);
    return m;
  }
}

/** A module applying one-input children in order; children are named "0", "1", ... as in PyTorch. */
export class Sequential extends IndexedModules<Module> {
  constructor(...layers: Module[]) {
    super("Sequential", "layers", layers);
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.items) y = (layer as unknown as { forward(x: Tensor): Tensor }).forward(y);
    return y;
  }
}

/** Holds child modules under "0", "1", ... (parameters registered) without a forward of its own. */
export class ModuleList<M extends Module = Module> extends IndexedModules<M> {
  constructor(modules: Iterable<M> = []) {
    super("ModuleList", "modules", modules);
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  forward(): never {
    throw new Error("ModuleList has no forward: iterate over its modules");
  }
}

export interface MultiheadAttentionOptions extends FactoryOptions {
  dropout?: number;
  bias?: boolean;
  /** Inputs [batch, seq, embed] (true, default here) or [seq, batch, embed] (PyTorch's default). */
  batchFirst?: boolean;
}

/**
 * torch.nn.MultiheadAttention with equal query/key/value dims: in_proj_weight [3E, E], in_proj_bias [3E],
 * out_proj (Linear E -> E). Initialised like PyTorch: out_proj's Linear init, then xavier_uniform_ of
 * in_proj_weight, and zero biases.
 */
export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  readonly outProj: Linear;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    o: MultiheadAttentionOptions = {},
  ) {
    super();
    this.headDim = Math.floor(embedDim / numHeads);
    if (this.headDim * numHeads !== embedDim)
      throw new Error(`embedDim ${embedDim} not divisible by numHeads ${numHeads}`);
    this.dropout = o.dropout ?? 0;
    this.batchFirst = o.batchFirst ?? true;
    const dtype = o.dtype ?? "float32";
    const bias = o.bias ?? true;
    this.registerParameter("in_proj_weight", empty([3 * embedDim, embedDim], { dtype }));
    this.registerParameter("in_proj_bias", bias ? empty([3 * embedDim], { dtype }) : null);
    this.outProj = this.registerModule("out_proj", new Linear(embedDim, embedDim, { dtype, bias }));
    xavierUniform_(this.tensor("in_proj_weight")!);
    const inBias = this.tensor("in_proj_bias");
    if (inBias !== null) constant_(inBias, 0);
    if (this.outProj.bias !== null) constant_(this.outProj.bias, 0);
  }

  /**
   * Attention of query over key/value. keyPaddingMask [batch, S]: true = ignore that key. attnMask [L, S]
   * or [batch * heads, L, S]: boolean (true = not allowed) or additive float. Returns the output and, when
   * needWeights, the attention weights (averaged over heads unless averageAttnWeights is false).
   */
  forward(
    query: Tensor,
    key: Tensor = query,
    value: Tensor = key,
    o: {
      keyPaddingMask?: Tensor | null;
      attnMask?: Tensor | null;
      needWeights?: boolean;
      averageAttnWeights?: boolean;
    } = {},
  ): { output: Tensor; weights: Tensor | null } {
    const bf = (t: Tensor) => (this.batchFirst ? t : t.transpose(0, 1));
    const q0 = bf(query);
    const k0 = bf(key);
    const v0 = bf(value);
    const [batch, tgtLen, embed] = q0.shape;
    const srcLen = k0.size(1);
    if (embed !== this.embedDim)
      throw new Error(`MultiheadAttention: query has ${embed} features, expected ${this.embedDim}`);
    const E = this.embedDim;
    const w = this.tensor("in_proj_weight")!;
    const b = this.tensor("in_proj_bias");
    const [wq, wk, wv] = w.split(E, 0);
    const [bq, bk, bv] = b === null ? [null, null, null] : b.split(E, 0);
    // [B, T, E] -> [B, H, T, D]
    const heads = (t: Tensor, len: number) =>
      t.view([batch, len, this.numHeads, this.headDim]).transpose(1, 2);
    const q = heads(F.linear(q0, wq, bq), tgtLen);
    const k = heads(F.linear(k0, wk, bk), srcLen);
    const v = heads(F.linear(v0, wv, bv), srcLen);
    let scores = q.div(Math.sqrt(this.headDim)).matmul(k.transpose(-2, -1)); // [B, H, T, S]
    if (o.attnMask) {
      const m = o.attnMask.ndim === 3 ? o.attnMask.view([batch, this.numHeads, tgtLen, srcLen]) : o.attnMask;
      scores = m.dtype === "bool" ? scores.maskedFill(m, Number.NEGATIVE_INFINITY) : scores.add(m);
    }
    if (o.keyPaddingMask) {
      const m = o.keyPaddingMask.view([batch, 1, 1, srcLen]);
      scores =
        m.dtype === "bool" ? scores.maskedFill(m, Number.NEGATIVE_INFINITY) : scores.add(m.to(scores.dtype));
    }
    let attn = F.softmax(scores, -1);
    if (this.dropout > 0 && this.training) attn = F.dropout(attn, this.dropout, true);
    const ctx = attn.matmul(v).transpose(1, 2).reshape([batch, tgtLen, E]);
    const out = this.outProj.forward(ctx);
    let weights: Tensor | null = null;
    if (o.needWeights ?? true)
      weights = (o.averageAttnWeights ?? true) ? attn.sum(1).div(this.numHeads) : attn;
    return { output: this.batchFirst ? out : out.transpose(0, 1), weights };
  }
}
