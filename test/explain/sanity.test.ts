// Sanity checks for the Grad-CAM maps (Adebayo et al., "Sanity Checks for Saliency Maps", 2018), on a small
// synthetic cohort with the shipped encoder and a small copy of the liverstiff recipe: maps of held-out
// exams for the 3.0 kPa logit change when the head's weights are redrawn, and more as the encoder's blocks
// are redrawn too, from the deepest down (cascading); a model trained on shuffled labels does not give the
// trained model's maps, while the same recipe retrained with another seed on the true labels does. The
// measure is the mean over exams of the Spearman rank correlation with the trained model's maps
// (computed here, average ranks for ties; an all-zero map counts as 0).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { cnnOf, type ExamCam, GradCam, redrawParameters } from "../../src/explain/index.ts";
import { type ExamFeatures, loadDefaultEncoder } from "../../src/features/index.ts";
import { manualSeed } from "../../src/torch/index.ts";
import { parseRecipe, type TrainedModel, trainModel } from "../../src/train/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { type ExplainCohort, explainCohort } from "./cohort.ts";

const tmp = scratchDir("liverstiff-cam-sanity-");
const LIMIT = 0.5;
let cohort: ExplainCohort;
let train: ExamFeatures[];
let val: ExamFeatures[];
let heldOut: ExamFeatures[];
let trained: TrainedModel;
let trainedMaps: Float32Array[];

/** Ranks 1..n with ties at their average rank. */
function ranks(x: Float32Array): Float64Array {
  const order = Array.from(x.keys()).sort((a, b) => x[a]! - x[b]!);
  const r = new Float64Array(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1]!] === x[order[i]!]) j++;
    for (let k = i; k <= j; k++) r[order[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

function spearman(a: Float32Array, b: Float32Array): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = ra.length;
  const m = (n + 1) / 2;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i]! - m) * (rb[i]! - m);
    saa += (ra[i]! - m) ** 2;
    sbb += (rb[i]! - m) ** 2;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}

/** All roles' maps of one exam as one vector (role order t1_in, t1_opp, t2). */
function flat(cam: ExamCam): Float32Array {
  const parts = (["t1_in", "t1_opp", "t2"] as const).flatMap((r) => (cam.maps[r] ? [cam.maps[r]!] : []));
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function mapsOf(gradCam: GradCam): Float32Array[] {
  return heldOut.map((e) => flat(gradCam.explain(e, cohort.prepared(e.examId), 3.0)));
}

function meanSpearman(maps: Float32Array[]): number {
  return maps.reduce((s, m, i) => s + spearman(m, trainedMaps[i]!), 0) / maps.length;
}

function smallRecipe(seed: number) {
  const r = cohort.recipe;
  return parseRecipe(
    {
      ...r,
      name: "liverstiff-small",
      head: { ...r.head, ensemble: 1 },
      training: { ...r.training, maxEpochs: 40, patience: 10, seed },
    },
    "liverstiff-small",
  );
}

before(async () => {
  cohort = await explainCohort(tmp, { exams: 44, seed: 77 });
  train = cohort.exams.slice(0, 32);
  val = cohort.exams.slice(32, 36);
  heldOut = cohort.exams.slice(36);
  trained = trainModel(smallRecipe(42), { train, val });
  const gradCam = new GradCam(cnnOf(cohort.encoder), [trained]);
  trainedMaps = mapsOf(gradCam);
  gradCam.dispose();
});

describe("Grad-CAM sanity checks", () => {
  it("the trained model's maps are not all zero", () => {
    assert.ok(heldOut.length >= 6);
    for (const m of trainedMaps) assert.ok(m.some((v) => v > 0));
  });

  it("cascading randomisation: the head's weights, then the encoder's blocks from the deepest", (t) => {
    const encoder = loadDefaultEncoder();
    const cnn = cnnOf(encoder);
    const gradCam = new GradCam(cnn, [trained]);
    try {
      gradCam.randomiseHeads(1001);
      const steps: [string, number][] = [["head", meanSpearman(mapsOf(gradCam))]];
      for (let b = cnn.blocks.list.length - 1; b >= 0; b--) {
        manualSeed(2000 + b);
        redrawParameters(cnn.blocks.list[b]!);
        steps.push([`head + blocks ${b}..${cnn.blocks.list.length - 1}`, meanSpearman(mapsOf(gradCam))]);
      }
      t.diagnostic(steps.map(([s, r]) => `${s}: ${r.toFixed(3)}`).join("; "));
      for (const [step, r] of steps) assert.ok(r < LIMIT, `${step}: mean Spearman ${r.toFixed(3)}`);
    } finally {
      gradCam.dispose();
      encoder.dispose();
    }
  });

  it("a model trained on shuffled labels does not give the trained model's maps; a reseeded one does", (t) => {
    const kpa = train.map((e) => e.kpa!);
    // A fixed derangement-like shuffle (seeded Fisher-Yates).
    let state = 12345;
    for (let i = kpa.length - 1; i > 0; i--) {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      const j = state % (i + 1);
      [kpa[i], kpa[j]] = [kpa[j]!, kpa[i]!];
    }
    const shuffledTrain = train.map((e, i) => ({ ...e, kpa: kpa[i]! }));
    const shuffled = trainModel(smallRecipe(42), { train: shuffledTrain, val });
    const reseeded = trainModel(smallRecipe(7), { train, val });
    const camShuffled = new GradCam(cnnOf(cohort.encoder), [shuffled]);
    const camReseeded = new GradCam(cnnOf(cohort.encoder), [reseeded]);
    try {
      const rShuffled = meanSpearman(mapsOf(camShuffled));
      const rReseeded = meanSpearman(mapsOf(camReseeded));
      t.diagnostic(
        `shuffled labels: ${rShuffled.toFixed(3)}; true labels, another seed: ${rReseeded.toFixed(3)}`,
      );
      assert.ok(rShuffled < LIMIT, `shuffled labels: mean Spearman ${rShuffled.toFixed(3)}`);
      assert.ok(
        rReseeded > rShuffled,
        "retraining on the true labels gives closer maps than shuffled labels",
      );
    } finally {
      camShuffled.dispose();
      camReseeded.dispose();
      shuffled.dispose();
      reseeded.dispose();
    }
  });
});
