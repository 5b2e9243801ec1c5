// ResNet-18/34 (BasicBlock) and ResNet-50/101 (Bottleneck, stride on the 3x3 conv: "v1.5", torchvision's
// and timm's resnet50) on src/nn. Parameter names are torchvision's, which timm's ResNet shares (conv1,
// bn1, layer<i>.<j>.conv1 ... downsample.0/1, fc), so either library's state dict loads by name.
import { functional as F, noGrad, type Tensor } from "../../torch/index.ts";
import { kaimingNormal_ } from "../init.ts";
import { BatchNorm2d, Conv2d, Linear, ModuleList, Sequential } from "../layers.ts";
import { Module } from "../module.ts";

export interface ResNetConfig {
  block: "basic" | "bottleneck";
  layers: readonly number[];
  inChans: number;
  /** Classifier outputs; 0 = no fc (features only, the default for backbones). */
  numClasses: number;
}

export const RESNET_CONFIGS = {
  resnet18: { block: "basic", layers: [2, 2, 2, 2], inChans: 3, numClasses: 0 },
  resnet34: { block: "basic", layers: [3, 4, 6, 3], inChans: 3, numClasses: 0 },
  resnet50: { block: "bottleneck", layers: [3, 4, 6, 3], inChans: 3, numClasses: 0 },
  resnet101: { block: "bottleneck", layers: [3, 4, 23, 3], inChans: 3, numClasses: 0 },
} as const satisfies Record<string, ResNetConfig>;

export type ResNetVariant = keyof typeof RESNET_CONFIGS;

/**
 * Convolutions with their batch norm folded in (w' = w g / sqrt(var + eps), b' = beta - mean g / sqrt(var + eps)),
 * built by ResNet.fuseForInference() for frozen feature extraction: one pass over each conv output instead
 * of two. Empty while training or after weights change.
 */
class Folded {
  readonly map = new Map<Conv2d, { weight: Tensor; bias: Tensor }>();

  clear(): void {
    for (const f of this.map.values()) {
      f.weight.dispose();
      f.bias.dispose();
    }
    this.map.clear();
  }

  fold(conv: Conv2d, bn: BatchNorm2d): void {
    noGrad(() => {
      const scale = bn.weight!.div(bn.runningVar!.add(bn.eps).sqrt());
      const weight = conv.weight.mul(scale.view([-1, 1, 1, 1])).keep();
      const bias = bn.bias!.sub(bn.runningMean!.mul(scale)).keep();
      scale.dispose();
      this.map.set(conv, { weight, bias });
    });
  }

  /** bn(conv(x)), folded when available. */
  apply(conv: Conv2d, bn: BatchNorm2d, x: Tensor): Tensor {
    const f = this.map.get(conv);
    if (f === undefined) return bn.forward(conv.forward(x));
    return F.conv2d(x, f.weight, f.bias, { stride: conv.stride, padding: conv.padding });
  }
}

function conv(inC: number, outC: number, k: number, stride = 1): Conv2d {
  const c = new Conv2d(inC, outC, k, { stride, padding: (k - 1) / 2, bias: false });
  kaimingNormal_(c.weight, { mode: "fan_out", nonlinearity: "relu" }); // torchvision's init
  return c;
}

abstract class ResBlock extends Module {
  abstract readonly outChannels: number;
  readonly downsample: Sequential | null;
  /** Shared with the ResNet that holds the block (set by it). */
  folded = new Folded();

  constructor(inC: number, outC: number, stride: number) {
    super();
    this.downsample = null;
    if (stride !== 1 || inC !== outC) {
      this.downsample = new Sequential(conv(inC, outC, 1, stride), new BatchNorm2d(outC));
    }
  }

  protected shortcut(x: Tensor): Tensor {
    if (!this.downsample) return x;
    return this.folded.apply(this.downsample.at(0) as Conv2d, this.downsample.at(1) as BatchNorm2d, x);
  }

  /** The block's own conv -> BN pairs, in order. */
  protected abstract convBnPairs(): [Conv2d, BatchNorm2d][];

  foldInto(f: Folded): void {
    for (const [c, b] of this.convBnPairs()) f.fold(c, b);
    if (this.downsample) f.fold(this.downsample.at(0) as Conv2d, this.downsample.at(1) as BatchNorm2d);
  }
}

/** conv3x3 -> BN -> ReLU -> conv3x3 -> BN, + shortcut, ReLU. */
export class BasicBlock extends ResBlock {
  static readonly expansion = 1;
  readonly outChannels: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;

  constructor(inC: number, planes: number, stride: number) {
    super(inC, planes, stride);
    this.outChannels = planes;
    this.conv1 = this.registerModule("conv1", conv(inC, planes, 3, stride));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", conv(planes, planes, 3));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    if (this.downsample) this.registerModule("downsample", this.downsample);
  }

  forward(x: Tensor): Tensor {
    const y = this.folded.apply(this.conv1, this.bn1, x).relu_();
    const z = this.folded.apply(this.conv2, this.bn2, y);
    return z.add_(this.shortcut(x)).relu_();
  }

  protected convBnPairs(): [Conv2d, BatchNorm2d][] {
    return [
      [this.conv1, this.bn1],
      [this.conv2, this.bn2],
    ];
  }
}

/** conv1x1 -> BN -> ReLU -> conv3x3 (stride) -> BN -> ReLU -> conv1x1 (x4) -> BN, + shortcut, ReLU. */
export class Bottleneck extends ResBlock {
  static readonly expansion = 4;
  readonly outChannels: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;

  constructor(inC: number, planes: number, stride: number) {
    super(inC, planes * 4, stride);
    this.outChannels = planes * 4;
    this.conv1 = this.registerModule("conv1", conv(inC, planes, 1));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", conv(planes, planes, 3, stride));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.registerModule("conv3", conv(planes, planes * 4, 1));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d(planes * 4));
    if (this.downsample) this.registerModule("downsample", this.downsample);
  }

  forward(x: Tensor): Tensor {
    const y = this.folded.apply(this.conv1, this.bn1, x).relu_();
    const z = this.folded.apply(this.conv2, this.bn2, y).relu_();
    const w = this.folded.apply(this.conv3, this.bn3, z);
    return w.add_(this.shortcut(x)).relu_();
  }

  protected convBnPairs(): [Conv2d, BatchNorm2d][] {
    return [
      [this.conv1, this.bn1],
      [this.conv2, this.bn2],
      [this.conv3, this.bn3],
    ];
  }
}

export interface ResNetOutput {
  /** Global average pool of the last stage: [B, 512] (basic) or [B, 2048] (bottleneck). */
  pooled: Tensor;
  /** Outputs of layer1..layer4, [B, C_i, H_i, W_i] (strides 4, 8, 16, 32). */
  maps: Tensor[];
}

export class ResNet extends Module {
  readonly config: ResNetConfig;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly stages: ModuleList<Sequential>;
  readonly fc: Linear | null;
  readonly numFeatures: number;
  private readonly folded = new Folded();
  private readonly blocks: ResBlock[] = [];

  constructor(config: ResNetConfig) {
    super();
    this.config = config;
    this.conv1 = this.registerModule("conv1", conv(config.inChans, 64, 7, 2));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(64));
    const stages: Sequential[] = [];
    let inC = 64;
    config.layers.forEach((n, i) => {
      const planes = 64 * 2 ** i;
      const stage = new Sequential();
      for (let j = 0; j < n; j++) {
        const stride = j === 0 && i > 0 ? 2 : 1;
        const block =
          config.block === "basic"
            ? new BasicBlock(inC, planes, stride)
            : new Bottleneck(inC, planes, stride);
        block.folded = this.folded;
        this.blocks.push(block);
        stage.append(block);
        inC = block.outChannels;
      }
      stages.push(this.registerModule(`layer${i + 1}`, stage));
    });
    this.stages = new ModuleList(stages); // a view for iteration; the stages are registered as layer<i>
    this.numFeatures = inC;
    this.fc = config.numClasses > 0 ? this.registerModule("fc", new Linear(inC, config.numClasses)) : null;
  }

  forwardFeatures(x: Tensor): ResNetOutput {
    if (x.ndim !== 4 || x.size(1) !== this.config.inChans) {
      throw new Error(`ResNet expects [B, ${this.config.inChans}, H, W], got [${x.shape.join(", ")}]`);
    }
    let y = this.forwardStem(x);
    const maps: Tensor[] = [];
    for (const stage of this.stages) {
      y = stage.forward(y);
      maps.push(y);
    }
    return { pooled: y.mean([2, 3]), maps };
  }

  /** The stem before layer1: conv1, bn1 (folded when fused), ReLU and the 3x3 max pool (stride 4 in all). */
  forwardStem(x: Tensor): Tensor {
    const y = this.folded.apply(this.conv1, this.bn1, x).relu_();
    return F.maxPool2d(y, 3, { stride: 2, padding: 1 });
  }

  /** Pooled features [B, numFeatures]. */
  forward(x: Tensor): Tensor {
    return this.forwardFeatures(x).pooled;
  }

  /**
   * Evaluation mode with every batch norm folded into its convolution (frozen feature extraction:
   * features change by ~1e-6). Undone by train(), loadStateDict() and to(); call again after those.
   */
  fuseForInference(): this {
    this.eval();
    this.folded.clear();
    this.folded.fold(this.conv1, this.bn1);
    for (const b of this.blocks) b.foldInto(this.folded);
    return this;
  }

  /** Whether batch norms are currently folded (fuseForInference). */
  get fused(): boolean {
    return this.folded.map.size > 0;
  }

  override train(mode = true): this {
    if (mode) this.folded.clear();
    return super.train(mode);
  }

  override loadStateDict(...args: Parameters<Module["loadStateDict"]>): ReturnType<Module["loadStateDict"]> {
    this.folded.clear();
    return super.loadStateDict(...args);
  }

  override to(target: Parameters<Module["to"]>[0]): this {
    this.folded.clear();
    return super.to(target);
  }

  override dispose(): void {
    this.folded.clear();
    super.dispose();
  }

  /** Class logits (needs numClasses > 0). */
  classify(x: Tensor): Tensor {
    if (!this.fc) throw new Error("this ResNet has no fc (numClasses 0)");
    return this.fc.forward(this.forward(x));
  }
}

export function resnet(variant: ResNetVariant, overrides: Partial<ResNetConfig> = {}): ResNet {
  return new ResNet({ ...RESNET_CONFIGS[variant], ...overrides });
}
