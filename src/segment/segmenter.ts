// The shipped segmentation network and its manifest: loading (the file's sha256 must match the manifest
// beside it), saving, and labelling a volume.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { describeError, LiverstiffError, projectPath, writeJsonAtomic } from "../core/index.ts";
import { loadModule, saveModule } from "../nn/index.ts";
import { inferenceMode, type Tensor, tensor, tidy } from "../torch/index.ts";
import type { Volume } from "../volume/index.ts";
import { gridImages, gridToVolumeLabels } from "./grid.ts";
import { keepLargestComponents, type OrganMask } from "./mask.ts";
import { SegNet, type SegNetConfig } from "./model.ts";

export const DEFAULT_SEGMENTER_NAME = "liverstiff-seg-v1";
export const DEFAULT_SEGMENTER_PATH = projectPath("assets", "segment", "liverstiff-seg-v1.safetensors");

/** The JSON written beside a weights file. */
export interface SegmenterManifest {
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  config: SegNetConfig;
  /** Output labels of the network. */
  labels: Record<string, number>;
  train: Record<string, unknown>;
}

export function manifestPathFor(weightsPath: string): string {
  return `${weightsPath.replace(/\.safetensors$/, "")}.json`;
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Writes a network's weights (float32, state-dict names) with its config in the file's metadata. */
export function saveSegNet(model: SegNet, path: string, metadata: Record<string, string> = {}): void {
  saveModule(model, path, {
    "liverstiff.segmenter": DEFAULT_SEGMENTER_NAME,
    "liverstiff.config": JSON.stringify(model.config),
    ...metadata,
  });
}

/**
 * Writes weights and the manifest beside them (sha256 and size of the file written, config, and `train`:
 * how it was made). The file's own metadata holds only what determines the weights, never timings.
 */
export function writeSegmenter(
  model: SegNet,
  path: string,
  train: Record<string, unknown>,
  stableTrainInfo: Record<string, unknown>,
): SegmenterManifest {
  saveSegNet(model, path, { "liverstiff.train": JSON.stringify(stableTrainInfo) });
  const manifest: SegmenterManifest = {
    name: DEFAULT_SEGMENTER_NAME,
    file: basename(path),
    sha256: sha256File(path),
    bytes: statSync(path).size,
    config: model.config,
    labels: { background: 0, liver: 1, spleen: 2 },
    train,
  };
  writeJsonAtomic(manifestPathFor(path), manifest);
  return manifest;
}

export function readSegmenterManifest(weightsPath: string): SegmenterManifest {
  const path = manifestPathFor(weightsPath);
  if (!existsSync(path))
    throw new LiverstiffError("segmentation weights have no manifest beside them", {
      file: weightsPath,
      manifest: path,
    });
  let m: SegmenterManifest;
  try {
    m = JSON.parse(readFileSync(path, "utf8")) as SegmenterManifest;
  } catch (err) {
    throw new LiverstiffError(`segmentation manifest is not JSON: ${describeError(err)}`, { manifest: path });
  }
  if (typeof m.sha256 !== "string" || !m.config || !Array.isArray(m.config.channels))
    throw new LiverstiffError("segmentation manifest lacks sha256 or config", { manifest: path });
  return m;
}

export interface Segmenter {
  readonly config: SegNetConfig;
  readonly manifest: SegmenterManifest;
  /** Labels a volume: 0 background, 1 liver, 2 spleen on the volume's own grid. */
  segment(volume: Volume): OrganMask;
  /** Frees the network's native memory; the segmenter cannot be used afterwards. */
  dispose(): void;
}

/**
 * Loads a segmentation network (the shipped liverstiff-seg-v1 by default). Refuses a file whose sha256
 * differs from its manifest's, or whose tensors do not fit the manifest's architecture.
 */
export function loadSegmenter(
  path: string = DEFAULT_SEGMENTER_PATH,
  options: { batchSize?: number } = {},
): Segmenter {
  if (!existsSync(path)) throw new LiverstiffError("segmentation weights not found", { file: path });
  const manifest = readSegmenterManifest(path);
  const actual = sha256File(path);
  if (actual !== manifest.sha256)
    throw new LiverstiffError(
      "segmentation weights do not match their manifest (sha256 differs): the file was changed or replaced",
      { file: path, expected: manifest.sha256, actual },
    );
  const model = new SegNet(manifest.config);
  try {
    loadModule(model, path);
  } catch (err) {
    model.dispose();
    throw new LiverstiffError(`cannot load segmentation weights: ${describeError(err)}`, { file: path });
  }
  model.eval();
  model.fuseForInference();
  return new NetSegmenter(model, manifest, options.batchSize ?? 16);
}

class NetSegmenter implements Segmenter {
  private disposed = false;

  constructor(
    private readonly model: SegNet,
    readonly manifest: SegmenterManifest,
    private readonly batchSize: number,
  ) {}

  get config(): SegNetConfig {
    return this.model.config;
  }

  segment(volume: Volume): OrganMask {
    if (this.disposed)
      throw new LiverstiffError("segmenter used after dispose", { name: this.manifest.name });
    const S = this.config.inputSize;
    const { images, grid } = gridImages(volume, S, this.config.fovMm);
    const labels = predictSlices(this.model, images, S, this.batchSize);
    keepLargestComponents(labels, grid.dims);
    return {
      dims: [...volume.dims],
      affine: [...volume.affine],
      labels: gridToVolumeLabels(labels, grid, volume),
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

/** Argmax labels of slices (N x S x S scaled intensities), in batches. */
export function predictSlices(model: SegNet, images: Float32Array, S: number, batchSize: number): Uint8Array {
  const plane = S * S;
  const n = images.length / plane;
  const out = new Uint8Array(images.length);
  for (let b = 0; b < n; b += batchSize) {
    const m = Math.min(batchSize, n - b);
    const lab = inferenceMode(() =>
      tidy(() => {
        const x: Tensor = tensor(images.subarray(b * plane, (b + m) * plane), { shape: [m, 1, S, S] });
        return model.forward(x).argmax(1).to("uint8").toUint8Array();
      }),
    );
    out.set(lab, b * plane);
  }
  return out;
}
