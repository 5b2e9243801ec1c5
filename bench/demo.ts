// The demo as a user runs it, timed: `liverstiff demo` into a fresh temporary folder (options pass
// through, e.g. `npm run bench -- demo --exams 600 --jobs 1`), its wall time and CPU use of the whole
// process tree ((user + system) / wall: 2.0 = two cores busy throughout), and the demo's own per-stage
// table from the run's manifest.json. The folder is removed afterwards unless --keep is given.
// The load average before and after tells whether the machine was shared while it ran.
// Last line: one JSON object {wallSeconds, cpuCores, stages, ...}.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { processTreeCpuSeconds, type StageTiming } from "../src/core/index.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const keep = process.argv.includes("--keep");
const demoArgs = process.argv.slice(2).filter((a) => a !== "--keep");
if (demoArgs.includes("--out")) {
  console.error("bench demo: --out is chosen by the bench (a fresh temporary folder)");
  process.exit(2);
}
const out = mkdtempSync(join(tmpdir(), "ls-bench-demo-"));
const loadBefore = loadavg()[0]!;
const cpuBefore = processTreeCpuSeconds();
const started = performance.now();
const r = spawnSync(
  process.execPath,
  [join(root, "bin", "liverstiff.mjs"), "demo", "--out", out, ...demoArgs],
  {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  },
);
const wallSeconds = (performance.now() - started) / 1000;
// The demo and its worker processes have all ended and been waited for: their CPU time is counted.
const cpuSeconds = processTreeCpuSeconds() - cpuBefore;
const loadAfter = loadavg()[0]!;
let stages: StageTiming[] | undefined;
try {
  stages = (
    JSON.parse(readFileSync(join(out, "run", "manifest.json"), "utf8")) as { demoStages?: StageTiming[] }
  ).demoStages;
} catch {
  stages = undefined;
}
if (!keep) rmSync(out, { recursive: true, force: true });
if (r.status !== 0) {
  console.error(`bench demo: the demo failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}
const round = (x: number, d = 2) => Number(x.toFixed(d));
console.log(
  JSON.stringify({
    wallSeconds: round(wallSeconds, 1),
    cpuSeconds: round(cpuSeconds, 1),
    cpuCores: round(cpuSeconds / wallSeconds),
    coresAvailable: availableParallelism(),
    loadAverage1m: { before: round(loadBefore), after: round(loadAfter) },
    args: demoArgs,
    ...(keep ? { out } : {}),
    stages: stages?.map((s) => ({
      stage: s.stage,
      seconds: round(s.seconds, 1),
      cpuSeconds: round(s.cpuSeconds, 1),
      cpuCores: round(s.cpuCores),
    })),
  }),
);
