import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  bfloat16ToFloat,
  describeError,
  floatToBfloat16,
  floatToHalf,
  halfToFloat,
  LiverstiffError,
} from "../../src/core/index.ts";
import {
  parseSafetensors,
  type RawTensor,
  rawTensor,
  rawTensorToFloat32,
  rawTensorValues,
  readSafetensors,
  SAFETENSORS_ITEMSIZE,
  serializeSafetensors,
  writeSafetensors,
} from "../../src/nn/safetensors.ts";

const fixtures = new URL("../fixtures/nn/", import.meta.url);
const fixture = (name: string) => new URL(name, fixtures).pathname;

/** Builds a file by hand: header JSON (unpadded) + data bytes. */
function handMade(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectError(fn: () => unknown, pattern: RegExp, tensor?: string): LiverstiffError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LiverstiffError, `expected LiverstiffError, got ${String(err)}`);
    assert.match(err.message, pattern);
    if (tensor !== undefined) assert.equal(err.context.tensor, tensor);
    return err;
  }
  assert.fail(`expected an error matching ${pattern}`);
}

test("safetensors: reads the PyTorch-written fixture with every dtype it holds", () => {
  const { tensors, metadata } = readSafetensors(fixture("layers.safetensors"));
  assert.equal(metadata.seed, "7");
  const w = tensors.get("linear.weight")!;
  assert.equal(w.dtype, "F32");
  assert.deepEqual(w.shape, [5, 7]);
  assert.equal(rawTensorValues(w).length, 35);
  const ids = tensors.get("in.emb")!;
  assert.equal(ids.dtype, "I64");
  assert.deepEqual([...(rawTensorValues(ids) as BigInt64Array)], [1n, 4n, 9n, 0n, 0n, 3n]);
  const mask = tensors.get("in.mha.key_padding_mask")!;
  assert.equal(mask.dtype, "BOOL");
  assert.deepEqual([...rawTensorValues(mask)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  const nbt = tensors.get("bn.num_batches_tracked")!;
  assert.equal(nbt.dtype, "I64");
  assert.deepEqual(nbt.shape, []);
});

test("safetensors: F16 and BF16 decode and encode exactly as torch .half() / .bfloat16()", () => {
  const { tensors } = readSafetensors(fixture("layers.safetensors"));
  const src = rawTensorToFloat32(tensors.get("conv.f32")!);
  const half = rawTensorValues(tensors.get("conv.f16")!) as Uint16Array;
  const bf = rawTensorValues(tensors.get("conv.bf16")!) as Uint16Array;
  for (let i = 0; i < src.length; i++) {
    assert.equal(floatToHalf(src[i]), half[i], `f16 encode of ${src[i]}`);
    assert.equal(floatToBfloat16(src[i]), bf[i], `bf16 encode of ${src[i]}`);
    assert.equal(floatToHalf(halfToFloat(half[i])), half[i]);
    assert.equal(floatToBfloat16(bfloat16ToFloat(bf[i])), bf[i]);
  }
  // 2049 is not representable in f16; ties round to even (2048)
  assert.equal(halfToFloat(floatToHalf(2049)), 2048);
  assert.equal(halfToFloat(0x7c00), Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.equal(halfToFloat(0x0001), 2 ** -24);
});

test("safetensors: write/read round trip keeps names, dtypes, shapes, values and metadata", () => {
  const dir = mkdtempSync(join(tmpdir(), "ls-st-"));
  try {
    const path = join(dir, "w.safetensors");
    const tensors: Record<string, RawTensor> = {
      "a.weight": rawTensor("F32", [2, 3], new Float32Array([1, 2, 3, 4, 5, 6.5])),
      "b.f64": rawTensor("F64", [2], new Float64Array([Math.PI, -1e300])),
      "c.half": rawTensor(
        "F16",
        [3],
        new Uint16Array([floatToHalf(1), floatToHalf(-0.5), floatToHalf(1000)]),
      ),
      "c.bf": rawTensor("BF16", [1], new Uint16Array([floatToBfloat16(3)])),
      "d.i64": rawTensor("I64", [], new BigInt64Array([-(2n ** 62n)])),
      "e.i32": rawTensor("I32", [2, 1], new Int32Array([-7, 2147483647])),
      "f.u8": rawTensor("U8", [3], new Uint8Array([0, 128, 255])),
      "g.bool": rawTensor("BOOL", [2], new Uint8Array([1, 0])),
      "h.empty": rawTensor("F32", [0, 4], new Float32Array(0)),
    };
    writeSafetensors(path, tensors, { format: "pt", note: "ü" });
    assert.deepEqual(readdirSync(dir), ["w.safetensors"], "no temporary file left behind");
    const bytes = readFileSync(path);
    const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    assert.equal(headerLen % 8, 0, "header padded to 8 bytes");
    const back = readSafetensors(path);
    assert.deepEqual(back.metadata, { format: "pt", note: "ü" });
    assert.deepEqual([...back.tensors.keys()].sort(), Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const r = back.tensors.get(name)!;
      assert.equal(r.dtype, t.dtype, name);
      assert.deepEqual(r.shape, t.shape, name);
      assert.deepEqual([...r.bytes], [...t.bytes], name);
      const fileOffset = r.bytes.byteOffset - bytes.byteOffset;
      assert.equal(fileOffset % SAFETENSORS_ITEMSIZE[r.dtype], 0, `${name} aligned in the file`);
    }
    assert.equal((rawTensorValues(back.tensors.get("b.f64")!) as Float64Array)[0], Math.PI);
    assert.equal((rawTensorValues(back.tensors.get("d.i64")!) as BigInt64Array)[0], -(2n ** 62n));
    // 8-byte tensors first, so every tensor lands aligned to its itemsize
    const order = [...back.tensors.keys()];
    assert.deepEqual(order.slice(0, 2), ["b.f64", "d.i64"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("safetensors: re-serializing a PyTorch-written file reproduces it byte for byte", () => {
  for (const name of ["layers.safetensors", "conv_initial.safetensors", "ts_batches.safetensors"]) {
    const bytes = readFileSync(fixture(name));
    const { tensors, metadata } = parseSafetensors(bytes, name);
    const again = serializeSafetensors(tensors, Object.keys(metadata).length ? metadata : undefined);
    assert.equal(Buffer.compare(Buffer.from(again), bytes), 0, name);
  }
});

test("safetensors: truncated files name the file and the first tensor that does not fit", () => {
  const bytes = readFileSync(fixture("conv_initial.safetensors"));
  const { tensors } = parseSafetensors(bytes, "x");
  const names = [...tensors.keys()];
  // Cut the file inside the third tensor's bytes.
  const third = tensors.get(names[2])!;
  const cut = third.bytes.byteOffset - bytes.byteOffset + 3;
  const err = expectError(
    () => parseSafetensors(bytes.subarray(0, cut), "cut.safetensors"),
    /cut\.safetensors.*truncated/,
    names[2],
  );
  assert.equal(err.context.file, "cut.safetensors");
  assert.match(describeError(err), /file=cut\.safetensors/);
  expectError(() => parseSafetensors(bytes.subarray(0, 5), "tiny"), /shorter than the 8-byte header length/);
  expectError(() => parseSafetensors(bytes.subarray(0, 40), "half-header"), /runs past the end of the file/);
  // and through the file reader
  const dir = mkdtempSync(join(tmpdir(), "ls-st-"));
  try {
    const path = join(dir, "trunc.safetensors");
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    const e = expectError(() => readSafetensors(path), /truncated/);
    assert.equal(e.context.file, path);
    assert.equal(e.context.tensor, names.at(-1));
    expectError(() => readSafetensors(join(dir, "absent.safetensors")), /cannot read safetensors file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("safetensors: corrupt headers are rejected with the offending tensor named", () => {
  const data = new Uint8Array(16);
  const ok = {
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
  };
  assert.equal(parseSafetensors(handMade(ok, data)).tensors.size, 2);
  expectError(
    () => parseSafetensors(handMade({ ...ok, b: { dtype: "F32", shape: [3], data_offsets: [8, 16] } }, data)),
    /needs 12/,
    "b",
  );
  expectError(
    () => parseSafetensors(handMade({ ...ok, b: { dtype: "Q4", shape: [2], data_offsets: [8, 16] } }, data)),
    /unsupported dtype/,
    "b",
  );
  expectError(
    () => parseSafetensors(handMade({ ...ok, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, data)),
    /overlap/,
    "b",
  );
  expectError(
    () => parseSafetensors(handMade({ a: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, data)),
    /gap/,
    "a",
  );
  expectError(
    () => parseSafetensors(handMade({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, data)),
    /8 bytes after the last tensor/,
  );
  expectError(
    () => parseSafetensors(handMade({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, data)),
    /shape/,
    "a",
  );
  expectError(
    () => parseSafetensors(handMade({ a: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, data)),
    /data_offsets/,
    "a",
  );
  expectError(() => parseSafetensors(handMade({ __metadata__: { k: 1 } }, new Uint8Array())), /__metadata__/);
  expectError(() => parseSafetensors(handMade([1, 2], new Uint8Array())), /header/);
  const garbage = handMade(ok, data);
  garbage[8] = 0x78; // header no longer starts with '{'
  expectError(() => parseSafetensors(garbage), /start with/);
  const badJson = handMade(ok, data);
  badJson[12] = 0x7d;
  expectError(() => parseSafetensors(badJson, "bad.json"), /bad\.json.*not valid UTF-8 JSON/);
  const huge = handMade(ok, data);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
  expectError(() => parseSafetensors(huge), /exceeds/);
});

test("safetensors: the writer refuses inconsistent tensors instead of writing a corrupt file", () => {
  assert.throws(
    () => serializeSafetensors({ a: { dtype: "F32", shape: [3], bytes: new Uint8Array(8) } }),
    /needs 12/,
  );
  assert.throws(
    () => serializeSafetensors({ __metadata__: rawTensor("U8", [1], new Uint8Array(1)) }),
    /reserved/,
  );
  assert.throws(() => rawTensor("F32", [2, 2], new Float32Array(3)), /needs 16 bytes/);
  assert.throws(() => rawTensor("F64", [2], new Float32Array(4)), /does not match/);
});
