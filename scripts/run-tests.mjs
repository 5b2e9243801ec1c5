#!/usr/bin/env node
// Collects test/**/*.test.ts and runs them with Node's built-in test runner through tsx.
// `npm test -- stats dicom` runs only the files whose path contains one of the words.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const filters = process.argv.slice(2);

function cpuHasAvx2() {
  try {
    return /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return false;
  }
}

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const files = collect(join(root, "test"))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
// OpenBLAS picks its kernels by CPU, and kernels round blocked sums differently; the PyTorch parity
// fixtures (test/fixtures/nn) were written with the Haswell kernels, which every x86-64 CPU with AVX2
// runs, so the tests pin them there (a user's own OPENBLAS_CORETYPE wins).
const env = { ...process.env };
if (!env.OPENBLAS_CORETYPE && process.arch === "x64" && cpuHasAvx2()) env.OPENBLAS_CORETYPE = "Haswell";
// The CLI tests run bin/liverstiff.mjs, which runs the compiled dist/ while it is current: rebuild it
// when a source is newer, so that the tests exercise what users run.
spawnSync(process.execPath, [join(root, "scripts", "build-if-stale.mjs")], { cwd: root, stdio: "inherit" });
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", ...files], {
  cwd: root,
  stdio: "inherit",
  env,
});
process.exit(result.status ?? 1);
