// Misuse gets an Error carrying libtorch's message, and the process carries on.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as torch from "../../src/torch/index.ts";

const F = torch.functional;

test("shape mismatch in broadcasting and matmul", () => {
  torch.tidy(() => {
    assert.throws(
      () => torch.ones([2, 3]).add(torch.ones([4])),
      /size of tensor a \(3\) must match the size of tensor b \(4\)/,
    );
    assert.throws(
      () => torch.ones([2, 3]).matmul(torch.ones([2, 3])),
      /cannot be multiplied \(2x3 and 2x3\)/,
    );
    assert.throws(() => torch.ones([6]).view([4]), /shape '\[4\]' is invalid for input of size 6/);
    assert.throws(
      () => F.conv2d(torch.ones([1, 3, 8, 8]), torch.ones([4, 2, 3, 3])),
      /expected input\[1, 3, 8, 8\] to have 2 channels/,
    );
    assert.throws(
      () => torch.cat([torch.ones([2, 2]), torch.ones([3, 3])], 0),
      /Sizes of tensors must match/,
    );
  });
});

test("wrong dtype", () => {
  torch.tidy(() => {
    assert.throws(
      () => F.crossEntropy(torch.ones([2, 3]), torch.ones([2])),
      /expected scalar type Long but found Float/,
    );
    assert.throws(
      () => torch.ones([2]).indexSelect(0, torch.ones([1])),
      /index_select\(\): Expected dtype int(32|64)/,
    );
    assert.throws(
      () => torch.ones([2]).matmul(torch.ones([2], { dtype: "float64" })),
      /expected .*(Float|Double)/i,
    );
    assert.throws(
      () => torch.tensor(new Float32Array(3), { shape: [2, 2] }),
      /typed array has 12 bytes, shape needs 16/,
    );
  });
});

test("use after dispose, in JS and in the addon", () => {
  const t = torch.ones([2]);
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.add(1), /Tensor used after dispose\(\)/);
  assert.throws(() => t.shape, /Tensor used after dispose\(\)/);
  t.dispose(); // idempotent
  const inScope = torch.tidy(() => {
    const tmp = torch.ones([2]);
    return { tmp, kept: tmp.mul(2) };
  });
  assert.equal(inScope.kept.sum().item(), 4);
  const freed = torch.tidy(() => torch.ones([3]).mul(2) && torch.zeros([1]).add(0));
  assert.equal(freed.item(), 0);
  let leaked: torch.Tensor | undefined;
  torch.tidy(() => {
    leaked = torch.ones([2]);
  });
  assert.throws(() => leaked!.sum(), /used after dispose\(\).*freed explicitly or by the scope/);
  torch.dispose(inScope);
});

test("out of memory is an Error, not an abort", () => {
  torch.tidy(() => {
    assert.throws(
      () => torch.empty([2 ** 40, 2 ** 10]),
      /not enough memory|out of memory|bad_alloc|allocate/i,
    );
    assert.equal(torch.ones([2]).sum().item(), 2);
  });
});

test("garbage passed to the raw binding is an Error", async () => {
  const { native } = await import("../../src/torch/native.ts");
  assert.throws(() => native.shape("not an id" as unknown as number), /expected a Tensor|number/i);
  assert.throws(() => native.shape(123456789), /used after it was disposed/);
  assert.throws(() => native.call(999999), /unknown operator index/);
  assert.throws(() => native.fromTypedArray(new Float32Array(2), [2], 999, false), /./);
  assert.throws(() => native.moduleCall(42, "forward", []), /used after it was disposed/);
});

test("unsupported layouts give libtorch's message (a sparse tensor has no flat data)", () => {
  torch.tidy(() => {
    const sparse = torch.callOp("aten::to_sparse", torch.eye(3)) as torch.Tensor;
    assert.deepEqual(sparse.shape, [3, 3]);
    assert.throws(() => sparse.toFloat32Array(), /not defined for sparse tensors/);
    const dense = torch.callOp("aten::to_dense", sparse, null) as torch.Tensor;
    assert.deepEqual(dense.toArray(), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });
});

test("autograd misuse", () => {
  torch.tidy(() => {
    assert.throws(() => torch.ones([2]).sum().backward(), /does not require grad/);
    const w = torch.ones([3], { requiresGrad: true });
    assert.throws(() => w.mul(2).backward(), /grad can be implicitly created only for scalar outputs/);
    const y = w.mul(w).sum();
    y.backward();
    assert.throws(() => y.backward(), /backward through the graph a second time/);
    assert.throws(() => w.add_(1), /leaf Variable that requires grad is being used in an in-place operation/);
    assert.throws(() => {
      w.grad = torch.ones([4]);
    }, /assigned grad has data of a different size/);
    assert.throws(() => {
      w.grad = torch.ones([3], { dtype: "float64" });
    }, /assigned grad has data of a different type/);
  });
});

test("argument errors from the binding", () => {
  torch.tidy(() => {
    assert.throws(() => torch.callOp("aten::no_such_op"), /no operator aten::no_such_op/);
    assert.throws(() => torch.callOp("aten::add.Tensor", torch.ones([1])), /argument 'other' is required/);
    assert.throws(() => torch.callOp("aten::relu", 3), /used after it was disposed|expected a Tensor/);
    assert.throws(() => torch.setNumThreads(0), /positive integer/);
  });
});

test("the process carries on after errors: a training step still works", () => {
  torch.tidy(() => {
    const w = torch.zeros([2], { requiresGrad: true });
    try {
      w.add(torch.ones([3]));
    } catch {
      // expected
    }
    w.mul(torch.tensor([1, 2]))
      .sum()
      .backward();
    assert.deepEqual(w.grad!.toArray(), [1, 2]);
  });
});
