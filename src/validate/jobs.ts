// Parallel folds: the folds a validation run still has to train go to worker processes, each with its own
// libtorch and a fixed number of intra-op threads, so that every core is busy and the predictions are
// those of --jobs 1. Child processes rather than
// worker threads because libtorch's thread pool is process-wide: a thread count per worker needs a
// process per worker.
import { availableParallelism } from "node:os";
import { LiverstiffError, ProcessPool, siblingModule } from "../core/index.ts";
import type { ExamFeatures } from "../features/index.ts";
import type { Recipe } from "../train/index.ts";
import type { FoldContext, FoldExecutor, FoldFile, FoldJob } from "./run.ts";
import { recipeTrainer } from "./workdir.ts";

/** What every worker process gets once: the recipes, their exams' features, and how to run. */
export interface FoldWorkerInit {
  workdir: string;
  seed: number;
  /** libtorch intra-op threads in the worker. */
  threads: number;
  recipes: { recipe: Recipe; prepName: string; exams: ExamFeatures[] }[];
  accessions: [string, string | undefined][];
}

/** --jobs and --threads as given; undefined = chosen from the cores and the folds to train. */
export interface FoldParallelism {
  jobs?: number;
  threadsPerFold?: number;
}

/**
 * libtorch threads per fold unless --threads says otherwise. Fixed, not the cores divided among the jobs:
 * a head's predictions change with libtorch's thread count (its reductions split differently), and
 * they must not change with --jobs. One thread is also the fastest for the shipped heads, which are too
 * small to gain from a second (docs/validate.md).
 */
export const DEFAULT_THREADS_PER_FOLD = 1;

/**
 * How many folds run at once and with how many libtorch threads each: by default as many folds as there
 * are cores (at most the folds to train), each with DEFAULT_THREADS_PER_FOLD threads.
 */
export function planParallelism(
  p: FoldParallelism,
  pendingFolds: number,
  cores = availableParallelism(),
): { jobs: number; threadsPerFold: number } {
  for (const [name, v] of [
    ["jobs", p.jobs],
    ["threads", p.threadsPerFold],
  ] as const)
    if (v !== undefined && !(Number.isInteger(v) && v >= 1))
      throw new LiverstiffError(`--${name} must be a positive integer`, { [name]: String(v) });
  const threadsPerFold = p.threadsPerFold ?? DEFAULT_THREADS_PER_FOLD;
  const jobs = p.jobs ?? Math.max(1, Math.floor(cores / threadsPerFold));
  return { jobs: Math.max(1, Math.min(jobs, pendingFolds)), threadsPerFold };
}

/** The fold contexts of a worker (a process of the pool, or a Slurm task): one per recipe. */
export function foldContexts(init: Omit<FoldWorkerInit, "threads">): Map<string, FoldContext> {
  const accession = new Map(init.accessions);
  const contexts = new Map<string, FoldContext>();
  for (const r of init.recipes) {
    const runner = {
      name: r.recipe.name,
      fingerprint: "",
      train: recipeTrainer(r.recipe, r.prepName, init.workdir),
    };
    contexts.set(r.recipe.name, {
      runner,
      byId: new Map(r.exams.map((e) => [e.examId, e])),
      seed: init.seed,
      accessionOf: (id) => accession.get(id),
    });
  }
  return contexts;
}

/** Worker processes that train fold jobs (see fold-worker.ts); each writes its own fold files. */
export function foldWorkers(jobs: number, init: FoldWorkerInit): FoldExecutor {
  const pool = new ProcessPool<FoldWorkerInit, FoldJob, FoldFile>(
    siblingModule(import.meta.url, "fold-worker"),
    jobs,
    init,
  );
  return { concurrency: jobs, run: (job) => pool.run(job), close: () => pool.close() };
}
