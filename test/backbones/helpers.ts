// Shared by the backbone tests: fixture paths, seeded weights (regenerated exactly as
// scripts/parity/backbones_fixtures.py draws them) and difference measures.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Module } from "../../src/nn/index.ts";
import { type BackboneFamily, detectScheme, mapKey } from "../../src/nn/models/index.ts";
import { manualSeed, rand, randn, type Tensor, tidy } from "../../src/torch/index.ts";

export const fixture = (name: string) => new URL(`../fixtures/backbones/${name}`, import.meta.url).pathname;

export interface Recipe {
  name: string;
  shape: number[];
  draw: "randn" | "rand";
  mul: number;
  add: number;
}

export interface ModelFixture {
  kind: BackboneFamily;
  variant?: string;
  config?: { embedDim: number; depths: number[]; numHeads: number[] };
  weights_seed?: number;
  recipes?: Recipe[];
  input_seed: number;
  batch: number;
  file?: string;
  pooled: number[];
  pooled_shape: number[];
  map_shapes: number[][];
  map_means: number[][];
  logits?: number[];
}

export function readFixtures(path: string): {
  torch: string;
  torchvision: string;
  models: Record<string, ModelFixture>;
} {
  return JSON.parse(readFileSync(path, "utf8"));
}

/**
 * Loads the seeded weights of a fixture into a model: torch.manual_seed(seed), then every tensor of the
 * torchvision state dict in order drawn as randn(shape) * mul + add (rand for running variances); names
 * are mapped from torchvision's to the model's.
 */
export function loadSeeded(model: Module, f: ModelFixture): void {
  assert.ok(f.recipes && f.weights_seed !== undefined, "fixture has no seeded weights");
  tidy(() => {
    manualSeed(f.weights_seed!);
    const scheme = detectScheme(
      f.recipes!.map((r) => r.name),
      f.kind,
    );
    const state = new Map<string, Tensor>();
    for (const r of f.recipes!) {
      const t = (r.draw === "rand" ? rand(r.shape) : randn(r.shape)).mul(r.mul).add(r.add);
      const name = mapKey(r.name, scheme, f.kind);
      if (f.kind === "swin" ? name.startsWith("head.") : name.startsWith("fc.")) continue;
      state.set(name, t);
    }
    model.loadStateDict(state, { strict: false });
    const missing = [...model.stateDictShapes().keys()].filter(
      (k) => !state.has(k) && !k.endsWith("num_batches_tracked"),
    );
    assert.deepEqual(missing, [], "seeded weights cover the model");
  });
}

export function seededInput(f: ModelFixture): Tensor {
  manualSeed(f.input_seed);
  return randn([f.batch, 3, 224, 224]);
}

export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, "lengths");
  let d = 0;
  for (let i = 0; i < actual.length; i++) d = Math.max(d, Math.abs(actual[i] - expected[i]));
  return d;
}

/** Max |a| of a list, to show that a difference is small relative to the values. */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}
