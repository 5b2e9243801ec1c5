// The liverstiff head's ridge member: the dual-form solve against a closed form, the predictive
// probabilities, missing roles, and the member's save/load with the attention head.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setNumThreads } from "../../src/torch/index.ts";
import { loadRecipe, loadTrainedModel, parseRecipe, trainModel } from "../../src/train/index.ts";
import { fitRidge, ridgeDesign, ridgePredict, ridgeProbabilities } from "../../src/train/ridge.ts";
import { synthExams } from "./synthetic.ts";

setNumThreads(1);

test("ridge probabilities: P(kPa >= t) is 1/2 at the predicted kPa and falls with t", () => {
  const p = ridgeProbabilities(Math.log(3), 0.3, [2.5, 3.0, 3.5, 4.0, 5.0]);
  assert.ok(Math.abs(p[1]! - 0.5) < 1e-6);
  for (let k = 1; k < p.length; k++) assert.ok(p[k]! < p[k - 1]!);
});

test("fitRidge equals the primal closed form (X'X + lambda n I) w = X'(y - mean y) on standardised columns", () => {
  // 6 exams x 3 columns, no missing values; compare with the normal equations solved directly.
  const n = 6;
  const width = 3;
  const x = Float64Array.from([1, 2, 0.5, 2, 1, 1.5, 3, 5, 2, 4, 3, 1, 5, 8, 3, 6, 7, 2.5]);
  const y = [0.1, 0.3, 0.5, 0.4, 0.9, 1.0];
  const lambda = 0.2;
  const m = fitRidge(x, n, width, y, lambda);
  const z: number[][] = [];
  for (let i = 0; i < n; i++) z.push([0, 1, 2].map((c) => (x[i * width + c]! - m.mean[c]!) / m.sd[c]!));
  const ym = y.reduce((a, b) => a + b, 0) / n;
  // A = Z'Z + lambda n I, b = Z'(y - ym); check A w = b.
  for (let r = 0; r < width; r++) {
    let lhs = lambda * n * m.weights[r]!;
    for (let c = 0; c < width; c++) {
      let zz = 0;
      for (let i = 0; i < n; i++) zz += z[i]![r]! * z[i]![c]!;
      lhs += zz * m.weights[c]!;
    }
    let rhs = 0;
    for (let i = 0; i < n; i++) rhs += z[i]![r]! * (y[i]! - ym);
    assert.ok(Math.abs(lhs - rhs) < 1e-9, `row ${r}: ${lhs} vs ${rhs}`);
  }
  assert.ok(Math.abs(m.bias - ym) < 1e-12);
  assert.ok(m.residualSd > 0);
  const pred = ridgePredict(m, x, n, width);
  assert.ok(pred.every(Number.isFinite));
});

test("a missing role is the training mean: finite predictions, equal to an exam with the mean features", () => {
  const exams = synthExams({ n: 40, featureDim: 4, seed: 9 });
  const roles = ["t1_in", "t1_opp", "t2"] as const;
  const { x, width } = ridgeDesign(exams, roles, 4, exams[0]!.slices, { mean: 50, sd: 10 });
  const logk = exams.map((e) => Math.log(e.kpa!));
  const m = fitRidge(x, exams.length, width, logk, 0.1);
  const without = { ...exams[0]!, roles: { ...exams[0]!.roles, t1_opp: undefined } };
  const d = ridgeDesign([without], roles, 4, exams[0]!.slices, { mean: 50, sd: 10 });
  const p = ridgePredict(m, d.x, 1, d.width)[0]!;
  assert.ok(Number.isFinite(p));
  // Filling the missing columns with the training means gives the same prediction.
  const filled = Float64Array.from(d.x);
  for (let c = 4; c < 8; c++) filled[c] = m.mean[c]!;
  assert.ok(Math.abs(ridgePredict(m, filled, 1, d.width)[0]! - p) < 1e-12);
});

test("liverstiff with the ridge member: monotone probabilities, different from attention alone, exact save/load", () => {
  const train = synthExams({ n: 120, featureDim: 16, seed: 1 });
  const val = synthExams({ n: 30, featureDim: 16, seed: 2, prefix: "v" });
  const held = synthExams({ n: 20, featureDim: 16, seed: 3, prefix: "t" });
  const base = loadRecipe("liverstiff");
  const recipe = (ridge: number) =>
    parseRecipe({
      ...base,
      head: { ...base.head, pca: 8, dim: 16, attnDim: 8, hidden: 16, ensemble: 1, ridge },
      training: { ...base.training, maxEpochs: 4 },
    });
  const dir = mkdtempSync(join(tmpdir(), "ridge-"));
  const withRidge = trainModel(recipe(0.5), { train, val, seed: 4 });
  const attentionOnly = trainModel(recipe(0), { train, val, seed: 4 });
  try {
    const p = withRidge.predict(held);
    for (const e of p) for (let k = 1; k < 5; k++) assert.ok(e.probabilities[k]! <= e.probabilities[k - 1]!);
    assert.notDeepEqual(
      p.map((e) => e.probabilities),
      attentionOnly.predict(held).map((e) => e.probabilities),
    );
    const path = join(dir, "m.safetensors");
    withRidge.save(path);
    const loaded = loadTrainedModel(path);
    try {
      assert.deepEqual(loaded.predict(held), p);
    } finally {
      loaded.dispose();
    }
  } finally {
    withRidge.dispose();
    attentionOnly.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
