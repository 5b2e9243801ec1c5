// validate's --finetune: every recipe gets encoder.finetune (with the fine-tuning defaults), a fingerprint
// of its own (folds of a frozen run are never reused for a fine-tuned one), and the frozen recipe is
// untouched without it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkFinetunable, FINETUNE_DEFAULTS, loadRecipe, parseRecipe } from "../../src/train/index.ts";
import { prepareRecipe, recipeRunner } from "../../src/validate/workdir.ts";

test("--finetune sets encoder.finetune on a recipe and gives it its own fingerprint", () => {
  const frozen = prepareRecipe("liverstiff");
  const tuned = prepareRecipe("liverstiff", undefined, true);
  assert.deepEqual(frozen.recipe.encoder, { name: "liverstiff-cnn-v1", frozen: true, finetune: false });
  assert.deepEqual(tuned.recipe.encoder, {
    name: "liverstiff-cnn-v1",
    frozen: false,
    finetune: true,
    lr: FINETUNE_DEFAULTS.lr,
    batchNorm: FINETUNE_DEFAULTS.batchNorm,
  });
  assert.equal(tuned.prepName, frozen.prepName, "the same prepared slices");
  // The ridge member reads frozen features: --finetune drops it, and a recipe asking for both is refused.
  assert.equal(tuned.recipe.head.kind === "liverstiff" && tuned.recipe.head.ridge, 0);
  const a = recipeRunner(frozen, "/nonexistent");
  const b = recipeRunner(tuned, "/nonexistent");
  assert.notEqual(a.fingerprint, b.fingerprint);
  assert.equal(a.name, b.name);
});

test("--finetune refuses a recipe whose head cannot be fine-tuned before any fold runs", () => {
  assert.throws(
    () => prepareRecipe("deepliver2-fast", undefined, true),
    /recipe deepliver2-fast: field "encoder\.finetune": fine-tuning supports the liverstiff head only/,
  );
});

test("a recipe with encoder.finetune and a ridge member is refused, naming head.ridge", () => {
  assert.throws(
    () =>
      checkFinetunable(
        parseRecipe({
          ...loadRecipe("liverstiff"),
          head: { ...loadRecipe("liverstiff").head, ridge: 0.5 },
          encoder: { name: "default", finetune: true },
        }),
      ),
    /field "head\.ridge"/,
  );
});
