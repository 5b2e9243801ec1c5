// Grad-CAM against PyTorch (scripts/parity/gradcam_fixtures.py, test/fixtures/explain/): on a small twin
// of the project's CNN in evaluation mode, the gradient of a score with respect to an intermediate block's
// activations, through the engine's autograd.grad on the non-leaf tensor and through explain/'s
// layerGradCam (the block's activations as a leaf), and the Grad-CAM maps, to 1e-5 relative.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { layerGradCam } from "../../src/explain/index.ts";
import { LiverCnn } from "../../src/features/index.ts";
import { loadTensors } from "../../src/nn/index.ts";
import { functional as F, grad, setNumThreads, type Tensor, tidy } from "../../src/torch/index.ts";

setNumThreads(1);
const { tensors } = loadTensors(new URL("../fixtures/explain/gradcam.safetensors", import.meta.url).pathname);
const ref = (name: string) => {
  const t = tensors.get(name);
  assert.ok(t, `fixture lacks ${name}`);
  return t;
};

function relDiff(actual: Tensor, expected: Tensor): number {
  assert.deepEqual(actual.shape, expected.shape);
  const a = actual.toFloat64Array();
  const b = expected.toFloat64Array();
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}

function twinCnn(): LiverCnn {
  const cnn = new LiverCnn({ channels: [4, 8, 8], pooled: [1, 2], inputSize: 32 });
  const state = new Map<string, Tensor>();
  for (const [k, v] of tensors) if (k.startsWith("cnn.")) state.set(k.slice(4), v);
  cnn.loadStateDict(state, { strict: false, source: "gradcam.safetensors" });
  cnn.eval();
  cnn.requiresGrad_(false);
  return cnn;
}

/** The fixture's head: Linear -> GELU -> Linear, output 1 summed over the batch. */
function score(features: Tensor): Tensor {
  const h = F.gelu(F.linear(features, ref("head.fc1.weight"), ref("head.fc1.bias")));
  return F.linear(h, ref("head.fc2.weight"), ref("head.fc2.bias")).select(1, 1).sum();
}

describe("Grad-CAM parity with PyTorch", () => {
  const cnn = twinCnn();

  it("the engine's autograd.grad gives PyTorch's gradient with respect to intermediate activations", () => {
    tidy(() => {
      const x = ref("x").clone().requiresGrad_(true);
      const { features, maps } = cnn.forwardMaps(x);
      const s = score(features);
      assert.ok(Math.abs(s.item() - ref("score").item()) < 1e-5 * Math.max(1, Math.abs(ref("score").item())));
      const [g1, g2] = grad(s, [maps[1]!, maps[2]!]);
      assert.ok(relDiff(g1!, ref("gradient.1")) < 1e-5, "block 1");
      assert.ok(relDiff(g2!, ref("gradient.2")) < 1e-5, "block 2");
    });
  });

  for (const layer of [1, 2]) {
    it(`layerGradCam at block ${layer}: activations, gradient and maps`, () => {
      tidy(() => {
        const r = layerGradCam(cnn, ref("x"), layer, 32, (f) => score(f).double().sigmoid());
        assert.ok(Math.abs(r.logit.item() - ref("score").item()) < 1e-5);
        assert.ok(relDiff(r.activations, ref(`activations.${layer}`)) < 1e-5, "activations");
        assert.ok(relDiff(r.gradient, ref(`gradient.${layer}`)) < 1e-5, "gradient");
        const d = relDiff(r.maps, ref(`cam.${layer}`));
        assert.ok(d < 1e-5, `maps: ${d}`);
      });
    });
  }
});
