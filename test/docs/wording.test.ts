// The README, docs/ and the sources speak of the project only: not of the sessions it was built in, not of
// the machine a figure was measured on ("a 2-core x86-64 VM, <date>" instead), and not of paths outside the
// repository (a reader's clone has no ../shared; cite the paper or a file in the repository).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const FORBIDDEN: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /\bsessions?\b/i, why: "development history" },
  { pattern: /this machine/i, why: "state the hardware and date instead" },
  { pattern: /\.\.\/shared/, why: "path outside the repository" },
];

interface Hit {
  file: string;
  line: number;
  text: string;
  why: string;
}

function findNarration(file: string, text: string): Hit[] {
  const hits: Hit[] = [];
  text.split("\n").forEach((line, i) => {
    for (const { pattern, why } of FORBIDDEN) {
      if (pattern.test(line)) hits.push({ file, line: i + 1, text: line.trim(), why });
    }
  });
  return hits;
}

function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, ext));
    else if (name.endsWith(ext)) out.push(path);
  }
  return out;
}

function scannedFiles(): string[] {
  return [
    join(ROOT, "README.md"),
    ...filesUnder(join(ROOT, "docs"), ".md"),
    ...filesUnder(join(ROOT, "src"), ".ts"),
  ].map((f) => relative(ROOT, f));
}

test("wording check: flags each forbidden phrase with its line, and nothing else", () => {
  const text = [
    "Measured on a 2-core x86-64 VM, 2026-12-03.",
    "Session 2 linked OpenBLAS.",
    "On this machine (2 cores):",
    "DeepLiverNet 2.0 (`../shared/reference/deepliver2.md`)",
    "an association (sessionless) with a shared cache, see ../src/shared.ts",
    "the figures of both sessions",
  ].join("\n");
  const hits = findNarration("x.md", text);
  assert.deepEqual(
    hits.map((h) => `${h.file}:${h.line} ${h.why}`),
    [
      "x.md:2 development history",
      "x.md:3 state the hardware and date instead",
      "x.md:4 path outside the repository",
      "x.md:6 development history",
    ],
  );
});

test("README.md, docs/ and src/ speak of the project only", () => {
  const files = scannedFiles();
  // The scan must reach the tree it guards, or it proves nothing.
  assert.ok(files.includes("README.md"));
  assert.ok(files.filter((f) => f.startsWith("docs/")).length >= 10, "docs/*.md not found");
  assert.ok(files.filter((f) => f.startsWith("src/")).length >= 50, "src/**/*.ts not found");
  const hits = files.flatMap((f) => findNarration(f, readFileSync(join(ROOT, f), "utf8")));
  assert.equal(
    hits.length,
    0,
    `${hits.length} passage(s) speak of something other than the project:\n` +
      hits.map((h) => `  ${h.file}:${h.line} (${h.why}): ${h.text}`).join("\n"),
  );
});
