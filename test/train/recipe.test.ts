import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import { BUILTIN_RECIPES, loadRecipe, parseRecipe } from "../../src/train/index.ts";

const dir = mkdtempSync(join(tmpdir(), "recipes-"));

function base(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(loadRecipe("deepliver2")));
}

function errorOf(fn: () => unknown): LiverstiffError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LiverstiffError, `expected a LiverstiffError, got ${err}`);
    return err;
  }
  assert.fail("expected an error");
}

test("every shipped recipe loads and resolves", () => {
  for (const name of BUILTIN_RECIPES) {
    const r = loadRecipe(name);
    assert.equal(r.name, name);
    assert.equal(r.encoder.frozen, true);
    assert.equal(r.encoder.finetune, false);
  }
});

test("deepliver2 recipe carries the published hyper-parameters", () => {
  const r = loadRecipe("deepliver2");
  assert.equal(r.head.kind, "deepliver2");
  if (r.head.kind !== "deepliver2") return;
  assert.deepEqual(r.head.hidden, [4096, 1024, 256]);
  assert.equal(r.head.l2, 1e-4);
  assert.deepEqual(r.head.inputs, ["t2", "t1"]);
  assert.equal(r.head.slices, 5);
  assert.equal(r.training.optimizer, "adamax");
  assert.equal(r.training.batchSize, 4);
  assert.equal(r.training.maxEpochs, 100);
  assert.equal(r.training.patience, 20);
  assert.equal(r.training.earlyStopping, "val_accuracy");
  assert.equal(r.training.seed, 42);
  assert.equal(r.training.classWeighting, "balanced");
});

test("liverstiff recipe: ordinal head on every role, AUROC early stopping", () => {
  const r = loadRecipe("liverstiff");
  assert.equal(r.head.kind, "liverstiff");
  if (r.head.kind !== "liverstiff") return;
  assert.deepEqual(r.head.roles, ["t1_in", "t1_opp", "t2"]);
  assert.equal(r.training.earlyStopping, "val_auroc_3_0");
});

test("defaults are filled in for omitted optional fields", () => {
  const r = parseRecipe({
    name: "mini",
    head: { kind: "liverstiff" },
    training: {
      optimizer: "adamw",
      lr: 1e-3,
      batchSize: 16,
      maxEpochs: 10,
      patience: 3,
      earlyStopping: "val_loss",
    },
  });
  assert.equal(r.preparation.slices, 5);
  assert.equal(r.encoder.name, "default");
  assert.equal(r.training.seed, 42);
  if (r.head.kind === "liverstiff") assert.equal(r.head.ensemble, 3);
});

test("invalid values name the field", () => {
  const r = base();
  (r.training as Record<string, unknown>).lr = -1;
  const e = errorOf(() => parseRecipe(r, "my.json"));
  assert.match(e.message, /my\.json/);
  assert.match(e.message, /field "training\.lr"/);
  assert.equal(e.context.field, "training.lr");
});

test("unknown keys, wrong kinds and missing sections are errors naming the field", () => {
  const r = base();
  (r.training as Record<string, unknown>).learningRate = 1;
  assert.match(errorOf(() => parseRecipe(r)).message, /learningRate/);
  const k = base();
  (k.head as Record<string, unknown>).kind = "transformer";
  assert.match(errorOf(() => parseRecipe(k)).message, /field "head\.kind"/);
  const m = base();
  delete m.training;
  assert.match(errorOf(() => parseRecipe(m)).message, /field "training"/);
  const h = base();
  (h.head as Record<string, unknown>).hidden = [4096, -2];
  assert.match(errorOf(() => parseRecipe(h)).message, /field "head\.hidden\.\[1\]"|field "head\.hidden\.1"/);
});

test("head slices beyond the prepared slices are rejected", () => {
  const r = base();
  (r.head as Record<string, unknown>).slices = 7;
  assert.match(errorOf(() => parseRecipe(r)).message, /head\.slices/);
});

test("files: JSON and YAML load; bad syntax, unknown names and missing files are clear errors", () => {
  const json = join(dir, "copy.json");
  writeFileSync(json, JSON.stringify({ ...base(), name: "copy" }));
  assert.equal(loadRecipe(json).name, "copy");
  const yaml = join(dir, "r.yaml");
  writeFileSync(
    yaml,
    "name: y\nhead:\n  kind: liverstiff\n  dim: 32\ntraining:\n  optimizer: adamw\n  lr: 0.001\n  batchSize: full\n  maxEpochs: 5\n  patience: 2\n  earlyStopping: val_auroc_3_0\n",
  );
  const y = loadRecipe(yaml);
  assert.equal(y.training.batchSize, "full");
  if (y.head.kind === "liverstiff") assert.equal(y.head.dim, 32);
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{ not json");
  assert.match(errorOf(() => loadRecipe(bad)).message, /not valid JSON/);
  assert.match(errorOf(() => loadRecipe("no-such-recipe")).message, /unknown recipe "no-such-recipe"/);
  assert.match(errorOf(() => loadRecipe(join(dir, "absent.json"))).message, /does not exist/);
});
