// `validate --executor slurm` on a real single-node Slurm cluster (Debian's slurm-wlm and munge, started
// here as root on loopback with a generated slurm.conf and a temporary munge key): the same
// predictions.csv, byte for byte, as the local executor; a task cancelled with scancel is resubmitted and
// the run completes. Skipped, with the reason printed, only where the daemons cannot start.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { smallRecipe } from "../helpers/recipes.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "bin", "liverstiff.mjs");
const dir = mkdtempSync(join(tmpdir(), "ls-slurm-"));
const daemons: ChildProcess[] = [];
let skipReason: string | false = false;
let env: NodeJS.ProcessEnv = process.env;

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

function sh(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, "--quiet", ...args], { encoding: "utf8", env, cwd: ROOT });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function waitFor(what: string, ok: () => boolean, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** munged, slurmctld and slurmd for one node on loopback, all state under `dir`. */
async function startCluster(): Promise<string | false> {
  for (const c of ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"])
    if (!have(c)) return `${c} not found (scripts/setup.sh --test installs slurm-wlm and munge)`;
  if (process.getuid?.() !== 0)
    return "the test starts slurmctld and slurmd as root, and runs as another user";
  const s = join(dir, "slurm");
  for (const d of ["state", "spool", "log", "run", "munge"]) mkdirSync(join(s, d), { recursive: true });
  const key = join(s, "munge", "munge.key");
  writeFileSync(key, Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 131 + 7) % 256)), {
    mode: 0o400,
  });
  const socket = join(s, "munge", "munge.socket");
  const munge = sh("munged", [
    "--force",
    `--key-file=${key}`,
    `--socket=${socket}`,
    `--pid-file=${join(s, "run", "munged.pid")}`,
    `--log-file=${join(s, "log", "munged.log")}`,
    `--seed-file=${join(s, "run", "munge.seed")}`,
  ]);
  if (munge.status !== 0) return `munged did not start: ${munge.stderr.trim()}`;
  const port = 20000 + (process.pid % 20000);
  const node = "lsnode";
  const conf = join(s, "slurm.conf");
  writeFileSync(
    conf,
    [
      "ClusterName=lstest",
      `SlurmctldHost=localhost(127.0.0.1)`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      "AuthType=auth/munge",
      "CredType=cred/munge",
      `AuthInfo=socket=${socket}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      `StateSaveLocation=${join(s, "state")}`,
      `SlurmdSpoolDir=${join(s, "spool")}`,
      `SlurmctldPidFile=${join(s, "run", "slurmctld.pid")}`,
      `SlurmdPidFile=${join(s, "run", "slurmd.pid")}`,
      `SlurmctldLogFile=${join(s, "log", "slurmctld.log")}`,
      `SlurmdLogFile=${join(s, "log", "slurmd.log")}`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "MpiDefault=none",
      "ReturnToService=2",
      "MinJobAge=600",
      `NodeName=${node} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=${cpus().length} RealMemory=${Math.floor((totalmem() / 2 ** 20) * 0.8)} State=UNKNOWN`,
      `PartitionName=main Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      "",
    ].join("\n"),
  );
  env = { ...process.env, SLURM_CONF: conf };
  daemons.push(spawn("slurmctld", ["-D", "-f", conf], { env, stdio: "ignore" }));
  await new Promise((r) => setTimeout(r, 1500));
  daemons.push(spawn("slurmd", ["-D", "-N", node, "-f", conf], { env, stdio: "ignore" }));
  try {
    await waitFor("the node to be idle", () => /idle/.test(sh("sinfo", ["-h", "-o", "%T"]).stdout), 30);
  } catch {
    const log = existsSync(join(s, "log", "slurmctld.log"))
      ? readFileSync(join(s, "log", "slurmctld.log"), "utf8").slice(-400)
      : "";
    return `the Slurm daemons did not come up: ${sh("sinfo", []).stderr.trim()} ${log}`;
  }
  return false;
}

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
    skipReason = await startCluster();
    if (skipReason) {
      process.stdout.write(`# slurm tests skipped: ${skipReason}\n`);
      return;
    }
    const cohort = join(dir, "cohort");
    work = join(dir, "work");
    assert.equal(cli(["synth", "--out", cohort, "--exams", "30", "--seed", "21"]).status, 0);
    const ing = cli([
      "ingest",
      join(cohort, "dicom"),
      "--labels",
      join(cohort, "labels.csv"),
      "--out",
      work,
      "--no-organs",
    ]);
    assert.equal(ing.status, 0, ing.stderr);
    recipe = smallRecipe(dir, "liverstiff", "ours-small", { maxEpochs: 12, patience: 4 }, { ensemble: 1 });
    const local = cli(validate(join(dir, "local"), "--jobs", "1"));
    assert.equal(local.status, 0, local.stderr);
    localCsv = readFileSync(join(dir, "local", "predictions.csv"), "utf8");
  });

  after(() => {
    for (const d of daemons) d.kill("SIGTERM");
    const pid = join(dir, "slurm", "run", "munged.pid");
    if (existsSync(pid)) spawnSync("kill", [readFileSync(pid, "utf8").trim()]);
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
