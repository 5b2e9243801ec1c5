// train/: recipes (validated configs) and the heads that turn cached per-slice features into the five
// threshold probabilities (and a kPa), with their training loops, and the baselines (baseline-ridge,
// baseline-clinical) every recipe is reported beside. See docs/train.md.
export {
  auroc,
  centralStart,
  classWeights,
  covariates,
  N_THRESHOLDS,
  PRIMARY_THRESHOLD_INDEX,
  thresholdLabels,
  trainingSites,
} from "./data.ts";
export { Deepliver2Net } from "./deepliver2.ts";
export { checkFinetunable } from "./finetune.ts";
export { LiverstiffNet } from "./liverstiff.ts";
export { FINETUNED_FORMAT, headSites, loadTrainedModel, MODEL_FORMAT, trainModel } from "./model.ts";
export {
  type BaselineClinicalHead,
  type BaselineRidgeHead,
  BUILTIN_RECIPES,
  type Deepliver2Head,
  FINETUNE_DEFAULTS,
  type HeadConfig,
  type LiverstiffHead,
  loadRecipe,
  parseRecipe,
  parseRecipeText,
  RECIPES_DIR,
  type Recipe,
  type RecipeInput,
  recipeSchema,
  type TrainingConfig,
} from "./recipe.ts";
export type {
  ExamPrediction,
  PreparedSlices,
  SliceLoader,
  TrainedModel,
  TrainOptions,
  TrainSummary,
} from "./types.ts";
