// The baseline-ridge head: the standard linear probe every recipe is reported beside. Ridge regression of
// log kPa on each role's slice-averaged frozen features (no clinical covariates), with the penalty chosen
// by GCV on the training part, and monotone P(kPa >= t) from a Gaussian predictive distribution on log kPa.
// The ridge machinery is ridge.ts's, shared with the liverstiff head's ridge member.
import { LiverstiffError } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../features/types.ts";
import { featureShape, requireLabels, trainValShape } from "./data.ts";
import type { BaselineRidgeHead, Recipe } from "./recipe.ts";
import {
  fitRidge,
  gcvLambda,
  type RidgeMember,
  ridgeDesign,
  ridgeKernel,
  ridgePredict,
  ridgeProbabilities,
} from "./ridge.ts";
import type { ExamPrediction, Trained, TrainOptions, TrainSummary } from "./types.ts";

export interface BaselineRidgeState {
  head: BaselineRidgeHead;
  featureDim: number;
  slices: number;
  member: RidgeMember;
}

/** Every exam must have at least one of the head's roles: a probe of nothing is no prediction. */
function requireSomeRole(exams: readonly ExamFeatures[], roles: readonly SeriesRole[]): void {
  for (const e of exams)
    if (!roles.some((r) => e.roles[r]))
      throw new LiverstiffError(`exam ${e.examId} has none of the roles ${roles.join(", ")}`, {
        exam: e.examId,
      });
}

/**
 * Fits the probe on options.train only. The inner validation part (options.val) is not fitted on, although
 * nothing stops early here: validate/ chooses each threshold's cut-off on its predictions, which must stay
 * out-of-sample. Deterministic; no seed is used.
 */
export function trainBaselineRidge(recipe: Recipe, options: TrainOptions): Trained<BaselineRidgeState> {
  const started = performance.now();
  const head = recipe.head as BaselineRidgeHead;
  const part = options.train;
  const { featureDim, slices } = trainValShape(part, options.val);
  requireSomeRole(part, head.roles);
  const logk = requireLabels(part, "training").map(Math.log);
  const n = part.length;
  const { x, width } = ridgeDesign(part, head.roles, featureDim, slices, null);
  const kernel = ridgeKernel(x, n, width);
  const grid = [...head.lambdaGrid].sort((a, b) => a - b);
  const { lambda, gcv } = gcvLambda(kernel, logk, grid);
  const member = fitRidge(x, n, width, logk, lambda, kernel);
  const summary: TrainSummary = {
    head: "baseline-ridge",
    seed: options.seed ?? recipe.training.seed,
    nTrain: options.train.length,
    nVal: options.val.length,
    featureDim,
    slices,
    models: [{ epochs: 0, bestEpoch: 0, bestValMetric: null, stoppedEarly: false }],
    penalty: { lambda, grid, gcv, residualSd: member.residualSd },
    metric: "gcv",
    seconds: (performance.now() - started) / 1000,
    steps: 0,
  };
  return { state: { head, featureDim, slices, member }, summary };
}

export function predictBaselineRidge(
  s: BaselineRidgeState,
  exams: readonly ExamFeatures[],
): ExamPrediction[] {
  if (exams.length === 0) return [];
  const shape = featureShape(exams);
  if (shape.featureDim !== s.featureDim || shape.slices !== s.slices)
    throw new LiverstiffError(
      `the exams have ${shape.slices} x ${shape.featureDim} features, the probe was fitted on ${s.slices} x ${s.featureDim}`,
      { exam: exams[0]!.examId },
    );
  requireSomeRole(exams, s.head.roles);
  const { x, width } = ridgeDesign(exams, s.head.roles, s.featureDim, s.slices, null);
  const mu = ridgePredict(s.member, x, exams.length, width);
  return exams.map((e, i) => ({
    examId: e.examId,
    probabilities: ridgeProbabilities(mu[i]!, s.member.residualSd, THRESHOLDS_KPA),
    kpaPred: Math.exp(mu[i]!),
  }));
}
