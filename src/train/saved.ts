// The saved-model file: one safetensors file holding the weights, plus metadata with the resolved recipe,
// the training summary and the input shape, so that loading needs nothing else. Shared by the heads
// (model.ts) and the fine-tuned models (finetune.ts).
import { type StateDict, saveTensors } from "../nn/index.ts";
import { tidy } from "../torch/index.ts";
import type { Recipe } from "./recipe.ts";
import type { TrainSummary } from "./types.ts";

/** A head trained on cached features. */
export const MODEL_FORMAT = "liverstiff-head/1";
/** A head trained with its encoder (encoder.finetune): the encoder's weights are in the file too. */
export const FINETUNED_FORMAT = "liverstiff-finetuned/1";
export const META_FORMAT = "liverstiff.format";
export const META_RECIPE = "liverstiff.recipe";
export const META_SUMMARY = "liverstiff.summary";
export const META_SHAPE = "liverstiff.shape";

export function saveModel(
  path: string,
  recipe: Recipe,
  summary: TrainSummary,
  shape: object,
  sd: StateDict,
  format: string = MODEL_FORMAT,
): void {
  tidy(() => {
    const host: StateDict = new Map();
    for (const [k, v] of sd) host.set(k, v.device === "cpu" ? v : v.cpu());
    saveTensors(path, host, {
      format: "pt",
      [META_FORMAT]: format,
      [META_RECIPE]: JSON.stringify(recipe),
      [META_SUMMARY]: JSON.stringify(summary),
      [META_SHAPE]: JSON.stringify(shape),
    });
  });
}
