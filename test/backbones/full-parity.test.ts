// Full-size parity with torchvision 0.14 (swin_t, swin_b, resnet18, resnet50; seeded random weights),
// run by hand because Swin-B is heavy on a CPU:
//   /usr/bin/python3 scripts/parity/backbones_fixtures.py full /tmp/ls-full
//   LIVERSTIFF_FULL_PARITY=/tmp/ls-full npm test -- backbones/full
// Skipped when LIVERSTIFF_FULL_PARITY is unset. Prints the measured max abs differences.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ScriptModule } from "../../src/nn/index.ts";
import { resnet, swin } from "../../src/nn/models/index.ts";
import { noGrad, tidy } from "../../src/torch/index.ts";
import { loadSeeded, maxAbs, maxAbsDiff, readFixtures, seededInput } from "./helpers.ts";

const dir = process.env.LIVERSTIFF_FULL_PARITY;
const TOL = 1e-4;

test("full-size backbones match torchvision (features within 1e-4 max abs)", {
  skip: !dir && "set LIVERSTIFF_FULL_PARITY",
}, () => {
  const fx = readFixtures(join(dir!, "backbones_full.json"));
  for (const [name, f] of Object.entries(fx.models)) {
    const model =
      name === "swin_t" || name === "swin_b" ? swin(name) : resnet(name as "resnet18" | "resnet50");
    try {
      model.eval();
      loadSeeded(model, f);
      const { d, dm } = noGrad(() =>
        tidy(() => {
          const { pooled, maps } = model.forwardFeatures(seededInput(f));
          assert.deepEqual(pooled.shape, f.pooled_shape);
          const d = maxAbsDiff(pooled.toFloat32Array(), f.pooled);
          const dm = Math.max(
            ...maps.map((m, i) => maxAbsDiff(m.mean([2, 3]).toFloat32Array(), f.map_means[i])),
          );
          return { d, dm };
        }),
      );
      console.log(
        `${name} vs torchvision ${fx.torchvision}: pooled features max abs diff ${d.toExponential(2)} ` +
          `(max |feature| ${maxAbs(f.pooled).toFixed(3)}), stage-map channel means ${dm.toExponential(2)}`,
      );
      assert.ok(d <= TOL && dm <= TOL, name);
    } finally {
      model.dispose();
    }
  }
  // A torch.jit.trace of torchvision's resnet18 (with its fc) runs as a ScriptModule.
  const traced = ScriptModule.load(join(dir!, "resnet18.pt"));
  try {
    traced.eval();
    const f = fx.models.resnet18;
    const logits = noGrad(() => tidy(() => traced.forward(seededInput(f)).toFloat32Array()));
    const d = maxAbsDiff(logits, f.logits!);
    console.log(`traced torchvision resnet18 (TorchScript): logits max abs diff ${d.toExponential(2)}`);
    assert.ok(d <= TOL);
  } finally {
    traced.dispose();
  }
});
