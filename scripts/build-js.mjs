// `npm run build`: compiles src/ to dist/src/ (tsc, tsconfig.build.json), so that `liverstiff` and its
// worker processes start without compiling TypeScript. dist/BUILD.json records the newest source file's
// modification time; bin/liverstiff.mjs runs the compiled code only while no source is newer, and the
// sources through tsx otherwise, so an edit is never run stale.
import { spawnSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { newestSourceMtimeMs } from "./source-stamp.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const t0 = performance.now();
const stamp = newestSourceMtimeMs(join(root, "src"));
const tsc = join(root, "node_modules", ".bin", "tsc");
const tmp = join(root, `dist.${process.pid}.tmp`);
rmSync(tmp, { recursive: true, force: true });
const r = spawnSync(tsc, ["-p", "tsconfig.build.json", "--outDir", tmp], {
  cwd: root,
  stdio: "inherit",
});
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  console.error("build: tsc failed; liverstiff keeps running the sources through tsx");
  process.exit(r.status ?? 1);
}
mkdirSync(tmp, { recursive: true });
writeFileSync(join(tmp, "BUILD.json"), `${JSON.stringify({ newestSourceMtimeMs: stamp }, null, 2)}\n`);
// The compiled tree replaces the old one in one rename: a half-written dist/ is never run.
rmSync(join(root, "dist"), { recursive: true, force: true });
renameSync(tmp, join(root, "dist"));
console.log(`build: dist/ compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
