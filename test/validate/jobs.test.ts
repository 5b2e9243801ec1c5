// Parallel folds: the plan of jobs and threads, results assembled in fold order whatever order folds
// finish in, a failing fold named and the others kept, and the worker-process pool under a crash. The
// byte identity of real recipes trained in worker processes is checked in e2e.test.ts.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stageTable } from "../../src/cli/progress.ts";
import { ProcessPool } from "../../src/core/index.ts";
import type { ExamFeatures } from "../../src/features/types.ts";
import {
  type FoldExecutor,
  type FoldFile,
  type FoldJob,
  type RecipeRunner,
  runValidation,
  trainFoldFile,
} from "../../src/validate/index.ts";
import { planParallelism } from "../../src/validate/jobs.ts";
import { withScratchDir } from "../fixtures/scratch.ts";
import { cohort, fakeRunner } from "./helpers.ts";

test("planParallelism: one fold per core with one thread each by default, never more jobs than folds", () => {
  assert.deepEqual(planParallelism({}, 30, 2), { jobs: 2, threadsPerFold: 1 });
  assert.deepEqual(planParallelism({}, 30, 16), { jobs: 16, threadsPerFold: 1 });
  assert.deepEqual(planParallelism({}, 3, 16), { jobs: 3, threadsPerFold: 1 });
  assert.deepEqual(planParallelism({ threadsPerFold: 4 }, 30, 16), { jobs: 4, threadsPerFold: 4 });
  assert.deepEqual(planParallelism({ threadsPerFold: 4 }, 30, 2), { jobs: 1, threadsPerFold: 4 });
  assert.deepEqual(planParallelism({ jobs: 6 }, 30, 2), { jobs: 6, threadsPerFold: 1 });
  assert.throws(() => planParallelism({ jobs: 0 }, 30, 2), /--jobs must be a positive integer/);
  assert.throws(
    () => planParallelism({ threadsPerFold: 1.5 }, 30, 2),
    /--threads must be a positive integer/,
  );
});

/** Runs jobs here, `concurrency` at once, finishing them in a scrambled order; fails the jobs `failOn` picks. */
function scrambledExecutor(
  runners: RecipeRunner[],
  exams: ExamFeatures[],
  concurrency: number,
  failOn: (job: FoldJob) => boolean = () => false,
): FoldExecutor & { ran: string[] } {
  const byId = new Map(exams.map((e) => [e.examId, e]));
  const ran: string[] = [];
  let n = 0;
  return {
    concurrency,
    ran,
    async run(job) {
      const delayMs = [7, 1, 4, 0, 9, 2][n++ % 6]!;
      await new Promise((r) => setTimeout(r, delayMs));
      if (failOn(job)) throw new Error("out of memory");
      ran.push(`${job.recipe}/${job.fold.scheme}/${job.fold.name}`);
      const runner = runners.find((r) => r.name === job.recipe)!;
      return trainFoldFile({ runner, byId, seed: 42 }, job);
    },
    async close() {},
  };
}

test("folds trained by an executor, finished out of order, give the in-process run's files", async () => {
  const exams = cohort(120, 5);
  await withScratchDir("ls-jobs-", async (dir) => {
    const runners = () => [fakeRunner("good", 0), fakeRunner("noisy", 0.6)];
    const run = (outDir: string, executor?: (n: number) => FoldExecutor) =>
      runValidation({
        examsFor: () => exams,
        recipes: runners(),
        schemes: ["cv10", "loso"],
        outDir,
        seed: 42,
        bootstrapResamples: 200,
        ...(executor ? { foldExecutor: executor } : {}),
      });
    await run(join(dir, "here"));
    let offered = 0;
    const executor = scrambledExecutor(runners(), exams, 3);
    const parallel = await run(join(dir, "pool"), (n) => {
      offered = n;
      return executor;
    });
    assert.equal(offered, 2 * (10 + 4));
    assert.equal(parallel.trainedFolds, 28);
    assert.notDeepEqual(executor.ran.slice(0, 5), [
      "good/cv10/1",
      "good/cv10/2",
      "good/cv10/3",
      "good/cv10/4",
      "good/cv10/5",
    ]);
    const read = (d: string, f: string) => readFileSync(join(dir, d, f), "utf8");
    assert.equal(read("pool", "predictions.csv"), read("here", "predictions.csv"));
    for (const recipe of ["good", "noisy"])
      for (const scheme of ["cv10", "loso"])
        for (const f of readdirSync(join(dir, "here", "folds", recipe, scheme))) {
          const rel = join("folds", recipe, scheme, f);
          const rows = (d: string) => JSON.stringify((JSON.parse(read(d, rel)) as FoldFile).rows);
          assert.equal(rows("pool"), rows("here"), rel);
        }
  });
});

test("a failing fold is named, the other folds keep their files, and a re-run trains only it", async () => {
  const exams = cohort(120, 6);
  await withScratchDir("ls-jobs-", async (dir) => {
    const runners = [fakeRunner("good", 0)];
    const options = {
      examsFor: () => exams,
      recipes: runners,
      schemes: ["loso" as const],
      outDir: dir,
      seed: 42,
      bootstrapResamples: 200,
    };
    await assert.rejects(
      runValidation({
        ...options,
        foldExecutor: () => scrambledExecutor(runners, exams, 2, (j) => j.fold.name === "C"),
      }),
      (err: Error & { context?: Record<string, string> }) => {
        assert.match(err.message, /out of memory/);
        assert.deepEqual(err.context, { recipe: "good", scheme: "loso", fold: "C" });
        return true;
      },
    );
    const written = readdirSync(join(dir, "folds", "good", "loso")).sort();
    assert.ok(!written.includes("C.json"));
    assert.ok(written.length >= 1, "the folds that ran before or beside the failure are kept");
    for (const f of written) JSON.parse(readFileSync(join(dir, "folds", "good", "loso", f), "utf8"));
    const again = await runValidation(options);
    assert.equal(again.resumedFolds, written.length);
    assert.equal(again.trainedFolds, 4 - written.length);
  });
});

test("ProcessPool: jobs run in child processes; an error or a crash fails that job only", async () => {
  const events: unknown[] = [];
  const pool = new ProcessPool<{ factor: number }, number | "exit", number>(
    new URL("./pool-child.ts", import.meta.url),
    2,
    { factor: 3 },
    (e) => events.push(e),
  );
  try {
    assert.deepEqual(await Promise.all([pool.run(2), pool.run(5)]), [6, 15]);
    const pids = new Set(events.map((e) => (e as { pid: number }).pid));
    assert.equal(pids.size, 2, "two processes");
    assert.ok(!pids.has(process.pid));
    await assert.rejects(pool.run(-1), /negative job -1/);
    await assert.rejects(pool.run("exit"), /the worker process ended \(exit code 3\)/);
    assert.equal(await pool.run(7), 21, "the other process carries on");
    await assert.rejects(Promise.all([pool.run(1), pool.run(1)]), /no worker process is free/);
  } finally {
    await pool.close();
  }
});

test("stageTable: one line per stage with wall, CPU and cores, and their total", () => {
  const table = stageTable([
    { stage: "features", seconds: 4.2, cpuSeconds: 2.1, cpuCores: 0.5 },
    { stage: "folds", seconds: 100, cpuSeconds: 190, cpuCores: 1.9 },
  ]).split("\n");
  assert.equal(table.length, 4);
  assert.match(table[1]!, /^features\s+4\.2s\s+2\.1s\s+0\.50$/);
  assert.match(table[2]!, /^folds\s+1m40s\s+3m10s\s+1\.90$/);
  assert.match(table[3]!, /^total\s+1m44s\s+3m12s\s+1\.84$/);
});
