import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { acquireLock, LiverstiffError } from "../../core/index.ts";
import type { SlurmOptions } from "../../validate/slurm.ts";
import { addDistributedOptions, type DistributedCliOptions, joinProcessGroup } from "../distributed.ts";
import { seedAndResamples } from "../options.ts";
import { progressReporter, stageTable } from "../progress.ts";

interface ValidateCliOptions extends DistributedCliOptions, ParallelCliOptions {
  recipe: string[];
  scheme: string;
  out?: string;
  seed: string;
  splitDate?: string;
  encoder?: string;
  truth?: string;
  resamples: string;
  report: boolean;
  json?: boolean;
  finetune?: boolean;
}

/** What `parallelOptions` adds to a command's options. */
export interface ParallelCliOptions {
  jobs?: string;
  threads?: string;
  executor?: string;
  slurmPartition?: string;
  slurmAccount?: string;
  slurmTime?: string;
  slurmMem?: string;
  slurmGpus?: string;
  sbatchArg?: string[];
  slurmSetup?: string;
  slurmPollS?: string;
}

/**
 * `--jobs`, `--threads` (positive integers, or undefined for validate/jobs.ts's defaults), `--executor`
 * and the Slurm options (validate/slurm.ts).
 */
export function parseParallelism(opts: ParallelCliOptions): {
  jobs?: number;
  threadsPerFold?: number;
  executor?: "local" | "slurm";
  slurm?: SlurmOptions;
} {
  const parse = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new LiverstiffError(`--${flag} must be a positive integer`, { [flag]: v });
    return n;
  };
  const out = { jobs: parse("jobs", opts.jobs), threadsPerFold: parse("threads", opts.threads) };
  if (opts.executor !== "slurm") return out;
  const poll = opts.slurmPollS === undefined ? undefined : Number(opts.slurmPollS);
  if (poll !== undefined && !(poll > 0))
    throw new LiverstiffError("--slurm-poll-s must be a positive number of seconds", {
      "slurm-poll-s": opts.slurmPollS!,
    });
  const slurm: SlurmOptions = {
    ...(opts.slurmPartition ? { partition: opts.slurmPartition } : {}),
    ...(opts.slurmAccount ? { account: opts.slurmAccount } : {}),
    ...(opts.slurmTime ? { time: opts.slurmTime } : {}),
    ...(opts.slurmMem ? { mem: opts.slurmMem } : {}),
    ...(opts.slurmGpus ? { gpusPerTask: parse("slurm-gpus", opts.slurmGpus)! } : {}),
    ...(opts.sbatchArg?.length ? { sbatchArgs: opts.sbatchArg } : {}),
    ...(opts.slurmSetup ? { setup: opts.slurmSetup } : {}),
    ...(poll !== undefined ? { pollSeconds: poll } : {}),
  };
  return { ...out, executor: "slurm", slurm };
}

/** Adds --jobs, --threads, --executor and the Slurm options to a command that trains folds. */
export function parallelOptions(command: Command): Command {
  return command
    .option(
      "--jobs <n>",
      "folds trained at once, in worker processes (default: CPU cores / threads; 1 = in this process); " +
        "predictions do not depend on it",
    )
    .option(
      "--threads <n>",
      "libtorch threads per fold (default 1); predictions depend on it, so folds trained with another " +
        "count are trained again",
    )
    .addOption(
      new Option(
        "--executor <where>",
        "local: worker processes here; slurm: one sbatch job array of the folds on a shared work folder",
      )
        .choices(["local", "slurm"])
        .default("local"),
    )
    .option("--slurm-partition <name>", "sbatch --partition")
    .option("--slurm-account <name>", "sbatch --account")
    .option("--slurm-time <limit>", 'sbatch --time per fold task (e.g. "30" or "2:00:00")')
    .option("--slurm-mem <size>", 'sbatch --mem per fold task (e.g. "8G")')
    .option("--slurm-gpus <n>", "sbatch --gpus-per-task")
    .option(
      "--sbatch-arg <arg>",
      'a further sbatch option, passed through (repeatable, e.g. --sbatch-arg="--qos=long")',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--slurm-setup <shell>", 'shell run before each task (e.g. "module load nodejs/20")')
    .option("--slurm-poll-s <seconds>", "seconds between looks at the queue and the fold files", "10");
}

export function parseSchemes(value: string): ("cv10" | "temporal" | "loso")[] {
  const all = ["cv10", "temporal", "loso"] as const;
  if (value === "all") return [...all];
  const out = value.split(",").map((s) => s.trim());
  for (const s of out)
    if (!(all as readonly string[]).includes(s))
      throw new LiverstiffError("--scheme must be cv10, temporal, loso, all, or a comma list of them", {
        scheme: s,
      });
  return out as ("cv10" | "temporal" | "loso")[];
}

export function register(program: Command): void {
  const command = program
    .command("validate")
    .description(
      "Validate recipes on an ingested WORKDIR the way the paper does: 10-fold CV, temporal hold-out and " +
        "leave-one-site-out, patient-grouped, with cut-offs chosen inside each training part; writes " +
        "predictions.csv, metrics.json, manifest.json and report.html. Re-running resumes finished folds.",
    )
    .argument("<workdir>", "work directory made by `liverstiff ingest`")
    .option(
      "--recipe <name-or-file...>",
      "recipes to validate on identical splits (built-in: liverstiff, deepliver2, deepliver2-fast, " +
        "baseline-ridge, baseline-clinical)",
      ["liverstiff", "deepliver2-fast"],
    )
    .option("--scheme <scheme>", "cv10, temporal, loso, all, or a comma list", "all")
    .option("--out <dir>", "run folder (default WORKDIR/runs/<recipes>-seed<seed>)")
    .option("--seed <n>", "seed for splits and training", "42")
    .option(
      "--split-date <YYYY-MM-DD>",
      "temporal cut-off (default: leaves the latest 20% of exams for testing)",
    )
    .option("--encoder <name>", "run every recipe on this encoder (default: each recipe's own)")
    .option(
      "--finetune",
      "train each recipe's encoder with its head on the prepared slices (encoder.finetune; liverstiff head " +
        "with an engine encoder; slow on CPU, for users with a GPU; see docs/train.md)",
    )
    .option("--truth <truth.jsonl>", "synthetic cohort's hidden truth: adds the oracle AUROC to the report")
    .option("--resamples <n>", "bootstrap resamples for the AUROC CIs", "2000")
    .option("--no-report", "skip report.html")
    .option("--json", "print metrics.json's headline as JSON");
  addDistributedOptions(parallelOptions(command)).action(
    async (workdir: string, opts: ValidateCliOptions) => {
      const { seed, resamples } = seedAndResamples(opts);
      const schemes = parseSchemes(opts.scheme);
      const parallel = parseParallelism(opts);
      const outDir =
        opts.out ??
        join(
          workdir,
          "runs",
          `${opts.recipe.map((r) => r.replace(/[^\w.-]/g, "_")).join("+")}${opts.finetune ? "-finetune" : ""}-seed${seed}`,
        );
      const { validateWorkdir } = await import("../../validate/workdir.ts");
      // Data-parallel fine-tuning: every rank trains every fold; rank 0 holds the lock and writes.
      const group = await joinProcessGroup(opts);
      const rank = group?.rank ?? 0;
      // One validation per run folder at a time (a missing work folder is validateWorkdir's to report).
      const lock = existsSync(workdir) && rank === 0 ? acquireLock(outDir, "validate") : undefined;
      const progress = progressReporter();
      try {
        const result = await validateWorkdir({
          ...(group ? { group, jobs: parallel.jobs ?? 1 } : {}),
          workdir,
          recipes: opts.recipe,
          schemes,
          outDir,
          seed,
          splitDate: opts.splitDate,
          encoder: opts.encoder,
          finetune: opts.finetune,
          ...parallel,
          truthJsonl: opts.truth,
          bootstrapResamples: resamples,
          onProgress: progress.sink,
        });
        progress.stop();
        if (rank > 0) {
          process.stdout.write(
            `rank ${rank}: ${result.trainedFolds} folds trained with rank 0, which writes ${outDir}\n`,
          );
          return;
        }
        let reportPath: string | undefined;
        if (opts.report) {
          const { writeReport } = await import("../../report/index.ts");
          reportPath = (await writeReport(outDir)).path;
        }
        const { headlineTable } = await import("../headline.ts");
        if (opts.json) process.stdout.write(`${JSON.stringify(headlineTable(result.metrics, "json"))}\n`);
        else {
          process.stdout.write(`${headlineTable(result.metrics, "text")}\n`);
          process.stdout.write(
            `folds trained ${result.trainedFolds}, resumed ${result.resumedFolds}\nrun folder: ${outDir}\n`,
          );
          process.stdout.write(`${stageTable(result.stages)}\n`);
          if (reportPath) process.stdout.write(`report: ${reportPath}\n`);
        }
      } finally {
        progress.stop();
        lock?.release();
        group?.close();
      }
    },
  );
}
