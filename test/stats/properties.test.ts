import assert from "node:assert/strict";
import { test } from "node:test";
import { LiverstiffError, Rng } from "../../src/core/index.ts";
import {
  auroc,
  calibration,
  confusionAt,
  correlation,
  delong,
  delongPaired,
  evaluateBinary,
  netBenefit,
  rocCurve,
  youden,
} from "../../src/stats/index.ts";
import { assertRel, procCases } from "./helpers.ts";

const transforms: [string, (x: number) => number][] = [
  ["exp", Math.exp],
  ["affine", (x) => 3 * x - 7],
  ["cube", (x) => x * x * x],
  ["logistic", (x) => 1 / (1 + Math.exp(-x))],
];

test("AUROC and DeLong variance are unchanged by strictly increasing transforms of the scores", () => {
  for (const c of procCases()) {
    const base = delong(c.labels, c.scores);
    for (const [name, f] of transforms) {
      const t = delong(c.labels, c.scores.map(f));
      assertRel(t.auc, base.auc, 1e-12, `${c.name} ${name} auc`);
      assertRel(t.variance, base.variance, 1e-10, `${c.name} ${name} variance`);
    }
  }
});

test("negated scores give 1 - AUROC with the same variance", () => {
  for (const c of procCases()) {
    const base = delong(c.labels, c.scores);
    const neg = delong(
      c.labels,
      c.scores.map((s) => -s),
    );
    assertRel(neg.auc, 1 - base.auc, 1e-12, `${c.name} 1 - auc`);
    assertRel(neg.variance, base.variance, 1e-10, `${c.name} variance`);
  }
});

test("random data: AUROC equals the brute-force pair count, and the Youden cut-off is optimal", () => {
  const rng = new Rng(17);
  for (let rep = 0; rep < 20; rep++) {
    const n = 5 + rng.int(60);
    const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng.bernoulli(0.4) ? 1 : 0));
    const scores = labels.map((l) => Math.round((rng.normal() + l) * 4) / 4);
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (labels[i] === 1 && labels[j] === 0) {
          pairs++;
          wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        }
      }
    }
    assertRel(auroc(labels, scores), wins / pairs, 1e-12, "brute-force AUROC");
    const y = youden(labels, scores);
    const curve = rocCurve(labels, scores);
    for (let k = 0; k < curve.thresholds.length; k++) {
      assert.ok(curve.sensitivity[k] + curve.specificity[k] <= y.sensitivity + y.specificity);
    }
    const at = confusionAt(labels, scores, y.threshold);
    assert.deepEqual([at.tp, at.tn], [y.tp, y.tn]);
  }
});

test("misuse: mismatched lengths, NaN or infinite scores, a single class, bad labels", () => {
  const labels = [0, 1, 0, 1];
  assert.throws(
    () => auroc(labels, [0.1, 0.2, 0.3]),
    (e: unknown) => {
      assert.ok(e instanceof LiverstiffError);
      assert.match(e.message, /differ in length/);
      assert.deepEqual(e.context, { labels: 4, scores: 3 });
      return true;
    },
  );
  assert.throws(
    () => delong(labels, [0.1, Number.NaN, 0.3, 0.4]),
    (e: unknown) => {
      assert.ok(e instanceof LiverstiffError);
      assert.match(e.message, /finite/);
      assert.equal(e.context.index, 1);
      return true;
    },
  );
  assert.throws(() => auroc(labels, [0.1, 0.2, Number.POSITIVE_INFINITY, 0.4]), /finite/);
  assert.throws(() => auroc([1, 1, 1], [0.1, 0.2, 0.3]), /needs both classes, got 3 positive and 0 negative/);
  assert.throws(() => delong([1, 0, 0], [0.1, 0.2, 0.3]), /at least 2 cases of each class/);
  assert.throws(() => auroc([0, 2, 1], [0.1, 0.2, 0.3]), /label must be 0 or 1/);
  assert.throws(() => delongPaired(labels, [1, 2, 3, 4], [1, 2, 3]), /differ in length/);
  assert.throws(() => youden([], []), LiverstiffError);
  assert.throws(() => delong(labels, [1, 2, 3, 4], { level: 1.5 }), /confidence level/);
  assert.throws(() => calibration(labels, [0.1, 1.2, 0.3, 0.4]), /in \[0, 1\]/);
  assert.throws(() => netBenefit(labels, [0.1, 0.2, 0.3, 0.4], [0]), /threshold probabilities/);
  assert.throws(() => correlation([1, 1, 1, 1, 1], [1, 2, 3, 4, 5]), /constant/);
  assert.throws(() => evaluateBinary(labels, [0.1, 0.2, 0.3]), LiverstiffError);
  // Booleans are accepted as labels.
  assert.equal(auroc([false, true, false, true], [1, 2, 3, 4]), auroc(labels, [1, 2, 3, 4]));
});

test("-0 and +0 are one score (a tie), not two", () => {
  assert.equal(auroc([0, 1], [0, -0]), 0.5);
  assert.equal(auroc([0, 1], [-0, 0]), 0.5);
});
