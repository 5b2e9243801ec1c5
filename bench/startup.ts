// `npm run bench -- startup [--bundle DIR --exam DIR] [--runs N]`: wall time of `liverstiff --version` run
// compiled (dist/, as bin runs it after `npm run build`) and from the sources through tsx, and of a
// one-exam `predict` compiled, beside `node -e 0` measured in the same run. Without --bundle it trains a
// small bundle on a 40-exam synthetic cohort in .cache/bench-startup first (about a minute, once).
// Last line: one JSON object.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "bin", "liverstiff.mjs");
const { values: args } = parseArgs({
  options: { bundle: { type: "string" }, exam: { type: "string" }, runs: { type: "string", default: "5" } },
});
const runs = Number(args.runs);

function wallSeconds(argv: string[], env: Record<string, string> = {}): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0 && !(argv.includes("predict") && r.status === 1))
    throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const measure = (argv: string[], env?: Record<string, string>) =>
  median(Array.from({ length: runs }, () => wallSeconds(argv, env)));
const run = (argv: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...argv], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`liverstiff ${argv.join(" ")} failed`);
};

// The compiled tree must be current, or bin would run the sources in both columns.
run(["--version"]);
const build = spawnSync(process.execPath, [join(ROOT, "scripts", "build-if-stale.mjs")], {
  stdio: "inherit",
});
if (build.status !== 0) throw new Error("npm run build failed");

let bundle = args.bundle;
let exam = args.exam;
if (!bundle || !exam) {
  const cache = join(ROOT, ".cache", "bench-startup");
  bundle = join(cache, "bundle");
  const dicom = join(cache, "cohort", "dicom");
  if (!existsSync(join(bundle, "bundle.json"))) {
    process.stderr.write("startup: training a small bundle on 40 synthetic exams (once)\n");
    run(["synth", "--out", join(cache, "cohort"), "--exams", "40", "--seed", "11"]);
    run(["ingest", dicom, "--labels", join(cache, "cohort", "labels.csv"), "--out", join(cache, "work")]);
    const recipe = JSON.parse(readFileSync(join(ROOT, "recipes", "liverstiff.json"), "utf8"));
    recipe.name = "startup-small";
    recipe.training = { ...recipe.training, maxEpochs: 30, patience: 8 };
    recipe.head = { ...recipe.head, ensemble: 1 };
    writeFileSync(join(cache, "small.json"), JSON.stringify(recipe));
    run([
      "train",
      join(cache, "work"),
      "--recipe",
      join(cache, "small.json"),
      "--out",
      bundle,
      "--resamples",
      "200",
    ]);
  }
  const site = readdirSync(dicom).sort()[0]!;
  exam = join(dicom, site, readdirSync(join(dicom, site)).sort()[0]!);
}

const nodeBare = measure(["-e", "0"]);
const versionCompiled = measure([CLI, "--version"]);
const versionSources = measure([CLI, "--version"], { LIVERSTIFF_SOURCES: "1" });
const predictCompiled = measure([CLI, "predict", exam, "--model", bundle, "--no-figures", "--json", "-"]);
const predictSources = measure([CLI, "predict", exam, "--model", bundle, "--no-figures", "--json", "-"], {
  LIVERSTIFF_SOURCES: "1",
});
const r3 = (x: number) => Math.round(x * 1000) / 1000;
console.log(
  `node -e 0 ${r3(nodeBare)} s; liverstiff --version compiled ${r3(versionCompiled)} s (${r3(versionCompiled / nodeBare)}x), ` +
    `sources ${r3(versionSources)} s (${r3(versionSources / nodeBare)}x); one-exam predict compiled ${r3(predictCompiled)} s, sources ${r3(predictSources)} s`,
);
console.log(
  JSON.stringify({
    bench: "startup",
    runs,
    cpus: cpus().length,
    nodeBareSeconds: r3(nodeBare),
    versionCompiledSeconds: r3(versionCompiled),
    versionSourcesSeconds: r3(versionSources),
    versionCompiledRatio: r3(versionCompiled / nodeBare),
    versionSourcesRatio: r3(versionSources / nodeBare),
    predictOneExamCompiledSeconds: r3(predictCompiled),
    predictOneExamSourcesSeconds: r3(predictSources),
  }),
);
