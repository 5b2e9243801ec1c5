import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { LiverstiffError, StageClock, writeJsonAtomic } from "../../core/index.ts";
import { openMaskSource } from "../masks.ts";
import { formatSeconds, progressReporter, stageTable } from "../progress.ts";
import { type ParallelCliOptions, parallelOptions, parseParallelism, parseSchemes } from "./validate.ts";

interface DemoCliOptions extends ParallelCliOptions {
  out: string;
  exams: string;
  seed?: string;
  cohort: string;
  scheme: string;
  recipe: string[];
  resamples: string;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new LiverstiffError(`--${flag} must be a positive integer`, { [flag]: v });
  return n;
}

/** A cohort already generated with the same size and seed is reused, so an interrupted demo resumes. */
function cohortMatches(dir: string, exams: number, seed: number): boolean {
  const manifest = join(dir, "manifest.json");
  if (!existsSync(manifest) || !existsSync(join(dir, "labels.csv")) || !existsSync(join(dir, "truth.jsonl")))
    return false;
  try {
    const m = JSON.parse(readFileSync(manifest, "utf8")) as { seed?: unknown; exams?: unknown };
    return Number(m.seed) === seed && m.exams === exams;
  } catch {
    return false;
  }
}

export function register(program: Command): void {
  const command = program
    .command("demo")
    .description(
      "The whole method on the built-in synthetic cohort: generate it (multi-site, multi-vendor DICOM with MRE " +
        "labels), ingest it, validate the recipes (by default liverstiff and deepliver2-fast beside two " +
        "baselines, the baseline-ridge linear probe on the same frozen features and the baseline-clinical " +
        "age/sex/site logistic regression) on identical splits with 10-fold CV, temporal hold-out and " +
        "leave-one-site-out, and write the report. Re-running resumes where it stopped.",
    )
    .option("--out <dir>", "output folder", "./liverstiff-demo")
    .option("--exams <n>", "exams in the synthetic cohort", "600")
    .option(
      "--cohort <name>",
      "named synthetic cohort: evaluation (locked, the headline numbers), evaluation-2 (a second locked " +
        "cohort) or development (where the recipes were tuned)",
      "evaluation",
    )
    .option("--seed <n>", "cohort seed instead of a named cohort (the splits and training use 42)")
    .option("--scheme <scheme>", "cv10, temporal, loso, all, or a comma list", "all")
    .option("--recipe <name...>", "recipes to compare (built-in names or files)", [
      "liverstiff",
      "deepliver2-fast",
      "baseline-ridge",
      "baseline-clinical",
    ])
    .option("--resamples <n>", "bootstrap resamples for the AUROC CIs", "2000");
  parallelOptions(command).action(async (opts: DemoCliOptions) => {
    const out = resolve(opts.out);
    const exams = positiveInt("exams", opts.exams);
    const { NAMED_COHORTS } = await import("../../synth/index.ts");
    const named = NAMED_COHORTS[opts.cohort as keyof typeof NAMED_COHORTS];
    if (opts.seed === undefined && named === undefined)
      throw new LiverstiffError(`--cohort must be one of ${Object.keys(NAMED_COHORTS).join(", ")}`, {
        cohort: opts.cohort,
      });
    const seed = opts.seed !== undefined ? positiveInt("seed", opts.seed) : named;
    const cohortName = Object.entries(NAMED_COHORTS).find(([, s]) => s === seed)?.[0] ?? `seed ${seed}`;
    const schemes = parseSchemes(opts.scheme);
    const resamples = positiveInt("resamples", opts.resamples);
    const parallel = parseParallelism(opts);
    const cohortDir = join(out, "cohort");
    const workdir = join(out, "work");
    const runDir = join(out, "run");
    const started = performance.now();
    const say = (s: string) => process.stderr.write(`${s}\n`);
    const progress = progressReporter();
    const clock = new StageClock();
    try {
      // 1. The cohort, as a hospital export would arrive.
      clock.mark("synth");
      if (cohortMatches(cohortDir, exams, seed)) say(`[1/4] synthetic cohort: reusing ${cohortDir}`);
      else {
        say(`[1/4] generating the synthetic cohort (${exams} exams, seed ${seed}) in ${cohortDir}`);
        const { synthesize } = await import("../../synth/index.ts");
        const r = await synthesize({ out: cohortDir, exams, seed, force: true }, progress.sink);
        progress.stop();
        say(
          `      ${r.exams} exams of ${r.patients} patients, ${r.files} files, ${(r.bytes / 1e6).toFixed(0)} MB, ${formatSeconds(r.seconds)}`,
        );
      }

      // 2. Ingest with the preparation the recipes need (incremental: a re-run only checks the cache).
      clock.mark("ingest");
      const { prepareRecipe } = await import("../../validate/workdir.ts");
      const prepared = opts.recipe.map((r) => prepareRecipe(r));
      const prepNames = new Set(prepared.map((p) => p.prepName));
      say(`[2/4] ingesting DICOM into ${workdir} (preparation ${[...prepNames].join(", ")})`);
      const { ingest } = await import("../../cohort/index.ts");
      // Organ masks from the shipped segmentation network, as a site without label maps would have them.
      const masks = await openMaskSource({ maskLabels: "totalsegmentator", organs: true });
      try {
        for (const p of prepared.filter(
          (x, i) => prepared.findIndex((y) => y.prepName === x.prepName) === i,
        )) {
          const s = await ingest({
            roots: [join(cohortDir, "dicom")],
            labelsCsv: join(cohortDir, "labels.csv"),
            workdir,
            prep: p.prep,
            onProgress: progress.sink,
            ...(masks.source ? { masks: masks.source } : {}),
          });
          progress.stop();
          const excluded = Object.entries(s.excludedByReason)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ");
          say(
            `      ${s.examsFound} exams found, ${s.usable} usable${excluded ? `; excluded: ${excluded}` : ""}`,
          );
          if (s.organs)
            say(
              `      organ measures (${s.organs.source}): ${s.organs.measured} measured, ${s.organs.reused} reused`,
            );
        }
      } finally {
        masks.close();
      }

      // 3. Validation: every recipe on identical splits, all schemes.
      const before = clock.stages();
      say(`[3/4] validating ${opts.recipe.join(", ")} (${schemes.join(", ")}) into ${runDir}`);
      const { validateWorkdir } = await import("../../validate/workdir.ts");
      const result = await validateWorkdir({
        workdir,
        recipes: opts.recipe,
        schemes,
        outDir: runDir,
        truthJsonl: join(cohortDir, "truth.jsonl"),
        cohort: { name: cohortName, description: `synthetic, seed ${seed}, ${exams} exams`, seed },
        bootstrapResamples: resamples,
        ...parallel,
        onProgress: progress.sink,
      });
      progress.stop();

      // 4. The report.
      say("[4/4] writing the report");
      const { writeReport } = await import("../../report/index.ts");
      const after = new StageClock();
      after.mark("report");
      const report = await writeReport(runDir);
      const stages = [...before, ...result.stages, ...after.stages()];
      // The whole demo's stages go into the run's manifest, beside validation's own.
      const manifestPath = join(runDir, "manifest.json");
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
      writeJsonAtomic(manifestPath, { ...manifest, demoStages: stages });
      const { headlineTable } = await import("../headline.ts");
      process.stdout.write(`\n${headlineTable(result.metrics, "text")}\n\n`);
      process.stdout.write(`${stageTable(stages)}\n`);
      process.stdout.write(`demo finished in ${formatSeconds((performance.now() - started) / 1000)}\n`);
      process.stdout.write(`report: ${report.path}\n`);
    } finally {
      progress.stop();
    }
  });
}
