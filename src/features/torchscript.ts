// Users' own backbones as encoders: a TorchScript file (torch.jit.save) whose forward maps
// [N, C, S, S] to [N, D] (or to a feature map [N, D, h, w], then globally average pooled).

import { existsSync } from "node:fs";
import { basename } from "node:path";
import { describeError, LiverstiffError } from "../core/index.ts";
import { ScriptModule } from "../nn/index.ts";
import { noGrad, tidy, zeros } from "../torch/index.ts";
import { type Encoder, ModuleEncoder, registerEncoder } from "./encoder.ts";
import { sha256File } from "./weights.ts";

export interface TorchScriptEncoderOptions {
  /** Input size the module expects (prepared slices of another size are resized). */
  inputSize: number;
  /** Input channels: 1, or 3 (grey repeated, as for ImageNet backbones). */
  channels: number;
  /** Per-channel normalisation after repetition, e.g. ImageNet's mean/std; default none. */
  normalize?: { mean: readonly number[]; std: readonly number[] };
  /** Identity name (default "torchscript:<file name>"). */
  name?: string;
  batchSize?: number;
}

export const IMAGENET_NORMALIZE = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

/** Loads a TorchScript module as a frozen encoder; featureDim is found by one forward pass of zeros. */
export function loadTorchScriptEncoder(path: string, options: TorchScriptEncoderOptions): Encoder {
  if (!existsSync(path)) throw new LiverstiffError("TorchScript encoder file not found", { file: path });
  const { inputSize: s, channels: c } = options;
  if (!Number.isInteger(s) || s < 8)
    throw new LiverstiffError("inputSize must be an integer >= 8", { inputSize: s });
  if (c !== 1 && c !== 3) throw new LiverstiffError("channels must be 1 or 3", { channels: c });
  let module: ScriptModule;
  try {
    module = ScriptModule.load(path);
  } catch (err) {
    throw new LiverstiffError(
      `cannot load TorchScript encoder ${path}: ${describeError(err)}`,
      { file: path },
      { cause: err },
    );
  }
  module.eval();
  let featureDim: number;
  try {
    featureDim = noGrad(() =>
      tidy(() => {
        const y = module.forward(zeros([1, c, s, s]));
        if (y.ndim !== 2 && y.ndim !== 4) throw new Error(`forward returned shape [${y.shape.join(", ")}]`);
        return y.shape[1];
      }),
    );
  } catch (err) {
    module.dispose();
    throw new LiverstiffError(
      `TorchScript encoder ${path} does not map [1, ${c}, ${s}, ${s}] to [1, D] or [1, D, h, w]: ${describeError(err)}`,
      { file: path },
      { cause: err },
    );
  }
  return new ModuleEncoder(
    module,
    {
      name: options.name ?? `torchscript:${basename(path)}`,
      weightsSha256: sha256File(path),
      featureDim,
      inputSize: s,
    },
    { batchSize: options.batchSize, channels: c, normalize: options.normalize },
  );
}

registerEncoder({
  name: "torchscript",
  description: "a TorchScript backbone (--encoder-weights FILE.pt), 224 input, grey repeated to 3 channels",
  inputSize: 224,
  create: (o = {}) => {
    if (!o.weights) throw new LiverstiffError("the torchscript encoder needs a weights file (.pt)", {});
    return loadTorchScriptEncoder(o.weights, { inputSize: 224, channels: 3, batchSize: o.batchSize });
  },
});
