// Runs scripts/build-js.mjs unless dist/ is as new as every source (see bin/liverstiff.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { newestSourceMtimeMs } from "./source-stamp.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const build = join(root, "dist", "BUILD.json");
let current = false;
try {
  current =
    existsSync(build) &&
    newestSourceMtimeMs(join(root, "src")) <= JSON.parse(readFileSync(build, "utf8")).newestSourceMtimeMs;
} catch {
  current = false;
}
if (!current) {
  const r = spawnSync(process.execPath, [join(root, "scripts", "build-js.mjs")], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
}
