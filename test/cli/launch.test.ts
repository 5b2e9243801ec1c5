// `liverstiff launch --nproc N -- COMMAND`: N ranks of a command with torchrun's variables, output
// prefixed by rank, and a failing rank stopping the launch. Runs a tiny data-parallel pretraining.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { distributedAvailable } from "../../src/torch/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const CLI = fileURLToPath(new URL("../../bin/liverstiff.mjs", import.meta.url));
const tmp = scratchDir("liverstiff-launch-");
const skip = distributedAvailable() ? false : "the addon was built without Gloo (libgloo-dev)";

const launch = (args: string[]) =>
  spawnSync(process.execPath, [CLI, "launch", "--nproc", "2", "--threads", "1", "--", ...args], {
    encoding: "utf8",
    timeout: 300_000,
  });

describe("liverstiff launch", { skip }, () => {
  it("runs two ranks of pretrain: rank 0 writes the weights, recorded as two-rank data-parallel", () => {
    const out = join(tmp, "enc.safetensors");
    const r = launch([
      "pretrain",
      "--out",
      out,
      "--exams",
      "5",
      "--steps",
      "2",
      "--batch",
      "4",
      "--threads",
      "1",
      "--workdir",
      join(tmp, "w"),
    ]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^\[rank 0\] wrote .*enc\.safetensors/m);
    assert.match(r.stdout, /^\[rank 1\] rank 1: trained; rank 0 writes/m);
    const manifest = JSON.parse(readFileSync(join(tmp, "enc.json"), "utf8"));
    assert.equal(manifest.pretrain.worldSize, 2);
    assert.match(manifest.pretrain.command, /\(2 data-parallel ranks\)$/);
    assert.ok(existsSync(join(tmp, "w", "rank-1", "cohort")), "rank 1 made its own copy of the cohort");
  });

  it("stops the other rank and fails when one rank fails", () => {
    const r = launch(["pretrain", "--out", join(tmp, "no-such-folder", "enc.safetensors"), "--steps", "1"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\[rank [01]\] .*output folder does not exist/);
    assert.match(r.stderr, /launch: rank [01] ended with exit code \d+/);
  });

  it("refuses a bad --nproc, and --rank without --dist-init", () => {
    const a = spawnSync(process.execPath, [CLI, "launch", "--nproc", "x", "--", "pretrain"], {
      encoding: "utf8",
    });
    assert.notEqual(a.status, 0);
    assert.match(a.stderr, /--nproc must be a non-negative integer/);
    const b = spawnSync(
      process.execPath,
      [CLI, "pretrain", "--out", join(tmp, "x.safetensors"), "--rank", "1"],
      {
        encoding: "utf8",
      },
    );
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, /--world-size and --rank go with --dist-init/);
  });
});
