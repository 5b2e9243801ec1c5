import assert from "node:assert/strict";
import { test } from "node:test";
import { LiverstiffError, Rng } from "../../src/core/index.ts";
import {
  aucStatistic,
  auroc,
  bootstrapCi,
  delong,
  delongClustered,
  delongPaired,
  delongPairedClustered,
} from "../../src/stats/index.ts";
import { assertAbs, extraFixtures, procCases } from "./helpers.ts";

for (const c of procCases()) {
  test(`pROC fixture ${c.name}: stratified percentile bootstrap CI within 0.01`, () => {
    // The fixture's own interval (4000 resamples) carries Monte Carlo noise; 20000 resamples here keep
    // ours small (for ties_small the AUROC lives on a 0.005 lattice and the lower end moves by a step).
    const r = bootstrapCi({
      n: c.labels.length,
      statistic: aucStatistic(c.labels, c.scores),
      stratify: c.labels,
      resamples: 20000,
      seed: 20261126,
    });
    assertAbs(r.ci[0], c.bootstrap_ci95_approx[0], 0.01, "lower");
    assertAbs(r.ci[1], c.bootstrap_ci95_approx[1], 0.01, "upper");
    assert.equal(r.estimate, c.auc);
    assert.equal(r.failed, 0);
  });
}

test("large-sample references (20000 resamples): percentile vs pROC and boot, BCa vs boot", () => {
  for (const c of extraFixtures().bootstrap) {
    const statistic = aucStatistic(c.labels, c.scores);
    const common = { n: c.labels.length, statistic, stratify: c.labels, resamples: 20000, seed: 5 };
    const p = bootstrapCi(common);
    const b = bootstrapCi({ ...common, method: "bca" });
    for (const k of [0, 1]) {
      assertAbs(p.ci[k], c.proc_percentile_ci95[k], 0.01, `${c.name} percentile vs pROC [${k}]`);
      assertAbs(p.ci[k], c.boot_percentile_ci95[k], 0.01, `${c.name} percentile vs boot [${k}]`);
      assertAbs(b.ci[k], c.boot_bca_ci95[k], 0.01, `${c.name} BCa vs boot [${k}]`);
    }
    assert.ok(b.acceleration !== undefined && Number.isFinite(b.acceleration));
  }
});

test("clustered bootstrap agrees with an R cluster bootstrap and is wider than ignoring the patients", () => {
  const c = extraFixtures().clustered;
  const common = {
    n: c.labels.length,
    statistic: aucStatistic(c.labels, c.scores),
    stratify: c.labels,
    resamples: 20000,
  };
  const clustered = bootstrapCi({ ...common, clusters: c.clusters, seed: 11 });
  const plain = bootstrapCi({ ...common, seed: 11 });
  for (const k of [0, 1]) {
    assertAbs(clustered.ci[k], c.clustered_percentile_ci95[k], 0.01, `clustered [${k}]`);
    assertAbs(plain.ci[k], c.stratified_percentile_ci95[k], 0.01, `stratified [${k}]`);
  }
  // A shared patient effect makes repeat exams correlated: the honest interval is wider.
  assert.ok(clustered.ci[1] - clustered.ci[0] > plain.ci[1] - plain.ci[0]);
  assert.ok(clustered.se > plain.se);
});

test("clustered bootstrap with one exam per patient is the stratified bootstrap (same seed: same interval)", () => {
  const c = procCases()[4];
  const statistic = aucStatistic(c.labels, c.scores);
  const n = c.labels.length;
  const patients = Array.from({ length: n }, (_, i) => `patient-${i}`);
  for (const method of ["percentile", "bca"] as const) {
    const common = { n, statistic, stratify: c.labels, resamples: 500, seed: "s", method };
    const a = bootstrapCi(common);
    const b = bootstrapCi({ ...common, clusters: patients });
    assert.deepEqual(b.ci, a.ci);
    assert.deepEqual(Array.from(b.replicates), Array.from(a.replicates));
  }
});

test("the same seed gives the same interval; another seed gives a different one", () => {
  const c = procCases()[1];
  const opts = {
    n: c.labels.length,
    statistic: aucStatistic(c.labels, c.scores),
    stratify: c.labels,
    resamples: 300,
  };
  const a = bootstrapCi({ ...opts, seed: 42 });
  const b = bootstrapCi({ ...opts, seed: 42 });
  const d = bootstrapCi({ ...opts, seed: 43 });
  assert.deepEqual(a.ci, b.ci);
  assert.notDeepEqual(a.ci, d.ci);
});

test("stratified resamples keep the class sizes; clusters stay whole", () => {
  const labels = [0, 0, 0, 1, 1, 0, 1, 1, 0, 0];
  const clusters = ["a", "a", "b", "b", "c", "d", "d", "e", "f", "f"];
  const seen: number[][] = [];
  bootstrapCi({
    n: labels.length,
    statistic: (idx) => {
      seen.push(Array.from(idx));
      return idx.length;
    },
    stratify: labels,
    clusters,
    resamples: 50,
    seed: 3,
  });
  const full = seen.shift() as number[];
  assert.deepEqual(full, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // Strata of clusters: {a, f} all 0, {c, e} all 1, {b, d} mixed: each resample draws 2 + 2 + 2 clusters.
  const members: Record<string, number[]> = {};
  clusters.forEach((cl, i) => {
    members[cl] = [...(members[cl] ?? []), i];
  });
  for (const idx of seen) {
    let pos = 0;
    let k = 0;
    let drawn = 0;
    while (k < idx.length) {
      const cl = clusters[idx[k]];
      assert.deepEqual(idx.slice(k, k + members[cl].length), members[cl], "a cluster is drawn whole");
      k += members[cl].length;
      drawn++;
    }
    assert.equal(drawn, 6);
    for (const i of idx) pos += labels[i];
    assert.ok(pos >= 2, "the pure-positive clusters always contribute");
  }
});

test("percentile interval of a known distribution: the mean of normal data", () => {
  const rng = new Rng(9);
  const x = Array.from({ length: 400 }, () => rng.normal(10, 2));
  const mean = (idx: Uint32Array) => {
    let s = 0;
    for (const i of idx) s += x[i];
    return s / idx.length;
  };
  const r = bootstrapCi({ n: x.length, statistic: mean, resamples: 4000, seed: 1 });
  const m = mean(Uint32Array.from(x.keys()));
  let ss = 0;
  for (const v of x) ss += (v - m) ** 2;
  const se = Math.sqrt(ss / (x.length - 1) / x.length);
  assertAbs(r.ci[0], m - 1.96 * se, 0.02, "lower");
  assertAbs(r.ci[1], m + 1.96 * se, 0.02, "upper");
  assertAbs(r.se, se, 0.01, "se");
});

test("aucStatistic on a resample equals auroc of the resampled data", () => {
  const c = procCases()[3];
  const stat = aucStatistic(c.labels, c.scores);
  const rng = new Rng(2);
  for (let rep = 0; rep < 5; rep++) {
    const idx = Uint32Array.from({ length: c.labels.length }, () => rng.int(c.labels.length));
    const l = Array.from(idx, (i) => c.labels[i]);
    const s = Array.from(idx, (i) => c.scores[i]);
    assertAbs(stat(idx), auroc(l, s), 1e-12, "resampled AUROC");
  }
  // A resample without one class has no AUROC: NaN, which bootstrapCi drops and counts.
  assert.ok(Number.isNaN(stat(Uint32Array.from([0]))));
});

test("unstratified bootstrap counts resamples that lose a class, and misuse is reported", () => {
  const labels = [1, 0, 0, 0, 0, 0, 0, 0];
  const scores = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
  const r = bootstrapCi({ n: 8, statistic: aucStatistic(labels, scores), resamples: 400, seed: 1 });
  assert.ok(r.failed > 0 && r.failed < 400);
  assert.equal(r.replicates.length, 400 - r.failed);
  assert.throws(() => bootstrapCi({ n: 8, statistic: () => 1, stratify: [0, 1] }), LiverstiffError);
  assert.throws(() => bootstrapCi({ n: 8, statistic: () => 1, resamples: 1 }), LiverstiffError);
  assert.throws(() => bootstrapCi({ n: 8, statistic: () => Number.NaN }), /not finite on the full sample/);
  assert.throws(
    () => bootstrapCi({ n: 8, statistic: () => 1, method: "bogus" as "bca" }),
    /method must be 'percentile' or 'bca'/,
  );
});

test("clustered DeLong (Obuchowski): brute-force formula, agreement with the cluster bootstrap, singleton clusters", () => {
  const c = extraFixtures().clustered;
  const labels: number[] = c.labels;
  const scores: number[] = c.scores;
  const clusters: number[] = c.clusters;
  const o = delongClustered(labels, scores, clusters);
  // Brute force: placements by double loop, summed per cluster.
  const pos = labels.flatMap((l, i) => (l ? [i] : []));
  const neg = labels.flatMap((l, i) => (l ? [] : [i]));
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
  const ids = [...new Set(clusters)];
  const v10 = new Map<number, number>();
  const v01 = new Map<number, number>();
  const mi = new Map<number, number>();
  const ni = new Map<number, number>();
  let theta = 0;
  for (const i of pos) {
    let s = 0;
    for (const j of neg) s += psi(scores[i], scores[j]);
    v10.set(clusters[i], (v10.get(clusters[i]) ?? 0) + s / neg.length);
    mi.set(clusters[i], (mi.get(clusters[i]) ?? 0) + 1);
    theta += s;
  }
  theta /= pos.length * neg.length;
  for (const j of neg) {
    let s = 0;
    for (const i of pos) s += psi(scores[i], scores[j]);
    v01.set(clusters[j], (v01.get(clusters[j]) ?? 0) + s / pos.length);
    ni.set(clusters[j], (ni.get(clusters[j]) ?? 0) + 1);
  }
  const k = ids.length;
  let s10 = 0;
  let s01 = 0;
  let s11 = 0;
  for (const id of ids) {
    const a = (v10.get(id) ?? 0) - (mi.get(id) ?? 0) * theta;
    const b = (v01.get(id) ?? 0) - (ni.get(id) ?? 0) * theta;
    s10 += a * a;
    s01 += b * b;
    s11 += a * b;
  }
  const M = pos.length;
  const N = neg.length;
  // Small-sample factors per class: the clusters that hold positives, those that hold negatives, all.
  const k10 = mi.size;
  const k01 = ni.size;
  const expected =
    ((k10 / (k10 - 1)) * s10) / M / M +
    ((k01 / (k01 - 1)) * s01) / N / N +
    (2 * (k / (k - 1)) * s11) / (M * N);
  assertAbs(o.auc, theta, 1e-12, "theta");
  assertAbs(o.variance, expected, 1e-12 * expected, "variance");
  assert.equal(o.nClusters, 150);
  // The cluster-robust interval agrees with R's cluster bootstrap and is wider than plain DeLong's.
  for (const k2 of [0, 1])
    assertAbs(o.ci[k2], c.clustered_percentile_ci95[k2], 0.01, `vs cluster bootstrap [${k2}]`);
  assert.ok(o.variance > delong(labels, scores).variance * 1.2);
  // One case per cluster: DeLong's variance exactly.
  const single = delongClustered(
    labels,
    scores,
    labels.map((_, i) => i),
  );
  const plain = delong(labels, scores).variance;
  assertAbs(single.variance, plain, 1e-12 * plain, "singletons = DeLong");
  // All positives in one cluster: no variance between clusters to estimate, a clear error.
  assert.throws(
    () =>
      delongClustered(
        labels,
        scores,
        labels.map((l, i) => (l ? "P" : `n${i}`)),
      ),
    /positives and negatives in at least 2 clusters/,
  );
  assert.throws(() => delongClustered(labels, scores, clusters.slice(1)), /differ in length/);
});

test("clustered paired comparison: reduces to DeLong's with singletons, matches the cluster bootstrap", () => {
  const c = extraFixtures().clustered;
  const labels: number[] = c.labels;
  const scores: number[] = c.scores;
  const clusters: number[] = c.clusters;
  // A second, correlated reader: the same scores plus independent noise.
  const rng = new Rng("second-reader");
  const scores2 = scores.map((s) => Math.round((s + rng.normal(0, 0.8)) * 1e4) / 1e4);
  const o = delongPairedClustered(labels, scores, scores2, clusters);
  assertAbs(
    o.variance1,
    delongClustered(labels, scores, clusters).variance,
    1e-15,
    "variance1 = clustered variance",
  );
  assertAbs(o.variance2, delongClustered(labels, scores2, clusters).variance, 1e-15, "variance2");
  const singles = labels.map((_, i) => i);
  const s = delongPairedClustered(labels, scores, scores2, singles);
  const d = delongPaired(labels, scores, scores2);
  // One case per cluster: the unclustered paired DeLong test exactly.
  for (const key of ["variance1", "variance2", "covariance", "se", "difference"] as const)
    assertAbs(s[key], d[key], 1e-12 * Math.max(1, Math.abs(d[key])), `singletons ${key}`);
  assertAbs(s.z, d.z, 1e-10, "singletons z");
  assertAbs(s.p, d.p, 1e-12, "singletons p");
  assertAbs(s.ci[0], d.ci[0], 1e-12, "singletons ci lo");
  assertAbs(s.ci[1], d.ci[1], 1e-12, "singletons ci hi");
  // The cluster bootstrap of the difference (same draws for both scores) has about the same spread.
  const a1 = aucStatistic(labels, scores);
  const a2 = aucStatistic(labels, scores2);
  const b = bootstrapCi({
    n: labels.length,
    statistic: (idx) => a1(idx) - a2(idx),
    stratify: labels,
    clusters,
    resamples: 4000,
    seed: 2,
  });
  assert.ok(Math.abs(b.se / o.se - 1) < 0.1, `bootstrap se ${b.se} vs Obuchowski se ${o.se}`);
  // (No claim that clustering widens this one: a patient effect shared by both readers cancels in the difference.)
});
