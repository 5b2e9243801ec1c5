// --device, resolved in one place (torch/device.ts): what each request means on this libtorch, the
// default device of creation functions, LIVERSTIFF_DEVICE for child processes, and the CLI's refusal of a
// device the build cannot reach. CUDA itself is exercised only where the linked libtorch has it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as torch from "../../src/torch/index.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const hasCuda = torch.cuda.isAvailable();

test("a device request resolves once: cpu, auto, cuda only where the build has it, and nothing else", () => {
  assert.equal(torch.resolveDevice("cpu"), "cpu");
  assert.equal(torch.resolveDevice("auto"), hasCuda ? "cuda" : "cpu");
  if (hasCuda) assert.equal(torch.resolveDevice("cuda"), "cuda");
  else {
    assert.throws(() => torch.resolveDevice("cuda"), /has no CUDA or sees no GPU .*use --device cpu/);
    assert.throws(() => torch.resolveDevice("cuda:1"), /has no CUDA/);
  }
  assert.throws(() => torch.resolveDevice("gpu"), /unknown device "gpu": use cpu, cuda, cuda:N or auto/);
});

test("creation functions put new tensors on the default device; reading back copies to the CPU", () => {
  const before = torch.defaultDevice();
  const previousEnv = process.env.LIVERSTIFF_DEVICE;
  try {
    const target = torch.resolveDevice("auto");
    torch.setDefaultDevice(target);
    assert.equal(process.env.LIVERSTIFF_DEVICE, target, "child processes inherit it");
    const made = [
      torch.tensor([1, 2, 3]),
      torch.zeros([2]),
      torch.ones([2], { dtype: "float64" }),
      torch.randn([2]),
      torch.arange(3),
      torch.scalar(2),
    ];
    for (const t of made) assert.equal(t.device.startsWith(target), true, `${t.device} vs ${target}`);
    assert.deepEqual(made[0]!.mul(2).toArray(), [2, 4, 6]);
    // An explicit device still wins.
    assert.equal(torch.zeros([1], { device: "cpu" }).device, "cpu");
    for (const t of made) t.dispose();
  } finally {
    torch.setDefaultDevice(before);
    if (previousEnv === undefined) delete process.env.LIVERSTIFF_DEVICE;
    else process.env.LIVERSTIFF_DEVICE = previousEnv;
  }
});

test("the CLI's --device: refused with one line where the build cannot reach it, recorded where it can", () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, "bin", "liverstiff.mjs"), ...args], {
      encoding: "utf8",
      cwd: ROOT,
    });
  const r = cli(["--device", "cuda", "weights", "list"]);
  if (hasCuda) assert.equal(r.status, 0, r.stderr);
  else {
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^liverstiff: error: device cuda asked for, but the linked libtorch has no CUDA/m);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  }
  const bad = cli(["--device", "tpu", "weights", "list"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown device "tpu"/);
  const cpu = cli(["--device", "cpu", "weights", "list"]);
  assert.equal(cpu.status, 0, cpu.stderr);
});
