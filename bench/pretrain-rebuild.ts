// Rebuilds the shipped encoder from scratch with the documented command and compares the bytes:
//   npm run bench -- pretrain-rebuild [--keep DIR]
// Runs `liverstiff pretrain --out <temporary folder>/liverstiff-cnn-v1.safetensors` (the documented
// command with only the output folder changed; the file's bytes do not depend on it) in a child process,
// as a user would, and compares its sha256 with the shipped assets/encoders/liverstiff-cnn-v1.safetensors.
// Exit status 1 when they differ. Last line: one JSON object {sha256, shipped, identical, seconds}.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_WEIGHTS_PATH, sha256File } from "../src/features/index.ts";

const { values: args } = parseArgs({ options: { keep: { type: "string" } } });

const dir = args.keep ? resolve(args.keep) : mkdtempSync(join(tmpdir(), "liverstiff-bench-rebuild-"));
mkdirSync(dir, { recursive: true });
const out = join(dir, "liverstiff-cnn-v1.safetensors");
const cli = resolve("bin", "liverstiff.mjs");
try {
  const t0 = performance.now();
  const run = spawnSync(process.execPath, [cli, "pretrain", "--out", out], { stdio: "inherit" });
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  if (run.status !== 0)
    throw new Error(`liverstiff pretrain failed (exit status ${run.status ?? run.signal})`);
  const sha256 = sha256File(out);
  const shipped = sha256File(DEFAULT_WEIGHTS_PATH);
  const identical = sha256 === shipped;
  console.log(JSON.stringify({ sha256, shipped, identical, seconds }));
  process.exitCode = identical ? 0 : 1;
} finally {
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}
