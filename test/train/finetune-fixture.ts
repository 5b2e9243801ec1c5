// The fine-tuning tests' small world (test/train/finetune.test.ts and the data-parallel worker): a tiny
// engine CNN registered as an encoder, and exams whose slices hold noise plus a bright blob that encodes
// the stiffness.
import {
  type Encoder,
  type ExamFeatures,
  LiverCnn,
  ModuleEncoder,
  registerEncoder,
} from "../../src/features/index.ts";
import { manualSeed } from "../../src/torch/index.ts";
import { type PreparedSlices, parseRecipe, type Recipe, type SliceLoader } from "../../src/train/index.ts";

export const SIZE = 16;
export const SLICES = 3;

export function tinyEncoder(): Encoder {
  manualSeed(5); // the "pretrained" weights: the same at every creation
  const cnn = new LiverCnn({ channels: [4, 8], pooled: [0, 1], inputSize: SIZE });
  return new ModuleEncoder(cnn, {
    name: "test-tiny-cnn",
    weightsSha256: "random-init:5",
    featureDim: cnn.featureDim,
    inputSize: SIZE,
  });
}
registerEncoder({ name: "test-tiny-cnn", description: "test", inputSize: SIZE, create: tinyEncoder });

/** A small deterministic generator (xorshift) for the synthetic images. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const slicesById = new Map<string, PreparedSlices>();
export const loader: SliceLoader = (id) => {
  const p = slicesById.get(id);
  if (!p) throw new Error(`no slices for ${id}`);
  return p;
};

/** Exams whose slices hold noise plus a blob whose brightness grows with log kPa; t1_opp is missing. */
export function exams(n: number, seed: number, prefix: string): ExamFeatures[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const kpa = 1.8 + 4.5 * r();
    const examId = `${prefix}${i}`;
    const roles: PreparedSlices["roles"] = {};
    for (const role of ["t1_in", "t2"] as const) {
      const v = new Float32Array(SLICES * SIZE * SIZE);
      for (let k = 0; k < v.length; k++) v[k] = (r() - 0.5) * 1.5;
      const level = Math.log(kpa / 3) * 2;
      for (let s = 0; s < SLICES; s++)
        for (let y = 5; y < 11; y++) for (let x = 5; x < 11; x++) v[s * SIZE * SIZE + y * SIZE + x]! += level;
      roles[role] = v;
    }
    slicesById.set(examId, { slices: SLICES, height: SIZE, width: SIZE, roles });
    // Features are not read when fine-tuning (the model encodes the slices); metadata and roles are.
    return {
      examId,
      patientKey: `p-${examId}`,
      site: i % 2 ? "A" : "B",
      ageYears: 40 + (i % 30),
      sex: i % 3 ? "M" : "F",
      kpa,
      slices: SLICES,
      featureDim: 1,
      roles: { t1_in: new Float32Array(SLICES), t2: new Float32Array(SLICES) },
    };
  });
}

export const train = exams(32, 11, "tr");
export const val = exams(12, 12, "va");
export const held = exams(24, 13, "te");

export function recipe(over: { encoder?: object; head?: object; training?: object } = {}): Recipe {
  return parseRecipe({
    name: "ft-test",
    encoder: { name: "test-tiny-cnn", finetune: true, lr: 3e-3, ...over.encoder },
    head: {
      kind: "liverstiff",
      pca: 0,
      dim: 8,
      attnDim: 8,
      heads: 1,
      hidden: 8,
      dropout: 0,
      tokenDropout: 0,
      ensemble: 1,
      ...over.head,
    },
    training: {
      optimizer: "adamw",
      lr: 3e-3,
      batchSize: 8,
      maxEpochs: 12,
      patience: 50,
      earlyStopping: "val_auroc_3_0",
      ...over.training,
    },
  });
}
