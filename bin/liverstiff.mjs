#!/usr/bin/env node
// Runs the compiled code (dist/, made by `npm run build`, which scripts/setup.sh runs) while it is as new
// as the sources; otherwise the TypeScript sources through tsx, so an edited source is never run stale.
// LIVERSTIFF_SOURCES=1 always runs the sources.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { newestSourceMtimeMs } from "../scripts/source-stamp.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function compiledIsCurrent() {
  if (process.env.LIVERSTIFF_SOURCES === "1") return false;
  const build = join(root, "dist", "BUILD.json");
  if (!existsSync(build) || !existsSync(join(root, "dist", "src", "cli", "main.js"))) return false;
  try {
    const { newestSourceMtimeMs: built } = JSON.parse(readFileSync(build, "utf8"));
    return newestSourceMtimeMs(join(root, "src")) <= built;
  } catch {
    return false;
  }
}

let main;
const compiled = compiledIsCurrent();
if (process.env.LIVERSTIFF_DEBUG === "1")
  process.stderr.write(
    `liverstiff: running ${compiled ? "the compiled dist/ (no source newer than the build)" : "the TypeScript sources through tsx"}\n`,
  );
if (compiled) {
  ({ main } = await import("../dist/src/cli/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
