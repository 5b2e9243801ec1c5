import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { acquireLock, LiverstiffError } from "../../core/index.ts";
import { seedAndResamples } from "../options.ts";
import { progressReporter, stageTable } from "../progress.ts";

interface ValidateCliOptions {
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
  jobs?: string;
  threads?: string;
}

/** `--jobs` and `--threads`: positive integers, or undefined for the defaults (validate/jobs.ts). */
export function parseParallelism(opts: { jobs?: string; threads?: string }): {
  jobs?: number;
  threadsPerFold?: number;
} {
  const parse = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new LiverstiffError(`--${flag} must be a positive integer`, { [flag]: v });
    return n;
  };
  return { jobs: parse("jobs", opts.jobs), threadsPerFold: parse("threads", opts.threads) };
}

/** Adds --jobs and --threads to a command that trains folds. */
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
    );
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
  parallelOptions(command).action(async (workdir: string, opts: ValidateCliOptions) => {
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
    // One validation per run folder at a time (a missing work folder is validateWorkdir's to report).
    const lock = existsSync(workdir) ? acquireLock(outDir, "validate") : undefined;
    const progress = progressReporter();
    try {
      const result = await validateWorkdir({
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
    }
  });
}
