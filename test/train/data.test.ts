import assert from "node:assert/strict";
import { test } from "node:test";
import { auroc, centralStart, classWeights, thresholdLabels } from "../../src/train/index.ts";

test("auroc: Mann-Whitney with ties counted one half", () => {
  assert.equal(auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]), 1);
  assert.equal(auroc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]), 0);
  assert.equal(auroc([0, 1], [0.5, 0.5]), 0.5);
  // 3 positives x 2 negatives: pairs (p > n) = 4 of 6, one tie = 0.5.
  assert.equal(auroc([1, 1, 1, 0, 0], [0.9, 0.4, 0.2, 0.4, 0.1]), 4.5 / 6);
  assert.ok(Number.isNaN(auroc([1, 1], [0.1, 0.2])));
});

test("threshold labels: kPa >= t for 2.5, 3.0, 3.5, 4.0, 5.0", () => {
  assert.deepEqual(
    Array.from(thresholdLabels([2.4, 3.0, 5.2])),
    [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1],
  );
});

test("balanced class weights n / (2 n_c) per threshold, plus the negative offset", () => {
  const y = thresholdLabels([2.0, 2.0, 2.0, 3.2]); // at 2.5: 1 positive, 3 negatives
  const w = classWeights(y, 4, "balanced", 0.3);
  assert.ok(Math.abs(w[3 * 5]! - 4 / 2) < 1e-6); // positive
  assert.ok(Math.abs(w[0]! - (4 / 6 + 0.3)) < 1e-6); // negative
  // 5.0 kPa: no positive in this set -> weight 1 (single class).
  assert.equal(w[4], 1);
  assert.ok(classWeights(y, 4, "none").every((v) => v === 1));
});

test("central slices: the same rule as cohort's centralSlices", () => {
  assert.equal(centralStart(11, 5), 3);
  assert.equal(centralStart(5, 5), 0);
  assert.equal(centralStart(6, 5), 1);
});
