// From ExamFeatures (features/' contract) to the dense arrays the heads train on: labels per threshold,
// class weights, role selection, clinical covariates. Pure TypeScript; no tensors here.
import { LiverstiffError } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../features/types.ts";

export const N_THRESHOLDS = THRESHOLDS_KPA.length;
/** Index of the primary 3.0 kPa threshold in THRESHOLDS_KPA. */
export const PRIMARY_THRESHOLD_INDEX = 1;

/** Shape shared by every exam of a feature set (featureDim, slices); throws when they disagree. */
export function featureShape(
  exams: readonly ExamFeatures[],
  what = "exams",
): { featureDim: number; slices: number } {
  if (exams.length === 0) throw new LiverstiffError(`no ${what} to train on`, { exams: 0 });
  const { featureDim, slices } = exams[0]!;
  for (const e of exams) {
    if (e.featureDim !== featureDim || e.slices !== slices) {
      throw new LiverstiffError(
        `exam ${e.examId} has ${e.slices} x ${e.featureDim} features, exam ${exams[0]!.examId} has ${slices} x ${featureDim}: features from different encoders or preparations cannot be mixed`,
        { exam: e.examId },
      );
    }
    for (const [role, arr] of Object.entries(e.roles)) {
      if (arr && arr.length !== slices * featureDim) {
        throw new LiverstiffError(
          `exam ${e.examId} role ${role} has ${arr.length} feature values, expected ${slices} x ${featureDim}`,
          { exam: e.examId, role },
        );
      }
    }
  }
  return { featureDim, slices };
}

/** The shape of the exams to predict (non-empty), which must be the trained model's; throws otherwise. */
export function predictShape(
  exams: readonly ExamFeatures[],
  trained: { featureDim: number; slices: number },
): { featureDim: number; slices: number } {
  const { featureDim, slices } = featureShape(exams, "exams to predict");
  if (featureDim !== trained.featureDim || slices !== trained.slices) {
    throw new LiverstiffError(
      `the model was trained on ${trained.slices} x ${trained.featureDim} features, these exams have ${slices} x ${featureDim}`,
      { featureDim },
    );
  }
  return { featureDim, slices };
}

/** The shape of the training features, checked against the validation part's (which may be empty). */
export function trainValShape(
  train: readonly ExamFeatures[],
  val: readonly ExamFeatures[],
): { featureDim: number; slices: number } {
  const { featureDim, slices } = featureShape(train, "training exams");
  if (val.length > 0) {
    const v = featureShape(val, "validation exams");
    if (v.featureDim !== featureDim || v.slices !== slices) {
      throw new LiverstiffError("training and validation features differ in shape", { featureDim });
    }
  }
  return { featureDim, slices };
}

/** Every training exam must carry a finite, positive kPa. */
export function requireLabels(exams: readonly ExamFeatures[], part: string): number[] {
  return exams.map((e) => {
    const k = e.kpa;
    if (k === undefined || !Number.isFinite(k) || k <= 0) {
      throw new LiverstiffError(`exam ${e.examId} in the ${part} part has no valid MRE kPa label`, {
        exam: e.examId,
      });
    }
    return k;
  });
}

/** Binary labels [n x 5] (row-major): 1 when kpa >= threshold. */
export function thresholdLabels(kpa: readonly number[]): Float32Array {
  const out = new Float32Array(kpa.length * N_THRESHOLDS);
  kpa.forEach((k, i) => {
    THRESHOLDS_KPA.forEach((t, j) => {
      out[i * N_THRESHOLDS + j] = k >= t - 1e-9 ? 1 : 0;
    });
  });
  return out;
}

/**
 * Per-sample weights [n x 5] for class-balanced BCE: sklearn's "balanced" weight n / (2 n_c) per class
 * and threshold (plus negativeOffset on the negative class, as the public DeepLiverNet 2.0 code does).
 * A threshold with a single class in the training part gets weight 1 (sklearn returns 1 for one class).
 */
export function classWeights(
  labels: Float32Array,
  n: number,
  mode: "balanced" | "none",
  negativeOffset = 0,
): Float32Array {
  const out = new Float32Array(n * N_THRESHOLDS).fill(1);
  if (mode === "none") return out;
  for (let j = 0; j < N_THRESHOLDS; j++) {
    let pos = 0;
    for (let i = 0; i < n; i++) pos += labels[i * N_THRESHOLDS + j]!;
    const neg = n - pos;
    if (pos === 0 || neg === 0) continue;
    const wPos = n / (2 * pos);
    const wNeg = n / (2 * neg) + negativeOffset;
    for (let i = 0; i < n; i++) out[i * N_THRESHOLDS + j] = labels[i * N_THRESHOLDS + j] ? wPos : wNeg;
  }
  return out;
}

/** Resolves an input name ("t1" = t1_in when present, else t1_opp) to the role an exam has. */
export function resolveRole(e: ExamFeatures, input: "t2" | "t1" | "t1_in" | "t1_opp"): SeriesRole {
  if (input === "t1") {
    if (e.roles.t1_in) return "t1_in";
    if (e.roles.t1_opp) return "t1_opp";
    throw new LiverstiffError(`exam ${e.examId} has no T1w features (t1_in or t1_opp)`, { exam: e.examId });
  }
  if (!e.roles[input]) {
    throw new LiverstiffError(`exam ${e.examId} has no ${input} features`, { exam: e.examId, role: input });
  }
  return input;
}

/** First index of the `take` central slices among `total` (same rule as cohort's centralSlices). */
export function centralStart(total: number, take: number): number {
  const mid = Math.floor(total / 2);
  return Math.min(Math.max(0, mid - Math.floor((take - 1) / 2)), total - take);
}

/**
 * The late-fusion input of the deepliver2 head: per exam, the central `slices` feature vectors of each
 * input role, concatenated in input order ([n x inputs*slices*featureDim], row-major).
 */
export function concatFeatures(
  exams: readonly ExamFeatures[],
  inputs: readonly ("t2" | "t1" | "t1_in" | "t1_opp")[],
  slices: number,
  featureDim: number,
  preparedSlices: number,
): Float32Array {
  if (slices > preparedSlices) {
    throw new LiverstiffError(`the head needs ${slices} slices, the features have ${preparedSlices}`, {
      slices: preparedSlices,
    });
  }
  const start = centralStart(preparedSlices, slices);
  const width = inputs.length * slices * featureDim;
  const out = new Float32Array(exams.length * width);
  exams.forEach((e, i) => {
    inputs.forEach((input, r) => {
      const src = e.roles[resolveRole(e, input)]!;
      out.set(
        src.subarray(start * featureDim, (start + slices) * featureDim),
        i * width + r * slices * featureDim,
      );
    });
  });
  return out;
}

/** Number of clinical covariates: age z-score, age missing, sex M, sex F, sex unknown/other. */
export const CLINICAL_DIM = 5;

export interface AgeStats {
  mean: number;
  sd: number;
}

export function ageStats(exams: readonly ExamFeatures[]): AgeStats {
  return meanSd(
    exams.map((e) => e.ageYears).filter((a): a is number => a !== undefined && Number.isFinite(a)),
  );
}

/** Mean and sample SD (SD 1 when undefined or ~0). */
export function meanSd(ages: readonly number[]): AgeStats {
  if (ages.length < 2) return { mean: ages[0] ?? 0, sd: 1 };
  const mean = ages.reduce((s, a) => s + a, 0) / ages.length;
  const sd = Math.sqrt(ages.reduce((s, a) => s + (a - mean) ** 2, 0) / (ages.length - 1));
  return { mean, sd: sd > 1e-6 ? sd : 1 };
}

/** Clinical covariates [n x CLINICAL_DIM], age standardised with training statistics. */
export function clinicalFeatures(exams: readonly ExamFeatures[], stats: AgeStats): Float32Array {
  const out = new Float32Array(exams.length * CLINICAL_DIM);
  exams.forEach((e, i) => {
    const o = i * CLINICAL_DIM;
    const age = e.ageYears;
    if (age !== undefined && Number.isFinite(age)) out[o] = (age - stats.mean) / stats.sd;
    else out[o + 1] = 1;
    if (e.sex === "M") out[o + 2] = 1;
    else if (e.sex === "F") out[o + 3] = 1;
    else out[o + 4] = 1;
  });
  return out;
}

/** The sites of a training part, sorted: the one-hot order of the site covariate. */
export function trainingSites(exams: readonly ExamFeatures[]): string[] {
  return [...new Set(exams.map((e) => e.site))].sort();
}

/**
 * The liverstiff head's covariates [n x (CLINICAL_DIM if clinical) + sites.length]: clinical features,
 * then the site one-hot (all zeros for a site not in `sites`).
 */
export function covariates(
  exams: readonly ExamFeatures[],
  clinical: boolean,
  stats: AgeStats,
  sites: readonly string[],
): Float32Array {
  const c = clinical ? CLINICAL_DIM : 0;
  const width = c + sites.length;
  const out = new Float32Array(exams.length * width);
  const clin = clinical ? clinicalFeatures(exams, stats) : null;
  exams.forEach((e, i) => {
    if (clin) out.set(clin.subarray(i * c, (i + 1) * c), i * width);
    const s = sites.indexOf(e.site);
    if (s >= 0) out[i * width + c + s] = 1;
  });
  return out;
}

/**
 * Per-slice tokens for the liverstiff head: [n x roles x slices x featureDim] (zeros for a missing role)
 * and the role mask [n x roles] (1 = present).
 */
export function tokenFeatures(
  exams: readonly ExamFeatures[],
  roles: readonly SeriesRole[],
  slices: number,
  featureDim: number,
): { x: Float32Array; mask: Uint8Array } {
  const per = slices * featureDim;
  const x = new Float32Array(exams.length * roles.length * per);
  const mask = new Uint8Array(exams.length * roles.length);
  exams.forEach((e, i) => {
    let any = false;
    roles.forEach((role, r) => {
      const src = e.roles[role];
      if (!src) return;
      any = true;
      x.set(src, (i * roles.length + r) * per);
      mask[i * roles.length + r] = 1;
    });
    if (!any) {
      throw new LiverstiffError(`exam ${e.examId} has none of the roles ${roles.join(", ")}`, {
        exam: e.examId,
      });
    }
  });
  return { x, mask };
}

/** AUROC (Mann-Whitney, ties counted 1/2); NaN when one class is absent. */
export function auroc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSumPos = 0;
  let nPos = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[idx[k]!]! > 0.5) {
        rankSumPos += rank;
        nPos++;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
