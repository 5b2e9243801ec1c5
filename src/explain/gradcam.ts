// Grad-CAM (Selvaraju et al., ICCV 2017) for the project's CNN, ResNet and Swin encoders (targets.ts
// says where each is cut): the gradient of one threshold's logit with respect to a chosen layer's
// activations A (the engine's autograd.grad on an intermediate tensor), averaged over each map's pixels
// to a weight per channel, gives the map relu(sum_c alpha_c A_c) per slice, upsampled to the prepared
// slices' grid. The logit is the one a reader of predict() sees: logit(P) with P the mean over the models
// (a bundle's fold members) of each model's P(kPa >= t).
import { LiverstiffError } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import {
  type Encoder,
  type ExamFeatures,
  LiverCnn,
  ModuleEncoder,
  resizeSlices,
  THRESHOLDS_KPA,
} from "../features/index.ts";
import { enableGrad, functional as F, grad, noGrad, type Tensor, tensor, tidy } from "../torch/index.ts";
import type { PreparedSlices, TrainedModel } from "../train/index.ts";
import { type DifferentiableHead, differentiableHead, type RoleFeatures } from "./head.ts";
import { type CamEncoder, camEncoderOf, cnnCamEncoder } from "./targets.ts";

/** The threshold whose logit the maps explain by default (kPa). */
export const DEFAULT_CAM_THRESHOLD_KPA = 3.0;

export interface ExamCam {
  examId: string;
  thresholdKpa: number;
  /** The explained P(kPa >= threshold) (the models' mean) and its logit. */
  probability: number;
  logit: number;
  /** The encoder layer the maps come from (0-based; layerName in the encoder's terms) and its map size. */
  layer: number;
  layerName: string;
  layerSize: number;
  /** The prepared grid: slices x size x size. */
  slices: number;
  size: number;
  /** Per role the model reads: slices x size x size non-negative values (slice, row, column). */
  maps: Partial<Record<SeriesRole, Float32Array>>;
}

export interface GradCamOptions {
  /** The encoder layer (0-based) whose activations are weighed (default: the encoder's defaultLayer). */
  layer?: number;
}

/** The LiverCnn inside an encoder (the default encoder and any liverstiff-cnn-v1 weights), or an error. */
export function cnnOf(encoder: Encoder): LiverCnn {
  if (encoder instanceof ModuleEncoder && encoder.module instanceof LiverCnn) return encoder.module;
  throw new LiverstiffError(`${encoder.identity.name} is not the project's CNN encoder`, {
    encoder: encoder.identity.name,
  });
}

export interface LayerGradCam {
  /** [N, outSize, outSize]: relu(sum_c alpha_c A_c) per image, bilinearly upsampled. */
  maps: Tensor;
  /** The activations A [N, C, h, w] at the layer and d logit / dA (same shape). */
  activations: Tensor;
  gradient: Tensor;
  probability: Tensor;
  logit: Tensor;
}

/**
 * Grad-CAM at one layer of `encoder` for grey images `x` [N, 1, S, S]: `probabilityOf` maps the encoder's
 * features [N, D] to one probability (a 0-d tensor); its logit is differentiated with respect to the
 * layer's activations, which enter the graph as a leaf (the layers before it run without gradients), and
 * each image's channel weights are the spatial means of that gradient.
 */
export function layerGradCam(
  encoder: CamEncoder | LiverCnn,
  x: Tensor,
  layer: number,
  outSize: number,
  probabilityOf: (features: Tensor) => Tensor,
): LayerGradCam {
  const target = encoder instanceof LiverCnn ? cnnCamEncoder(encoder) : encoder;
  const { activations, carry } = noGrad(() => target.toLayer(x, layer));
  const a = activations.detach().requiresGrad_(true);
  return enableGrad(() => {
    const probability = probabilityOf(target.fromLayer(a, layer, carry));
    const logit = probability.log().sub(probability.rsub(1).log());
    const [gradient] = grad(logit, [a]);
    return noGrad(() => {
      const weights = gradient!.mean([2, 3], true);
      const cam = weights.mul(a).sum(1, true).relu();
      const maps = F.interpolate(cam, { size: [outSize, outSize], mode: "bilinear" })
        .clampMin(0)
        .squeeze(1);
      return {
        maps,
        activations: a.detach(),
        gradient: gradient!,
        probability: probability.detach(),
        logit: logit.detach(),
      };
    });
  });
}

export function thresholdIndex(thresholdKpa: number): number {
  const k = THRESHOLDS_KPA.indexOf(thresholdKpa as (typeof THRESHOLDS_KPA)[number]);
  if (k < 0)
    throw new LiverstiffError(
      `no such threshold: ${thresholdKpa} kPa (known: ${THRESHOLDS_KPA.join(", ")})`,
      {
        thresholdKpa,
      },
    );
  return k;
}

/** Grad-CAM of a set of models (one recipe, e.g. a bundle's fold members) over one encoder. */
export class GradCam {
  readonly layer: number;
  readonly encoder: CamEncoder;
  private readonly heads: DifferentiableHead[];

  /** `encoder`: an Encoder (the project's CNN, a ResNet or a Swin), a CamEncoder, or a LiverCnn module. */
  constructor(
    encoder: Encoder | CamEncoder | LiverCnn,
    models: readonly TrainedModel[],
    options: GradCamOptions = {},
  ) {
    if (encoder instanceof LiverCnn) {
      encoder.eval();
      this.encoder = cnnCamEncoder(encoder);
    } else this.encoder = "identity" in encoder ? camEncoderOf(encoder) : encoder;
    this.layer = options.layer ?? this.encoder.defaultLayer;
    if (!Number.isInteger(this.layer) || this.layer < 0 || this.layer >= this.encoder.layers)
      throw new LiverstiffError(
        `no such encoder layer: ${this.layer} (${this.encoder.name} has 0-${this.encoder.layers - 1})`,
        { layer: this.layer },
      );
    if (models.length === 0) throw new LiverstiffError("Grad-CAM needs at least one model");
    this.heads = models.map(differentiableHead);
  }

  /** Redraws every head's weights (sanity checks; see DifferentiableHead.randomise). */
  randomiseHeads(seed: number): void {
    this.heads.forEach((h, i) => {
      h.randomise(seed + i);
    });
  }

  /**
   * The maps of one exam for one threshold's logit. `exam` gives the covariates (its per-slice features
   * are recomputed from `prepared` in the autograd graph), `prepared` the exam's prepared slices.
   */
  explain(exam: ExamFeatures, prepared: PreparedSlices, thresholdKpa = DEFAULT_CAM_THRESHOLD_KPA): ExamCam {
    const k = thresholdIndex(thresholdKpa);
    if (prepared.height !== prepared.width)
      throw new LiverstiffError("prepared slices are not square", { exam: exam.examId });
    const roles = this.rolesOf(exam, prepared);
    const { slices, height: size } = prepared;
    const out = tidy(() => {
      const input = this.encoderInput(prepared, roles);
      const r = layerGradCam(this.encoder, input, this.layer, size, (features) => {
        const perRole: RoleFeatures = {};
        roles.forEach((role, i) => {
          perRole[role] = features.narrow(0, i * slices, slices);
        });
        return this.meanProbability(exam, perRole, k);
      });
      return {
        maps: r.maps.contiguous().toFloat32Array(),
        probability: r.probability.item(),
        logit: r.logit.item(),
        layerSize: r.activations.size(2),
      };
    });
    const plane = slices * size * size;
    const maps: ExamCam["maps"] = {};
    roles.forEach((r, i) => {
      maps[r] = out.maps.slice(i * plane, (i + 1) * plane);
    });
    return {
      examId: exam.examId,
      thresholdKpa,
      probability: out.probability,
      logit: out.logit,
      layer: this.layer,
      layerName: this.encoder.layerName(this.layer),
      layerSize: out.layerSize,
      slices,
      size,
      maps,
    };
  }

  /** The roles any model reads for this exam, in the encoder's role order, that have prepared slices. */
  private rolesOf(exam: ExamFeatures, prepared: PreparedSlices): SeriesRole[] {
    const used = new Set(this.heads.flatMap((h) => h.rolesUsed(exam)));
    const roles = (["t1_in", "t1_opp", "t2"] as const).filter((r) => used.has(r) && prepared.roles[r]);
    if (roles.length === 0)
      throw new LiverstiffError("the exam has none of the roles the model reads", { exam: exam.examId });
    return roles;
  }

  /** The roles' prepared slices, resized to the encoder's input: [roles * slices, 1, s, s]. */
  private encoderInput(prepared: PreparedSlices, roles: readonly SeriesRole[]): Tensor {
    const { slices, height } = prepared;
    const plane = height * height;
    const all = new Float32Array(roles.length * slices * plane);
    roles.forEach((r, i) => {
      all.set(prepared.roles[r]!, i * slices * plane);
    });
    const n = roles.length * slices;
    const s = this.encoder.inputSize;
    return tensor(resizeSlices(all, n, height, s), { shape: [n, 1, s, s] });
  }

  private meanProbability(exam: ExamFeatures, features: RoleFeatures, k: number): Tensor {
    let sum: Tensor | null = null;
    for (const h of this.heads) {
      const p = h.probability(exam, features, k);
      sum = sum ? sum.add(p) : p;
    }
    return sum!.div(this.heads.length);
  }

  dispose(): void {
    for (const h of this.heads) h.dispose();
  }
}
