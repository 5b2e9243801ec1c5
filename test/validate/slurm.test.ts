// `validate --executor slurm` on a real single-node Slurm cluster (Debian's slurm-wlm and munge, started
// here as root on loopback with a generated slurm.conf and a temporary munge key): the same
// predictions.csv, byte for byte, as the local executor; a task cancelled with scancel is resubmitted and
// the run completes. Skipped, with the reason printed, only where the daemons cannot start.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, ingestCohortArgs, ROOT, runCli } from "../fixtures/cli.ts";
import { type SlurmCluster, startSlurmCluster, waitFor } from "../fixtures/slurm-cluster.ts";
import { smallRecipe } from "../helpers/recipes.ts";

const dir = mkdtempSync(join(tmpdir(), "ls-slurm-"));
let skipReason: string | false = false;
let cluster: SlurmCluster | undefined;
let env: NodeJS.ProcessEnv = process.env;
const sh = (cmd: string, args: string[]) => cluster!.sh(cmd, args);

const cli = (args: string[]) => runCli(["--quiet", ...args], { env, timeout: 0 });

describe("validate --executor slurm", () => {
  let work = "";
  let recipe = "";
  let localCsv = "";
  const validate = (out: string, ...more: string[]) => [
    "validate",
    work,
    "--recipe",
    recipe,
    "baseline-ridge",
    "--scheme",
    "cv10",
    "--out",
    out,
    "--no-report",
    "--resamples",
    "200",
    ...more,
  ];
  const slurm = ["--executor", "slurm", "--slurm-poll-s", "0.5"];

  before(async () => {
    const started = await startSlurmCluster(dir);
    if (typeof started === "string") skipReason = started;
    else {
      cluster = started;
      env = started.env;
    }
    if (skipReason) {
      process.stdout.write(`# slurm tests skipped: ${skipReason}\n`);
      return;
    }
    const cohort = join(dir, "cohort");
    work = join(dir, "work");
    assert.equal(cli(["synth", "--out", cohort, "--exams", "30", "--seed", "21"]).status, 0);
    const ing = cli(ingestCohortArgs(cohort, work, "--no-organs"));
    assert.equal(ing.status, 0, ing.stderr);
    recipe = smallRecipe(dir, "liverstiff", "ours-small", { maxEpochs: 12, patience: 4 }, { ensemble: 1 });
    const local = cli(validate(join(dir, "local"), "--jobs", "1"));
    assert.equal(local.status, 0, local.stderr);
    localCsv = readFileSync(join(dir, "local", "predictions.csv"), "utf8");
  });

  after(() => {
    cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives the local executor's predictions.csv byte for byte, and leaves its batch script to read", (t) => {
    if (skipReason) return t.skip(skipReason);
    const out = join(dir, "slurm-run");
    const r = cli(validate(out, ...slurm));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(out, "predictions.csv"), "utf8"), localCsv);
    const script = readFileSync(join(out, "slurm", "batch-1.sh"), "utf8");
    assert.match(script, /^#SBATCH --array=0-19$/m);
    assert.match(script, /^#SBATCH --cpus-per-task=1$/m);
    assert.match(script, / fold '.*batch-1\.json' "\$SLURM_ARRAY_TASK_ID"$/m);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    assert.equal(manifest.parallelism.executor, "slurm");
  });

  it("resubmits a task cancelled with scancel, and the run completes with the same predictions", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const out = join(dir, "slurm-cancel");
    const driver = spawn(process.execPath, [CLI, "--quiet", ...validate(out, ...slurm)], {
      env,
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    driver.stderr!.on("data", (d) => (stderr += String(d)));
    const exited = new Promise<number>((resolve) => driver.on("exit", (code) => resolve(code ?? -1)));
    await waitFor("the first batch", () => existsSync(join(out, "slurm", "batch-1.json")), 120);
    let arrayId = "";
    await waitFor(
      "the array in the queue",
      () => {
        arrayId =
          sh("squeue", ["-h", "-n", "liverstiff-folds", "-o", "%F"]).stdout.trim().split("\n")[0] ?? "";
        return arrayId !== "";
      },
      60,
    );
    // The last task waits behind the others on this node's cores: cancel it before it runs.
    assert.equal(sh("scancel", [`${arrayId}_19`]).status, 0);
    assert.equal(await exited, 0, stderr);
    assert.ok(existsSync(join(out, "slurm", "batch-2.json")), "the cancelled task was resubmitted");
    const batch2 = JSON.parse(readFileSync(join(out, "slurm", "batch-2.json"), "utf8"));
    assert.equal(batch2.jobs.length, 1);
    assert.equal(readFileSync(join(out, "predictions.csv"), "utf8"), localCsv);
  });
});
