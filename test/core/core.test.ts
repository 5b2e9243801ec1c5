import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { describeError, LiverstiffError, Rng, writeFileAtomic } from "../../src/core/index.ts";

test("Rng: same seed gives the same stream, different seeds differ", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 100 }, () => a.nextUint32());
  const sb = Array.from({ length: 100 }, () => b.nextUint32());
  const sc = Array.from({ length: 100 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test("Rng: uniform and normal have the right moments", () => {
  const rng = new Rng("moments");
  const n = 200_000;
  let su = 0;
  let sn = 0;
  let sn2 = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    su += u;
    const z = rng.normal();
    sn += z;
    sn2 += z * z;
  }
  assert.ok(Math.abs(su / n - 0.5) < 0.005);
  assert.ok(Math.abs(sn / n) < 0.01);
  assert.ok(Math.abs(sn2 / n - 1) < 0.015);
});

test("Rng.derive is independent of call order", () => {
  const x = Rng.derive(7, "exam", 3).uniform();
  Rng.derive(7, "exam", 4).uniform();
  assert.equal(Rng.derive(7, "exam", 3).uniform(), x);
});

test("writeFileAtomic leaves no temporary file and replaces content", () => {
  const dir = mkdtempSync(join(tmpdir(), "ls-atomic-"));
  try {
    const path = join(dir, "sub", "out.json");
    writeFileAtomic(path, "one");
    writeFileAtomic(path, "two");
    assert.equal(readFileSync(path, "utf8"), "two");
    assert.deepEqual(readdirSync(join(dir, "sub")), ["out.json"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("describeError names the context of a LiverstiffError", () => {
  const err = new LiverstiffError("no T2w series", { exam: "ACC123" });
  assert.equal(describeError(err), "no T2w series (exam=ACC123)");
});

test("spawnWorker runs a TypeScript worker and passes workerData through", async () => {
  const { mkdtempSync: mk, writeFileSync } = await import("node:fs");
  const { pathToFileURL } = await import("node:url");
  const { spawnWorker } = await import("../../src/core/index.ts");
  const dir = mk(join(tmpdir(), "ls-worker-"));
  try {
    // As in the project, the module is an ES module (package type "module").
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    const file = join(dir, "double.ts");
    writeFileSync(
      file,
      'import { parentPort, workerData } from "node:worker_threads";\nconst n: number = workerData.n;\nparentPort?.postMessage(n * 2);\n',
    );
    const worker = spawnWorker(pathToFileURL(file), { workerData: { n: 21 } });
    const answer = await new Promise((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    await worker.terminate();
    assert.equal(answer, 42);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
