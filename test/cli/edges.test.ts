// The CLI at its edges: usage errors exit 2 (help and version 0, a failed run 1), and a run folder that
// another live process holds is refused, naming that process; a dead holder's lock is taken over.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { acquireLock, LOCK_FILE } from "../../src/core/index.ts";
import { ROOT, runCli } from "../fixtures/cli.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const dir = scratchDir("ls-cli-edges-");

const cli = (args: string[]) => runCli(args, { timeout: 120_000 });

/** Runs the CLI in this process (no start-up cost), capturing what it writes. */
async function inProcess(args: string[]): Promise<{ status: number; stderr: string }> {
  const { main } = await import("../../src/cli/main.ts");
  let stderr = "";
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { status: await main(args), stderr };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

describe("exit status", () => {
  it("is 2 for usage errors, 0 for help and version, 1 for a failed run", async () => {
    assert.equal((await inProcess(["validate", "--no-such-option"])).status, 2);
    assert.equal((await inProcess(["no-such-command"])).status, 2);
    const missing = await inProcess(["predict", "some-exam"]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /required option '--model <bundle>' not specified/);
    const choice = await inProcess(["ingest", "x", "--out", join(dir, "w"), "--labels-match", "nearest"]);
    assert.equal(choice.status, 2);
    assert.match(choice.stderr, /Allowed choices are strict, patient-date/);
    assert.equal(existsSync(join(dir, "w")), false);
    assert.equal((await inProcess(["--help"])).status, 0);
    assert.equal((await inProcess(["--version"])).status, 0);
    assert.equal((await inProcess(["predict", "x", "--model", join(dir, "nowhere")])).status, 1);
    // The real binary passes the status on.
    assert.equal(cli(["train", "--no-such-option"]).status, 2);
  });
});

/** A second process that takes the lock of `folder` and holds it until killed. */
function holder(folder: string): Promise<ChildProcess> {
  const code = `const { acquireLock } = await import(${JSON.stringify(join(ROOT, "src/core/index.ts"))});
acquireLock(${JSON.stringify(folder)}, "validate"); console.log("held"); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d) => String(d).includes("held") && resolve(child));
    child.on("exit", (c) => reject(new Error(`holder exited ${c}`)));
  });
}

describe("folder lock", () => {
  it("a second validate on a held run folder names the holder and exits non-zero; free again once it is gone", async () => {
    const work = join(dir, "work");
    const run = join(dir, "run");
    mkdirSync(work);
    const child = await holder(run);
    try {
      const r = cli(["validate", work, "--out", run, "--scheme", "cv10"]);
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `in use by liverstiff validate \\(pid ${child.pid} on ${hostname()}, since \\d{4}-\\d\\d-\\d\\dT`,
        ),
      );
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      const lock = JSON.parse(readFileSync(join(run, LOCK_FILE), "utf8"));
      assert.equal(lock.pid, child.pid);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    // The holder died without releasing: its lock is stale and is taken over.
    assert.ok(existsSync(join(run, LOCK_FILE)));
    const mine = acquireLock(run, "test");
    assert.equal(JSON.parse(readFileSync(join(run, LOCK_FILE), "utf8")).pid, process.pid);
    mine.release();
    assert.equal(existsSync(join(run, LOCK_FILE)), false);
  });

  it("refuses a lock held by a live process on another host (its pid cannot be checked)", () => {
    const folder = join(dir, "remote");
    mkdirSync(folder);
    writeFileSync(
      join(folder, LOCK_FILE),
      JSON.stringify({
        pid: 1,
        host: "other-node",
        command: "ingest",
        startedAt: "2026-12-03T08:00:00Z",
        token: "t",
      }),
    );
    assert.throws(() => acquireLock(folder, "validate"), /in use by liverstiff ingest \(pid 1 on other-node/);
  });
});
