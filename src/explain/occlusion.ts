// Occlusion sensitivity (Zeiler & Fergus, ECCV 2014): a second opinion beside Grad-CAM that needs nothing
// of the model but its predictions. A square patch of one prepared slice is set to 0 (the slice's mean
// after z-scoring), the slice is encoded again, and the drop of the threshold's logit (the models' mean
// probability, as predict reports it) is credited to the patch's pixels; a pixel's value is the mean drop
// over the patches that cover it, floored at 0 (evidence for the call, as Grad-CAM's ReLU keeps). Works
// for every encoder and every head, at the cost of one encoder pass per patch position.
import { LiverstiffError } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import { type Encoder, type ExamFeatures, resizeSlices } from "../features/index.ts";
import type { PreparedSlices, TrainedModel } from "../train/index.ts";
import { DEFAULT_CAM_THRESHOLD_KPA, thresholdIndex } from "./gradcam.ts";

/** Patch side on the prepared grid (pixels): 16 of 128 is 50 mm of the 400 mm field of view. */
export const DEFAULT_OCCLUSION_PATCH_PX = 16;

export interface OcclusionOptions {
  thresholdKpa?: number;
  /** Patch side in prepared pixels (default 16); the stride defaults to half of it. */
  patchPx?: number;
  stridePx?: number;
}

export interface ExamOcclusion {
  examId: string;
  thresholdKpa: number;
  /** The unoccluded P(kPa >= threshold) (the models' mean) and its logit. */
  probability: number;
  logit: number;
  patchPx: number;
  stridePx: number;
  /** The prepared grid: slices x size x size. */
  slices: number;
  size: number;
  /** Per role: slices x size x size values >= 0, the mean logit drop when a patch over the pixel is hidden. */
  maps: Partial<Record<SeriesRole, Float32Array>>;
}

/** Patch origins along one side: every stride, and the last one flush with the edge. */
function origins(size: number, patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let o = 0; o + patch < size; o += stride) out.push(o);
  out.push(size - patch);
  return out;
}

/**
 * The occlusion maps of one exam. `exam` carries the covariates and the per-slice features its models
 * read (as predict computed them from `prepared` with `encoder`); each occluded slice is encoded with
 * `encoder` and put in place of that slice's features.
 */
export function occlusionMaps(
  models: readonly TrainedModel[],
  encoder: Encoder,
  exam: ExamFeatures,
  prepared: PreparedSlices,
  options: OcclusionOptions = {},
): ExamOcclusion {
  const thresholdKpa = options.thresholdKpa ?? DEFAULT_CAM_THRESHOLD_KPA;
  const k = thresholdIndex(thresholdKpa);
  const { slices, height: size } = prepared;
  const patch = options.patchPx ?? Math.min(DEFAULT_OCCLUSION_PATCH_PX, size);
  const stride = options.stridePx ?? Math.max(1, Math.floor(patch / 2));
  if (models.length === 0) throw new LiverstiffError("occlusion maps need at least one model");
  if (prepared.width !== size)
    throw new LiverstiffError("prepared slices are not square", { exam: exam.examId });
  if (!Number.isInteger(patch) || patch < 1 || patch > size || !Number.isInteger(stride) || stride < 1)
    throw new LiverstiffError(`occlusion: the patch must be 1..${size} pixels and the stride >= 1`, {
      patchPx: patch,
      stridePx: stride,
    });
  const logitOf = (variants: ExamFeatures[]): number[] => {
    const sums = new Float64Array(variants.length);
    for (const m of models) {
      const predictions = m.predict(variants);
      for (let i = 0; i < predictions.length; i++) sums[i]! += predictions[i]!.probabilities[k]!;
    }
    return Array.from(sums, (s) => {
      const p = Math.min(1 - 1e-7, Math.max(1e-7, s / models.length));
      return Math.log(p / (1 - p));
    });
  };
  const [logit0] = logitOf([exam]);
  const roles = (Object.keys(exam.roles) as SeriesRole[]).filter((r) => prepared.roles[r]);
  if (roles.length === 0)
    throw new LiverstiffError("the exam has none of the roles the model reads", { exam: exam.examId });
  const ys = origins(size, patch, stride);
  const positions = ys.flatMap((y) => ys.map((x) => [y, x] as const));
  const plane = size * size;
  const d = exam.featureDim;
  const maps: ExamOcclusion["maps"] = {};
  for (const role of roles) {
    const volume = prepared.roles[role]!;
    const map = new Float32Array(slices * plane);
    for (let s = 0; s < slices; s++) {
      const slice = volume.subarray(s * plane, (s + 1) * plane);
      const images = new Float32Array(positions.length * plane);
      positions.forEach(([y0, x0], m) => {
        const img = images.subarray(m * plane, (m + 1) * plane);
        img.set(slice);
        for (let y = y0; y < y0 + patch; y++) img.fill(0, y * size + x0, y * size + x0 + patch);
      });
      const input = encoder.identity.inputSize;
      const features = encoder.encode(resizeSlices(images, positions.length, size, input), positions.length);
      const variants = positions.map((_, m) => {
        const f = Float32Array.from(exam.roles[role]!);
        f.set(features.subarray(m * d, (m + 1) * d), s * d);
        return { ...exam, roles: { ...exam.roles, [role]: f } };
      });
      const drops = logitOf(variants).map((l) => logit0! - l);
      creditPatches(map.subarray(s * plane, (s + 1) * plane), size, patch, positions, drops);
    }
    maps[role] = map;
  }
  const p0 = 1 / (1 + Math.exp(-logit0!));
  return {
    examId: exam.examId,
    thresholdKpa,
    probability: p0,
    logit: logit0!,
    patchPx: patch,
    stridePx: stride,
    slices,
    size,
    maps,
  };
}

/** Each pixel: the mean drop over the patches covering it, floored at 0. */
function creditPatches(
  out: Float32Array,
  size: number,
  patch: number,
  positions: readonly (readonly [number, number])[],
  drops: readonly number[],
): void {
  const sum = new Float64Array(size * size);
  const count = new Uint16Array(size * size);
  positions.forEach(([y0, x0], m) => {
    for (let y = y0; y < y0 + patch; y++)
      for (let x = x0; x < x0 + patch; x++) {
        sum[y * size + x]! += drops[m]!;
        count[y * size + x]!++;
      }
  });
  for (let i = 0; i < out.length; i++) out[i] = count[i]! > 0 ? Math.max(0, sum[i]! / count[i]!) : 0;
}
