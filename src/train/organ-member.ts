// The liverstiff head's organ member: a ridge regression of log kPa on the exam's liver and spleen
// measures (cohort/organs.ts: volumes, shape, surface, texture; volumes on a log scale) and the clinical
// covariates, with the same Gaussian predictive distribution as the ridge member. It reads what
// radiologists read (splenomegaly, caudate hypertrophy, surface nodularity, reticulation), which the
// frozen slice features carry only faintly (docs/train.md). Exams without organ measures (no masks) get
// no organ member, and their prediction says so.
import { ORGAN_MEASURES } from "../cohort/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import { type AgeStats, CLINICAL_DIM, clinicalFeatures } from "./data.ts";
import { fitRidge, type RidgeMember, ridgePredict } from "./ridge.ts";

/** The measures the member reads (cohort's list, in its order); the volumes enter as logs, plus log(spleen / liver). */
export const ORGAN_INPUTS = ORGAN_MEASURES;
const LOG_INPUTS = new Set<string>(["liver_ml", "spleen_ml", "body_area_cm2"]);
/** Width of the organ design: the inputs, the spleen/liver log ratio, the clinical covariates. */
export const ORGAN_DESIGN_WIDTH = ORGAN_INPUTS.length + 1 + CLINICAL_DIM;

/** Whether an exam has usable organ measures (a liver was found). */
export function hasOrgans(e: ExamFeatures): boolean {
  const liver = e.organs?.liver_ml;
  return typeof liver === "number" && liver > 0;
}

/** Design rows [n x ORGAN_DESIGN_WIDTH]; NaN where a measure is missing (ridge reads NaN as the mean). */
export function organDesign(exams: readonly ExamFeatures[], age: AgeStats): Float64Array {
  const w = ORGAN_DESIGN_WIDTH;
  const x = new Float64Array(exams.length * w).fill(Number.NaN);
  const clin = clinicalFeatures(exams, age);
  exams.forEach((e, i) => {
    const row = i * w;
    const o = e.organs;
    if (o && hasOrgans(e)) {
      ORGAN_INPUTS.forEach((name, j) => {
        const v = o[name];
        if (typeof v !== "number" || !Number.isFinite(v)) return;
        x[row + j] = LOG_INPUTS.has(name) ? Math.log(Math.max(v, 1e-3)) : v;
      });
      const spleen = o.spleen_ml;
      if (typeof spleen === "number" && spleen >= 0)
        x[row + ORGAN_INPUTS.length] = Math.log(Math.max(spleen, 1) / Math.max(o.liver_ml!, 1));
    }
    for (let c = 0; c < CLINICAL_DIM; c++) x[row + ORGAN_INPUTS.length + 1 + c] = clin[i * CLINICAL_DIM + c]!;
  });
  return x;
}

/** Fits the organ member on the training exams that have organ measures; undefined below `minExams`. */
export function fitOrganMember(
  train: readonly ExamFeatures[],
  logKpa: readonly number[],
  age: AgeStats,
  lambda: number,
  minExams = 20,
): RidgeMember | undefined {
  const idx = train.map((e, i) => (hasOrgans(e) ? i : -1)).filter((i) => i >= 0);
  if (idx.length < minExams) return undefined;
  const exams = idx.map((i) => train[i]!);
  const x = organDesign(exams, age);
  return fitRidge(
    x,
    exams.length,
    ORGAN_DESIGN_WIDTH,
    idx.map((i) => logKpa[i]!),
    lambda,
  );
}

/** Predicted log kPa per exam; NaN for exams without organ measures. */
export function predictOrganMember(
  m: RidgeMember,
  exams: readonly ExamFeatures[],
  age: AgeStats,
): Float64Array {
  const mu = ridgePredict(m, organDesign(exams, age), exams.length, ORGAN_DESIGN_WIDTH);
  exams.forEach((e, i) => {
    if (!hasOrgans(e)) mu[i] = Number.NaN;
  });
  return mu;
}
