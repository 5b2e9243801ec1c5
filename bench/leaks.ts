// `npm run bench -- leaks [--files test/torch/values.test.ts,...] [--slow-unwind] [--no-suppressions]`:
// memory errors and leaks of the libtorch addon. Builds the addon with AddressSanitizer into
// native/build-asan (`node scripts/build-native.mjs --asan`), then runs the engine's tests (test/torch and
// test/nn by default) with node under ASan: the compiler's libasan preloaded (Node itself is not
// instrumented), LIVERSTIFF_ADDON pointing src/torch at that build, LeakSanitizer on at each process's exit
// and bench/leaks.supp naming what Node, V8, the dynamic loader and GLib leave behind. Reads every
// process's ASan log and reports the errors and the leaked bytes and allocations, those whose stacks pass
// through the addon (liverstiff_torch.node, native/src) apart, and the test results. Leak stacks are
// unwound through frame pointers, which libtorch and Node do not keep, so an allocation made inside
// libtorch may lose the addon's frames: those leaks are counted as libtorch's, and --slow-unwind (about
// ten times slower) unwinds them in full. Last line: one JSON object.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { values: args } = parseArgs({
  options: {
    files: { type: "string" },
    "slow-unwind": { type: "boolean", default: false },
    "no-suppressions": { type: "boolean", default: false },
  },
});
const started = performance.now();

function testFiles(): string[] {
  if (args.files) return args.files.split(",").filter((f) => f !== "");
  return ["test/torch", "test/nn"].flatMap((dir) =>
    readdirSync(join(ROOT, dir))
      .filter((f) => f.endsWith(".test.ts"))
      .sort()
      .map((f) => `${dir}/${f}`),
  );
}

// The AddressSanitizer build, and the libasan of the compiler that made it.
const build = spawnSync(process.execPath, [join(ROOT, "scripts", "build-native.mjs"), "--asan"], {
  cwd: ROOT,
  stdio: "inherit",
});
if (build.status !== 0) throw new Error("build-native --asan failed");
const buildDir = join(ROOT, "native", "build-asan");
const addon = join(buildDir, "Release", "liverstiff_torch.node");
const cache = readFileSync(join(buildDir, "CMakeCache.txt"), "utf8");
const compiler = /^CMAKE_CXX_COMPILER:[A-Z]+=(.+)$/m.exec(cache)?.[1] ?? "c++";
const asanPath = spawnSync(compiler, ["-print-file-name=libasan.so"], { encoding: "utf8" }).stdout.trim();
if (!asanPath.startsWith("/") || !existsSync(asanPath))
  throw new Error(`${compiler} names no libasan.so (${asanPath}): install the compiler's libasan`);
const libasan = realpathSync(asanPath);

const logs = join(ROOT, ".cache", "bench-leaks");
rmSync(logs, { recursive: true, force: true });
mkdirSync(logs, { recursive: true });
const suppressions = join(ROOT, "bench", "leaks.supp");
const asanOptions = [
  "detect_leaks=1",
  // errors.test.ts asks for an impossible allocation: libtorch must see it fail, as without ASan.
  "allocator_may_return_null=1",
  `fast_unwind_on_malloc=${args["slow-unwind"] ? 0 : 1}`,
  "malloc_context_size=30",
  `log_path=${join(logs, "asan")}`,
];
const lsanOptions = [
  // GCC 12's LeakSanitizer crashes ("Tracer caught signal 11") reading the dynamic TLS of some of Node's
  // threads; without TLS roots, what only a thread-local variable holds could be reported as leaked.
  "use_tls=0",
  "print_suppressions=1",
  // Leaks are counted here from the logs, not by failing the test processes.
  "exitcode=0",
  ...(args["no-suppressions"] ? [] : [`suppressions=${suppressions}`]),
];
const files = testFiles();
const env: NodeJS.ProcessEnv = {
  ...process.env,
  LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(":"),
  LIVERSTIFF_ADDON: addon,
  ASAN_OPTIONS: asanOptions.join(":"),
  LSAN_OPTIONS: lsanOptions.join(":"),
};
// As scripts/run-tests.mjs: the PyTorch parity fixtures were written with OpenBLAS's Haswell kernels.
if (
  !env.OPENBLAS_CORETYPE &&
  process.arch === "x64" &&
  /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"))
)
  env.OPENBLAS_CORETYPE = "Haswell";
process.stderr.write(`leaks: ${files.length} test files under ASan (${relative(ROOT, addon)}, ${libasan})\n`);
const run = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=tap", ...files], {
  cwd: ROOT,
  env,
  encoding: "utf8",
  maxBuffer: 1 << 28,
});
writeFileSync(join(logs, "tests.tap"), run.stdout);
writeFileSync(join(logs, "tests.stderr"), run.stderr);
const tap = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, "m").exec(run.stdout)?.[1] ?? Number.NaN);
// The top-level entries of the TAP stream: with several files, node --test names the tests, not the files.
const failedTests = [...run.stdout.matchAll(/^not ok \d+ - (.+)$/gm)].map((m) => m[1]!);

// One ASan error or one leak record: its kind, size and every frame of its stacks.
interface Finding {
  what: string;
  bytes: number;
  objects: number;
  frames: string[];
}
// The addon's own frames: its module, its sources, and node-addon-api's inline wrappers compiled into it.
const ADDON_FRAME = /liverstiff_torch\.node|native\/src\/|node-addon-api\//;
const inAddon = (f: Finding) => f.frames.some((l) => ADDON_FRAME.test(l));
const inTorch = (f: Finding) => f.frames.some((l) => /libtorch|libc10/.test(l));
const errors: Finding[] = [];
const leaks: Finding[] = [];
let fatal = 0;
let suppressed = 0;
let processes = 0;
for (const name of readdirSync(logs).filter((n) => n.startsWith("asan."))) {
  processes++;
  const lines = readFileSync(join(logs, name), "utf8").split("\n");
  let current: Finding | null = null;
  let inSuppressions = false;
  for (const line of lines) {
    const error = /==\d+==ERROR: AddressSanitizer: (\S+)/.exec(line);
    const leak = /^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)/.exec(line);
    if (error) {
      current = { what: error[1]!, bytes: 0, objects: 0, frames: [] };
      errors.push(current);
    } else if (leak) {
      current = {
        what: `${leak[1]!.toLowerCase()} leak`,
        bytes: Number(leak[2]),
        objects: Number(leak[3]),
        frames: [],
      };
      leaks.push(current);
    } else if (/LeakSanitizer has encountered a fatal error/.test(line)) {
      fatal++;
    } else if (/^Suppressions used:/.test(line)) {
      inSuppressions = true;
    } else if (inSuppressions && /^\s*\d+\s+\d+\s+\S/.test(line)) {
      suppressed += Number(/^\s*(\d+)/.exec(line)![1]);
    } else if (current && /^\s+#\d+ /.test(line)) {
      current.frames.push(line.trim());
    } else if (/^SUMMARY:/.test(line)) {
      current = null;
      inSuppressions = false;
    }
  }
}
const sum = (xs: Finding[], key: "bytes" | "objects") => xs.reduce((s, f) => s + f[key], 0);
const addonLeaks = leaks.filter(inAddon);
const torchLeaks = leaks.filter((f) => !inAddon(f) && inTorch(f));
const otherLeaks = leaks.filter((f) => !inAddon(f) && !inTorch(f));

// The first frame of a finding's stack in the addon (else its first frame): where to look.
const site = (f: Finding) =>
  (f.frames.find((l) => ADDON_FRAME.test(l)) ?? f.frames[1] ?? f.frames[0] ?? "?")
    .replace(/^#\d+ 0x[0-9a-f]+ (in )?/, "")
    .replace(/\s+\(\/.*\)$/, "");
for (const [label, list] of [
  ["ASan error", errors],
  ["leak in the addon's frames", addonLeaks],
  ["leak in libtorch's frames", torchLeaks],
  ["other leak", otherLeaks],
] as const) {
  for (const f of list.slice(0, 10))
    process.stdout.write(`${label}: ${f.what} ${f.bytes} B x${f.objects} at ${site(f)}\n`);
  if (list.length > 10)
    process.stdout.write(`${label}: ... ${list.length - 10} more (logs in .cache/bench-leaks)\n`);
}
const seconds = Math.round((performance.now() - started) / 100) / 10;
process.stdout.write(
  `tests ${tap("tests")}: ${tap("pass")} pass, ${tap("fail")} fail${failedTests.length ? ` (${failedTests.join(", ")})` : ""}; ` +
    `${processes} processes; ASan errors ${errors.length} (${errors.filter(inAddon).length} in the addon); ` +
    `leaked ${sum(leaks, "bytes")} B in ${sum(leaks, "objects")} allocations, the addon's ${sum(addonLeaks, "bytes")} B in ` +
    `${sum(addonLeaks, "objects")}, libtorch's ${sum(torchLeaks, "bytes")} B in ${sum(torchLeaks, "objects")}; ` +
    `${suppressed} suppressed; ${seconds} s\n`,
);
console.log(
  JSON.stringify({
    bench: "leaks",
    files: files.length,
    tests: tap("tests"),
    pass: tap("pass"),
    fail: tap("fail"),
    failedTests,
    processes,
    asanErrors: errors.length,
    asanErrorsInAddon: errors.filter(inAddon).length,
    leakedBytes: sum(leaks, "bytes"),
    leakedAllocations: sum(leaks, "objects"),
    addonLeakedBytes: sum(addonLeaks, "bytes"),
    addonLeakedAllocations: sum(addonLeaks, "objects"),
    torchLeakedBytes: sum(torchLeaks, "bytes"),
    torchLeakedAllocations: sum(torchLeaks, "objects"),
    suppressedLeaks: suppressed,
    lsanFatalErrors: fatal,
    slowUnwind: args["slow-unwind"],
    suppressions: !args["no-suppressions"],
    seconds,
  }),
);
