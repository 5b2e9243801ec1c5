// Fine-tuning (recipe encoder.finetune): a tiny engine CNN registered as an encoder, trained with the
// liverstiff head on small synthetic slices whose bright blob encodes the stiffness. Checks that the
// encoder's weights move and the training loss falls, determinism, the save/load round trip (encoder
// weights in the file), frozen BatchNorm statistics, that frozen recipes are unchanged, and the errors.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { LiverstiffError } from "../../src/core/index.ts";
import {
  type ExamFeatures,
  loadTorchScriptEncoder,
  type ModuleEncoder,
  registerEncoder,
} from "../../src/features/index.ts";
import { memoryStats, setNumThreads, type Tensor } from "../../src/torch/index.ts";
import {
  auroc,
  FINETUNE_DEFAULTS,
  loadTrainedModel,
  parseRecipe,
  type SliceLoader,
  trainModel,
} from "../../src/train/index.ts";
import { held, loader, recipe, SIZE, tinyEncoder, train, val } from "./finetune-fixture.ts";

setNumThreads(1);
const dir = mkdtempSync(join(tmpdir(), "finetune-"));
registerEncoder({
  name: "test-torchscript",
  description: "test",
  inputSize: SIZE,
  create: () =>
    loadTorchScriptEncoder(fileURLToPath(new URL("../fixtures/features/ts_encoder.pt", import.meta.url)), {
      inputSize: 32,
      channels: 3,
    }),
});
registerEncoder({
  name: "test-not-a-module",
  description: "test",
  inputSize: SIZE,
  create: () => ({
    identity: { name: "test-not-a-module", weightsSha256: "x", featureDim: 4, inputSize: SIZE },
    encode: (_s, n) => new Float32Array(n * 4),
    dispose: () => {},
  }),
});

function encoderTensors(sd: Map<string, Tensor>, prefix = "encoder.0."): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v.toFloat32Array());
  return out;
}

const fresh = tinyEncoder() as ModuleEncoder;
const start = new Map([...fresh.module.stateDict()].map(([k, v]) => [k, v.toFloat32Array()]));
fresh.dispose();

test("recipes: fine-tuning fields get defaults only when finetune is set; frozen recipes resolve as before", () => {
  const frozen = parseRecipe({ ...recipe(), encoder: { name: "default" } });
  assert.deepEqual(frozen.encoder, { name: "default", frozen: true, finetune: false });
  const ft = parseRecipe({ ...recipe(), encoder: { name: "default", finetune: true } });
  assert.deepEqual(ft.encoder, {
    name: "default",
    frozen: false,
    finetune: true,
    lr: FINETUNE_DEFAULTS.lr,
    batchNorm: "frozen",
  });
  assert.throws(
    () => parseRecipe({ ...recipe(), encoder: { finetune: true, lr: 0 } }),
    (e: unknown) => e instanceof LiverstiffError && /field "encoder\.lr"/.test(e.message),
  );
  assert.throws(
    () => parseRecipe({ ...recipe(), encoder: { finetune: true, batchNorm: "sometimes" } }),
    /field "encoder\.batchNorm"/,
  );
});

test("fine-tuning trains the encoder, lowers the training loss, keeps BatchNorm statistics, and is deterministic", () => {
  const r = recipe();
  const a = trainModel(r, { train, val, seed: 3, slices: loader });
  const b = trainModel(r, { train, val, seed: 3, slices: loader });
  try {
    const m = a.summary.models[0]!;
    assert.ok(m.trainLoss, "fine-tuning records the training loss");
    assert.ok(m.trainLoss.last < m.trainLoss.first, `loss ${m.trainLoss.first} -> ${m.trainLoss.last}`);
    assert.deepEqual(a.summary.finetune, {
      encoder: "test-tiny-cnn",
      encoderLr: 3e-3,
      batchNorm: "frozen",
      device: "cpu",
    });
    const after = encoderTensors(a.stateDict());
    assert.deepEqual([...after.keys()].sort(), [...start.keys()].sort());
    let moved = 0;
    for (const [k, v] of after) {
      const before = start.get(k)!;
      const changed = v.some((x, i) => x !== before[i]);
      if (/running_mean|running_var|num_batches_tracked/.test(k)) assert.ok(!changed, `${k} changed`);
      else if (changed) moved++;
    }
    assert.ok(moved >= 4, `only ${moved} encoder parameters changed`);
    const pa = a.predict(held);
    assert.deepEqual(b.predict(held), pa, "same seed, same predictions");
    for (const p of pa) {
      assert.equal(p.probabilities.length, 5);
      for (let k = 1; k < 5; k++) assert.ok(p.probabilities[k]! <= p.probabilities[k - 1]!);
      assert.deepEqual(Object.keys(p.attention!).sort(), ["t1_in", "t2"]);
    }
    const auc = auroc(
      held.map((e) => (e.kpa! >= 3 ? 1 : 0)),
      pa.map((p) => p.probabilities[1]!),
    );
    assert.ok(auc > 0.7, `held-out AUROC at 3.0 kPa ${auc}`);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test("BatchNorm statistics update when encoder.batchNorm is train", () => {
  const m = trainModel(recipe({ encoder: { batchNorm: "train" }, training: { maxEpochs: 1 } }), {
    train,
    val: [],
    seed: 3,
    slices: loader,
  });
  try {
    const mean = encoderTensors(m.stateDict()).get("blocks.0.bn.running_mean")!;
    assert.ok(mean.some((x, i) => x !== start.get("blocks.0.bn.running_mean")![i]));
  } finally {
    m.dispose();
  }
});

test("a saved fine-tuned model holds its encoder and predicts identically after loading", () => {
  const m = trainModel(recipe({ head: { ensemble: 2 }, training: { maxEpochs: 3 } }), {
    train,
    val,
    seed: 9,
    slices: loader,
  });
  const path = join(dir, "ft.safetensors");
  try {
    const want = m.predict(held);
    m.save(path);
    const again = loadTrainedModel(path, { slices: loader });
    try {
      assert.deepEqual(again.predict(held), want);
      assert.equal(again.summary.finetune?.encoder, "test-tiny-cnn");
      assert.ok([...again.stateDict().keys()].some((k) => k.startsWith("encoder.1.")));
    } finally {
      again.dispose();
    }
    const later = loadTrainedModel(path);
    try {
      assert.throws(() => later.predict(held), /no slice loader/);
      later.useSlices!(loader);
      assert.deepEqual(later.predict(held), want);
    } finally {
      later.dispose();
    }
  } finally {
    m.dispose();
  }
});

test("a frozen recipe ignores the slice loader: same predictions with and without it", () => {
  const r = parseRecipe({ ...recipe(), encoder: { name: "test-tiny-cnn" } });
  const withFeatures = (xs: ExamFeatures[]) =>
    xs.map((e, i) => ({
      ...e,
      featureDim: 2,
      roles: {
        t1_in: Float32Array.from({ length: 6 }, (_, k) => Math.log(e.kpa!) + ((i * 7 + k) % 5) * 0.1),
      },
    }));
  const [tr, va, te] = [withFeatures(train), withFeatures(val), withFeatures(held)];
  const a = trainModel(r, { train: tr, val: va, seed: 1 });
  const b = trainModel(r, { train: tr, val: va, seed: 1, slices: loader });
  try {
    assert.equal(a.useSlices, undefined);
    assert.equal(a.summary.finetune, undefined);
    assert.deepEqual(b.predict(te), a.predict(te));
  } finally {
    a.dispose();
    b.dispose();
  }
});

test("fine-tuning leaves no native tensor behind, whether it returns or a slice read fails mid-way", () => {
  const live = () => memoryStats().liveTensors;
  const r = recipe({ head: { ensemble: 2 }, training: { maxEpochs: 2 } });
  const before = live();
  trainModel(r, { train, val, seed: 3, slices: loader }).dispose();
  assert.equal(live(), before, "after training and dispose()");
  let reads = 0;
  // Fails in the second epoch of the second member: two encoders and heads, its optimizer state and its
  // best-state snapshot exist (32 training + 12 validation reads an epoch, 32 for the starting statistics).
  const failing: SliceLoader = (id) => {
    if (++reads === 180) throw new Error("disk gone");
    return loader(id);
  };
  assert.throws(() => trainModel(r, { train, val, seed: 3, slices: failing }), /disk gone/);
  assert.equal(live(), before, "after a failure mid-training");
});

test("clear errors: unsupported head, TorchScript or non-Module encoder, no slices, unreadable exam", () => {
  const isErr = (re: RegExp) => (e: unknown) => e instanceof LiverstiffError && re.test(e.message);
  const dl2 = parseRecipe({
    name: "ft-dl2",
    encoder: { name: "test-tiny-cnn", finetune: true },
    head: { kind: "deepliver2", hidden: [8], slices: 3 },
    preparation: { slices: 3 },
    training: {
      optimizer: "adamax",
      lr: 1e-3,
      batchSize: 4,
      maxEpochs: 1,
      patience: 1,
      earlyStopping: "val_accuracy",
    },
  });
  assert.throws(
    () => trainModel(dl2, { train, val, slices: loader }),
    isErr(/recipe ft-dl2: field "encoder\.finetune": fine-tuning supports the liverstiff head only/),
  );
  assert.throws(
    () => trainModel(recipe({ encoder: { name: "test-torchscript" } }), { train, val, slices: loader }),
    isErr(
      /recipe ft-test: field "encoder\.finetune": encoder "torchscript:ts_encoder\.pt" is a TorchScript module/,
    ),
  );
  assert.throws(
    () => trainModel(recipe({ encoder: { name: "test-not-a-module" } }), { train, val, slices: loader }),
    isErr(/encoder "test-not-a-module" is not an engine Module/),
  );
  assert.throws(
    () => trainModel(recipe({ encoder: { name: "no-such-encoder" } }), { train, val, slices: loader }),
    isErr(/recipe ft-test: field "encoder\.name": cannot create encoder "no-such-encoder"/),
  );
  assert.throws(() => trainModel(recipe(), { train, val }), isErr(/recipe ft-test: .*no slice loader/));
  const missing = [...train.slice(0, 8), { ...train[8]!, examId: "ghost" }];
  assert.throws(
    () => trainModel(recipe({ training: { maxEpochs: 1 } }), { train: missing, val: [], slices: loader }),
    isErr(/exam ghost: cannot read its prepared slices/),
  );
});

test("data-parallel fine-tuning: two ranks give one process's model (no dropout, BatchNorm frozen)", async (t) => {
  const { distributedAvailable } = await import("../../src/torch/index.ts");
  if (!distributedAvailable()) return t.skip("the addon was built without Gloo (libgloo-dev)");
  const { spawn } = await import("node:child_process");
  const { readFileSync } = await import("node:fs");
  const worker = fileURLToPath(new URL("./finetune-parallel-worker.ts", import.meta.url));
  const run = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const c = spawn(process.execPath, ["--import", "tsx", worker, ...args], {
        stdio: ["ignore", "inherit", "pipe"],
      });
      let err = "";
      c.stderr.on("data", (d) => {
        err += d;
      });
      c.on("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(`rank ${args[2]}: exit ${code}: ${err}`)),
      );
    });
  const { freePort } = await import("../fixtures/net.ts");
  const port = await freePort();
  const files = ["one", "r0", "r1"].map((n) => join(dir, `dp-${n}.json`));
  await run([files[0]!, "1", "0", "0"]);
  await Promise.all([run([files[1]!, "2", "0", String(port)]), run([files[2]!, "2", "1", String(port)])]);
  type Out = { probabilities: number[][]; trainLoss: { first: number; last: number } };
  const [one, r0, r1] = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as Out);
  assert.deepEqual(r1!.probabilities, r0!.probabilities, "the ranks hold the same model");
  const worst = Math.max(
    ...one!.probabilities.flat().map((p, i) => Math.abs(p - r0!.probabilities.flat()[i]!)),
  );
  assert.ok(worst < 1e-4, `largest probability difference from one process: ${worst}`);
  assert.ok(
    Math.abs(one!.trainLoss.first - r0!.trainLoss.first) < 1e-4,
    "the reported loss is the whole batch's",
  );
});
