// Where Grad-CAM cuts an encoder: each encoder kind split into the part before a chosen layer (run
// without gradients) and the part after it (run with the layer's activations as a leaf), so that the
// gradient of a logit reaches that layer's activations. The project's CNN is cut after one of its blocks,
// a ResNet after one of its stages (layer1..layer4), a Swin transformer after one of its stages, whose
// tokens [N, H, W, C] are the map's grid (permuted to [N, C, H, W], as is common practice for Swin).
import { LiverstiffError } from "../core/index.ts";
import { type Encoder, LiverCnn, ModuleEncoder } from "../features/index.ts";
import { ResNet, SwinTransformer } from "../nn/models/index.ts";
import { cat, functional as F, type Tensor } from "../torch/index.ts";

/** An encoder cut at a layer for Grad-CAM. */
export interface CamEncoder {
  /** What is explained, e.g. "liverstiff-cnn-v1". */
  readonly name: string;
  /** The grey slices' side the encoder reads (pixels). */
  readonly inputSize: number;
  /** Layers that can be chosen: 0 .. layers - 1. */
  readonly layers: number;
  /** The layer maps come from when none is chosen. */
  readonly defaultLayer: number;
  /** What layer `k` is called in the encoder's own terms ("block 3", "layer4", "stage 4"). */
  layerName(layer: number): string;
  /** Grey slices [N, 1, S, S] -> the layer's activations [N, C, h, w] and what the rest needs. */
  toLayer(x: Tensor, layer: number): { activations: Tensor; carry: Tensor[] };
  /** The layer's activations [N, C, h, w] -> the encoder's features [N, D]. */
  fromLayer(activations: Tensor, layer: number, carry: Tensor[]): Tensor;
}

/**
 * The block of liverstiff-cnn-v1 whose activations Grad-CAM weighs by default: block 3, 8 x 8 at a 128
 * input (50 mm cells over the 400 mm field of view). Chosen by measuring map mass on liver and spleen for
 * blocks 1-4 on a fresh synthetic cohort: block 3 localised best (docs/explain.md, `npm run bench --
 * explain`); block 4 (4 x 4) is too coarse and localised worse.
 */
export const DEFAULT_CAM_LAYER = 3;

/** The project's CNN, cut after block `layer`; the pooled features of earlier blocks are carried. */
export function cnnCamEncoder(cnn: LiverCnn, name = "liverstiff-cnn"): CamEncoder {
  const blocks = cnn.blocks.list;
  return {
    name,
    inputSize: cnn.config.inputSize,
    layers: blocks.length,
    defaultLayer: Math.min(DEFAULT_CAM_LAYER, blocks.length - 1),
    layerName: (k) => `block ${k}`,
    toLayer(x, layer) {
      const carry: Tensor[] = [];
      let h = x;
      for (let i = 0; i <= layer; i++) {
        if (i > 0) h = F.maxPool2d(h, 2);
        h = blocks[i]!.forward(h);
        if (i < layer && cnn.config.pooled.includes(i)) carry.push(h.mean([2, 3]));
      }
      return { activations: h, carry };
    },
    fromLayer(activations, layer, carry) {
      const pooled = [...carry];
      let h = activations;
      for (let i = layer; i < blocks.length; i++) {
        if (i > layer) h = blocks[i]!.forward(F.maxPool2d(h, 2));
        if (cnn.config.pooled.includes(i)) pooled.push(h.mean([2, 3]));
      }
      return pooled.length === 1 ? pooled[0]! : cat(pooled, 1);
    },
  };
}

/** How a staged backbone reaches its first stage, lays its stage output out as a map, and ends. */
interface StagedParts {
  layerName(layer: number): string;
  /** Encoder input -> the first stage's input. */
  stem(x: Tensor): Tensor;
  /** A stage's output -> the map [N, C, h, w] Grad-CAM weighs, and back. */
  toMap(h: Tensor): Tensor;
  fromMap(activations: Tensor): Tensor;
  /** The last stage's output -> the encoder's features [N, D]. */
  head(h: Tensor): Tensor;
}

/** A backbone of sequential stages, cut after one; the default is the last stage (7 x 7 at 224 pixels). */
function stagedCamEncoder(
  encoder: ModuleEncoder,
  stages: readonly { forward(x: Tensor): Tensor }[],
  parts: StagedParts,
): CamEncoder {
  return {
    name: encoder.identity.name,
    inputSize: encoder.identity.inputSize,
    layers: stages.length,
    defaultLayer: stages.length - 1,
    layerName: parts.layerName,
    toLayer(x, layer) {
      let h = parts.stem(encoder.inputOf(x));
      for (let i = 0; i <= layer; i++) h = stages[i]!.forward(h);
      return { activations: parts.toMap(h), carry: [] };
    },
    fromLayer(activations, layer) {
      let h = parts.fromMap(activations);
      for (let i = layer + 1; i < stages.length; i++) h = stages[i]!.forward(h);
      return parts.head(h);
    },
  };
}

/** A ResNet encoder (torchvision layout), cut after stage layer1..layer4; features are the pooled last stage. */
function resnetCamEncoder(encoder: ModuleEncoder, net: ResNet): CamEncoder {
  // The last stage by default, as Selvaraju et al. and common practice for ResNets.
  return stagedCamEncoder(encoder, [...net.stages], {
    layerName: (k) => `layer${k + 1}`,
    stem: (x) => net.forwardStem(x),
    toMap: (h) => h,
    fromMap: (activations) => activations,
    head: (h) => h.mean([2, 3]),
  });
}

/** A Swin transformer encoder, cut after a stage; its tokens [N, H, W, C] are the map's grid. */
function swinCamEncoder(encoder: ModuleEncoder, net: SwinTransformer): CamEncoder {
  // The last stage's tokens by default (Swin-T/S/B), as is common practice.
  return stagedCamEncoder(encoder, [...net.layers], {
    layerName: (k) => `stage ${k + 1}`,
    stem: (x) => net.patchEmbed.forward(x),
    toMap: (h) => h.permute([0, 3, 1, 2]),
    fromMap: (activations) => activations.permute([0, 2, 3, 1]).contiguous(),
    head: (h) => net.norm.forward(h).mean([1, 2]),
  });
}

/** The encoder as Grad-CAM cuts it: the project's CNN, a ResNet or a Swin transformer; otherwise an error. */
export function camEncoderOf(encoder: Encoder): CamEncoder {
  if (encoder instanceof ModuleEncoder) {
    const m = encoder.module;
    if (m instanceof LiverCnn) return cnnCamEncoder(m, encoder.identity.name);
    if (m instanceof ResNet) return resnetCamEncoder(encoder, m);
    if (m instanceof SwinTransformer) return swinCamEncoder(encoder, m);
  }
  throw new LiverstiffError(
    `Grad-CAM supports the project's CNN, ResNet and Swin encoders; ${encoder.identity.name} is none of them`,
    { encoder: encoder.identity.name },
  );
}
