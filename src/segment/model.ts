// "liverstiff-seg-v1": a small 2D U-Net that labels each axial slice (128 x 128 pixels at a 400 mm field
// of view) as background / liver / spleen. A 3x3 stride-2 stem takes the slice to 64 x 64, where the
// encoder starts (two conv/BN/ReLU per level, 2x2 max pooling between levels); the decoder upsamples
// (nearest, x2), concatenates the skip and applies one conv/BN/ReLU; a 1x1 head gives 3 logits at 64 x 64,
// upsampled bilinearly to 128 x 128. Working at 64 x 64 (6.25 mm) keeps inference cheap on 2 CPU cores;
// the bilinear logits recover smooth 3.125 mm boundaries.
import { BatchNorm2d, Conv2d, Module } from "../nn/index.ts";
import { cat, functional as F, keep, noGrad, type Tensor, tidy } from "../torch/index.ts";

export interface SegNetConfig {
  /** Channels of the stem level (64 x 64) and of each deeper level (32, 16, ... pixels). */
  channels: readonly number[];
  /** Input slice size in pixels (square). */
  inputSize: number;
  /** Field of view of the input slice in mm: pixel size = fovMm / inputSize for every site. */
  fovMm: number;
  /** Output classes: 0 background, 1 liver, 2 spleen. */
  classes: number;
}

export const SEG_V1_CONFIG: SegNetConfig = {
  channels: [8, 16, 32, 64],
  inputSize: 128,
  fovMm: 400,
  classes: 3,
};

/** conv 3x3 (no bias, "same" padding) -> batch norm -> ReLU. */
class ConvBnRelu extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, stride = 1) {
    super();
    this.conv = this.registerModule(
      "conv",
      new Conv2d(inChannels, outChannels, 3, { padding: 1, stride, bias: false }),
    );
    this.bn = this.registerModule("bn", new BatchNorm2d(outChannels));
  }

  /** Conv weights and bias with the batch norm folded in (inference only; set by `fuseForInference`). */
  fused: { weight: Tensor; bias: Tensor } | undefined;

  forward(x: Tensor): Tensor {
    if (this.fused && !this.training) {
      const { stride, padding } = this.conv;
      return F.relu(F.conv2d(x, this.fused.weight, this.fused.bias, { stride, padding }));
    }
    return F.relu(this.bn.forward(this.conv.forward(x)));
  }

  /** w' = w * g / sqrt(var + eps), b' = beta - mean * g / sqrt(var + eps): one pass instead of two. */
  fuse(): void {
    this.unfuse();
    const bn = this.bn;
    this.fused = noGrad(() =>
      tidy(() => {
        const scale = bn.weight!.div(bn.runningVar!.add(bn.eps).sqrt());
        const weight = this.conv.weight.mul(scale.reshape([-1, 1, 1, 1])).contiguous();
        const bias = bn.bias!.sub(bn.runningMean!.mul(scale));
        return keep({ weight, bias });
      }),
    );
  }

  unfuse(): void {
    this.fused?.weight.dispose();
    this.fused?.bias.dispose();
    this.fused = undefined;
  }
}

/** Two conv blocks (an encoder level). */
class DoubleConv extends Module {
  readonly a: ConvBnRelu;
  readonly b: ConvBnRelu;

  constructor(inChannels: number, outChannels: number, stride = 1) {
    super();
    this.a = this.registerModule("a", new ConvBnRelu(inChannels, outChannels, stride));
    this.b = this.registerModule("b", new ConvBnRelu(outChannels, outChannels));
  }

  forward(x: Tensor): Tensor {
    return this.b.forward(this.a.forward(x));
  }
}

class Levels<M extends Module> extends Module {
  readonly list: M[] = [];

  add(m: M): void {
    this.list.push(this.registerModule(String(this.list.length), m));
  }

  forward(): never {
    throw new Error("Levels is a container; call SegNet.forward");
  }
}

/** x [N, 1, S, S] -> logits [N, classes, S, S]. */
export class SegNet extends Module {
  readonly enc: Levels<DoubleConv>;
  readonly dec: Levels<ConvBnRelu>;
  readonly head: Conv2d;

  constructor(readonly config: SegNetConfig = SEG_V1_CONFIG) {
    super();
    const c = config.channels;
    if (config.inputSize % 2 ** c.length !== 0)
      throw new Error(`SegNet: input size ${config.inputSize} is not divisible by ${2 ** c.length}`);
    this.enc = this.registerModule("enc", new Levels<DoubleConv>());
    this.dec = this.registerModule("dec", new Levels<ConvBnRelu>());
    c.forEach((ch, i) => {
      this.enc.add(new DoubleConv(i === 0 ? 1 : c[i - 1], ch, i === 0 ? 2 : 1));
    });
    for (let i = c.length - 2; i >= 0; i--) this.dec.add(new ConvBnRelu(c[i + 1] + c[i], c[i]));
    this.head = this.registerModule("head", new Conv2d(c[0], config.classes, 1));
  }

  /** Folds every batch norm into its conv for inference (the weights themselves are unchanged). */
  fuseForInference(): void {
    for (const b of this.convBlocks()) b.fuse();
  }

  private convBlocks(): ConvBnRelu[] {
    return [...this.enc.list.flatMap((l) => [l.a, l.b]), ...this.dec.list];
  }

  override dispose(): void {
    for (const b of this.convBlocks()) b.unfuse();
    super.dispose();
  }

  forward(x: Tensor): Tensor {
    const skips: Tensor[] = [];
    let h = x;
    this.enc.list.forEach((level, i) => {
      if (i > 0) h = F.maxPool2d(h, 2);
      h = level.forward(h);
      skips.push(h);
    });
    for (let d = 0; d < this.dec.list.length; d++) {
      const skip = skips[skips.length - 2 - d];
      const up = F.interpolate(h, { scaleFactor: 2, mode: "nearest" });
      h = this.dec.list[d].forward(cat([up, skip], 1));
    }
    const logits = this.head.forward(h);
    return F.interpolate(logits, { size: [x.shape[2], x.shape[3]], mode: "bilinear" });
  }
}
