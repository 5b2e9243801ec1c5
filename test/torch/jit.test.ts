// TorchScript modules: load, forward, parameters as live tensors, train/eval, save.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as torch from "../../src/torch/index.ts";
import { assertClose } from "./helpers.ts";

const affinePath = fileURLToPath(new URL("../fixtures/torch/affine.pt", import.meta.url));

test("forward, parameters, buffers, train/eval", () =>
  torch.tidy(() => {
    const m = torch.ScriptModuleHandle.load(affinePath);
    try {
      const x = torch.tensor([[1, 1, 1]]);
      m.eval();
      assert.equal(m.training, false);
      // [1+2+3+0.1+0.5, -1+0.5+0.2-0.5]
      assertClose((m.forward(x) as torch.Tensor).toFloat32Array(), [6.6, -0.8], 1e-6);
      m.train();
      assertClose((m.forward(x) as torch.Tensor).toFloat32Array(), [13.2, -1.6], 1e-6);
      const params = new Map(m.namedParameters());
      assert.deepEqual([...params.keys()], ["linear.weight", "linear.bias"]);
      assert.deepEqual(params.get("linear.weight")!.shape, [2, 3]);
      assert.deepEqual(
        m.namedBuffers().map(([n]) => n),
        ["offset"],
      );
      // Parameters alias the module: training them changes its forward.
      torch.noGrad(() => params.get("linear.bias")!.add_(1));
      m.eval();
      assertClose((m.forward(x) as torch.Tensor).toFloat32Array(), [7.6, 0.2], 1e-6);
      // Gradients flow into the module's parameters.
      (m.forward(x) as torch.Tensor).sum().backward();
      assertClose(params.get("linear.weight")!.grad!.toFloat32Array(), [1, 1, 1, 1, 1, 1]);
      const dir = mkdtempSync(join(tmpdir(), "liverstiff-jit-"));
      try {
        m.save(join(dir, "copy.pt"));
        const copy = torch.ScriptModuleHandle.load(join(dir, "copy.pt"));
        copy.eval();
        assertClose((copy.forward(x) as torch.Tensor).toFloat32Array(), [7.6, 0.2], 1e-6);
        copy.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      m.dispose();
    }
    assert.throws(() => m.forward(torch.ones([1, 3])), /used after dispose/);
  }));

test("loading errors and wrong inputs are Errors", () =>
  torch.tidy(() => {
    assert.throws(
      () => torch.ScriptModuleHandle.load("/nonexistent/model.pt"),
      /open file failed|No such file|cannot/i,
    );
    const m = torch.ScriptModuleHandle.load(affinePath);
    assert.throws(
      () => m.forward(torch.ones([1, 4])),
      /shapes cannot be multiplied|size mismatch|mat1 and mat2/,
    );
    m.dispose();
  }));
