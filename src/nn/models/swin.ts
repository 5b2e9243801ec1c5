// Swin Transformer V1 (Liu et al. 2021), as timm and torchvision define it, on src/nn: patch embedding
// (4x4 conv + LayerNorm), four stages of window attention blocks (regular and shifted windows, with the
// relative position bias and the shifted-window attention mask), patch merging between stages, final
// LayerNorm and global average pooling. Parameter names are timm's (>= 0.9: `layers.<i>.downsample` at
// the start of stages 1..3, `head.fc`); checkpoint.ts maps torchvision's and older timm's onto them.
//
// Layout: tokens are kept as [B, H, W, C] (channels last) between blocks, as in timm and torchvision.
// Inputs whose feature maps are not a multiple of the window are zero-padded like torchvision does; at
// the published 224 x 224 input (56, 28, 14, 7 tokens per side) nothing is padded and the last stage's
// blocks do not shift (the window covers the whole map), exactly as in both reference implementations.
import { functional as F, isGradEnabled, type Tensor, tensor, zeros } from "../../torch/index.ts";
import { normal_ } from "../init.ts";
import { Conv2d, DropPath, LayerNorm, type Linear, ModuleList } from "../layers.ts";
import { Module } from "../module.ts";
import { ChannelsLastLinear } from "./channels-last-linear.ts";

export interface SwinConfig {
  /** Channels of the first stage (doubled by every patch merging). */
  embedDim: number;
  /** Blocks per stage. */
  depths: readonly number[];
  /** Attention heads per stage. */
  numHeads: readonly number[];
  windowSize: number;
  patchSize: number;
  mlpRatio: number;
  inChans: number;
  /** Classifier outputs; 0 = no head (features only, the default for backbones). */
  numClasses: number;
  /** Stochastic depth rate of the last block (linearly increasing over blocks); only acts in training. */
  dropPathRate: number;
  /** LayerNorm epsilon (1e-5 in timm and torchvision). */
  eps: number;
}

const BASE: Omit<SwinConfig, "embedDim" | "depths" | "numHeads" | "dropPathRate"> = {
  windowSize: 7,
  patchSize: 4,
  mlpRatio: 4,
  inChans: 3,
  numClasses: 0,
  eps: 1e-5,
};

/** timm's swin_{tiny,small,base}_patch4_window7_224 = torchvision's swin_{t,s,b}. */
export const SWIN_CONFIGS = {
  swin_t: { ...BASE, embedDim: 96, depths: [2, 2, 6, 2], numHeads: [3, 6, 12, 24], dropPathRate: 0.2 },
  swin_s: { ...BASE, embedDim: 96, depths: [2, 2, 18, 2], numHeads: [3, 6, 12, 24], dropPathRate: 0.3 },
  swin_b: { ...BASE, embedDim: 128, depths: [2, 2, 18, 2], numHeads: [4, 8, 16, 32], dropPathRate: 0.5 },
} as const satisfies Record<string, SwinConfig>;

export type SwinVariant = keyof typeof SWIN_CONFIGS;

/**
 * The pair-wise relative position index of a win x win window ([win^2, win^2], values in
 * [0, (2 win - 1)^2)), as timm's get_relative_position_index and torchvision compute it:
 * (dy + win - 1) * (2 win - 1) + (dx + win - 1) for token i = (yi, xi) and j = (yj, xj), dy = yi - yj.
 */
export function relativePositionIndex(win: number): Int32Array {
  const n = win * win;
  const out = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    const yi = Math.floor(i / win);
    const xi = i % win;
    for (let j = 0; j < n; j++) {
      const yj = Math.floor(j / win);
      const xj = j % win;
      out[i * n + j] = (yi - yj + win - 1) * (2 * win - 1) + (xi - xj + win - 1);
    }
  }
  return out;
}

/**
 * The shifted-window attention mask for a (padded) pH x pW map: [numWindows, win^2, win^2] with 0 where
 * both tokens come from the same region of the cyclically shifted map and -100 elsewhere (timm's and
 * torchvision's value). Regions: rows [0, pH - win), [pH - win, pH - shift), [pH - shift, pH), same for
 * columns; windows in row-major order.
 */
export function shiftedWindowMask(pH: number, pW: number, win: number, shift: number): Float32Array {
  const region = (v: number, size: number) => (v < size - win ? 0 : v < size - shift ? 1 : 2);
  const nWh = pH / win;
  const nWw = pW / win;
  const n = win * win;
  const out = new Float32Array(nWh * nWw * n * n);
  const labels = new Int32Array(n);
  for (let wy = 0; wy < nWh; wy++) {
    for (let wx = 0; wx < nWw; wx++) {
      for (let t = 0; t < n; t++) {
        const y = wy * win + Math.floor(t / win);
        const x = wx * win + (t % win);
        labels[t] = region(y, pH) * 3 + region(x, pW);
      }
      const base = (wy * nWw + wx) * n * n;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) out[base + i * n + j] = labels[i] === labels[j] ? 0 : -100;
      }
    }
  }
  return out;
}

/** Window multi-head self-attention with a learned relative position bias (timm's WindowAttention). */
export class WindowAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  readonly scale: number;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
    readonly windowSize: number,
  ) {
    super();
    if (dim % numHeads !== 0)
      throw new Error(`WindowAttention: dim ${dim} not divisible by ${numHeads} heads`);
    this.headDim = dim / numHeads;
    this.scale = this.headDim ** -0.5;
    const table = this.registerParameter(
      "relative_position_bias_table",
      zeros([(2 * windowSize - 1) * (2 * windowSize - 1), numHeads]),
    );
    normal_(table, 0, 0.02);
    // Not part of the state dict (timm: persistent=False); torchvision's files carry it and checkpoint.ts
    // checks their values against this one.
    this.registerBuffer(
      "relative_position_index",
      tensor(relativePositionIndex(windowSize), { shape: [windowSize ** 2 * windowSize ** 2] }).to("int64"),
      false,
    );
    this.qkv = this.registerModule("qkv", new ChannelsLastLinear(dim, 3 * dim));
    this.proj = this.registerModule("proj", new ChannelsLastLinear(dim, dim));
  }

  /** The bias [nH, N, N] gathered from the table by the index. */
  relativePositionBias(): Tensor {
    const n = this.windowSize * this.windowSize;
    return this.tensor("relative_position_bias_table")!
      .indexSelect(0, this.tensor("relative_position_index")!)
      .view([n, n, this.numHeads])
      .permute([2, 0, 1]);
  }

  /**
   * x [B_, N, C] (B_ = batch x windows) -> [B_, N, C]. `bias` is added to the attention logits: the
   * relative position bias [nH, N, N], or bias + mask as [nW, nH, N, N] for shifted windows.
   */
  forward(x: Tensor, bias: Tensor): Tensor {
    const [b, n, c] = x.shape;
    const qkv = this.qkv.forward(x).view([b, n, 3, this.numHeads, this.headDim]).permute([2, 0, 3, 1, 4]);
    const [q, k, v] = qkv.unbind(0);
    const logits = q.mul(this.scale).matmul(k.transpose(-2, -1)); // [B_, nH, N, N], fresh
    // In place: matmul does not keep its output for the backward pass.
    if (bias.ndim === 4) {
      const nW = bias.size(0);
      logits.view([b / nW, nW, this.numHeads, n, n]).add_(bias);
    } else {
      logits.add_(bias);
    }
    const attn = F.softmax(logits, -1);
    const out = attn.matmul(v).transpose(1, 2).reshape([b, n, c]);
    return this.proj.forward(out);
  }
}

/** fc1 -> GELU -> fc2 (timm's Mlp; torchvision's MLP children 0 and 3). */
export class SwinMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.registerModule("fc1", new ChannelsLastLinear(dim, hidden));
    this.fc2 = this.registerModule("fc2", new ChannelsLastLinear(hidden, dim));
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(F.gelu(this.fc1.forward(x)));
  }
}

/** One Swin block: x + attn(norm1(x)) over (shifted) windows, then x + mlp(norm2(x)). */
export class SwinBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: WindowAttention;
  readonly dropPath: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: SwinMlp;
  /** Attention masks by padded map size (geometry only), built once. */
  private readonly masks = new Map<string, Tensor>();

  constructor(
    readonly dim: number,
    numHeads: number,
    readonly windowSize: number,
    readonly shiftSize: number,
    mlpRatio: number,
    dropPath: number,
    eps: number,
  ) {
    super();
    this.norm1 = this.registerModule("norm1", new LayerNorm(dim, { eps }));
    this.attn = this.registerModule("attn", new WindowAttention(dim, numHeads, windowSize));
    this.dropPath = new DropPath(dropPath); // parameter-free; timm registers it as drop_path
    this.registerModule("drop_path", this.dropPath);
    this.norm2 = this.registerModule("norm2", new LayerNorm(dim, { eps }));
    this.mlp = this.registerModule("mlp", new SwinMlp(dim, Math.floor(dim * mlpRatio)));
  }

  private mask(pH: number, pW: number, shift: number): Tensor {
    const key = `${pH}x${pW}`;
    let m = this.masks.get(key);
    if (m === undefined) {
      const w = this.windowSize;
      const nW = (pH / w) * (pW / w);
      m = tensor(shiftedWindowMask(pH, pW, w, shift), { shape: [nW, 1, w * w, w * w] }).keep();
      this.masks.set(key, m);
    }
    return m;
  }

  /** x [B, H, W, C] -> [B, H, W, C]. */
  forward(x: Tensor): Tensor {
    const [b, h, w, c] = x.shape;
    const win = this.windowSize;
    let y = this.norm1.forward(x);
    const padB = (win - (h % win)) % win;
    const padR = (win - (w % win)) % win;
    if (padB > 0 || padR > 0) y = F.pad(y, [0, 0, 0, padR, 0, padB]);
    const pH = h + padB;
    const pW = w + padR;
    // torchvision: no shift along an axis the window already covers (timm: none at all when the map is
    // not larger than the window; at square inputs the two agree).
    const shiftH = win >= pH ? 0 : this.shiftSize;
    const shiftW = win >= pW ? 0 : this.shiftSize;
    const shifted = shiftH > 0 || shiftW > 0;
    if (shifted) y = y.roll([-shiftH, -shiftW], [1, 2]);
    const nWh = pH / win;
    const nWw = pW / win;
    const windows = y
      .view([b, nWh, win, nWw, win, c])
      .permute([0, 1, 3, 2, 4, 5])
      .reshape([b * nWh * nWw, win * win, c]);
    let bias = this.attn.relativePositionBias();
    if (shifted) {
      if (shiftH !== shiftW) throw new Error("SwinBlock: unequal shifts are not supported");
      bias = this.mask(pH, pW, shiftH).add(bias.unsqueeze(0)); // [nW, nH, N, N]
    }
    let a = this.attn.forward(windows, bias);
    a = a.view([b, nWh, nWw, win, win, c]).permute([0, 1, 3, 2, 4, 5]).reshape([b, pH, pW, c]);
    if (shifted) a = a.roll([shiftH, shiftW], [1, 2]);
    if (padB > 0 || padR > 0) a = a.slice(1, 0, h).slice(2, 0, w);
    if (!isGradEnabled()) {
      // Inference: the residual sums reuse fresh buffers (a is a new tensor; x is not touched).
      const x1 = a.contiguous().add_(x);
      return x1.add_(this.mlp.forward(this.norm2.forward(x1)));
    }
    const x1 = x.add(this.dropPath.forward(a));
    return x1.add(this.dropPath.forward(this.mlp.forward(this.norm2.forward(x1))));
  }

  override dispose(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
    super.dispose();
  }
}

/**
 * Patch merging: each 2x2 neighbourhood concatenated ([x(0,0), x(1,0), x(0,1), x(1,1)], row offset
 * fastest, as timm and torchvision order them), LayerNorm(4C), Linear 4C -> 2C without bias. Odd maps
 * are zero-padded at the bottom/right.
 */
export class PatchMerging extends Module {
  readonly norm: LayerNorm;
  readonly reduction: Linear;

  constructor(
    readonly dim: number,
    eps: number,
  ) {
    super();
    this.norm = this.registerModule("norm", new LayerNorm(4 * dim, { eps }));
    this.reduction = this.registerModule(
      "reduction",
      new ChannelsLastLinear(4 * dim, 2 * dim, { bias: false }),
    );
  }

  /** x [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), 2C]. */
  forward(x: Tensor): Tensor {
    let [b, h, w, c] = x.shape;
    if (h % 2 === 1 || w % 2 === 1) {
      x = F.pad(x, [0, 0, 0, w % 2, 0, h % 2]);
      h += h % 2;
      w += w % 2;
    }
    // [B, H/2, 2(dy), W/2, 2(dx), C] -> [B, H/2, W/2, dx, dy, C]: channel blocks (dy, dx) = 00, 10, 01, 11.
    const merged = x
      .view([b, h / 2, 2, w / 2, 2, c])
      .permute([0, 1, 3, 4, 2, 5])
      .reshape([b, h / 2, w / 2, 4 * c]);
    return this.reduction.forward(this.norm.forward(merged));
  }
}

/** One stage: optional patch merging (stages 1..3), then blocks alternating regular/shifted windows. */
export class SwinStage extends Module {
  readonly downsample: PatchMerging | null;
  readonly blocks: ModuleList<SwinBlock>;

  constructor(
    inDim: number,
    readonly dim: number,
    depth: number,
    numHeads: number,
    config: SwinConfig,
    dropPaths: readonly number[],
  ) {
    super();
    this.downsample =
      inDim !== dim ? this.registerModule("downsample", new PatchMerging(inDim, config.eps)) : null;
    const blocks: SwinBlock[] = [];
    for (let i = 0; i < depth; i++) {
      const shift = i % 2 === 0 ? 0 : Math.floor(config.windowSize / 2);
      blocks.push(
        new SwinBlock(dim, numHeads, config.windowSize, shift, config.mlpRatio, dropPaths[i], config.eps),
      );
    }
    this.blocks = this.registerModule("blocks", new ModuleList(blocks));
  }

  forward(x: Tensor): Tensor {
    let y = this.downsample ? this.downsample.forward(x) : x;
    for (const block of this.blocks) y = block.forward(y);
    return y;
  }
}

class PatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly norm: LayerNorm;

  constructor(inChans: number, embedDim: number, patch: number, eps: number) {
    super();
    this.proj = this.registerModule("proj", new Conv2d(inChans, embedDim, patch, { stride: patch }));
    this.norm = this.registerModule("norm", new LayerNorm(embedDim, { eps }));
  }

  /** [B, C, H, W] -> [B, H/p, W/p, D]. */
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.proj.forward(x).permute([0, 2, 3, 1]));
  }
}

class ClassifierHead extends Module {
  readonly fc: Linear;

  constructor(inFeatures: number, numClasses: number) {
    super();
    this.fc = this.registerModule("fc", new ChannelsLastLinear(inFeatures, numClasses));
  }

  forward(x: Tensor): Tensor {
    return this.fc.forward(x);
  }
}

export interface SwinOutput {
  /** Final LayerNorm + global average pool: [B, numFeatures] (1024 for Swin-B). */
  pooled: Tensor;
  /** Each stage's output as [B, C_i, H_i, W_i] (stage 4 after the final LayerNorm is not included). */
  maps: Tensor[];
}

/**
 * Swin Transformer V1 backbone. forward(x [B, 3, H, W]) -> pooled features [B, numFeatures];
 * forwardFeatures also returns every stage's map; classify applies the head (numClasses > 0).
 */
export class SwinTransformer extends Module {
  readonly config: SwinConfig;
  readonly patchEmbed: PatchEmbed;
  readonly layers: ModuleList<SwinStage>;
  readonly norm: LayerNorm;
  readonly head: ClassifierHead | null;
  readonly numFeatures: number;

  constructor(config: Partial<SwinConfig> & Pick<SwinConfig, "embedDim" | "depths" | "numHeads">) {
    super();
    const cfg: SwinConfig = { ...BASE, dropPathRate: 0, ...config };
    if (cfg.depths.length !== cfg.numHeads.length)
      throw new Error("SwinTransformer: depths and numHeads differ in length");
    this.config = cfg;
    this.patchEmbed = this.registerModule(
      "patch_embed",
      new PatchEmbed(cfg.inChans, cfg.embedDim, cfg.patchSize, cfg.eps),
    );
    const total = cfg.depths.reduce((s, d) => s + d, 0);
    const rates = Array.from({ length: total }, (_, i) =>
      total > 1 ? (cfg.dropPathRate * i) / (total - 1) : 0,
    );
    const stages: SwinStage[] = [];
    let inDim = cfg.embedDim;
    let offset = 0;
    cfg.depths.forEach((depth, i) => {
      const dim = cfg.embedDim * 2 ** i;
      stages.push(
        new SwinStage(inDim, dim, depth, cfg.numHeads[i], cfg, rates.slice(offset, offset + depth)),
      );
      offset += depth;
      inDim = dim;
    });
    this.layers = this.registerModule("layers", new ModuleList(stages));
    this.numFeatures = inDim;
    this.norm = this.registerModule("norm", new LayerNorm(inDim, { eps: cfg.eps }));
    this.head =
      cfg.numClasses > 0 ? this.registerModule("head", new ClassifierHead(inDim, cfg.numClasses)) : null;
  }

  forwardFeatures(x: Tensor): SwinOutput {
    if (x.ndim !== 4 || x.size(1) !== this.config.inChans) {
      throw new Error(
        `SwinTransformer expects [B, ${this.config.inChans}, H, W], got [${x.shape.join(", ")}]`,
      );
    }
    let y = this.patchEmbed.forward(x);
    const maps: Tensor[] = [];
    for (const stage of this.layers) {
      y = stage.forward(y);
      maps.push(y.permute([0, 3, 1, 2]));
    }
    const pooled = this.norm.forward(y).mean([1, 2]);
    return { pooled, maps };
  }

  /** Pooled features [B, numFeatures]. */
  forward(x: Tensor): Tensor {
    return this.forwardFeatures(x).pooled;
  }

  /** Class logits (needs numClasses > 0). */
  classify(x: Tensor): Tensor {
    if (!this.head) throw new Error("this SwinTransformer has no classifier head (numClasses 0)");
    return this.head.forward(this.forward(x));
  }
}

/** A Swin backbone of a named size (features only unless numClasses is given). */
export function swin(variant: SwinVariant, overrides: Partial<SwinConfig> = {}): SwinTransformer {
  return new SwinTransformer({ ...SWIN_CONFIGS[variant], ...overrides });
}
