// Folds as tasks of a Slurm job array (`--executor slurm`): the driver writes the folds still to train
// into RUN/slurm/batch-N.json with a batch script beside it, submits the script with `sbatch --array`,
// and waits. Each task runs `liverstiff fold RUN/slurm/batch-N.json INDEX` on the shared work folder and
// writes its fold file atomically, as a local worker does; the driver takes a fold as done when its file
// is there with the job's fingerprint, and resubmits (a bounded number of times) a task that left the
// queue without one. Same files, same seeds, same results as the local executor.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LiverstiffError, projectPath, writeFileAtomic, writeJsonAtomic } from "../core/index.ts";
import { computeFeatures, createEncoder } from "../features/index.ts";
import { setNumThreads } from "../torch/index.ts";
import type { Recipe } from "../train/index.ts";
import { foldContexts } from "./jobs.ts";
import { type FoldExecutor, type FoldFile, type FoldJob, finishedFold, trainFoldFile } from "./run.ts";

/** Where and how the tasks run: sbatch's own options, and how the driver waits. */
export interface SlurmOptions {
  partition?: string;
  account?: string;
  /** sbatch --time, as Slurm reads it ("30", "2:00:00", "1-00:00:00"). */
  time?: string;
  /** sbatch --mem, e.g. "8G". */
  mem?: string;
  gpusPerTask?: number;
  /** Further sbatch options, passed through as given (e.g. "--qos=long"). */
  sbatchArgs?: string[];
  /** Shell lines run before the task (e.g. "module load nodejs/20"). */
  setup?: string;
  /** Seconds between looks at the queue and the fold files (default 10). */
  pollSeconds?: number;
  /** Resubmissions of a task that ended without its fold file (default 2). */
  retries?: number;
}

/** What every task of a batch needs besides its fold job: read again from the work folder's caches. */
export interface SlurmTaskSpec {
  workdir: string;
  seed: number;
  threads: number;
  recipes: { recipe: Recipe; prepName: string }[];
  accessions: [string, string | undefined][];
}

/** One submitted batch file: the spec and its jobs, task i training jobs[i]. */
export interface SlurmBatch {
  format: "liverstiff-slurm-batch";
  spec: SlurmTaskSpec;
  jobs: FoldJob[];
}

interface Waiting {
  job: FoldJob;
  resolve: (f: FoldFile) => void;
  reject: (e: Error) => void;
  arrayId: string;
  task: number;
  tries: number;
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The batch script for `tasks` array tasks of one batch file. */
export function batchScript(
  batchFile: string,
  logPattern: string,
  tasks: number,
  threads: number,
  o: SlurmOptions,
): string {
  const sbatch = [
    "--job-name=liverstiff-folds",
    `--array=0-${tasks - 1}`,
    `--output=${logPattern}`,
    `--cpus-per-task=${threads}`,
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.account ? [`--account=${o.account}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.mem ? [`--mem=${o.mem}`] : []),
    ...(o.gpusPerTask ? [`--gpus-per-task=${o.gpusPerTask}`] : []),
    ...(o.sbatchArgs ?? []),
  ];
  return [
    "#!/bin/bash",
    "# Written by liverstiff validate --executor slurm: one array task per fold of the batch file.",
    ...sbatch.map((a) => `#SBATCH ${a}`),
    "set -euo pipefail",
    ...(o.setup ? [o.setup] : []),
    `exec ${sq(process.execPath)} ${sq(projectPath("bin", "liverstiff.mjs"))} --quiet fold ${sq(batchFile)} "$SLURM_ARRAY_TASK_ID"`,
    "",
  ].join("\n");
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === "ENOENT")
      throw new LiverstiffError(`${cmd} not found: --executor slurm needs Slurm's client commands on PATH`, {
        command: cmd,
      });
    throw new LiverstiffError(`${cmd} failed: ${(e.stderr ?? e.message).trim()}`, { command: cmd });
  }
}

/** The array task ids of a job that Slurm still holds (pending, running, completing). */
function queuedTasks(arrayId: string): Set<number> {
  const out = run("squeue", ["-h", "-r", "-j", arrayId, "-o", "%K %T"]);
  const live = new Set<number>();
  for (const line of out.split("\n")) {
    const [task, state] = line.trim().split(/\s+/);
    if (task !== undefined && state && !["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"].includes(state))
      live.add(Number(task));
  }
  return live;
}

/** An executor that runs fold jobs as Slurm array tasks; see the file's head. */
export function slurmExecutor(
  runDir: string,
  spec: SlurmTaskSpec,
  options: SlurmOptions,
  pending: number,
): FoldExecutor {
  const dir = join(runDir, "slurm");
  mkdirSync(dir, { recursive: true });
  const pollMs = Math.max(0.2, options.pollSeconds ?? 10) * 1000;
  const retries = options.retries ?? 2;
  const waiting: Waiting[] = [];
  let queued: Omit<Waiting, "arrayId" | "task">[] = [];
  let batches = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const submit = (items: Omit<Waiting, "arrayId" | "task">[]) => {
    const n = ++batches;
    const batchFile = join(dir, `batch-${n}.json`);
    const batch: SlurmBatch = { format: "liverstiff-slurm-batch", spec, jobs: items.map((w) => w.job) };
    writeJsonAtomic(batchFile, batch);
    const script = join(dir, `batch-${n}.sh`);
    writeFileAtomic(
      script,
      batchScript(batchFile, join(dir, `batch-${n}-%a.log`), items.length, spec.threads, options),
    );
    const arrayId = run("sbatch", ["--parsable", script]).trim().split(";")[0]!;
    for (const [task, w] of items.entries()) waiting.push({ ...w, arrayId, task });
  };

  const poll = () => {
    if (closed || waiting.length === 0) return;
    const live = new Map<string, Set<number>>();
    try {
      // The queue first, then the files: a task that finishes in between is seen by its file.
      for (const id of new Set(waiting.map((w) => w.arrayId))) live.set(id, queuedTasks(id));
    } catch (err) {
      for (const w of waiting.splice(0)) w.reject(err as Error);
      return;
    }
    const retry: Omit<Waiting, "arrayId" | "task">[] = [];
    for (const w of [...waiting]) {
      const done = finishedFold(w.job);
      const inQueue = live.get(w.arrayId)!.has(w.task);
      if (!done && inQueue) continue;
      waiting.splice(waiting.indexOf(w), 1);
      if (done) w.resolve(done);
      else if (w.tries < retries) retry.push({ ...w, tries: w.tries + 1 });
      else
        w.reject(
          new LiverstiffError(
            `the Slurm task ended ${w.tries + 1} times without writing its fold file; see its log`,
            { log: join(dir, `batch-*-${w.task}.log`), array: w.arrayId, task: w.task },
          ),
        );
    }
    if (retry.length > 0) {
      try {
        submit(retry);
      } catch (err) {
        for (const w of retry) w.reject(err as Error);
      }
    }
  };

  const flush = () => {
    const items = queued;
    queued = [];
    if (items.length === 0) return;
    try {
      submit(items);
    } catch (err) {
      for (const w of items) w.reject(err as Error);
    }
  };

  return {
    // Every pending fold at once: the cluster, not the driver, decides how many run together.
    concurrency: Math.max(1, pending),
    run(job) {
      return new Promise<FoldFile>((resolve, reject) => {
        queued.push({ job, resolve, reject, tries: 0 });
        // The jobs of one validation run arrive together: submit them as one array on the next turn.
        if (queued.length === 1) setImmediate(flush);
        timer ??= setInterval(poll, pollMs);
      });
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
    },
  };
}

/** Reads a batch file written by slurmExecutor; errors name the file. */
export function readSlurmBatch(path: string): SlurmBatch {
  let batch: SlurmBatch;
  try {
    batch = JSON.parse(readFileSync(path, "utf8")) as SlurmBatch;
  } catch (err) {
    throw new LiverstiffError(`cannot read the Slurm batch file: ${(err as Error).message}`, { file: path });
  }
  if (batch?.format !== "liverstiff-slurm-batch" || !Array.isArray(batch.jobs))
    throw new LiverstiffError("not a liverstiff Slurm batch file", { file: path });
  return batch;
}

/**
 * One array task (`liverstiff fold BATCH INDEX`): trains job INDEX of the batch into its fold file, with
 * the features read from the work folder's cache, as a local worker process would.
 */
export async function runSlurmTask(batchFile: string, index: number): Promise<FoldFile> {
  const batch = readSlurmBatch(batchFile);
  const job = batch.jobs[index];
  if (!job)
    throw new LiverstiffError(`the batch has no task ${index} (tasks 0-${batch.jobs.length - 1})`, {
      file: batchFile,
    });
  const { spec } = batch;
  setNumThreads(spec.threads);
  const entry = spec.recipes.find((r) => r.recipe.name === job.recipe);
  if (!entry)
    throw new LiverstiffError("the batch does not describe the job's recipe", { recipe: job.recipe });
  const encoder = createEncoder(entry.recipe.encoder.name);
  try {
    const exams = await computeFeatures({ workdir: spec.workdir, prep: entry.prepName, encoder });
    const contexts = foldContexts({ ...spec, recipes: [{ ...entry, exams }] });
    return await trainFoldFile(contexts.get(job.recipe)!, job);
  } finally {
    encoder.dispose();
  }
}
