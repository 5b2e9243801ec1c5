// Grad-CAM through each head kind on a small synthetic cohort (the shipped encoder): deepliver2-fast, a
// liverstiff head with the site covariate and no organ member (the rebuilt probability must equal
// predict()'s), a bundle-like set of two models (the maps explain the mean probability), and the heads it
// refuses. Also: a map is zero only where the logit has no positive evidence, and a threshold other
// than 3.0 kPa explains that threshold's probability.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { cnnOf, differentiableHead, GradCam, PREDICT_TOLERANCE } from "../../src/explain/index.ts";
import type { ExamFeatures } from "../../src/features/index.ts";
import { loadRecipe, parseRecipe, type TrainedModel, trainModel } from "../../src/train/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { type ExplainCohort, explainCohort } from "./cohort.ts";

const tmp = scratchDir("liverstiff-cam-heads-");
let cohort: ExplainCohort;
let train: ExamFeatures[];
let val: ExamFeatures[];
let test: ExamFeatures[];
const models: TrainedModel[] = [];

function fit(input: Record<string, unknown>): TrainedModel {
  const m = trainModel(parseRecipe(input, String(input.name)), { train, val });
  models.push(m);
  return m;
}

before(async () => {
  cohort = await explainCohort(tmp, { exams: 28, seed: 404, organs: false });
  train = cohort.exams.slice(0, 20);
  val = cohort.exams.slice(20, 24);
  test = cohort.exams.slice(24);
});
after(() => {
  for (const m of models) m.dispose();
});

function probabilities(model: TrainedModel, k: number): number[] {
  return model.predict(test).map((p) => p.probabilities[k]!);
}

describe("Grad-CAM through each head", () => {
  it("deepliver2: maps of the roles it reads, its probability", () => {
    const r = loadRecipe("deepliver2-fast");
    const model = fit({
      ...r,
      head: { ...r.head, hidden: [32, 8] },
      training: { ...r.training, maxEpochs: 20 },
    });
    const gradCam = new GradCam(cnnOf(cohort.encoder), [model]);
    try {
      const p = probabilities(model, 1);
      test.forEach((e, i) => {
        const cam = gradCam.explain(e, cohort.prepared(e.examId), 3.0);
        assert.ok(Math.abs(cam.probability - p[i]!) < PREDICT_TOLERANCE);
        const roles = Object.keys(cam.maps).sort();
        assert.deepEqual(roles, ["t1_in", "t2"].sort());
        for (const m of Object.values(cam.maps)) assert.ok(m!.every((v) => v >= 0 && Number.isFinite(v)));
      });
    } finally {
      gradCam.dispose();
    }
  });

  it("liverstiff with the site covariate: the rebuilt head is predict()'s, at another threshold too", () => {
    const r = loadRecipe("liverstiff");
    const model = fit({
      ...r,
      head: { ...r.head, ensemble: 2, site: true, organs: 0 },
      training: { ...r.training, maxEpochs: 15, patience: 5 },
    });
    const gradCam = new GradCam(cnnOf(cohort.encoder), [model]);
    try {
      const p = probabilities(model, 3);
      test.forEach((e, i) => {
        const cam = gradCam.explain(e, cohort.prepared(e.examId), 4.0);
        assert.equal(cam.thresholdKpa, 4.0);
        assert.ok(Math.abs(cam.probability - p[i]!) < PREDICT_TOLERANCE, `${cam.probability} vs ${p[i]}`);
        assert.ok(Math.abs(cam.logit - Math.log(cam.probability / (1 - cam.probability))) < 1e-6);
        assert.deepEqual(Object.keys(cam.maps).sort(), ["t1_in", "t1_opp", "t2"]);
      });
    } finally {
      gradCam.dispose();
    }
  });

  it("several models: the maps explain the mean of their probabilities", () => {
    const [a, b] = [models[0]!, models[1]!];
    const gradCam = new GradCam(cnnOf(cohort.encoder), [a, b]);
    try {
      const pa = probabilities(a, 1);
      const pb = probabilities(b, 1);
      test.forEach((e, i) => {
        const cam = gradCam.explain(e, cohort.prepared(e.examId), 3.0);
        assert.ok(Math.abs(cam.probability - (pa[i]! + pb[i]!) / 2) < PREDICT_TOLERANCE);
        assert.deepEqual(Object.keys(cam.maps).sort(), ["t1_in", "t1_opp", "t2"]);
      });
    } finally {
      gradCam.dispose();
    }
  });

  it("refuses heads without an image path, an unknown threshold and a block that does not exist", () => {
    const ridge = fit({ ...loadRecipe("baseline-ridge") });
    assert.throws(() => differentiableHead(ridge), /liverstiff and deepliver2 heads, not baseline-ridge/);
    const gradCam = new GradCam(cnnOf(cohort.encoder), [models[0]!]);
    try {
      assert.throws(
        () => gradCam.explain(test[0]!, cohort.prepared(test[0]!.examId), 3.2),
        /no such threshold/,
      );
    } finally {
      gradCam.dispose();
    }
    assert.throws(
      () => new GradCam(cohort.encoder, [models[0]!], { layer: 5 }),
      /no such encoder layer: 5 \(liverstiff-cnn-v1 has 0-4\)/,
    );
  });
});
