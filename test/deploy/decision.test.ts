// One coherent decision rule: the category is the highest threshold with every threshold up to it above
// its cut-off (property test over random probabilities and cut-offs), cut-offs chosen non-decreasing by
// the summed Youden J (checked against brute force), and the warnings when kPa or calls could disagree.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "../../src/core/index.ts";
import { monotoneCutoffs } from "../../src/deploy/cutoffs.ts";
import { categoryOf, combine, kpaInCategory } from "../../src/deploy/ensemble.ts";
import { formatPredictions } from "../../src/deploy/format.ts";
import { decisionWarnings } from "../../src/deploy/summary.ts";
import { kpaErrorOf, monotonePooledCutoffs } from "../../src/deploy/train.ts";
import type { PredictionRow } from "../../src/validate/index.ts";

const T = [2.5, 3, 3.5, 4, 5];
type Five = [number, number, number, number, number];

describe("category rule (property)", () => {
  it("never names a category above a threshold that is below its cut-off, and follows every call below it", () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 5000; trial++) {
      const p = T.map(() => rng.uniform());
      const c = T.map(() => rng.uniform());
      const cat = categoryOf(p, c);
      const level = cat.thresholdKpa === null ? 0 : T.indexOf(cat.thresholdKpa) + 1;
      for (let k = 0; k < level; k++) assert.ok(p[k]! > c[k]!, `threshold ${T[k]} counted but below`);
      if (level < T.length) assert.ok(!(p[level]! > c[level]!), "the next threshold must be below");
      assert.deepEqual(
        cat.ignoredKpa,
        T.filter((_, k) => k > level && p[k]! > c[k]!),
      );
      assert.equal(cat.belowKpa, T[level] ?? null);
      assert.equal(cat.label, level === 0 ? "< 2.5 kPa" : `>= ${T[level - 1]!.toFixed(1)} kPa`);
      // With falling probabilities and rising cut-offs the calls are a prefix: nothing is ignored.
      const pm = [...p].sort((a, b) => b - a);
      const cm = [...c].sort((a, b) => a - b);
      assert.deepEqual(categoryOf(pm, cm).ignoredKpa, []);
    }
  });

  it("marks counted calls, and says so when kPa lies outside the category or a call is not followed", () => {
    const cutoffs: Five = [0.5, 0.5, 0.5, 0.5, 0.5];
    const e = combine(
      "E",
      [{ examId: "E", probabilities: [0.4, 0.7, 0.6, 0.2, 0.1], kpaPred: 3.2 }],
      ["1"],
      cutoffs,
    );
    assert.equal(e.category.label, "< 2.5 kPa");
    assert.deepEqual(
      e.thresholds.map((t) => [t.positive, t.counted]),
      [
        [false, false],
        [true, false],
        [true, false],
        [false, false],
        [false, false],
      ],
    );
    assert.equal(e.kpaPred?.agreesWithCategory, false);
    const w = decisionWarnings(e);
    assert.deepEqual(
      w.map((x) => x.code),
      ["kpa_outside_category", "calls_not_monotone"],
    );
    assert.match(w[0]!.message, /predicted 3\.20 kPa lies outside the category < 2\.5 kPa/);
    assert.match(
      w[1]!.message,
      /P\(>= 3\.0 kPa\) 70\.0% is above its cut-off 50\.0%.*P\(>= 2\.5 kPa\) 40\.0% is below/,
    );
    const ok = combine(
      "F",
      [{ examId: "F", probabilities: [0.9, 0.7, 0.4, 0.2, 0.1], kpaPred: 3.2 }],
      ["1"],
      cutoffs,
    );
    assert.equal(ok.category.label, ">= 3.0 kPa");
    assert.ok(
      kpaInCategory(3.2, ok.category) && !kpaInCategory(3.5, ok.category) && !kpaInCategory(2.9, ok.category),
    );
    assert.deepEqual(decisionWarnings(ok), []);
  });
});

describe("the predicted kPa and the category", () => {
  const row = (kpa: number, kpaPred: number) =>
    ({ kpa, kpaPred, probabilities: [0.5, 0.5, 0.5, 0.5, 0.5] }) as unknown as PredictionRow;

  it("states the kPa head's out-of-fold error as 10%/90% quantiles that cover 80% of the exams", () => {
    const rng = new Rng(5);
    const rows = Array.from({ length: 400 }, () => {
      const pred = 2 + 3 * rng.uniform();
      return row(pred * Math.exp(0.25 * (rng.uniform() + rng.uniform() - 1)), pred);
    });
    const err = kpaErrorOf(rows)!;
    assert.equal(err.n, 400);
    const [lo, hi] = err.logRatioQuantiles;
    const inside = rows.filter((r) => {
      const x = Math.log(r.kpa / r.kpaPred!);
      return x >= lo && x <= hi;
    }).length;
    assert.ok(Math.abs(inside / 400 - 0.8) <= 0.01, `${inside} of 400 inside`);
    // Triangular noise on [-0.25, 0.25]: its 10% and 90% quantiles are -/+0.25 * (1 - sqrt(0.2)).
    assert.ok(Math.abs(lo + 0.25 * (1 - Math.sqrt(0.2))) < 0.03, `lo ${lo}`);
    assert.ok(Math.abs(hi - 0.25 * (1 - Math.sqrt(0.2))) < 0.03, `hi ${hi}`);
    // Recipes that do not regress kPa, and too few exams, state nothing.
    assert.equal(kpaErrorOf(rows.map((r) => ({ ...r, kpaPred: undefined }))), null);
    assert.equal(kpaErrorOf(rows.slice(0, 10)), null);
  });

  it("calls kPa and category consistent when the category meets the kPa's 80% prediction interval", () => {
    const kpaError = {
      method: "test",
      coverage: 0.8,
      n: 100,
      logRatioQuantiles: [Math.log(0.8), Math.log(1.25)] as [number, number],
    };
    const cutoffs: Five = [0.5, 0.5, 0.5, 0.5, 0.5];
    // 2.9 kPa predicted, category >= 3.0: the point is outside, the interval 2.32-3.63 reaches it.
    const near = combine(
      "N",
      [{ examId: "N", probabilities: [0.9, 0.7, 0.4, 0.2, 0.1], kpaPred: 2.9 }],
      ["1"],
      cutoffs,
      kpaError,
    );
    assert.equal(near.category.label, ">= 3.0 kPa");
    assert.equal(near.kpaPred!.inCategory, false);
    assert.equal(near.kpaPred!.agreesWithCategory, true);
    assert.deepEqual(
      near.kpaPred!.predictionInterval!.map((x) => Math.round(x * 1000) / 1000),
      [2.32, 3.625],
    );
    assert.deepEqual(decisionWarnings(near), []);
    // 2.9 kPa predicted, category >= 5.0: beyond the interval, a warning that names it.
    const far = combine(
      "F",
      [{ examId: "F", probabilities: [0.9, 0.9, 0.9, 0.9, 0.9], kpaPred: 2.9 }],
      ["1"],
      cutoffs,
      kpaError,
    );
    assert.equal(far.kpaPred!.agreesWithCategory, false);
    const w = decisionWarnings(far);
    assert.deepEqual(
      w.map((x) => x.code),
      ["kpa_outside_category"],
    );
    assert.match(
      w[0]!.message,
      /category >= 5\.0 kPa lies outside the predicted kPa's 80% prediction interval 2\.32-3\.6[23]/,
    );
    // Property: a point inside the category always agrees; agreement never depends on the members' spread.
    const rng = new Rng(9);
    for (let trial = 0; trial < 2000; trial++) {
      const p = T.map(() => rng.uniform()).sort((a, b) => b - a);
      const k = 1.5 + 5 * rng.uniform();
      const e = combine("P", [{ examId: "P", probabilities: p, kpaPred: k }], ["1"], cutoffs, kpaError);
      if (e.kpaPred!.inCategory) assert.ok(e.kpaPred!.agreesWithCategory);
      const [lo, hi] = e.kpaPred!.predictionInterval!;
      const c = e.category;
      const meets =
        (c.thresholdKpa === null || hi >= c.thresholdKpa) && (c.belowKpa === null || lo < c.belowKpa);
      assert.equal(e.kpaPred!.agreesWithCategory, meets);
    }
  });
});

describe("terminal report", () => {
  it("gives probabilities and cut-offs in one unit (percent) and flags what the category does not follow", () => {
    const p = combine(
      "E",
      [{ examId: "E", probabilities: [0.4, 0.7, 0.6, 0.2, 0.1], kpaPred: 3.1 }],
      ["1"],
      [0.5, 0.5, 0.679, 0.7, 0.7],
    );
    const report = {
      bundle: { recipe: "r", members: 1, encoder: "e" },
      seriesChoice: {
        rules: "bundle",
        overrides: [],
        digest: "d",
        trainingDigest: "d",
        rulesAsTrained: true,
      },
      intendedUse: "Research use only.",
      exams: [{ ...p, scanner: {}, series: {}, status: "predicted", warnings: decisionWarnings(p) }],
      inputs: [],
      counts: { exams: 1, predicted: 1, unusable: 0 },
      timings: { totalSeconds: 1 },
    };
    const text = formatPredictions(report as never);
    assert.match(text, />= 2\.5 kPa {3}40\.0% {3}40\.0%-40\.0% {6}50\.0% {2}below/);
    assert.match(text, />= 3\.0 kPa {3}70\.0% .* 50\.0% {2}above, not counted/);
    assert.match(text, />= 3\.5 kPa {3}60\.0% .* 67\.9% {2}below/);
    assert.match(
      text,
      /category: < 2\.5 kPa \(P 40\.0% below cut-off 50\.0%\); predicted 3\.10 kPa .*OUTSIDE the category/,
    );
    assert.doesNotMatch(text, /0\.\d{3}/, "no cut-off as a fraction");
  });
});

function summedJ(labels: number[][], scores: number[][], cuts: number[]): number {
  let sum = 0;
  for (let k = 0; k < labels.length; k++) {
    const pos = labels[k]!.filter((l) => l === 1).length;
    const neg = labels[k]!.length - pos;
    if (pos === 0 || neg === 0) continue;
    let tp = 0;
    let tn = 0;
    for (let i = 0; i < labels[k]!.length; i++) {
      const call = scores[k]![i]! > cuts[k]!;
      if (call && labels[k]![i] === 1) tp++;
      if (!call && labels[k]![i] === 0) tn++;
    }
    sum += tp / pos + tn / neg - 1;
  }
  return sum;
}

describe("monotone cut-offs", () => {
  it("are non-decreasing and reach the best summed Youden J of any non-decreasing choice (brute force)", () => {
    const rng = new Rng(17);
    for (let trial = 0; trial < 30; trial++) {
      const n = 12;
      const kpa = Array.from({ length: n }, () => 2 + rng.uniform() * 4);
      const thresholds = [2.5, 3.5, 4.5];
      const labels = thresholds.map((t) => kpa.map((x) => (x >= t ? 1 : 0)));
      const scores = thresholds.map((t) =>
        kpa.map((x) => Math.min(1, Math.max(0, (x - t) / 4 + 0.5 + rng.normal(0, 0.2)))),
      );
      const cuts = monotoneCutoffs(labels, scores, [0.5, 0.5, 0.5]);
      for (let k = 1; k < cuts.length; k++) assert.ok(cuts[k]! >= cuts[k - 1]!, `${cuts}`);
      const grid = [...new Set([0, 1, ...scores.flat()])].sort((a, b) => a - b);
      let best = Number.NEGATIVE_INFINITY;
      for (const a of grid)
        for (const b of grid)
          for (const c of grid)
            if (a <= b && b <= c) best = Math.max(best, summedJ(labels, scores, [a, b, c]));
      assert.ok(Math.abs(summedJ(labels, scores, cuts) - best) < 1e-9, `trial ${trial}`);
    }
  });

  it("keep the unconstrained Youden cut-offs when those already rise", () => {
    // Separable data: any cut-off between the classes is optimal; ties go to the preferred ones.
    const labels = [
      [0, 0, 1, 1],
      [0, 0, 0, 1],
    ];
    const scores = [
      [0.1, 0.2, 0.8, 0.9],
      [0.1, 0.2, 0.3, 0.9],
    ];
    assert.deepEqual(monotoneCutoffs(labels, scores, [0.2, 0.3]), [0.2, 0.3]);
  });

  it("from pooled rows: rising cut-offs, so a monotone-probability exam's calls form a prefix", () => {
    const rng = new Rng(23);
    const rows = Array.from({ length: 300 }, () => {
      const kpa = Math.exp(rng.normal(Math.log(3), 0.3));
      const z = Math.log(kpa) + rng.normal(0, 0.15);
      const probabilities = T.map((t) => 1 / (1 + Math.exp(-(z - Math.log(t)) * 6)));
      return { kpa, probabilities } as unknown as PredictionRow;
    });
    const c = monotonePooledCutoffs(rows);
    for (let k = 1; k < 5; k++) assert.ok(c[k]! >= c[k - 1]!, `${c}`);
    for (const r of rows) assert.deepEqual(categoryOf(r.probabilities, c).ignoredKpa, []);
  });
});
