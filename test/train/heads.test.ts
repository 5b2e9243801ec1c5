// The two heads on synthetic features with a known signal: learning, determinism, save/load, masking of
// missing roles, monotone ordinal probabilities, and the published deepliver2 layer sizes.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import type { ExamFeatures } from "../../src/features/types.ts";
import { manualSeed, noGrad, rand, randn, setNumThreads, tensor, tidy } from "../../src/torch/index.ts";
import {
  auroc,
  covariates,
  Deepliver2Net,
  type ExamPrediction,
  LiverstiffNet,
  loadRecipe,
  loadTrainedModel,
  parseRecipe,
  type Recipe,
  trainingSites,
  trainModel,
} from "../../src/train/index.ts";
import { synthExams } from "./synthetic.ts";

setNumThreads(1);
const dir = mkdtempSync(join(tmpdir(), "train-"));
const D = 16;
const train = synthExams({ n: 240, featureDim: D, seed: 1 });
const val = synthExams({ n: 60, featureDim: D, seed: 2, prefix: "v" });
const held = synthExams({ n: 200, featureDim: D, seed: 3, prefix: "t" });

/** The shipped recipes, shrunk so that a test trains in seconds (same code paths). */
function smallDeepliver2(over: Record<string, unknown> = {}): Recipe {
  const r = loadRecipe("deepliver2");
  return parseRecipe({
    ...r,
    head: { ...r.head, hidden: [64, 32, 16] },
    training: { ...r.training, batchSize: 16, maxEpochs: 25, patience: 8, ...over },
  });
}

function smallLiverstiff(over: Record<string, unknown> = {}, head: Record<string, unknown> = {}): Recipe {
  const r = loadRecipe("liverstiff");
  return parseRecipe({
    ...r,
    head: { ...r.head, dim: 32, attnDim: 16, hidden: 32, ensemble: 1, ...head },
    training: { ...r.training, batchSize: 32, maxEpochs: 30, patience: 10, ...over },
  });
}

function aucAt(preds: ExamPrediction[], exams: ExamFeatures[], k: number): number {
  const t = [2.5, 3.0, 3.5, 4.0, 5.0][k]!;
  return auroc(
    exams.map((e) => (e.kpa! >= t ? 1 : 0)),
    preds.map((p) => p.probabilities[k]!),
  );
}

test("deepliver2 head has the published layer sizes on the concatenated input", () => {
  const r = loadRecipe("deepliver2");
  assert.equal(r.head.kind, "deepliver2");
  if (r.head.kind !== "deepliver2") return;
  manualSeed(0);
  const inputDim = r.head.inputs.length * r.head.slices * D; // T2w + T1w, 5 slices each
  const net = new Deepliver2Net(inputDim, r.head.hidden);
  try {
    const shapes = [...net.stateDictShapes().entries()];
    assert.deepEqual(shapes, [
      ["fc1_weight", [5, 4096, 160]],
      ["fc1_bias", [5, 4096]],
      ["fc2_weight", [5, 1024, 4096]],
      ["fc2_bias", [5, 1024]],
      ["fc3_weight", [5, 256, 1024]],
      ["fc3_bias", [5, 256]],
      ["fc4_weight", [5, 1, 256]],
      ["fc4_bias", [5, 1]],
    ]);
    // Keras Dense init: Glorot-uniform kernel within sqrt(6 / (fan_in + fan_out)), zero bias.
    const w = net.weight(1).toFloat32Array();
    const bound = Math.sqrt(6 / (4096 + 1024));
    let max = 0;
    for (const v of w) max = Math.max(max, Math.abs(v));
    assert.ok(max <= bound && max > 0.95 * bound, `max |w| ${max} vs bound ${bound}`);
    assert.ok(
      net
        .bias(0)
        .toFloat32Array()
        .every((v) => v === 0),
    );
    const out = tidy(() => noGrad(() => net.forward(randn([3, inputDim])).shape));
    assert.deepEqual(out, [5, 3]);
  } finally {
    net.dispose();
  }
});

test("deepliver2 learns the synthetic signal (held-out AUROC at 3.0 kPa)", () => {
  const m = trainModel(smallDeepliver2(), { train, val });
  try {
    const p = m.predict(held);
    assert.equal(p.length, held.length);
    assert.equal(p[0]!.probabilities.length, 5);
    assert.equal(p[0]!.kpaPred, undefined);
    const auc = aucAt(p, held, 1);
    assert.ok(auc > 0.85, `AUROC ${auc}`);
    assert.equal(m.summary.models.length, 5);
    assert.ok(m.summary.models.every((x) => x.epochs >= 1 && x.epochs <= 25));
  } finally {
    m.dispose();
  }
});

test("liverstiff learns the synthetic signal: five monotone probabilities and a kPa", () => {
  const m = trainModel(smallLiverstiff({}, { ensemble: 2, pca: 8 }), { train, val });
  try {
    const p = m.predict(held);
    for (let k = 0; k < 5; k++) {
      const auc = aucAt(p, held, k);
      assert.ok(auc > 0.85, `AUROC at threshold ${k}: ${auc}`);
    }
    for (const x of p) {
      for (let k = 1; k < 5; k++) assert.ok(x.probabilities[k]! <= x.probabilities[k - 1]!);
    }
    // kPa regression: correlation with the truth on held-out exams.
    const a = p.map((x) => Math.log(x.kpaPred!));
    const b = held.map((e) => Math.log(e.kpa!));
    const ma = a.reduce((s, v) => s + v, 0) / a.length;
    const mb = b.reduce((s, v) => s + v, 0) / b.length;
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    a.forEach((v, i) => {
      sab += (v - ma) * (b[i]! - mb);
      saa += (v - ma) ** 2;
      sbb += (b[i]! - mb) ** 2;
    });
    const r = sab / Math.sqrt(saa * sbb);
    assert.ok(r > 0.7, `Pearson r ${r}`);
    assert.equal(m.summary.models.length, 2);
  } finally {
    m.dispose();
  }
});

test("ordinal probabilities are monotone for any input and any weights (property)", () => {
  const r = smallLiverstiff();
  if (r.head.kind !== "liverstiff") return;
  for (let trial = 0; trial < 20; trial++) {
    manualSeed(100 + trial);
    const net = new LiverstiffNet(D, r.head.roles, 5, r.head);
    try {
      noGrad(() => {
        // Scramble every parameter (cut-point increments included, even very negative ones).
        for (const p of net.parameters()) p.copy_(randn(p.shape).mul(trial % 2 ? 5 : 0.5));
      });
      net.eval();
      const probs = tidy(() =>
        noGrad(() => {
          const x = randn([16, 3, 5, D]).mul(1 + trial);
          const mask = rand([16, 3]).ge(0.3).float();
          mask.select(1, 2).fill_(1); // t2 always present
          return net
            .forward(x, mask, randn([16, 5]))
            .logits.sigmoid()
            .toFloat32Array();
        }),
      );
      for (let i = 0; i < 16; i++) {
        for (let k = 1; k < 5; k++) {
          assert.ok(probs[i * 5 + k]! <= probs[i * 5 + k - 1]!, `trial ${trial} exam ${i} k ${k}`);
        }
      }
    } finally {
      net.dispose();
    }
  }
});

test("a missing role is masked exactly: its padding values change nothing", () => {
  const r = smallLiverstiff({}, { linearSkip: true });
  if (r.head.kind !== "liverstiff") return;
  manualSeed(7);
  const net = new LiverstiffNet(D, r.head.roles, 5, r.head);
  try {
    net.eval();
    const [a, b] = tidy(() =>
      noGrad(() => {
        const x = randn([4, 3, 5, D]);
        const mask = tensor([1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1], { shape: [4, 3] });
        const clinical = randn([4, 5]);
        const x2 = x.clone();
        // Replace the masked (missing) role slots by garbage.
        x2.select(0, 0)
          .select(0, 1)
          .copy_(randn([5, D]).mul(1000));
        x2.select(0, 2)
          .select(0, 0)
          .copy_(randn([5, D]).mul(-50));
        x2.select(0, 2)
          .select(0, 1)
          .copy_(randn([5, D]).mul(7));
        x2.select(0, 3).select(0, 1).fill_(3);
        const o1 = net.forward(x, mask, clinical);
        const o2 = net.forward(x2, mask, clinical);
        return [
          [...o1.logits.toFloat32Array(), ...o1.logKpa.toFloat32Array(), ...o1.attention.toFloat32Array()],
          [...o2.logits.toFloat32Array(), ...o2.logKpa.toFloat32Array(), ...o2.attention.toFloat32Array()],
        ];
      }),
    );
    assert.deepEqual(a, b);
  } finally {
    net.dispose();
  }
});

test("predicting an exam without t1_opp works and gives it no attention", () => {
  const m = trainModel(smallLiverstiff({ maxEpochs: 3 }), { train, val });
  try {
    const e = held.find((x) => x.roles.t1_opp)!;
    const without: ExamFeatures = { ...e, roles: { t1_in: e.roles.t1_in, t2: e.roles.t2 } };
    const [pw, po] = m.predict([e, without]);
    assert.deepEqual(Object.keys(po!.attention!).sort(), ["t1_in", "t2"]);
    assert.deepEqual(Object.keys(pw!.attention!).sort(), ["t1_in", "t1_opp", "t2"]);
    const total = Object.values(po!.attention!)
      .flat()
      .reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(total - 1) < 1e-5, `attention sums to ${total}`);
    assert.ok(po!.probabilities.every((v) => v > 0 && v < 1));
    // Same exam alone or in a batch: same prediction.
    const [alone] = m.predict([without]);
    assert.ok(alone!.probabilities.every((v, k) => Math.abs(v - po!.probabilities[k]!) < 1e-6));
  } finally {
    m.dispose();
  }
});

test("deepliver2 uses t1_in when present, else t1_opp, and names an exam without T1w", () => {
  const r = smallDeepliver2({ maxEpochs: 1 });
  const m = trainModel(r, { train, val });
  try {
    const e = held[0]!;
    const oppOnly: ExamFeatures = { ...e, roles: { t1_opp: e.roles.t1_in, t2: e.roles.t2 } };
    const [a, b] = m.predict([e, oppOnly]);
    assert.deepEqual(a!.probabilities, b!.probabilities);
    const none: ExamFeatures = { ...e, examId: "noT1", roles: { t2: e.roles.t2 } };
    assert.throws(
      () => m.predict([none]),
      (err: unknown) => err instanceof LiverstiffError && /noT1/.test(err.message),
    );
  } finally {
    m.dispose();
  }
});

for (const kind of ["deepliver2", "liverstiff"] as const) {
  test(`${kind}: same inputs + seed give the same predictions; save/load round trip is exact`, () => {
    const recipe =
      kind === "deepliver2"
        ? smallDeepliver2({ maxEpochs: 4 })
        : smallLiverstiff({ maxEpochs: 6 }, { pca: 8 });
    const sub = train.slice(0, 120);
    const m1 = trainModel(recipe, { train: sub, val, seed: 5 });
    const m2 = trainModel(recipe, { train: sub, val, seed: 5 });
    const m3 = trainModel(recipe, { train: sub, val, seed: 6 });
    const path = join(dir, `${kind}.safetensors`);
    try {
      const p1 = m1.predict(held.slice(0, 20));
      assert.deepEqual(m2.predict(held.slice(0, 20)), p1);
      assert.notDeepEqual(m3.predict(held.slice(0, 20)), p1);
      m1.save(path);
      const loaded = loadTrainedModel(path);
      try {
        assert.deepEqual(loaded.predict(held.slice(0, 20)), p1);
        assert.deepEqual(loaded.recipe, recipe);
        assert.equal(loaded.summary.seed, 5);
        assert.deepEqual([...loaded.stateDict().keys()], [...m1.stateDict().keys()]);
      } finally {
        loaded.dispose();
      }
    } finally {
      m1.dispose();
      m2.dispose();
      m3.dispose();
    }
  });
}

test("training exams without a kPa label are rejected by name", () => {
  const bad = [...train.slice(0, 20), { ...train[20]!, examId: "unlabelled", kpa: undefined }];
  assert.throws(
    () => trainModel(smallLiverstiff({ maxEpochs: 1 }), { train: bad, val: [] }),
    (err: unknown) => err instanceof LiverstiffError && /unlabelled/.test(err.message),
  );
});

test("site covariate: one-hot over the training sites, all zeros for an unseen site", () => {
  const exams = [
    { ...train[0]!, site: "b" },
    { ...train[1]!, site: "a" },
    { ...train[2]!, site: "z" },
  ];
  const sites = trainingSites(exams.slice(0, 2));
  assert.deepEqual(sites, ["a", "b"]);
  const cov = covariates(exams, false, { mean: 0, sd: 1 }, sites);
  assert.deepEqual(Array.from(cov), [0, 1, 1, 0, 0, 0]);
  const withClinical = covariates(exams, true, { mean: 50, sd: 10 }, sites);
  assert.equal(withClinical.length, 3 * (5 + 2));
  assert.deepEqual(Array.from(withClinical.subarray(5, 7)), [0, 1]);
});

test("liverstiff with the site covariate learns a site's prevalence; an unseen site still predicts", () => {
  // Sites decide prevalence: "hi" holds most stiff livers. Identical features must then score higher
  // at "hi" than at "lo"; an unseen site sits on the site-free path that site dropout trained.
  const rng = {
    s: 7,
    next() {
      this.s = (this.s * 16807) % 2147483647;
      return this.s / 2147483647;
    },
  };
  const withSites = (xs: ExamFeatures[]) =>
    xs.map((e) => ({ ...e, site: e.kpa! >= 3 === rng.next() < 0.85 ? "hi" : "lo" }));
  const recipe = smallLiverstiff({ maxEpochs: 20 }, { pca: 8, site: true, siteDropout: 0.3, ridge: 0 });
  const m = trainModel(recipe, { train: withSites(train), val: withSites(val), seed: 3 });
  const path = join(dir, "site.safetensors");
  try {
    const probe = held.slice(0, 40);
    const at = (site: string, model = m) =>
      model.predict(probe.map((e) => ({ ...e, site }))).map((p) => p.probabilities[1]!);
    const hi = at("hi");
    const lo = at("lo");
    const unseen = at("elsewhere");
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(mean(hi) > mean(lo) + 0.05, `hi ${mean(hi)} vs lo ${mean(lo)}`);
    assert.ok(unseen.every((p) => p > 0 && p < 1));
    m.save(path);
    const loaded = loadTrainedModel(path);
    try {
      assert.deepEqual(at("hi", loaded), hi);
      assert.deepEqual(at("elsewhere", loaded), unseen);
    } finally {
      loaded.dispose();
    }
  } finally {
    m.dispose();
  }
});
