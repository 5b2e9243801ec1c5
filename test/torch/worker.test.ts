// The addon is context-aware: it loads in worker threads, each with its own handle table.
import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnWorker } from "../../src/core/index.ts";
import * as torch from "../../src/torch/index.ts";

function runWorker(seed: number, steps: number): Promise<{ w: number[]; live: number }> {
  const worker = spawnWorker(new URL("./worker-boot.mjs", import.meta.url), { workerData: { seed, steps } });
  return new Promise((resolve, reject) => {
    worker.once("message", (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once("error", reject);
  });
}

test("two workers train at once while the main thread uses its own tensors", async () => {
  const mainTensor = torch.tensor([1, 2, 3]);
  const [a, b] = await Promise.all([runWorker(1, 200), runWorker(2, 200)]);
  for (const r of [a, b]) {
    assert.equal(r.w.length, 3);
    for (const [i, v] of [1.5, -2, 0.5].entries())
      assert.ok(Math.abs(r.w[i]! - v) < 1e-3, `w[${i}] = ${r.w[i]}`);
    assert.ok(r.live >= 5); // each worker has its own table (w, x, trueW, y, ones)
  }
  // The main thread's handle table is untouched by the workers.
  assert.deepEqual(mainTensor.toArray(), [1, 2, 3]);
  mainTensor.dispose();
});

test("a worker can be started again after one was terminated", async () => {
  const r = await runWorker(3, 5);
  assert.equal(r.w.length, 3);
});
