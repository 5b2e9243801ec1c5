// Pretrained backbones (src/nn/models/: Swin Transformer V1 tiny/small/base, ResNet-18/50) as encoders:
// a prepared grey slice is repeated to 3 channels and normalised with ImageNet's mean and std (the
// published DeepLiverNet 2.0 pipeline at 224 x 224), the backbone runs frozen, and its pooled features
// (final LayerNorm + global average pool for Swin: 1024 values for Swin-B; avgpool for ResNet) are the
// slice's feature vector. Weights come from a safetensors file with timm's or torchvision's names,
// checked (sha256, names, shapes) before use; installed files live in the user's weights cache.
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { LiverstiffError, writeAtomically, writeJsonAtomic } from "../core/index.ts";
import {
  BACKBONES,
  type BackboneSpec,
  backboneSpec,
  inspectBackboneWeights,
  loadBackboneWeights,
  ResNet,
  type WeightsCheck,
} from "../nn/models/index.ts";
import { manualSeed } from "../torch/index.ts";
import { type Encoder, ModuleEncoder, registerEncoder } from "./encoder.ts";
import { IMAGENET_NORMALIZE } from "./torchscript.ts";

/** The weights cache: $LIVERSTIFF_WEIGHTS_DIR, else $XDG_CACHE_HOME/liverstiff/weights, else ~/.cache/liverstiff/weights. */
export function weightsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LIVERSTIFF_WEIGHTS_DIR) return env.LIVERSTIFF_WEIGHTS_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "liverstiff", "weights");
}

/** What `liverstiff weights install` records beside an installed file. */
export interface InstalledWeights {
  backbone: string;
  file: string;
  sha256: string;
  bytes: number;
  scheme: string;
  /** Where it was installed from (the user's path). */
  source: string;
  installedAt: string;
  tensors: number;
  ignored: string[];
}

function spec(name: string): BackboneSpec {
  const s = backboneSpec(name);
  if (!s) {
    throw new LiverstiffError(
      `unknown backbone "${name}" (supported: ${BACKBONES.map((b) => b.name).join(", ")})`,
      { backbone: name },
    );
  }
  return s;
}

export function installedPaths(
  backbone: string,
  dir = weightsCacheDir(),
): { file: string; manifest: string } {
  return { file: join(dir, `${backbone}.safetensors`), manifest: join(dir, `${backbone}.json`) };
}

/** The installed weights of a backbone, or undefined when none are installed. */
export function readInstalled(backbone: string, dir = weightsCacheDir()): InstalledWeights | undefined {
  const { file, manifest } = installedPaths(backbone, dir);
  if (!existsSync(manifest) || !existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(manifest, "utf8")) as InstalledWeights;
  } catch (err) {
    throw new LiverstiffError(
      `weights manifest ${manifest} is unreadable; reinstall the weights`,
      { file: manifest },
      {
        cause: err,
      },
    );
  }
}

/**
 * Checks a local weights file against a backbone (sha256, every name and shape; nothing is copied).
 * Returns the check; `check.ok` false lists what does not fit.
 */
export function verifyWeights(backbone: string, path: string, expectedSha256?: string): WeightsCheck {
  const s = spec(backbone);
  const model = s.build();
  try {
    return inspectBackboneWeights(model, path, s.family, { expectedSha256, label: s.name }).check;
  } finally {
    model.dispose();
  }
}

/**
 * Verifies a file and copies it into the weights cache (atomically) with a manifest holding its sha256,
 * which every later load checks. A file that does not fit is refused with its first mismatched tensors.
 */
export function installWeights(
  backbone: string,
  path: string,
  options: { dir?: string; expectedSha256?: string } = {},
): InstalledWeights {
  const s = spec(backbone);
  const model = s.build();
  let check: WeightsCheck;
  try {
    check = loadBackboneWeights(model, path, s.family, {
      expectedSha256: options.expectedSha256,
      label: s.name,
    });
  } finally {
    model.dispose();
  }
  const dir = options.dir ?? weightsCacheDir();
  const { file, manifest } = installedPaths(backbone, dir);
  try {
    writeAtomically(file, (tmp) => copyFileSync(path, tmp));
  } catch (err) {
    throw new LiverstiffError(`cannot install weights into ${dir}`, { file: path }, { cause: err });
  }
  const record: InstalledWeights = {
    backbone,
    file,
    sha256: check.sha256,
    bytes: check.bytes,
    scheme: check.scheme,
    source: path,
    installedAt: new Date().toISOString(),
    tensors: check.matched,
    ignored: check.ignored,
  };
  writeJsonAtomic(manifest, record);
  return record;
}

export interface BackboneEncoderOptions {
  /** A safetensors file (timm or torchvision names); default: the installed one. */
  weights?: string;
  /** Checked against the file's sha256 before use (installed files: the recorded one). */
  expectedSha256?: string;
  batchSize?: number;
  /** Weights cache folder (default weightsCacheDir()). */
  dir?: string;
}

function wrap(
  s: BackboneSpec,
  model: ReturnType<BackboneSpec["build"]>,
  weightsSha256: string,
  batchSize?: number,
) {
  // Frozen ResNets run with their batch norms folded into the convolutions (same features to ~1e-6).
  if (model instanceof ResNet) model.fuseForInference();
  return new ModuleEncoder(
    model,
    { name: s.name, weightsSha256, featureDim: s.featureDim, inputSize: s.inputSize },
    { batchSize: batchSize ?? 8, channels: 3, normalize: IMAGENET_NORMALIZE },
  );
}

/** A frozen backbone encoder with pretrained weights (a file, or the installed ones). */
export function createBackboneEncoder(backbone: string, options: BackboneEncoderOptions = {}): Encoder {
  const s = spec(backbone);
  let path = options.weights;
  let expected = options.expectedSha256;
  if (path === undefined) {
    const installed = readInstalled(backbone, options.dir);
    if (!installed) {
      const src = s.sources[0];
      throw new LiverstiffError(
        `no weights installed for ${backbone}: download ${src.id} (${src.url}) and run ` +
          `\`liverstiff weights install ${backbone} FILE\` (see \`liverstiff weights list\`)`,
        { backbone },
      );
    }
    path = installed.file;
    expected ??= installed.sha256;
  }
  const model = s.build();
  try {
    const check = loadBackboneWeights(model, path, s.family, { expectedSha256: expected, label: s.name });
    return wrap(s, model, check.sha256, options.batchSize);
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** A backbone with random weights (PyTorch-style initialisation after manualSeed(seed)): tests and baselines. */
export function randomBackboneEncoder(
  backbone: string,
  seed: number,
  options: { batchSize?: number } = {},
): Encoder {
  const s = spec(backbone);
  manualSeed(seed);
  return wrap(s, s.build(), `random-init:${seed}`, options.batchSize);
}

for (const s of BACKBONES) {
  registerEncoder({
    name: s.name,
    description: `${s.description}; pretrained weights: --encoder-weights FILE.safetensors or \`liverstiff weights install ${s.name} FILE\``,
    inputSize: s.inputSize,
    // DeepLiverNet 2.0's preparation: z-score over the volume, field of view unified to 256 x 256
    // pixels, resized to 224; 5 central slices.
    recommendedPrep: { size: s.inputSize, inPlane: "pixels", cropPx: 256, normalize: "zscore", slices: 5 },
    create: (o = {}) => createBackboneEncoder(s.name, { weights: o.weights, batchSize: o.batchSize }),
  });
}
