// The training loop (src/train/loop.ts) on a toy model whose state counts its steps, and the trainers on
// it: early stopping per model, best-state or stop-state restore, summaries, and that nothing native is
// left behind, whether training returns or throws mid-way.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/core/index.ts";
import { memoryStats, setNumThreads, type Tensor, tensor } from "../../src/torch/index.ts";
import { loadRecipe, parseRecipe, type Recipe, trainModel } from "../../src/train/index.ts";
import { EarlyStopping, runLoop, type TrainLoop, type ValScore } from "../../src/train/loop.ts";
import { synthExams } from "./synthetic.ts";

setNumThreads(1);
const live = () => memoryStats().liveTensors;

/**
 * Two models in one [2] tensor: every step adds 1 to both (so a model's value = steps taken), and each
 * epoch's validation metric per model comes from a script.
 */
function toyLoop(w: Tensor, metrics: number[][], over: Partial<TrainLoop> = {}): TrainLoop {
  let epoch = 0;
  return {
    n: 4,
    batchSize: 2,
    maxEpochs: metrics.length,
    rng: Rng.derive(1, "toy"),
    models: 2,
    patience: 2,
    improvement: "strict",
    restoreBest: true,
    tensorsOf: (k) => [w.narrow(0, k, 1)],
    step: () => {
      w.add_(1);
    },
    validate: (): ValScore[] => metrics[epoch++]!.map((metric) => ({ metric, loss: 0 })),
    ...over,
  };
}

// Epoch metrics: model 0 peaks at epoch 2 and stops at epoch 4 (patience 2); model 1 improves to epoch 5.
const SCRIPT = [
  [0.5, 0.1],
  [0.9, 0.2],
  [0.8, 0.3],
  [0.7, 0.4],
  [0.9, 0.5],
];

test("loop: each model stops on its own and gets its best epoch's state back", () => {
  const before = live();
  const w = tensor([0, 0]).keep();
  const run = runLoop(toyLoop(w, SCRIPT));
  // 2 steps per epoch; model 0's best was after epoch 2 (4 steps), model 1's after epoch 5 (10 steps).
  assert.deepEqual(w.toArray(), [4, 10]);
  assert.equal(run.steps, 10);
  assert.deepEqual(run.models, [
    { epochs: 4, bestEpoch: 2, bestValMetric: 0.9, stoppedEarly: true },
    { epochs: 5, bestEpoch: 5, bestValMetric: 0.5, stoppedEarly: false },
  ]);
  w.dispose();
  assert.equal(live(), before, "snapshots freed");
});

test("loop: restoreBest false keeps each model's state at its stop (Keras), the others train on", () => {
  const w = tensor([0, 0]).keep();
  try {
    runLoop(toyLoop(w, SCRIPT, { restoreBest: false }));
    // Model 0 stopped after epoch 4 (8 steps), although the module trained on to epoch 5.
    assert.deepEqual(w.toArray(), [8, 10]);
  } finally {
    w.dispose();
  }
});

test("loop: each step is told which models are still training", () => {
  const w = tensor([0, 0]).keep();
  try {
    const seen: string[] = [];
    runLoop(
      toyLoop(w, SCRIPT, {
        step: (_idx, active) => {
          seen.push(active.map((a) => (a ? 1 : 0)).join(""));
          w.add_(1);
        },
      }),
    );
    // Model 0 stops at epoch 4: the fifth epoch's two steps train model 1 alone.
    assert.deepEqual(seen, ["11", "11", "11", "11", "11", "11", "11", "11", "01", "01"]);
  } finally {
    w.dispose();
  }
});

test("loop: training ends when every model has stopped; no validation means no stopping", () => {
  const w = tensor([0, 0]).keep();
  try {
    const flat = Array.from({ length: 10 }, () => [0.5, 0.5]);
    const run = runLoop(toyLoop(w, flat, { patience: 3 }));
    assert.equal(run.steps, 8, "both stop after epoch 4");
    assert.deepEqual(w.toArray(), [2, 2], "the first epoch was the best of both");
    const epochs: (ValScore[] | null)[] = [];
    const open = runLoop(
      toyLoop(w, flat, { validate: undefined, endEpoch: (_e, scores) => epochs.push(scores) }),
    );
    assert.equal(open.steps, 20);
    assert.deepEqual(epochs, new Array(10).fill(null));
    assert.deepEqual(open.models[0], { epochs: 10, bestEpoch: 0, bestValMetric: null, stoppedEarly: false });
  } finally {
    w.dispose();
  }
});

test("early stopping: strict (Keras) against the loss tie-break", () => {
  const strict = new EarlyStopping(5, "strict");
  const tie = new EarlyStopping(5, "loss-tie-break");
  for (const s of [strict, tie]) assert.equal(s.update({ metric: 0.7, loss: 1 }, 1), "improved");
  assert.equal(strict.update({ metric: 0.7, loss: 0.5 }, 2), "waiting");
  assert.equal(tie.update({ metric: 0.7, loss: 0.5 }, 2), "improved");
  assert.equal(tie.update({ metric: 0.7 + 1e-12, loss: 0.6 }, 3), "waiting", "within 1e-9, higher loss");
  assert.equal(tie.bestEpoch, 2);
});

test("loop: a step that throws frees the snapshots; the trainer's state stays its own", () => {
  const w = tensor([0, 0]).keep();
  const before = live();
  let steps = 0;
  const failing = toyLoop(w, SCRIPT, {
    step: () => {
      if (++steps === 7) throw new Error("injected step failure");
      w.add_(1);
    },
  });
  assert.throws(() => runLoop(failing), /injected step failure/);
  assert.equal(live(), before);
  w.dispose();
});

const D = 8;
const train = synthExams({ n: 48, featureDim: D, seed: 1 });
const val = synthExams({ n: 16, featureDim: D, seed: 2, prefix: "v" });

function small(name: "deepliver2-fast" | "liverstiff", head: Record<string, unknown>): Recipe {
  const r = loadRecipe(name);
  return parseRecipe({
    ...r,
    head: { ...r.head, ...head },
    training: { ...r.training, batchSize: 16, maxEpochs: 6, patience: 50 },
  });
}
const RECIPES: [string, Recipe][] = [
  ["deepliver2", small("deepliver2-fast", { hidden: [16, 8, 4] })],
  ["liverstiff", small("liverstiff", { pca: 4, dim: 8, attnDim: 8, hidden: 8, ensemble: 2 })],
];

for (const [name, recipe] of RECIPES) {
  test(`${name}: training leaves no native tensor behind, whether it returns or throws mid-way`, () => {
    const before = live();
    trainModel(recipe, { train, val }).dispose();
    assert.equal(live(), before, "after training and dispose()");
    let epochs = 0;
    const onProgress = () => {
      // The second ensemble member (liverstiff) or the fourth epoch (deepliver2) fails.
      if (++epochs === 8 || (name === "deepliver2" && epochs === 4)) throw new Error("injected failure");
    };
    assert.throws(() => trainModel(recipe, { train, val, onProgress }), /injected failure/);
    assert.equal(live(), before, "after a failure mid-training");
  });
}
