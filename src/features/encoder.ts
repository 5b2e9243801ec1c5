// Encoders: prepared slices (z-scored, inputSize x inputSize) -> one feature vector per slice. Frozen:
// they run in evaluation mode under noGrad, in batches, and free every intermediate tensor per batch.
import type { PrepConfig } from "../cohort/index.ts";
import { LiverstiffError } from "../core/index.ts";
import type { Module } from "../nn/index.ts";
import { functional as F, noGrad, type Tensor, tensor, tidy } from "../torch/index.ts";
import type { EncoderIdentity } from "./types.ts";

export interface Encoder {
  readonly identity: EncoderIdentity;
  /**
   * `n` slices of identity.inputSize^2 values (slice, row, column) -> n x featureDim values (slice-major).
   * Deterministic: the same input gives the same output.
   */
  encode(slices: Float32Array, n: number): Float32Array;
  /** Frees the encoder's native memory; it cannot be used afterwards. */
  dispose(): void;
}

export interface ModuleEncoderOptions {
  /** Slices per forward pass (default 32). */
  batchSize?: number;
  /** Grey slices are repeated to this many channels (3 for ImageNet backbones; default 1). */
  channels?: number;
  /** Per-channel (mean, std) applied after repetition (e.g. ImageNet's), default none. */
  normalize?: { mean: readonly number[]; std: readonly number[] };
}

/**
 * Wraps a Module whose forward maps [N, C, S, S] to [N, D] (or [N, D, h, w], then globally average
 * pooled) as a frozen Encoder. The module is put in evaluation mode and its parameters frozen.
 */
export class ModuleEncoder implements Encoder {
  private readonly batchSize: number;
  private readonly channels: number;
  private disposed = false;

  constructor(
    readonly module: Module,
    readonly identity: EncoderIdentity,
    private readonly options: ModuleEncoderOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 32;
    this.channels = options.channels ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new LiverstiffError("encoder batch size must be a positive integer", {
        batchSize: this.batchSize,
      });
    module.eval();
    module.requiresGrad_(false);
  }

  encode(slices: Float32Array, n: number): Float32Array {
    if (this.disposed) throw new LiverstiffError("encoder was disposed", { encoder: this.identity.name });
    const s = this.identity.inputSize;
    const d = this.identity.featureDim;
    if (!Number.isInteger(n) || n < 0 || slices.length !== n * s * s) {
      throw new LiverstiffError(
        `encoder ${this.identity.name} expects ${n} slices of ${s}x${s} (${n * s * s} values), got ${slices.length}`,
        { encoder: this.identity.name, values: slices.length },
      );
    }
    const out = new Float32Array(n * d);
    for (let start = 0; start < n; start += this.batchSize) {
      const b = Math.min(this.batchSize, n - start);
      const values = noGrad(() =>
        tidy(() => {
          const x = tensor(slices.subarray(start * s * s, (start + b) * s * s), { shape: [b, 1, s, s] });
          const y = this.forward(x);
          if (y.ndim !== 2 || y.shape[0] !== b || y.shape[1] !== d) {
            throw new LiverstiffError(
              `encoder ${this.identity.name} returned shape [${y.shape.join(", ")}], expected [${b}, ${d}]`,
              { encoder: this.identity.name },
            );
          }
          return y.contiguous().toFloat32Array();
        }),
      );
      out.set(values, start * d);
    }
    return out;
  }

  /**
   * The differentiable path encode() runs: grey slices [N, 1, S, S] -> channel repetition and
   * normalisation -> module -> [N, D] (a feature map is globally average pooled). Fine-tuning (train/)
   * calls it with gradients on; the input may live on any device the module lives on.
   */
  forward(x: Tensor): Tensor {
    let y = this.module.forward(this.inputOf(x)) as Tensor;
    if (y.ndim === 4) y = y.mean([2, 3]);
    return y;
  }

  /** What the module reads for grey slices [N, 1, S, S]: the channels repeated and normalised. */
  inputOf(x: Tensor): Tensor {
    const b = x.size(0);
    const s = x.size(2);
    if (this.channels !== 1) x = x.expand([b, this.channels, s, s]).contiguous();
    const norm = this.options.normalize;
    if (!norm) return x;
    const dev = x.device === "cpu" ? {} : { device: x.device };
    const mean = tensor(Float32Array.from(norm.mean), { shape: [1, this.channels, 1, 1], ...dev });
    const std = tensor(Float32Array.from(norm.std), { shape: [1, this.channels, 1, 1], ...dev });
    return x.sub(mean).div(std);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.module.dispose();
  }
}

/** Resizes n square slices from `from` to `to` pixels (bilinear, PyTorch's align_corners=False). */
export function resizeSlices(slices: Float32Array, n: number, from: number, to: number): Float32Array {
  if (from === to) return slices;
  return noGrad(() =>
    tidy(() =>
      F.interpolate(tensor(slices, { shape: [n, 1, from, from] }), { size: [to, to], mode: "bilinear" })
        .contiguous()
        .toFloat32Array(),
    ),
  );
}

// ---- registry -----------------------------------------------------------------------------------------

export interface EncoderFactoryOptions {
  /** A weights file (safetensors, or a TorchScript .pt for TorchScript factories). */
  weights?: string;
  batchSize?: number;
}

export interface EncoderFactory {
  name: string;
  description: string;
  /** Input size the encoder expects (the preparation should match it; other sizes are resized). */
  inputSize: number;
  /**
   * The preparation the encoder was pretrained for and works best with (recipes may override it):
   * e.g. liverstiff-cnn-v1 wants a fixed physical scale (inPlane "mm", 400 mm field of view).
   */
  recommendedPrep?: Partial<PrepConfig>;
  create(options?: EncoderFactoryOptions): Encoder;
}

const registry = new Map<string, EncoderFactory>();

/** Registers an encoder by name (backbones in src/nn/models/ register here); a name can be replaced. */
export function registerEncoder(factory: EncoderFactory): void {
  registry.set(factory.name, factory);
}

export function encoderNames(): string[] {
  return [...registry.keys()].sort();
}

export function encoderFactory(name: string): EncoderFactory | undefined {
  return registry.get(name);
}

/** Creates a registered encoder by name; an unknown name lists the known ones. */
export function createEncoder(name: string, options: EncoderFactoryOptions = {}): Encoder {
  const f = registry.get(name);
  if (!f) {
    throw new LiverstiffError(`unknown encoder "${name}" (known: ${encoderNames().join(", ") || "none"})`, {
      encoder: name,
    });
  }
  return f.create(options);
}
