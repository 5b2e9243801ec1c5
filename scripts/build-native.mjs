#!/usr/bin/env node
// Builds the libtorch Node-API addon (native/) into native/build/ with cmake-js, 2 parallel jobs.
// Idempotent and fast when nothing changed: the build is skipped when the .node file is newer than every
// native source and the libtorch choice (LIBTORCH) is the one it was built with.
//   LIBTORCH=/path/to/libtorch node scripts/build-native.mjs   builds against another libtorch
//   node scripts/build-native.mjs --force                      rebuilds regardless
//   node scripts/build-native.mjs --asan                       builds with AddressSanitizer into
//                                                              native/build-asan/ (the leaks bench's)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const nativeDir = join(root, "native");
const asan = process.argv.includes("--asan");
// Each build has its own folder; none of them counts as a source of the others.
const buildDirs = [join(nativeDir, "build"), join(nativeDir, "build-asan")];
const buildDir = buildDirs[asan ? 1 : 0];
const addon = join(buildDir, "Release", "liverstiff_torch.node");
const stampFile = join(buildDir, "liverstiff-libtorch.txt");
const force = process.argv.includes("--force");
const libtorch = process.env.LIBTORCH ?? "";
// The addon links OpenBLAS when it is installed (native/CMakeLists.txt): installing it later must rebuild.
const openblas = ["x86_64", "aarch64"].some((arch) =>
  existsSync(`/usr/lib/${arch}-linux-gnu/openblas-openmp/libblas.so.3`),
);
// Likewise Gloo's headers (libgloo-dev), which decide whether the c10d collectives are built.
const gloo =
  existsSync("/usr/include/gloo/config.h") ||
  (libtorch !== "" && existsSync(join(libtorch, "include", "gloo", "config.h")));
const buildKey = `${libtorch}\nopenblas=${openblas}\ngloo=${gloo}${asan ? "\nasan" : ""}`;

function newestSource(dir) {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (buildDirs.includes(path)) continue;
    const st = statSync(path);
    newest = Math.max(newest, st.isDirectory() ? newestSource(path) : st.mtimeMs);
  }
  return newest;
}

function upToDate() {
  if (force || !existsSync(addon) || !existsSync(stampFile)) return false;
  if (readFileSync(stampFile, "utf8") !== buildKey) return false;
  return statSync(addon).mtimeMs > newestSource(nativeDir);
}

if (upToDate()) {
  console.log("build-native: addon is up to date");
  process.exit(0);
}

// CMake caches where it found Torch: a different LIBTORCH needs a fresh configure.
if (existsSync(stampFile) && readFileSync(stampFile, "utf8") !== buildKey) {
  rmSync(join(buildDir, "CMakeCache.txt"), { force: true });
  rmSync(join(buildDir, "CMakeFiles"), { recursive: true, force: true });
}

const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
const started = Date.now();
console.log(
  `build-native: building the libtorch addon${asan ? " with AddressSanitizer" : ""}${libtorch ? ` against LIBTORCH=${libtorch}` : ""}`,
);
const args = [
  cmakeJs,
  "build",
  "--directory",
  nativeDir,
  "--out",
  buildDir,
  "--parallel",
  "2",
  "--log-level",
  "warn",
  ...(asan ? ["--CDLIVERSTIFF_ASAN=ON"] : []),
];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit", env: process.env });
if (result.status !== 0) {
  console.error(
    "build-native: build failed (is libtorch installed? apt-get install libtorch-dev, or set LIBTORCH)",
  );
  process.exit(result.status ?? 1);
}
if (!existsSync(addon)) {
  console.error(`build-native: build finished but ${addon} is missing`);
  process.exit(1);
}
writeFileSync(stampFile, buildKey);
console.log(`build-native: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
