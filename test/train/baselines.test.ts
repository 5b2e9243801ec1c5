// The baseline heads: baseline-ridge against a closed-form primal ridge fit and an independent GCV, its
// penalty's independence of the test part, monotone probabilities; baseline-clinical against known
// logistic solutions and the optimality condition, its unseen-site path; exact save/load for both.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ExamFeatures } from "../../src/features/types.ts";
import { fitLogistic } from "../../src/train/baseline-clinical.ts";
import {
  loadRecipe,
  loadTrainedModel,
  parseRecipe,
  type TrainedModel,
  trainModel,
} from "../../src/train/index.ts";
import { synthExams } from "./synthetic.ts";

const ROLES = ["t1_in", "t1_opp", "t2"] as const;
const GRID = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30];

/** Solves A x = b (dense, m x m) by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const m = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < m; c++) {
    let piv = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    for (let r = c + 1; r < m; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= m; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(m).fill(0);
  for (let r = m - 1; r >= 0; r--) {
    let s = M[r]![m]!;
    for (let k = r + 1; k < m; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/** Slice-mean features per role, concatenated; null where the role is missing. */
function sliceMeans(e: ExamFeatures): (number | null)[] {
  const out: (number | null)[] = [];
  for (const role of ROLES) {
    const a = e.roles[role];
    for (let f = 0; f < e.featureDim; f++) {
      if (!a) {
        out.push(null);
        continue;
      }
      let s = 0;
      for (let k = 0; k < e.slices; k++) s += a[k * e.featureDim + f]!;
      out.push(s / e.slices);
    }
  }
  return out;
}

/** The probe computed independently: standardised columns, primal ridge, GCV over GRID by the hat matrix. */
function referenceProbe(train: ExamFeatures[]) {
  const raw = train.map(sliceMeans);
  const n = raw.length;
  const p = raw[0]!.length;
  const mean: number[] = [];
  const sd: number[] = [];
  for (let c = 0; c < p; c++) {
    const v = raw.map((r) => r[c]).filter((x): x is number => x !== null);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    mean.push(m);
    sd.push(Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length) + 1e-6);
  }
  const zOf = (r: (number | null)[]) => r.map((x, c) => (x === null ? 0 : (x - mean[c]!) / sd[c]!));
  const Z = raw.map(zOf);
  const y = train.map((e) => Math.log(e.kpa!));
  const ybar = y.reduce((a, b) => a + b, 0) / n;
  const ZtZ = Array.from({ length: p }, (_, a) =>
    Array.from({ length: p }, (_, b) => Z.reduce((s, z) => s + z[a]! * z[b]!, 0)),
  );
  const Zty = Array.from({ length: p }, (_, a) => Z.reduce((s, z, i) => s + z[a]! * (y[i]! - ybar), 0));
  const weightsAt = (lambda: number) =>
    solve(
      ZtZ.map((row, a) => row.map((v, b) => v + (a === b ? lambda * n : 0))),
      Zty,
    );
  const gcv = GRID.map((lambda) => {
    const w = weightsAt(lambda);
    let rss = 0;
    Z.forEach((z, i) => {
      rss += (y[i]! - ybar - z.reduce((s, v, c) => s + v * w[c]!, 0)) ** 2;
    });
    // df = 1 + trace Z (Z'Z + lambda n I)^-1 Z' = 1 + sum_a [(Z'Z + lambda n I)^-1 Z'Z]_aa
    let df = 1;
    for (let a = 0; a < p; a++) {
      const col = solve(
        ZtZ.map((row, i) => row.map((v, b) => v + (i === b ? lambda * n : 0))),
        ZtZ.map((row) => row[a]!),
      );
      df += col[a]!;
    }
    return (n * rss) / (n - df) ** 2;
  });
  const predict = (lambda: number, exams: ExamFeatures[]) => {
    const w = weightsAt(lambda);
    return exams.map((e) => ybar + zOf(sliceMeans(e)).reduce((s, v, c) => s + v * w[c]!, 0));
  };
  return { gcv, predict };
}

function ridgeRecipe() {
  const base = loadRecipe("baseline-ridge");
  return parseRecipe({ ...base, head: { ...base.head, lambdaGrid: GRID } });
}

function withModel<T>(m: TrainedModel, f: (m: TrainedModel) => T): T {
  try {
    return f(m);
  } finally {
    m.dispose();
  }
}

// More columns (3 roles x 20) than exams (45), where the dual form matters; and fewer (3 x 4 < 50).
for (const [n, featureDim] of [
  [45, 20],
  [50, 4],
] as const)
  test(`baseline-ridge (${n} exams, ${3 * featureDim} columns): predictions equal the primal closed form at the penalty GCV chose, GCV as computed independently`, () => {
    const train = synthExams({ n, featureDim, slices: 3, seed: 5, noise: 0.8, missingOpp: 0.3 });
    const held = synthExams({ n: 12, featureDim, slices: 3, seed: 6, prefix: "t", missingOpp: 0.3 });
    const ref = referenceProbe(train);
    withModel(trainModel(ridgeRecipe(), { train, val: [] }), (model) => {
      const pen = model.summary.penalty!;
      assert.deepEqual(pen.grid, GRID);
      pen.gcv.forEach((g, i) => {
        assert.ok(Math.abs(g - ref.gcv[i]!) < 1e-9 * ref.gcv[i]!, `GCV at ${GRID[i]}: ${g} vs ${ref.gcv[i]}`);
      });
      const best = GRID[ref.gcv.indexOf(Math.min(...ref.gcv))]!;
      assert.equal(pen.lambda, best);
      assert.ok(best > GRID[0]! && best < GRID.at(-1)!, `an interior penalty (${best}) tests the choice`);
      const mu = ref.predict(best, held);
      const preds = model.predict(held);
      preds.forEach((p, i) => {
        assert.ok(
          Math.abs(Math.log(p.kpaPred!) - mu[i]!) < 1e-6,
          `${p.examId}: ${Math.log(p.kpaPred!)} vs ${mu[i]}`,
        );
        // Monotone, and coherent with the predicted kPa: P(kPa >= t) > 1/2 exactly when t is below it.
        for (let k = 1; k < 5; k++) assert.ok(p.probabilities[k]! < p.probabilities[k - 1]!);
        [2.5, 3.0, 3.5, 4.0, 5.0].forEach((t, k) => {
          assert.equal(p.probabilities[k]! > 0.5, p.kpaPred! > t);
        });
      });
      assert.ok(pen.residualSd > 0.05 && pen.residualSd < 1, `residual SD ${pen.residualSd}`);
    });
  });

test("baseline-ridge: the penalty depends on the training part only, and a missing role is the training mean", () => {
  const train = synthExams({ n: 60, featureDim: 12, seed: 7 });
  const val = synthExams({ n: 10, featureDim: 12, seed: 8, prefix: "v" });
  const testA = synthExams({ n: 20, featureDim: 12, seed: 9, prefix: "a" });
  const testB = synthExams({ n: 20, featureDim: 12, seed: 10, prefix: "b", noise: 3 });
  const recipe = ridgeRecipe();
  const a = trainModel(recipe, { train, val });
  const b = trainModel(recipe, { train, val: synthExams({ n: 10, featureDim: 12, seed: 11, prefix: "w" }) });
  // Fitting on the exams it is then tested on changes the fit: the comparison above can fail.
  const leaky = trainModel(recipe, { train: [...train, ...testB], val });
  try {
    assert.deepEqual(
      a.summary.penalty,
      b.summary.penalty,
      "neither the inner validation part nor the test part",
    );
    const both = a.predict([...testA, ...testB]);
    assert.deepEqual(
      a.predict(testA),
      both.slice(0, 20),
      "an exam's prediction does not depend on the batch",
    );
    assert.deepEqual(b.predict(testB), both.slice(20));
    assert.notDeepEqual(leaky.predict(testA), a.predict(testA));
    const e = testA.find((x) => x.roles.t1_opp)!;
    const without = { ...e, roles: { t1_in: e.roles.t1_in, t2: e.roles.t2 } };
    assert.ok(Number.isFinite(a.predict([without])[0]!.kpaPred!));
    assert.notEqual(a.predict([without])[0]!.kpaPred, a.predict([e])[0]!.kpaPred);
    assert.throws(() => a.predict([{ ...e, roles: {} }]), /has none of the roles t1_in, t1_opp, t2/);
  } finally {
    for (const m of [a, b, leaky]) m.dispose();
  }
});

test("fitLogistic: a saturated binary covariate recovers the group proportions; one class gives its prevalence", () => {
  // x = 0: 3 of 10 positive; x = 1: 7 of 10. With a negligible penalty the fit is the MLE.
  const x = [...new Array(10).fill(0), ...new Array(10).fill(1)];
  const y = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0];
  const { coef } = fitLogistic(x, 20, 1, y, 1e-10);
  const p = (v: number) => 1 / (1 + Math.exp(-(coef[0]! + coef[1]! * v)));
  assert.ok(Math.abs(p(0) - 0.3) < 1e-6, `${p(0)}`);
  assert.ok(Math.abs(p(1) - 0.7) < 1e-6, `${p(1)}`);
  // A penalty shrinks the slope toward 0 and the two groups toward each other.
  const shrunk = fitLogistic(x, 20, 1, y, 1).coef;
  assert.ok(shrunk[1]! > 0 && shrunk[1]! < coef[1]!);
  const none = fitLogistic(x, 20, 1, new Array(20).fill(0), 0.01);
  assert.deepEqual([...none.coef], [Math.log(0.5 / 20.5), 0]);
});

/** Exams whose label follows sex and site only; ages uninformative. */
function clinicalCohort(n: number, seed: number, sites = ["A", "B", "C"]): ExamFeatures[] {
  return synthExams({ n, featureDim: 2, slices: 1, seed }).map((e, i) => {
    const site = sites[i % sites.length]!;
    const high = (e.sex === "M" ? 0.6 : 0.2) + (site === "A" ? 0.3 : 0);
    // A deterministic label from a hash of the index, with P(kPa >= 3) = high.
    const u = (Math.sin(i * 12.9898 + seed) * 43758.5453) % 1;
    return { ...e, site, kpa: Math.abs(u) < high ? 4.2 : 2.6 };
  });
}

test("baseline-clinical: perfectly symmetric separation by sex gives P(M) = 1 - P(F), finite under the penalty", () => {
  const exams: ExamFeatures[] = synthExams({ n: 40, featureDim: 2, slices: 1, seed: 3 }).map((e, i) => ({
    ...e,
    site: "S",
    ageYears: 50,
    sex: i % 2 === 0 ? "M" : "F",
    kpa: i % 2 === 0 ? 4.2 : 2.2,
  }));
  const r = loadRecipe("baseline-clinical");
  withModel(trainModel(r, { train: exams, val: [] }), (m) => {
    const [pm, pf] = m.predict(exams.slice(0, 2));
    for (let k = 0; k < 4; k++) {
      assert.ok(Math.abs(pm!.probabilities[k]! + pf!.probabilities[k]! - 1) < 1e-9);
      assert.ok(pm!.probabilities[k]! > 0.9 && pm!.probabilities[k]! < 1);
    }
    // No exam reaches 5.0 kPa: that threshold predicts the smoothed prevalence 0.5 / 41.
    assert.ok(Math.abs(pm!.probabilities[4]! - 0.5 / 41) < 1e-12);
    assert.equal(pm!.kpaPred, undefined);
  });
});

test("baseline-clinical: the fit is a stationary point of the penalised log-loss; unseen sites use the no-site fit", () => {
  const train = clinicalCohort(150, 1);
  const recipe = loadRecipe("baseline-clinical");
  const noSite = parseRecipe({ ...recipe, head: { ...recipe.head, site: false } });
  const m = trainModel(recipe, { train, val: [] });
  const plain = trainModel(noSite, { train, val: [] });
  try {
    // Gradient of mean log-loss + l2/2 |w|^2 at the stored coefficients, recomputed here in float64.
    const coef = m.stateDict().get("clinical.site")!.toFloat64Array();
    const ages = train.flatMap((e) => (e.ageYears === undefined ? [] : [e.ageYears]));
    const am = ages.reduce((a, b) => a + b, 0) / ages.length;
    const asd = Math.sqrt(ages.reduce((a, b) => a + (b - am) ** 2, 0) / (ages.length - 1));
    const row = (e: ExamFeatures) => [
      1,
      e.ageYears === undefined ? 0 : (e.ageYears - am) / asd,
      e.ageYears === undefined ? 1 : 0,
      e.sex === "M" ? 1 : 0,
      e.sex === "F" ? 1 : 0,
      e.sex === "M" || e.sex === "F" ? 0 : 1,
      ...["A", "B", "C"].map((s) => (e.site === s ? 1 : 0)),
    ];
    const width = 9;
    assert.equal(coef.length, 5 * width);
    const preds = m.predict(train);
    for (let k = 0; k < 5; k++) {
      const t = [2.5, 3.0, 3.5, 4.0, 5.0][k]!;
      const g = new Array<number>(width).fill(0);
      train.forEach((e, i) => {
        const x = row(e);
        const eta = x.reduce((s, v, c) => s + v * coef[k * width + c]!, 0);
        const p = 1 / (1 + Math.exp(-eta));
        assert.ok(Math.abs(p - preds[i]!.probabilities[k]!) < 1e-6, "prediction = sigmoid(x . coef)");
        x.forEach((v, c) => {
          g[c]! += ((p - (e.kpa! >= t ? 1 : 0)) * v) / train.length;
        });
      });
      if (k === 0 || k === 4) continue; // 2.5 and 5.0: one class only in this cohort
      for (let c = 1; c < width; c++) g[c]! += 0.01 * coef[k * width + c]!; // the recipe's l2
      assert.ok(Math.max(...g.map(Math.abs)) < 1e-9, `threshold ${t}: gradient ${g}`);
    }
    // The site carries signal: a seen site's prediction uses it; an unseen one gets the no-site fit.
    const e = train[0]!; // site A
    const seen = m.predict([e])[0]!.probabilities;
    const unseenD = m.predict([{ ...e, site: "D" }])[0]!.probabilities;
    const unseenE = m.predict([{ ...e, site: "E" }])[0]!.probabilities;
    assert.deepEqual(unseenD, unseenE);
    assert.deepEqual(unseenD, plain.predict([e])[0]!.probabilities);
    assert.ok(seen[1]! > unseenD[1]! + 0.05, `site A raises P(>= 3.0): ${seen[1]} vs ${unseenD[1]}`);
  } finally {
    m.dispose();
    plain.dispose();
  }
});

test("both baselines save and load with identical predictions", () => {
  const dir = mkdtempSync(join(tmpdir(), "baselines-"));
  const train = synthExams({ n: 80, featureDim: 8, seed: 4 });
  // Half the held-out exams from a site the training part lacks: the no-site fit.
  const held = synthExams({ n: 10, featureDim: 8, seed: 5, prefix: "t" }).map((e, i) =>
    i % 2 ? { ...e, site: "unseen" } : e,
  );
  try {
    for (const name of ["baseline-ridge", "baseline-clinical"]) {
      const m = trainModel(loadRecipe(name), { train, val: [] });
      const path = join(dir, `${name}.safetensors`);
      try {
        m.save(path);
        const expected = m.predict(held);
        withModel(loadTrainedModel(path), (loaded) => {
          assert.equal(loaded.recipe.head.kind, name);
          assert.deepEqual(loaded.summary, m.summary);
          assert.deepEqual(loaded.predict(held), expected);
        });
      } finally {
        m.dispose();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
