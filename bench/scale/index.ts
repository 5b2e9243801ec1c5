// Beyond one machine, measured: (1) a fine-tuning step of the default encoder with 1 and 2 data-parallel
// ranks (1 libtorch thread each, the same global batch), and the all-reduce cost per step; (2) the Slurm
// executor's overhead per fold against the local one, on a real single-node cluster (Debian's slurm-wlm
// and munge, started here as root; skipped with the reason where it cannot start).
//   npm run bench -- scale [--steps 12] [--batch 16] [--no-slurm]
// From (1) it states the scaling model that predicts N machines: a step is C/N of compute plus a ring
// all-reduce of the gradient, 2 (N-1)/N x bytes / bandwidth + latency. Last line: one JSON object.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CLI, ingestCohortArgs, ROOT } from "../../test/fixtures/cli.ts";
import { freePort } from "../../test/fixtures/net.ts";
import { startSlurmCluster } from "../../test/fixtures/slurm-cluster.ts";
import { smallRecipe } from "../../test/helpers/recipes.ts";

const { values: args } = parseArgs({
  options: {
    steps: { type: "string", default: "12" },
    batch: { type: "string", default: "16" },
    "no-slurm": { type: "boolean", default: false },
  },
});
const RANK = fileURLToPath(new URL("./rank.ts", import.meta.url));
const say = (s: string) => process.stderr.write(`${s}\n`);
const dir = mkdtempSync(join(tmpdir(), "ls-bench-scale-"));
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

interface RankResult {
  stepS: number;
  allReduceS: number;
  gradBytes: number;
  localBatch: number;
}

function runRank(args: string[]): Promise<RankResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ["--import", "tsx", RANK, ...args], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    c.on("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(readFileSync(args[0]!, "utf8")) as RankResult)
        : reject(new Error(`rank exited ${code}`)),
    );
  });
}

async function dataParallel() {
  const common = [args.steps!, args.batch!];
  const one = await runRank([join(dir, "w1.json"), "1", "0", "0", ...common]);
  const port = String(await freePort());
  const two = await Promise.all(
    [0, 1].map((r) => runRank([join(dir, `w2-${r}.json`), "2", String(r), port, ...common])),
  );
  const twoStep = Math.max(...two.map((r) => r.stepS));
  const twoReduce = Math.max(...two.map((r) => r.allReduceS));
  say(
    `fine-tuning step, global batch ${args.batch}: 1 rank ${one.stepS.toFixed(3)} s; 2 ranks ${twoStep.toFixed(3)} s ` +
      `(all-reduce ${twoReduce.toFixed(3)} s of ${(one.gradBytes / 2 ** 20).toFixed(1)} MiB); speed-up ${(one.stepS / twoStep).toFixed(2)}x on ${cpus().length} cores`,
  );
  return { one, twoStep, twoReduce };
}

/** Wall seconds per fold of a small validation, local (in this process) and as a Slurm job array. */
async function slurmOverhead(): Promise<Record<string, unknown>> {
  if (args["no-slurm"]) return { skipped: "--no-slurm" };
  const cluster = await startSlurmCluster(dir);
  if (typeof cluster === "string") {
    say(`slurm part skipped: ${cluster}`);
    return { skipped: cluster };
  }
  try {
    const cli = (a: string[]) => {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [CLI, "--quiet", ...a], {
        encoding: "utf8",
        env: cluster.env,
        cwd: ROOT,
      });
      if (r.status !== 0) throw new Error(`liverstiff ${a[0]} failed: ${r.stderr}`);
      return (performance.now() - t0) / 1000;
    };
    const cohort = join(dir, "cohort");
    const work = join(dir, "work");
    cli(["synth", "--out", cohort, "--exams", "30", "--seed", "21"]);
    cli(ingestCohortArgs(cohort, work, "--no-organs"));
    const recipe = smallRecipe(
      dir,
      "liverstiff",
      "ours-small",
      { maxEpochs: 12, patience: 4 },
      { ensemble: 1 },
    );
    const validate = (out: string, ...more: string[]) =>
      cli([
        "validate",
        work,
        "--recipe",
        recipe,
        "--scheme",
        "cv10",
        "--out",
        join(dir, out),
        "--no-report",
        "--resamples",
        "200",
        ...more,
      ]);
    validate("warm", "--jobs", "1"); // features cached, so that both runs below train folds only
    const folds = 10;
    const local = validate("local", "--jobs", "1");
    const slurm = validate("slurm", "--executor", "slurm", "--slurm-poll-s", "0.5");
    say(
      `validate of ${folds} folds: local ${local.toFixed(1)} s, Slurm job array ${slurm.toFixed(1)} s: ` +
        `${((slurm - local) / folds).toFixed(2)} s of overhead per fold (submission, queue, task start-up, polling)`,
    );
    return {
      folds,
      localSeconds: round(local, 2),
      slurmSeconds: round(slurm, 2),
      overheadPerFoldSeconds: round((slurm - local) / folds, 3),
    };
  } finally {
    cluster.stop();
  }
}

try {
  const dp = await dataParallel();
  const slurm = await slurmOverhead();
  // The model: a step on N machines is C/N + 2 (N-1)/N B / BW + latency (a ring all-reduce), with C the
  // one-rank step and B the gradient bytes. Its prediction at 10 Gb/s (1.25 GB/s) and 1 ms of latency:
  const C = dp.one.stepS;
  const B = dp.one.gradBytes;
  const predict = (n: number, bw = 1.25e9, latency = 1e-3) =>
    C / n + (2 * (n - 1) * B) / (n * bw) + (n > 1 ? latency : 0);
  const prediction = Object.fromEntries([2, 4, 8].map((n) => [n, round(C / predict(n), 2)]));
  say(
    `predicted speed-up on N machines (10 Gb/s, 1 ms, this step's compute): ${Object.entries(prediction)
      .map(([n, s]) => `${n}: ${s}x`)
      .join(", ")}`,
  );
  console.log(
    JSON.stringify({
      bench: "scale",
      cores: cpus().length,
      globalBatch: Number(args.batch),
      stepSeconds1Rank: round(C),
      stepSeconds2Ranks: round(dp.twoStep),
      allReduceSecondsPerStep2Ranks: round(dp.twoReduce),
      gradientMiB: round(B / 2 ** 20, 2),
      speedup2Ranks: round(C / dp.twoStep, 2),
      predictedSpeedup10GbE: prediction,
      slurm,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
