// The compiled program (dist/, `npm run build`) is what bin/liverstiff.mjs runs while no source is newer:
// it gives the same results as the sources through tsx, its workers start from compiled modules, and an
// edited source makes bin fall back to the sources instead of running stale code.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "bin", "liverstiff.mjs");

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    cwd: ROOT,
    env: { ...process.env, LIVERSTIFF_DEBUG: "1", ...env },
    timeout: 300_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe("the compiled program", () => {
  const dir = mkdtempSync(join(tmpdir(), "ls-compiled-"));
  before(() => {
    const b = spawnSync(process.execPath, [join(ROOT, "scripts", "build-js.mjs")], {
      encoding: "utf8",
      cwd: ROOT,
    });
    assert.equal(b.status, 0, b.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs from dist/ right after a build, and gives the same catalog as the sources, workers included", () => {
    const compiled = cli(["synth", "--out", join(dir, "c"), "--exams", "6", "--seed", "5"]);
    assert.equal(compiled.status, 0, compiled.stderr);
    assert.match(compiled.stderr, /running the compiled dist\//);
    const sources = cli(["synth", "--out", join(dir, "s"), "--exams", "6", "--seed", "5"], {
      LIVERSTIFF_SOURCES: "1",
    });
    assert.equal(sources.status, 0, sources.stderr);
    assert.match(sources.stderr, /running the TypeScript sources through tsx/);
    assert.equal(
      readFileSync(join(dir, "c", "truth.jsonl"), "utf8"),
      readFileSync(join(dir, "s", "truth.jsonl"), "utf8"),
    );
    const summaries = ["c", "s"].map((k) => {
      const r = cli(
        [
          "ingest",
          join(dir, k, "dicom"),
          "--labels",
          join(dir, k, "labels.csv"),
          "--out",
          join(dir, `w${k}`),
          "--workers",
          "1",
          "--no-organs",
          "--json",
        ],
        k === "s" ? { LIVERSTIFF_SOURCES: "1" } : {},
      );
      assert.equal(r.status, 0, r.stderr);
      const { durationMs: _d, timingsMs: _t, workdir: _w, ...rest } = JSON.parse(r.stdout);
      return rest;
    });
    assert.deepEqual(summaries[0], summaries[1]);
    assert.equal(summaries[0].usable, 6);
  });

  it("falls back to the sources when a source file is newer than the build", () => {
    const source = join(ROOT, "src", "core", "rng.ts");
    const future = new Date(Date.now() + 60_000);
    const { atime, mtime } = statSync(source);
    try {
      utimesSync(source, future, future);
      const r = cli(["--version"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /running the TypeScript sources through tsx/);
    } finally {
      utimesSync(source, atime, mtime);
    }
    const again = cli(["--version"]);
    assert.match(again.stderr, /running the compiled dist\//);
  });
});
