// Scopes, dispose, keep, finalizers and the memory V8 is told about.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as torch from "../../src/torch/index.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

test("tidy frees temporaries and keeps what it returns, nested", () => {
  const before = torch.memoryStats().liveTensors;
  const result = torch.tidy(() => {
    const a = torch.ones([4]);
    const inner = torch.tidy(() => {
      const b = a.mul(3);
      const c = b.add(1);
      return [c, { d: c.mul(2) }];
    });
    assert.equal(torch.memoryStats().liveTensors, before + 3); // a, c, d
    const total = (inner[0] as torch.Tensor).add((inner[1] as { d: torch.Tensor }).d);
    return total;
  });
  assert.equal(torch.memoryStats().liveTensors, before + 1);
  assert.deepEqual(result.toArray(), [12, 12, 12, 12]);
  result.dispose();
  assert.equal(torch.memoryStats().liveTensors, before);
});

test("tidy frees everything when fn throws", () => {
  const before = torch.memoryStats().liveTensors;
  assert.throws(() =>
    torch.tidy(() => {
      torch.ones([10]);
      torch.zeros([10]).add(torch.ones([3]));
    }),
  );
  assert.equal(torch.memoryStats().liveTensors, before);
});

test("keep() survives scopes; dispose() walks containers", () => {
  const before = torch.memoryStats().liveTensors;
  let kept: torch.Tensor | undefined;
  torch.tidy(() => {
    torch.tidy(() => {
      kept = torch.ones([2]).keep();
    });
  });
  assert.equal(
    torch.tidy(() => kept!.sum().item()),
    2,
  );
  const map = new Map([["w", torch.ones([1])]]);
  torch.dispose([kept, { map }]);
  assert.equal(kept!.isDisposed, true);
  assert.equal(map.get("w")!.isDisposed, true);
  assert.equal(torch.memoryStats().liveTensors, before);
});

test("a class instance holding a tensor: reached through [scopeResources], refused without it", () => {
  const before = torch.memoryStats().liveTensors;
  class Pair {
    constructor(
      readonly a: torch.Tensor,
      readonly b: torch.Tensor,
    ) {}
    [torch.scopeResources]() {
      return [this.a, this.b];
    }
  }
  const pair = torch.tidy(() => new Pair(torch.ones([2]), torch.zeros([2]).add(1)));
  assert.equal(pair.a.isDisposed, false);
  assert.deepEqual(pair.b.toArray(), [1, 1]);
  torch.dispose(pair);
  assert.equal(torch.memoryStats().liveTensors, before);
  // Without the declaration the scope cannot see the tensor: an error naming the class, never a silent free.
  class Hidden {
    constructor(readonly t: torch.Tensor) {}
  }
  assert.throws(
    () => torch.tidy(() => new Hidden(torch.ones([3]))),
    /holds a tensor inside a Hidden instance, which the scope cannot see/,
  );
  assert.equal(torch.memoryStats().liveTensors, before, "the scope still freed what it made");
  // A class instance holding only kept tensors (a module's parameters) is returned as it is.
  const kept = torch.ones([1]).keep();
  const holder = torch.tidy(() => new Hidden(kept));
  assert.equal(holder.t.isDisposed, false);
  kept.dispose();
  // Typed arrays are data, not containers.
  assert.deepEqual(torch.tidy(() => ({ x: new Float32Array(3) })).x.length, 3);
});

test("results nested deeper than MAX_RESULT_DEPTH are refused; `using` frees at the block's end", () => {
  const before = torch.memoryStats().liveTensors;
  assert.throws(
    () =>
      torch.tidy(() => {
        let v: unknown = torch.ones([1]);
        for (let i = 0; i <= torch.MAX_RESULT_DEPTH; i++) v = [v];
        return v;
      }),
    /nested deeper than 32 levels/,
  );
  assert.equal(torch.memoryStats().liveTensors, before);
  let seen: torch.Tensor | undefined;
  {
    using t = torch.ones([4]);
    seen = t;
    assert.equal(torch.memoryStats().liveTensors, before + 1);
  }
  assert.equal(seen.isDisposed, true);
  assert.equal(torch.memoryStats().liveTensors, before);
});

test("grad handles and in-place results inside scopes", () => {
  const w = torch.ones([3], { requiresGrad: true });
  for (let i = 0; i < 3; i++) {
    torch.tidy(() => {
      w.mul(2).sum().backward();
      const g = w.grad!;
      assert.deepEqual(g.toArray(), [2 * (i + 1), 2 * (i + 1), 2 * (i + 1)]);
    });
  }
  // The grad handle was freed by its scope, but the gradient itself lives on in w.
  assert.deepEqual(
    torch.tidy(() => w.grad!.toArray()),
    [6, 6, 6],
  );
  w.zeroGrad();
  assert.equal(w.grad, null);
  w.dispose();
});

test("views keep their base storage alive after the base is disposed", () => {
  const base = torch.arange(6, undefined, 1, { dtype: "float32" });
  const view = base.narrow(0, 2, 3);
  base.dispose();
  assert.deepEqual(view.toArray(), [2, 3, 4]);
  view.dispose();
});

test("native bytes are reported to V8 and released", () => {
  const start = torch.memoryStats().externalBytes;
  const big = torch.zeros([1 << 20]); // 4 MiB
  assert.equal(torch.memoryStats().externalBytes - start, 4 << 20);
  const view = big.view([1024, 1024]); // shares storage: not counted twice
  assert.equal(torch.memoryStats().externalBytes - start, 4 << 20);
  big.dispose();
  view.dispose();
  assert.equal(torch.memoryStats().externalBytes, start);
});

test("the finalizer frees tensors that were never disposed", async () => {
  gc();
  await new Promise((r) => setTimeout(r, 10));
  const before = torch.memoryStats().liveTensors;
  (() => {
    for (let i = 0; i < 100; i++) torch.ones([8]);
  })();
  assert.equal(torch.memoryStats().liveTensors, before + 100);
  for (let i = 0; i < 10 && torch.memoryStats().liveTensors > before; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  // <= rather than ===: garbage left by earlier tests may be finalized in the same sweep.
  assert.ok(
    torch.memoryStats().liveTensors <= before,
    `${torch.memoryStats().liveTensors} live, ${before} before`,
  );
});

test("fromBuffer keeps the JS buffer alive through the tensor", async () => {
  let t: torch.Tensor | undefined = (() => torch.fromBuffer(new Float32Array([1, 2, 3])))();
  gc();
  await new Promise((r) => setTimeout(r, 10));
  gc();
  assert.deepEqual(t.toArray(), [1, 2, 3]);
  t.dispose();
  t = undefined;
});

test("noGrad turns recording off and restores it, also on throw", () => {
  torch.tidy(() => {
    const w = torch.ones([2], { requiresGrad: true });
    const y = torch.noGrad(() => w.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(torch.isGradEnabled(), true);
    assert.throws(() =>
      torch.noGrad(() => {
        throw new Error("boom");
      }),
    );
    assert.equal(torch.isGradEnabled(), true);
    assert.equal(
      torch.noGrad(() => torch.enableGrad(() => w.mul(2)).requiresGrad),
      true,
    );
    const [g] = torch.grad(w.mul(w).sum(), [w]);
    assert.deepEqual(g!.toArray(), [2, 2]);
    assert.equal(w.grad, null); // torch.grad does not accumulate
    assert.equal(w.detach().requiresGrad, false);
  });
});

test("inferenceMode: no graph, inference tensors, nesting, restored on throw", () => {
  torch.tidy(() => {
    const w = torch.ones([2], { requiresGrad: true });
    const y = torch.inferenceMode(() => {
      assert.equal(torch.isInferenceModeEnabled(), true);
      return w.mul(3);
    });
    assert.equal(torch.isInferenceModeEnabled(), false);
    assert.equal(y.requiresGrad, false);
    assert.equal(y.isInference, true);
    assert.equal(w.mul(3).isInference, false);
    assert.deepEqual(y.toArray(), [3, 3]);
    assert.throws(() =>
      torch.inferenceMode(() => {
        throw new Error("boom");
      }),
    );
    assert.equal(torch.isInferenceModeEnabled(), false);
    // Inference tensors cannot be saved for backward.
    assert.throws(() => w.mul(y).sum().backward(), /Inference tensors cannot be saved for backward/);
    assert.equal(y.clone().isInference, false);
  });
});

test("threads: default is all cores, settable", () => {
  const n = torch.getNumThreads();
  assert.ok(n >= 1);
  torch.setNumThreads(1);
  assert.equal(torch.getNumThreads(), 1);
  torch.setNumThreads(n);
  assert.equal(torch.getNumThreads(), n);
  assert.equal(typeof torch.cuda.isAvailable(), "boolean");
});
