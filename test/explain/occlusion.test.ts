// Occlusion sensitivity with an encoder that is no network and the baseline-ridge head: the map is zero
// where hiding a patch changes nothing the encoder reads and positive over the bright centre that encodes
// the stiffness, and a value is the logit drop of hiding its patch, as computed from the model's predictions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { occlusionMaps } from "../../src/explain/index.ts";
import type { Encoder, ExamFeatures } from "../../src/features/index.ts";
import { loadRecipe, type PreparedSlices, parseRecipe, trainModel } from "../../src/train/index.ts";
import { held, loader, SIZE, SLICES, train, val } from "../train/finetune-fixture.ts";

// Per slice: the mean of its central 6 x 6 pixels, where the fixture's blob encodes the stiffness. No
// network: occlusion needs nothing of the model but its predictions.
const moments: Encoder = {
  identity: { name: "test-blob-mean", weightsSha256: "none", featureDim: 1, inputSize: SIZE },
  encode(slices, n) {
    const out = new Float32Array(n);
    const plane = SIZE * SIZE;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let y = 5; y < 11; y++) for (let x = 5; x < 11; x++) s += slices[i * plane + y * SIZE + x]!;
      out[i] = s / 36;
    }
    return out;
  },
  dispose() {},
};

/** The exams with their features as the encoder gives them from the prepared slices. */
function encoded(list: readonly ExamFeatures[]): ExamFeatures[] {
  return list.map((e) => {
    const p = loader(e.examId);
    const roles: ExamFeatures["roles"] = {};
    for (const [r, v] of Object.entries(p.roles)) roles[r as "t2"] = moments.encode(v!, SLICES);
    return { ...e, featureDim: 1, roles };
  });
}

/** A held-out exam called stiff but not certain (a saturated probability has no logit to lose). */
function unsaturated(model: ReturnType<typeof trainModel>, list: ExamFeatures[]): ExamFeatures {
  const p = (e: ExamFeatures) => model.predict([e])[0]!.probabilities[1]!;
  const e = list.find((x) => p(x) > 0.6 && p(x) < 0.99);
  assert.ok(e, "a held-out exam with 0.6 < P(>= 3 kPa) < 0.99");
  return e;
}

const recipe = parseRecipe({
  ...loadRecipe("baseline-ridge"),
  head: { kind: "baseline-ridge", roles: ["t1_in", "t2"] },
});

test("occlusion maps peak on the blob that carries the signal, for any encoder and head", () => {
  const model = trainModel(recipe, { train: encoded(train), val: encoded(val), seed: 1 });
  try {
    const stiff = unsaturated(model, encoded(held));
    const prepared = loader(stiff.examId);
    const o = occlusionMaps([model], moments, stiff, prepared, { patchPx: 4, stridePx: 2 });
    assert.deepEqual(Object.keys(o.maps).sort(), ["t1_in", "t2"]);
    assert.ok(o.probability > 0.5, `the exam is called stiff (${o.probability})`);
    for (const map of Object.values(o.maps)) {
      assert.equal(map!.length, SLICES * SIZE * SIZE);
      for (let i = 0; i < map!.length; i++) {
        const y = Math.floor((i % (SIZE * SIZE)) / SIZE);
        const x = i % SIZE;
        // Every 4-pixel patch over rows or columns 0-1 (or 14-15) misses the 6 x 6 centre the encoder reads.
        if (y < 2 || x < 2 || y > 13 || x > 13) assert.equal(map![i], 0, `pixel (${y}, ${x})`);
      }
      let core = 0;
      for (let s = 0; s < SLICES; s++)
        for (let y = 6; y < 10; y++)
          for (let x = 6; x < 10; x++) core += map![s * SIZE * SIZE + y * SIZE + x]!;
      assert.ok(core > 0, "hiding the bright centre lowers the call");
    }
  } finally {
    model.dispose();
  }
});

test("one patch over the whole slice: every pixel holds the logit drop of hiding that slice", () => {
  const model = trainModel(recipe, { train: encoded(train), val: encoded(val), seed: 1 });
  try {
    const exam = unsaturated(model, encoded(held));
    const prepared: PreparedSlices = loader(exam.examId);
    const o = occlusionMaps([model], moments, exam, prepared, { patchPx: SIZE });
    const logit = (e: ExamFeatures) => {
      const p = model.predict([e])[0]!.probabilities[1]!;
      return Math.log(p / (1 - p));
    };
    const t2 = Float32Array.from(exam.roles.t2!);
    t2.set(moments.encode(new Float32Array(SIZE * SIZE), 1), 1); // slice 1 all zero
    const drop = Math.max(0, logit(exam) - logit({ ...exam, roles: { ...exam.roles, t2 } }));
    const m = o.maps.t2!;
    assert.ok(Math.abs(m[SIZE * SIZE + 7]! - drop) < 1e-5, `${m[SIZE * SIZE + 7]} vs ${drop}`);
    assert.ok(Math.abs(o.logit - logit(exam)) < 1e-9);
  } finally {
    model.dispose();
  }
});
