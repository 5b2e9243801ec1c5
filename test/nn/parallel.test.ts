// Data parallelism over libtorch's c10d (Gloo): two ranks in two processes must take the same steps as one
// process with the same global batches, and the collectives must sum, broadcast and fail as stated.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  distributedAvailable,
  ProcessGroup,
  parseInitMethod,
  processGroupOptionsFromEnv,
} from "../../src/torch/index.ts";
import { freePort } from "../fixtures/net.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-dist-");
const WORKER = fileURLToPath(new URL("./parallel-worker.ts", import.meta.url));
const skip = distributedAvailable() ? false : "the addon was built without Gloo (libgloo-dev)";

function runWorker(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WORKER, ...args], {
      stdio: ["ignore", "inherit", "pipe"],
      env: { ...process.env, OMP_NUM_THREADS: "1" },
    });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`worker ${args} exited ${code}: ${err}`)),
    );
  });
}

interface Run {
  before: number[];
  start: number[];
  final: number[];
  sums: number[][];
}
const run = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Run;
const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));

describe("DataParallel over c10d", { skip }, () => {
  it("two ranks train the same model as one process with the same global batches", async () => {
    const port = await freePort();
    const one = join(tmp, "one.json");
    await runWorker([one, "1", "0", "0"]);
    const [a, b] = [join(tmp, "r0.json"), join(tmp, "r1.json")];
    await Promise.all([runWorker([a, "2", "0", String(port)]), runWorker([b, "2", "1", String(port)])]);
    const [single, r0, r1] = [run(one), run(a), run(b)];
    assert.equal(r0.final.length, 6 * 16 + 16 + 16 + 1);
    assert.ok(maxDiff(r0.before, r1.before) > 0.01, "the ranks are created with different weights");
    assert.deepEqual(r1.start, r0.start, "and start from rank 0's");
    assert.deepEqual(r1.final, r0.final, "the ranks end with identical parameters");
    assert.ok(maxDiff(single.final, single.start) > 0.01, "training moved the parameters");
    const worst = maxDiff(r0.final, single.final);
    assert.ok(worst < 1e-6, `largest difference from one process after 20 steps: ${worst}`);
    // The all-reduce of known tensors: 1 + 2, and 10^0 + 10^1 (int64); a world of one keeps its own.
    for (const r of [r0, r1]) assert.deepEqual(r.sums, [[3, 6, 1], [2, 4], [11]]);
    assert.deepEqual(single.sums, [[1, 2, 0.5], [1, 2], [1]]);
  });

  it("pretraining's NT-Xent with gathered embeddings: two ranks take one process's steps", async () => {
    const port = await freePort();
    const one = join(tmp, "c-one.json");
    await runWorker([one, "1", "0", "0", "contrastive"]);
    const [a, b] = [join(tmp, "c-r0.json"), join(tmp, "c-r1.json")];
    await Promise.all([
      runWorker([a, "2", "0", String(port), "contrastive"]),
      runWorker([b, "2", "1", String(port), "contrastive"]),
    ]);
    const [single, r0, r1] = [run(one), run(a), run(b)];
    assert.equal(r0.final.length, 6 * 16 + 16 + 16 * 4 + 4);
    assert.deepEqual(r1.final, r0.final);
    assert.ok(maxDiff(single.final, single.start) > 0.01, "training moved the parameters");
    const worst = maxDiff(r0.final, single.final);
    assert.ok(worst < 1e-5, `largest difference from one process: ${worst}`);
  });

  it("a rank that dies makes the other fail with an error instead of hanging", async () => {
    const port = await freePort();
    const started = Date.now();
    const results = await Promise.allSettled([
      runWorker([join(tmp, "d0.json"), "2", "0", String(port), "die"]),
      runWorker([join(tmp, "d1.json"), "2", "1", String(port), "die"]),
    ]);
    assert.ok(results.every((r) => r.status === "rejected"));
    const reason = String((results[0] as PromiseRejectedResult).reason);
    assert.match(reason, /exited 1: .*(Connection closed|closed by peer|Timed out|timeout)/is);
    assert.ok(Date.now() - started < 60_000, "within the group's timeout");
  });

  it("a rank that never arrives ends in the group's timeout, with an error", async () => {
    const port = await freePort();
    const started = Date.now();
    assert.throws(
      () => ProcessGroup.init({ initMethod: `tcp://127.0.0.1:${port}`, worldSize: 2, rank: 0, timeoutS: 2 }),
      /timeout|Timed out|timed out/i,
    );
    assert.ok(Date.now() - started < 30_000);
  });
});

describe("distributed options", () => {
  it("parses tcp://HOST:PORT and refuses anything else", () => {
    assert.deepEqual(parseInitMethod("tcp://10.0.0.5:29500"), { host: "10.0.0.5", port: 29500 });
    assert.deepEqual(parseInitMethod("tcp://[::1]:1234"), { host: "::1", port: 1234 });
    for (const bad of ["env://", "tcp://host", "tcp://host:0", "tcp://host:70000", "http://h:1"])
      assert.throws(() => parseInitMethod(bad), /tcp:\/\/HOST:PORT/);
  });

  it("reads torchrun's variables, all four or none", () => {
    assert.equal(processGroupOptionsFromEnv({}), undefined);
    assert.deepEqual(
      processGroupOptionsFromEnv({ MASTER_ADDR: "n1", MASTER_PORT: "29500", WORLD_SIZE: "4", RANK: "3" }),
      { initMethod: "tcp://n1:29500", worldSize: 4, rank: 3 },
    );
    assert.throws(
      () => processGroupOptionsFromEnv({ MASTER_ADDR: "n1", RANK: "0" }),
      /MASTER_PORT, WORLD_SIZE not/,
    );
    assert.throws(
      () => processGroupOptionsFromEnv({ MASTER_ADDR: "n1", MASTER_PORT: "x", WORLD_SIZE: "2", RANK: "0" }),
      /MASTER_PORT must be a whole number/,
    );
  });

  it("refuses a rank outside the world", { skip }, () => {
    assert.throws(
      () => ProcessGroup.init({ initMethod: "tcp://127.0.0.1:1", worldSize: 2, rank: 2 }),
      /rank must be a whole number in \[0, 1\]/,
    );
  });
});
