// The project's own small CNN encoder, "liverstiff-cnn-v1": five conv/BN/ReLU blocks over one grey
// channel (a 5x5 stride-2 stem, then 3x3 blocks with 2x2 max pooling before each), and global average
// pooling of the last four blocks concatenated: multi-scale, so that parenchymal texture (middle blocks)
// and organ shape and size (deepest blocks) both reach the feature vector. A 128 input is seen at 64,
// 32, 16, 8 and 4 pixels; about 39 M multiply-adds per slice, cheap enough to pretrain on 2 CPU cores.
// Parameter names follow PyTorch's (blocks.<i>.conv.weight, blocks.<i>.bn.running_mean, ...), so a
// torch.nn twin (test/fixtures/features/make_parity.py) loads the same safetensors file by name.
import { BatchNorm2d, Conv2d, Module } from "../nn/index.ts";
import { cat, functional as F, type Tensor } from "../torch/index.ts";

export interface CnnConfig {
  /** Output channels of each block. */
  channels: readonly number[];
  /** Blocks whose globally average-pooled outputs make the feature vector (indices into channels). */
  pooled: readonly number[];
  /** Input slice size (pixels). */
  inputSize: number;
}

export const CNN_V1_CONFIG: CnnConfig = {
  channels: [24, 48, 96, 160, 208],
  pooled: [1, 2, 3, 4],
  inputSize: 128,
};

/** conv k x k (no bias, "same" padding) -> batch norm -> ReLU. */
export class ConvBlock extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernel = 3, stride = 1) {
    super();
    this.conv = this.registerModule(
      "conv",
      new Conv2d(inChannels, outChannels, kernel, { padding: (kernel - 1) / 2, stride, bias: false }),
    );
    this.bn = this.registerModule("bn", new BatchNorm2d(outChannels));
  }

  forward(x: Tensor): Tensor {
    return F.relu(this.bn.forward(this.conv.forward(x)));
  }
}

class Blocks extends Module {
  readonly list: ConvBlock[] = [];

  constructor(channels: readonly number[]) {
    super();
    let inC = 1;
    channels.forEach((c, i) => {
      const block = i === 0 ? new ConvBlock(inC, c, 5, 2) : new ConvBlock(inC, c);
      this.list.push(this.registerModule(String(i), block));
      inC = c;
    });
  }

  forward(): never {
    throw new Error("Blocks is a container; call LiverCnn.forward");
  }
}

/**
 * x [N, 1, H, W] -> features [N, sum(channels[pooled])]. `forwardMaps` also returns every block's map,
 * for self-supervised objectives that need spatial output.
 */
export class LiverCnn extends Module {
  readonly blocks: Blocks;

  constructor(readonly config: CnnConfig = CNN_V1_CONFIG) {
    super();
    this.blocks = this.registerModule("blocks", new Blocks(config.channels));
  }

  get featureDim(): number {
    return this.config.pooled.reduce((s, i) => s + this.config.channels[i], 0);
  }

  forward(x: Tensor): Tensor {
    return this.forwardMaps(x).features;
  }

  forwardMaps(x: Tensor): { features: Tensor; maps: Tensor[] } {
    const pooled: Tensor[] = [];
    const maps: Tensor[] = [];
    let h = x;
    this.blocks.list.forEach((b, i) => {
      if (i > 0) h = F.maxPool2d(h, 2);
      h = b.forward(h);
      maps.push(h);
      if (this.config.pooled.includes(i)) pooled.push(h.mean([2, 3]));
    });
    return { features: pooled.length === 1 ? pooled[0] : cat(pooled, 1), maps };
  }
}
