// Grad-CAM beyond the project's CNN: a ResNet-18 (torchvision layout, its batch norms folded as for frozen
// features) and a small Swin transformer, both with seeded random weights at a 64-pixel input so that the
// test stays cheap. For every layer the cut encoder is the encoder (features to 1e-5); the gradient that
// weighs the channels is the derivative of the logit (central finite differences along random
// directions); and through a deepliver2 head trained on each encoder's features, the explained
// probability is predict()'s and the maps lie on the prepared grid at the layer's resolution.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { camEncoderOf, GradCam, layerGradCam, PREDICT_TOLERANCE } from "../../src/explain/index.ts";
import {
  computeFeatures,
  type Encoder,
  type ExamFeatures,
  IMAGENET_NORMALIZE,
  ModuleEncoder,
} from "../../src/features/index.ts";
import { backboneSpec, SwinTransformer } from "../../src/nn/models/index.ts";
import { manualSeed, noGrad, randn, type Tensor, tidy } from "../../src/torch/index.ts";
import { loadRecipe, parseRecipe, type TrainedModel, trainModel } from "../../src/train/index.ts";
import { type ExplainCohort, explainCohort } from "./cohort.ts";

const SIZE = 64;

function resnetEncoder(seed: number): ModuleEncoder {
  manualSeed(seed);
  const net = backboneSpec("resnet18")!.build();
  (net as { fuseForInference?: () => void }).fuseForInference?.();
  return new ModuleEncoder(
    net,
    { name: "resnet18", weightsSha256: `random-init:${seed}`, featureDim: 512, inputSize: SIZE },
    { batchSize: 16, channels: 3, normalize: IMAGENET_NORMALIZE },
  );
}

function swinEncoder(seed: number): ModuleEncoder {
  manualSeed(seed);
  const net = new SwinTransformer({ embedDim: 16, depths: [2, 2, 2], numHeads: [1, 2, 4], windowSize: 4 });
  return new ModuleEncoder(
    net,
    { name: "swin-small-test", weightsSha256: `random-init:${seed}`, featureDim: 64, inputSize: SIZE },
    { batchSize: 16, channels: 3, normalize: IMAGENET_NORMALIZE },
  );
}

const ENCODERS: { name: string; make: () => ModuleEncoder; layers: string[]; lastSize: number }[] = [
  {
    name: "ResNet-18",
    make: () => resnetEncoder(11),
    layers: ["layer1", "layer2", "layer3", "layer4"],
    lastSize: 2,
  },
  { name: "Swin", make: () => swinEncoder(12), layers: ["stage 1", "stage 2", "stage 3"], lastSize: 4 },
];

const tmp = mkdtempSync(join(tmpdir(), "liverstiff-cam-encoders-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let cohort: ExplainCohort;
before(async () => {
  cohort = await explainCohort(tmp, { exams: 16, seed: 405, recipe: "deepliver2-fast", organs: false });
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const spec of ENCODERS) {
  describe(`Grad-CAM on a ${spec.name} encoder`, () => {
    let encoder: ModuleEncoder;
    before(() => {
      encoder = spec.make();
    });
    after(() => encoder.dispose());

    it("cut at every layer, the two halves are the encoder", () => {
      const cam = camEncoderOf(encoder);
      assert.equal(cam.layers, spec.layers.length);
      assert.equal(cam.defaultLayer, spec.layers.length - 1);
      manualSeed(3);
      const x = randn([3, 1, SIZE, SIZE]);
      try {
        const whole = noGrad(() => tidy(() => encoder.forward(x).contiguous().toFloat32Array()));
        spec.layers.forEach((name, k) => {
          assert.equal(cam.layerName(k), name);
          const cut = noGrad(() =>
            tidy(() => {
              const { activations, carry } = cam.toLayer(x, k);
              return cam.fromLayer(activations, k, carry).contiguous().toFloat32Array();
            }),
          );
          assert.ok(maxAbsDiff(cut, whole) < 1e-5, `${name}: ${maxAbsDiff(cut, whole)}`);
        });
      } finally {
        x.dispose();
      }
    });

    it("weighs the channels by the logit's gradient (central differences)", () => {
      const cam = camEncoderOf(encoder);
      const layer = cam.defaultLayer;
      manualSeed(4);
      const x = randn([2, 1, SIZE, SIZE]);
      const w = randn([encoder.identity.featureDim]).mul(0.05);
      const probabilityOf = (f: Tensor) => f.matmul(w).sum().sigmoid();
      const logitAt = (a: Tensor, carry: Tensor[]) =>
        noGrad(() =>
          tidy(() => {
            const p = probabilityOf(cam.fromLayer(a, layer, carry));
            return p.log().sub(p.rsub(1).log()).item();
          }),
        );
      try {
        const r = layerGradCam(cam, x, layer, SIZE, probabilityOf);
        const { activations, carry } = noGrad(() => cam.toLayer(x, layer));
        assert.deepEqual(r.activations.shape, activations.shape);
        assert.equal(r.activations.size(2), spec.lastSize);
        for (let trial = 0; trial < 3; trial++) {
          const v = randn(activations.shape);
          const eps = 1e-2;
          const up = logitAt(activations.add(v.mul(eps)), carry);
          const down = logitAt(activations.sub(v.mul(eps)), carry);
          const numeric = (up - down) / (2 * eps);
          const analytic = r.gradient.mul(v).sum().item();
          assert.ok(
            Math.abs(numeric - analytic) <= 5e-3 * Math.max(1, Math.abs(analytic)),
            `trial ${trial}: ${numeric} vs ${analytic}`,
          );
          v.dispose();
        }
        assert.deepEqual(r.maps.shape, [2, SIZE, SIZE]);
        const maps = r.maps.contiguous().toFloat32Array();
        assert.ok(maps.every((m) => m >= 0 && Number.isFinite(m)));
        assert.ok(
          maps.some((m) => m > 0),
          "a map of zeros everywhere",
        );
      } finally {
        x.dispose();
        w.dispose();
      }
    });

    it("through a trained deepliver2 head: predict()'s probability, maps on the prepared grid", async () => {
      const exams: ExamFeatures[] = await computeFeatures({
        workdir: cohort.workdir,
        prep: cohort.prepName,
        encoder: encoder as Encoder,
      });
      const r = loadRecipe("deepliver2-fast");
      let model: TrainedModel | undefined;
      let gradCam: GradCam | undefined;
      try {
        model = trainModel(
          parseRecipe(
            { ...r, head: { ...r.head, hidden: [16, 8] }, training: { ...r.training, maxEpochs: 10 } },
            "deepliver2-small",
          ),
          { train: exams.slice(0, 10), val: exams.slice(10, 13) },
        );
        const test = exams.slice(13);
        const p = model.predict(test).map((q) => q.probabilities[1]!);
        gradCam = new GradCam(encoder, [model]);
        assert.equal(gradCam.layer, spec.layers.length - 1);
        test.forEach((e, i) => {
          const prepared = cohort.prepared(e.examId);
          const cam = gradCam!.explain(e, prepared, 3.0);
          assert.ok(Math.abs(cam.probability - p[i]!) < PREDICT_TOLERANCE, `${cam.probability} vs ${p[i]}`);
          assert.equal(cam.layerName, spec.layers.at(-1));
          assert.equal(cam.layerSize, spec.lastSize);
          assert.equal(cam.size, prepared.height);
          for (const m of Object.values(cam.maps)) {
            assert.equal(m!.length, prepared.slices * prepared.height * prepared.width);
            assert.ok(m!.every((v) => v >= 0 && Number.isFinite(v)));
          }
        });
      } finally {
        gradCam?.dispose();
        model?.dispose();
      }
    });
  });
}

describe("Grad-CAM refuses what it cannot cut", () => {
  it("names an encoder that is none of the CNN, ResNet or Swin", () => {
    const other = new ModuleEncoder(
      new SwinTransformer({ embedDim: 8, depths: [1], numHeads: [1], windowSize: 4 }),
      { name: "x", weightsSha256: "random-init:0", featureDim: 8, inputSize: 32 },
    );
    try {
      const fake = { identity: { ...other.identity, name: "torchscript:model.pt" } } as unknown as Encoder;
      assert.throws(() => camEncoderOf(fake), /torchscript:model\.pt is none of them/);
      assert.throws(() => new GradCam(other, [], { layer: 3 }), /no such encoder layer: 3/);
    } finally {
      other.dispose();
    }
  });
});
