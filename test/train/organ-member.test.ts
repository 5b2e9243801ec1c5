// The liverstiff head's organ member: it reads the organ measures (a spleen volume that carries the
// signal here, while the slice features are pure noise), it is saved and loaded exactly, and an exam
// without organ measures is predicted by the other members with a note saying so.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Rng } from "../../src/core/index.ts";
import type { ExamFeatures } from "../../src/features/types.ts";
import { loadRecipe, loadTrainedModel, parseRecipe, trainModel } from "../../src/train/index.ts";
import { ORGAN_DESIGN_WIDTH, organDesign } from "../../src/train/organ-member.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { synthExams } from "./synthetic.ts";

const tmp = scratchDir("liverstiff-organ-member-");

/** Exams whose slice features are noise (noise SD 50 on the signal feature) and whose spleen volume is not. */
function exams(n: number, seed: number, prefix: string): ExamFeatures[] {
  const rng = Rng.derive(seed, "organ-member-test");
  return synthExams({ n, seed, noise: 50, prefix }).map((e) => {
    const logk = Math.log(e.kpa!);
    return {
      ...e,
      organs: {
        liver_ml: 1500 * Math.exp(0.1 * rng.normal()),
        spleen_ml: 200 * Math.exp(2 * (logk - Math.log(2.9)) + 0.05 * rng.normal()),
        body_area_cm2: 600,
        liver_medial_share: 0.4 + 0.01 * rng.normal(),
        liver_surface_roughness_mm: Number.NaN,
        t2_liver_spread: 0.2,
        t2_liver_fine_texture: 0.05,
        t1_liver_spread: 0.2,
        t1_liver_fine_texture: 0.04,
        t1_liver_bright_share: 0.01,
        t2_perihepatic_fluid_share: 0.1,
      },
    };
  });
}

function auc3(ex: ExamFeatures[], p: number[]): number {
  const pos = ex.map((e, i) => [e.kpa! >= 3 ? 1 : 0, p[i]!] as const);
  let wins = 0;
  let pairs = 0;
  for (const [la, pa] of pos)
    for (const [lb, pb] of pos)
      if (la === 1 && lb === 0) {
        pairs++;
        wins += pa > pb ? 1 : pa === pb ? 0.5 : 0;
      }
  return wins / pairs;
}

describe("organ member", () => {
  const base = loadRecipe("liverstiff");
  const recipe = parseRecipe(
    {
      ...base,
      name: "ls-organ-test",
      head: { ...base.head, organs: 0.7, ensemble: 1, pca: 4 },
      training: { ...base.training, maxEpochs: 3, patience: 3 },
    },
    "test",
  );
  const train = exams(160, 1, "tr");
  const test = exams(80, 2, "te");

  it("lays out the design: log volumes, spleen/liver log ratio, NaN for a missing measure", () => {
    const x = organDesign(train.slice(0, 1), { mean: 45, sd: 15 });
    assert.equal(x.length, ORGAN_DESIGN_WIDTH);
    assert.ok(Math.abs(x[1]! - Math.log(train[0]!.organs!.spleen_ml!)) < 1e-12);
    assert.ok(Number.isNaN(x[4]!), "roughness NaN stays missing");
    assert.ok(
      Math.abs(x[11]! - Math.log(train[0]!.organs!.spleen_ml! / train[0]!.organs!.liver_ml!)) < 1e-12,
    );
  });

  it("reads the organ measures, saves and loads exactly, and notes exams without them", () => {
    const model = trainModel(recipe, { train, val: [], seed: 3 });
    const preds = model.predict(test);
    const auc = auc3(
      test,
      preds.map((p) => p.probabilities[1]!),
    );
    assert.ok(auc > 0.85, `AUROC ${auc} from the spleen volume`);
    // Without the organ member (weight 0) the noise features alone are near chance.
    const plain = trainModel(parseRecipe({ ...recipe, head: { ...recipe.head, organs: 0 } }, "test"), {
      train,
      val: [],
      seed: 3,
    });
    const plainAuc = auc3(
      test,
      plain.predict(test).map((p) => p.probabilities[1]!),
    );
    assert.ok(plainAuc < auc - 0.15, `without organs ${plainAuc}, with ${auc}`);
    plain.dispose();

    const path = join(tmp, "m.safetensors");
    model.save(path);
    const again = loadTrainedModel(path);
    assert.deepEqual(
      again.predict(test).map((p) => p.probabilities),
      preds.map((p) => p.probabilities),
    );
    const bare = test.slice(0, 3).map(({ organs: _o, ...e }) => e);
    const barePred = again.predict(bare);
    for (const p of barePred) assert.match(p.notes?.[0] ?? "", /no liver\/spleen measures/);
    // Those exams get what the other members say, not the organ member's.
    assert.notDeepEqual(barePred[0]!.probabilities, preds[0]!.probabilities);
    for (const p of barePred)
      for (let k = 1; k < 5; k++) assert.ok(p.probabilities[k]! <= p.probabilities[k - 1]!);
    assert.equal(preds[0]!.notes, undefined);
    model.dispose();
    again.dispose();
  });
});
