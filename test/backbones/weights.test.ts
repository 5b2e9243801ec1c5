// Weights files that do not fit: wrong architecture, truncated, renamed, corrupted layout or checksum;
// name mapping and the geometry that Swin's weights rely on (relative position index, shifted-window mask).
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import { type RawTensor, readSafetensors, writeSafetensors } from "../../src/nn/index.ts";
import {
  detectScheme,
  inspectBackboneWeights,
  loadBackboneWeights,
  mapKey,
  relativePositionIndex,
  resnet,
  SwinTransformer,
  sha256File,
  shiftedWindowMask,
  WeightsMismatchError,
} from "../../src/nn/models/index.ts";
import { tidy } from "../../src/torch/index.ts";
import { fixture } from "./helpers.ts";

const MINI = { embedDim: 12, depths: [2, 2, 2, 2], numHeads: [1, 2, 4, 8] };

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "ls-bbw-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("relative position index: timm's layout (corners, centre, range)", () => {
  const idx = relativePositionIndex(7);
  assert.equal(idx.length, 49 * 49);
  // token 0 = (0,0) vs token 0: (0 + 6) * 13 + (0 + 6) = 84, the table's centre.
  assert.equal(idx[0], 84);
  // token 0 = (0,0) vs token 48 = (6,6): dy = dx = -6 -> 0.
  assert.equal(idx[48], 0);
  // token 48 vs token 0: dy = dx = 6 -> 12 * 13 + 12 = 168, the last row of the 169-row table.
  assert.equal(idx[48 * 49], 168);
  // token 1 = (0,1) vs token 7 = (1,0): dy = -1, dx = 1 -> 5 * 13 + 7 = 72.
  assert.equal(idx[1 * 49 + 7], 72);
  assert.equal(Math.max(...idx), 168);
});

test("shifted-window mask: one region in the top-left window, regions split at the shifted borders", () => {
  const m = shiftedWindowMask(14, 14, 7, 3); // 4 windows
  const n = 49;
  assert.equal(m.length, 4 * n * n);
  // Window 0 lies wholly in region (0, 0): nothing masked.
  assert.ok(m.subarray(0, n * n).every((v) => v === 0));
  // Window 3 (bottom-right) holds 4 regions: token (0,0) and token (6,6) differ, tokens (0,0) and (3,3) are
  // both in region rows [7, 11), cols [7, 11) -> same region.
  const w3 = m.subarray(3 * n * n, 4 * n * n);
  assert.equal(w3[0 * n + 48], -100);
  assert.equal(w3[0 * n + 3 * 7 + 3], 0);
  // Window 1 (top-right): rows all in region 0, columns split at 14 - 3 = 11 -> window cols 0..3 vs 4..6.
  const w1 = m.subarray(1 * n * n, 2 * n * n);
  assert.equal(w1[0 * n + 3], 0);
  assert.equal(w1[0 * n + 4], -100);
});

test("torchvision, timm < 0.9 and timm >= 0.9 names map onto the model's", () => {
  const tv = ["features.0.0.weight", "features.1.0.attn.qkv.weight", "features.2.reduction.weight"];
  assert.equal(detectScheme(tv, "swin"), "torchvision");
  assert.equal(mapKey("features.0.0.weight", "torchvision", "swin"), "patch_embed.proj.weight");
  assert.equal(mapKey("features.0.2.bias", "torchvision", "swin"), "patch_embed.norm.bias");
  assert.equal(
    mapKey("features.5.17.mlp.3.weight", "torchvision", "swin"),
    "layers.2.blocks.17.mlp.fc2.weight",
  );
  assert.equal(mapKey("features.1.0.mlp.0.bias", "torchvision", "swin"), "layers.0.blocks.0.mlp.fc1.bias");
  assert.equal(mapKey("features.6.norm.weight", "torchvision", "swin"), "layers.3.downsample.norm.weight");
  assert.equal(mapKey("head.weight", "torchvision", "swin"), "head.fc.weight");
  assert.equal(detectScheme(["layers.0.downsample.reduction.weight", "norm.weight"], "swin"), "timm-legacy");
  assert.equal(detectScheme(["module.head.weight"], "swin"), "timm-legacy");
  assert.equal(
    mapKey("layers.2.downsample.norm.bias", "timm-legacy", "swin"),
    "layers.3.downsample.norm.bias",
  );
  assert.equal(mapKey("module.head.bias", "timm-legacy", "swin"), "head.fc.bias");
  assert.equal(detectScheme(["layers.1.downsample.reduction.weight", "head.fc.weight"], "swin"), "timm");
  assert.equal(
    mapKey("layers.1.blocks.0.attn.proj.weight", "timm", "swin"),
    "layers.1.blocks.0.attn.proj.weight",
  );
  assert.equal(mapKey("module.layer1.0.conv1.weight", "timm", "resnet"), "layer1.0.conv1.weight");
});

test("a file for another architecture names the first mismatched tensors and leaves the model unchanged", () => {
  // The reduced Swin file loaded into a Swin-T-shaped model of the same depth (embed 96).
  const wide = new SwinTransformer({ ...MINI, embedDim: 96, numHeads: [3, 6, 12, 24] });
  const before = tidy(() => wide.stateDict().get("patch_embed.proj.weight")!.toFloat32Array());
  try {
    assert.throws(
      () => loadBackboneWeights(wide, fixture("swin_mini.safetensors"), "swin", { label: "swin_t" }),
      (err: unknown) => {
        assert.ok(err instanceof WeightsMismatchError && err instanceof LiverstiffError);
        assert.match(
          err.message,
          /does not fit swin_t \(torchvision names.*first: patch_embed\.proj\.weight \(file \[12, 3, 4, 4\], swin_t \[96, 3, 4, 4\]\)/,
        );
        assert.equal(err.context.first, "patch_embed.proj.weight");
        assert.equal(err.context.file, fixture("swin_mini.safetensors"));
        return true;
      },
    );
    const after = tidy(() => wide.stateDict().get("patch_embed.proj.weight")!.toFloat32Array());
    assert.deepEqual(after, before);
  } finally {
    wide.dispose();
  }
  // A Swin file into a ResNet: every tensor is unexpected, every ResNet tensor missing.
  const r = resnet("resnet18");
  try {
    const { check } = inspectBackboneWeights(r, fixture("swin_mini.safetensors"), "resnet");
    assert.equal(check.ok, false);
    assert.equal(check.matched, 0);
    assert.equal(check.missing[0], "conv1.weight");
    assert.ok(check.unexpected.includes("features.0.0.weight"));
  } finally {
    r.dispose();
  }
});

test("a deeper model lists the blocks missing from the file; a truncated file names its first bad tensor", () => {
  withDir((dir) => {
    const deeper = new SwinTransformer({ ...MINI, depths: [2, 2, 4, 2] });
    try {
      assert.throws(
        () => loadBackboneWeights(deeper, fixture("swin_mini.safetensors"), "swin"),
        /tensors missing from the file, first: layers\.2\.blocks\.2\.norm1\.weight/,
      );
    } finally {
      deeper.dispose();
    }
    const bytes = readFileSync(fixture("swin_mini.safetensors"));
    const cut = join(dir, "cut.safetensors");
    writeFileSync(cut, bytes.subarray(0, bytes.length - 1000));
    const model = new SwinTransformer(MINI);
    try {
      assert.throws(
        () => loadBackboneWeights(model, cut, "swin"),
        (err: unknown) => err instanceof LiverstiffError && err.message.includes(cut),
      );
    } finally {
      model.dispose();
    }
  });
});

test("checksum and relative-position layout are checked before use", () => {
  withDir((dir) => {
    const model = new SwinTransformer(MINI);
    try {
      const good = fixture("swin_mini.safetensors");
      const sha = sha256File(good);
      assert.equal(loadBackboneWeights(model, good, "swin", { expectedSha256: sha }).sha256, sha);
      assert.throws(
        () => loadBackboneWeights(model, good, "swin", { expectedSha256: "0".repeat(64) }),
        /has sha256 [0-9a-f]{64}, expected 0{64}/,
      );
      // A file whose relative_position_index is not timm's layout (e.g. transposed) is refused.
      const { tensors, metadata } = readSafetensors(good);
      const entries = [...tensors.entries()].map(([k, raw]) => {
        if (k !== "features.1.0.attn.relative_position_index") return [k, raw] as [string, RawTensor];
        const v = new BigInt64Array(
          raw.bytes.buffer.slice(raw.bytes.byteOffset, raw.bytes.byteOffset + raw.bytes.length),
        );
        const t = new BigInt64Array(v.length);
        for (let i = 0; i < 49; i++) for (let j = 0; j < 49; j++) t[i * 49 + j] = v[j * 49 + i];
        return [k, { dtype: raw.dtype, shape: raw.shape, bytes: new Uint8Array(t.buffer) }] as [
          string,
          RawTensor,
        ];
      });
      const bad = join(dir, "bad-index.safetensors");
      writeSafetensors(bad, entries, metadata);
      assert.throws(
        () => loadBackboneWeights(model, bad, "swin"),
        /relative_position_index differs from timm's layout in features\.1\.0\.attn\.relative_position_index/,
      );
      // A missing file.
      assert.throws(
        () => loadBackboneWeights(model, join(dir, "nope.safetensors"), "swin"),
        /weights file not found/,
      );
      copyFileSync(good, join(dir, "copy.safetensors"));
      assert.ok(loadBackboneWeights(model, join(dir, "copy.safetensors"), "swin").ok);
    } finally {
      model.dispose();
    }
  });
});
