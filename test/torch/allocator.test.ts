// The caching CPU allocator (native/src/allocator.cpp): a freed large block is handed out again instead of
// a fresh mapping, a reused block holds what the creation function says (zeros are zeros), small blocks
// and an exhausted cap go to the system, and LIVERSTIFF_CPU_CACHE_MB sets the cap (0: off).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as torch from "../../src/torch/index.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MiB = 1 << 20;

test("a freed large block is reused, and a reused block is filled as asked", () => {
  torch.emptyCpuCache();
  const before = torch.cpuCacheStats();
  assert.equal(before.cachedBytes, 0);
  // 3 MiB of float32: rounded up to 4 MiB (2 MiB steps).
  const a = torch.full([(3 * MiB) / 4], 7);
  const afterFirst = torch.cpuCacheStats();
  assert.equal(afterFirst.misses, before.misses + 1);
  assert.equal(afterFirst.liveLargeBytes, before.liveLargeBytes + 4 * MiB);
  a.dispose();
  assert.equal(torch.cpuCacheStats().cachedBytes, 4 * MiB, "kept after its tensor is freed");
  const b = torch.zeros([(3 * MiB) / 4]);
  const afterSecond = torch.cpuCacheStats();
  assert.equal(afterSecond.hits, before.hits + 1, "the kept block was handed out again");
  assert.equal(afterSecond.cachedBytes, 0);
  assert.ok(
    b.toFloat32Array().every((x) => x === 0),
    "zeros() on a reused block is zero",
  );
  b.dispose();
  torch.emptyCpuCache();
  assert.equal(torch.cpuCacheStats().cachedBytes, 0);
});

test("small tensors do not pass through the cache", () => {
  const before = torch.cpuCacheStats();
  torch.tidy(() => torch.ones([1000]).add(1).sum());
  const after = torch.cpuCacheStats();
  assert.equal(after.hits + after.misses, before.hits + before.misses);
});

function child(env: Record<string, string>) {
  const script = [
    "import * as torch from './src/torch/index.ts';",
    "for (let i = 0; i < 3; i++) torch.tidy(() => torch.ones([1 << 20]).mul(2).sum());",
    "const sum = torch.tidy(() => torch.ones([1 << 20]).mul(2).sum().item());",
    "console.log(JSON.stringify({ ...torch.cpuCacheStats(), sum }));",
  ].join("\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return r;
}

function childStats(env: Record<string, string>): torch.CpuCacheStats & { sum: number } {
  const r = child(env);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

test("LIVERSTIFF_CPU_CACHE_MB: the default keeps blocks, 0 turns the cache off, a small cap frees the rest", () => {
  const on = childStats({ LIVERSTIFF_CPU_CACHE_MB: "" });
  assert.equal(on.capBytes, 2048 * MiB);
  assert.ok(on.hits > 0, `hits ${on.hits}`);
  assert.equal(on.sum, 2 * (1 << 20));
  const off = childStats({ LIVERSTIFF_CPU_CACHE_MB: "0" });
  assert.equal(off.capBytes, 0);
  assert.equal(off.hits + off.misses, 0, "every allocation went to the system");
  assert.equal(off.sum, on.sum);
  // 4 MiB blocks against a 2 MiB cap: nothing can be kept.
  const tight = childStats({ LIVERSTIFF_CPU_CACHE_MB: "2" });
  assert.equal(tight.hits, 0);
  assert.equal(tight.cachedBytes, 0);
});

test("a LIVERSTIFF_CPU_CACHE_MB that is not a whole number is refused, naming it", () => {
  const r = child({ LIVERSTIFF_CPU_CACHE_MB: "2G" });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /LIVERSTIFF_CPU_CACHE_MB must be a whole number of MiB \(0 = no cache\), not "2G"/);
});
