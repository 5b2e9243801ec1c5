// The default encoder's shipped weights and loaders for the CNN family: strict name and shape checks
// (src/nn's loadStateDict), a checksum against the manifest written by `liverstiff pretrain`, and errors
// that say which file is missing or corrupt and how to rebuild it.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { describeError, LiverstiffError, projectPath } from "../core/index.ts";
import { loadTensors, saveTensors } from "../nn/index.ts";
import { manualSeed, noGrad, type Tensor, tidy } from "../torch/index.ts";
import { CNN_V1_CONFIG, type CnnConfig, LiverCnn } from "./cnn.ts";
import { type Encoder, ModuleEncoder, registerEncoder } from "./encoder.ts";

export const DEFAULT_ENCODER_NAME = "liverstiff-cnn-v1";

/** assets/encoders/liverstiff-cnn-v1.safetensors in the package. */
export const DEFAULT_WEIGHTS_PATH = projectPath("assets", "encoders", "liverstiff-cnn-v1.safetensors");
/** The manifest `liverstiff pretrain` writes beside the weights (sha256, config, how they were made). */
export const DEFAULT_MANIFEST_PATH = projectPath("assets", "encoders", "liverstiff-cnn-v1.json");

export const REPRODUCE_COMMAND = "liverstiff pretrain --out assets/encoders/liverstiff-cnn-v1.safetensors";

const META_ENCODER = "liverstiff.encoder";
const META_CONFIG = "liverstiff.config";

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * Saves a CNN's state dict for shipping: floating tensors stored as float16 (half the bytes; features
 * change by ~1e-3 relative), counters as int64, the config and name in the metadata.
 */
export function saveCnnWeights(
  model: LiverCnn,
  path: string,
  options: { dtype?: "float16" | "float32"; metadata?: Record<string, string> } = {},
): void {
  const dtype = options.dtype ?? "float16";
  tidy(() => {
    const sd = new Map<string, Tensor>();
    for (const [name, t] of model.stateDict()) {
      sd.set(name, t.dtype.startsWith("float") ? noGrad(() => t.to(dtype)) : t);
    }
    saveTensors(path, sd, {
      format: "pt",
      [META_ENCODER]: DEFAULT_ENCODER_NAME,
      [META_CONFIG]: JSON.stringify(model.config),
      ...options.metadata,
    });
  });
}

/** Loads a liverstiff-cnn safetensors file into a new LiverCnn (strict: every name and shape must match). */
export function loadCnnModel(path: string, config: CnnConfig = CNN_V1_CONFIG): LiverCnn {
  if (!existsSync(path)) {
    throw new LiverstiffError(
      `encoder weights not found: ${path}. Rebuild them with \`${REPRODUCE_COMMAND}\``,
      { file: path },
    );
  }
  const model = new LiverCnn(config);
  try {
    tidy(() => {
      const { tensors, metadata } = loadTensors(path);
      const name = metadata[META_ENCODER];
      if (name !== undefined && name !== DEFAULT_ENCODER_NAME) {
        throw new LiverstiffError(`${path} holds encoder "${name}", not "${DEFAULT_ENCODER_NAME}"`, {
          file: path,
        });
      }
      model.loadStateDict(tensors, { strict: true, source: path });
    });
  } catch (err) {
    model.dispose();
    if (err instanceof LiverstiffError && err.message.includes(path)) throw err;
    throw new LiverstiffError(
      `encoder weights ${path} cannot be loaded (corrupt or from another model): ${describeError(err)}`,
      { file: path },
      { cause: err },
    );
  }
  return model;
}

/** A frozen liverstiff-cnn encoder from a weights file; identity.weightsSha256 is the file's sha256. */
export function loadCnnEncoder(
  path: string,
  options: { batchSize?: number; expectedSha256?: string } = {},
): Encoder {
  if (!existsSync(path)) {
    throw new LiverstiffError(
      `encoder weights not found: ${path}. Rebuild them with \`${REPRODUCE_COMMAND}\``,
      { file: path },
    );
  }
  const sha = sha256File(path);
  if (options.expectedSha256 !== undefined && sha !== options.expectedSha256) {
    throw new LiverstiffError(
      `encoder weights ${path} are corrupt or were replaced: sha256 ${sha.slice(0, 16)}… does not match ` +
        `the manifest's ${options.expectedSha256.slice(0, 16)}…. Restore the file (git checkout) or rebuild ` +
        `it with \`${REPRODUCE_COMMAND}\``,
      { file: path, sha256: sha },
    );
  }
  const model = loadCnnModel(path);
  return new ModuleEncoder(
    model,
    {
      name: DEFAULT_ENCODER_NAME,
      weightsSha256: sha,
      featureDim: model.featureDim,
      inputSize: model.config.inputSize,
    },
    { batchSize: options.batchSize },
  );
}

export interface EncoderManifest {
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  config: CnnConfig;
  featureDim: number;
  inputSize: number;
  /** How the weights were made: command, seeds, cohort, objective, timings. */
  pretrain: Record<string, unknown>;
}

export function readEncoderManifest(path = DEFAULT_MANIFEST_PATH): EncoderManifest {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as EncoderManifest;
  } catch (err) {
    throw new LiverstiffError(
      `encoder manifest ${path} is missing or unreadable; rebuild it with \`${REPRODUCE_COMMAND}\``,
      { file: path },
      { cause: err },
    );
  }
}

/**
 * The shipped default encoder (liverstiff-cnn-v1), checked against its manifest's sha256. `path`
 * overrides the weights file (then checked against `expectedSha256` only when given).
 */
export function loadDefaultEncoder(options: { path?: string; batchSize?: number } = {}): Encoder {
  if (options.path !== undefined) return loadCnnEncoder(options.path, { batchSize: options.batchSize });
  const manifest = readEncoderManifest();
  return loadCnnEncoder(DEFAULT_WEIGHTS_PATH, {
    batchSize: options.batchSize,
    expectedSha256: manifest.sha256,
  });
}

/** An untrained liverstiff-cnn (PyTorch's default initialisation after manualSeed(seed)): a baseline. */
export function randomCnnEncoder(seed: number, options: { batchSize?: number } = {}): Encoder {
  manualSeed(seed);
  const model = new LiverCnn(CNN_V1_CONFIG);
  return new ModuleEncoder(
    model,
    {
      name: `${DEFAULT_ENCODER_NAME}-random`,
      weightsSha256: `random-init:${seed}`,
      featureDim: model.featureDim,
      inputSize: model.config.inputSize,
    },
    { batchSize: options.batchSize },
  );
}

registerEncoder({
  name: DEFAULT_ENCODER_NAME,
  description: "the project's small CNN (5 conv blocks, 512 features), self-supervised on a synthetic cohort",
  inputSize: CNN_V1_CONFIG.inputSize,
  recommendedPrep: { size: CNN_V1_CONFIG.inputSize, inPlane: "mm", fovMm: 400, normalize: "zscore" },
  create: (o = {}) =>
    o.weights ? loadCnnEncoder(o.weights, { batchSize: o.batchSize }) : loadDefaultEncoder(o),
});
