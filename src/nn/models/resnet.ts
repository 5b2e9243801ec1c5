// ResNet-18/34 (BasicBlock) and ResNet-50/101 (Bottleneck, stride on the 3x3 conv: "v1.5", torchvision's
// and timm's resnet50) on src/nn. Parameter names are torchvision's, which timm's ResNet shares (conv1,
// bn1, layer<i>.<j>.conv1 ... downsample.0/1, fc), so either library's state dict loads by name.
import { functional as F, type Tensor } from "../../torch/index.ts";
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

function conv(inC: number, outC: number, k: number, stride = 1): Conv2d {
  const c = new Conv2d(inC, outC, k, { stride, padding: (k - 1) / 2, bias: false });
  kaimingNormal_(c.weight, { mode: "fan_out", nonlinearity: "relu" }); // torchvision's init
  return c;
}

abstract class ResBlock extends Module {
  abstract readonly outChannels: number;
  readonly downsample: Sequential | null;

  constructor(inC: number, outC: number, stride: number) {
    super();
    this.downsample = null;
    if (stride !== 1 || inC !== outC) {
      this.downsample = new Sequential(conv(inC, outC, 1, stride), new BatchNorm2d(outC));
    }
  }

  protected shortcut(x: Tensor): Tensor {
    return this.downsample ? this.downsample.forward(x) : x;
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
    const y = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const z = this.bn2.forward(this.conv2.forward(y));
    return z.add_(this.shortcut(x)).relu_();
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
    const y = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const z = F.relu(this.bn2.forward(this.conv2.forward(y)));
    const w = this.bn3.forward(this.conv3.forward(z));
    return w.add_(this.shortcut(x)).relu_();
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
    let y = F.relu(this.bn1.forward(this.conv1.forward(x)));
    y = F.maxPool2d(y, 3, { stride: 2, padding: 1 });
    const maps: Tensor[] = [];
    for (const stage of this.stages) {
      y = stage.forward(y);
      maps.push(y);
    }
    return { pooled: y.mean([2, 3]), maps };
  }

  /** Pooled features [B, numFeatures]. */
  forward(x: Tensor): Tensor {
    return this.forwardFeatures(x).pooled;
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
