import { type Command, Option } from "commander";
import { seedAndResamples } from "../options.ts";
import { progressReporter } from "../progress.ts";
import { type ParallelCliOptions, parallelOptions, parseParallelism } from "./validate.ts";

interface TrainCliOptions extends ParallelCliOptions {
  recipe: string;
  out: string;
  seed: string;
  run?: string;
  encoder?: string;
  resamples: string;
  sign?: string;
  cutoffs: "monotone" | "per-threshold";
  json?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command("train")
    .description(
      "Train a deployable model bundle on an ingested WORKDIR: the recipe's 10-fold cross-validation with " +
        "every fold model kept; the ten models are the bundle's ensemble (together trained on every labelled, " +
        "usable exam), and its cut-offs and cv10 figures come from that run. Re-running resumes finished folds.",
    )
    .argument("<workdir>", "work directory made by `liverstiff ingest` (with labels)")
    .requiredOption(
      "--recipe <name-or-file>",
      "built-in recipe (liverstiff, deepliver2, deepliver2-fast, baseline-ridge, baseline-clinical) or a file",
    )
    .requiredOption("--out <bundle>", "bundle folder to write (replaced atomically if it is a bundle)")
    .option("--seed <n>", "seed for splits and training", "42")
    .option("--run <dir>", "validation run folder (default WORKDIR/runs/bundle-<recipe>-seed<seed>)")
    .option("--encoder <name>", "run the recipe on this encoder instead of its own")
    .option("--resamples <n>", "bootstrap resamples for the cv10 AUROC CIs", "2000")
    .option(
      "--sign <private-key>",
      "PEM Ed25519 private key: sign the bundle's digest (make a pair: openssl genpkey -algorithm ed25519 -out KEY; openssl pkey -in KEY -pubout -out KEY.pub)",
    )
    .addOption(
      new Option(
        "--cutoffs <rule>",
        "monotone: cut-offs non-decreasing across thresholds (best summed Youden J), so calls never contradict; per-threshold: each threshold's own Youden cut-off",
      )
        .choices(["monotone", "per-threshold"])
        .default("monotone"),
    )
    .option("--json", "print the bundle's summary as JSON");
  parallelOptions(command).action(async (workdir: string, opts: TrainCliOptions) => {
    const { seed, resamples } = seedAndResamples(opts);
    const parallel = parseParallelism(opts);
    const { trainBundle } = await import("../../deploy/index.ts");
    const progress = progressReporter();
    try {
      const r = await trainBundle({
        workdir,
        recipe: opts.recipe,
        out: opts.out,
        seed,
        runDir: opts.run,
        encoder: opts.encoder,
        bootstrapResamples: resamples,
        signKey: opts.sign,
        cutoffRule: opts.cutoffs,
        ...parallel,
        onProgress: progress.sink,
      });
      progress.stop();
      const m = r.manifest;
      const summary = {
        bundle: r.bundleDir,
        recipe: m.recipe.name,
        members: m.members.length,
        exams: m.trainingSet.exams,
        patients: m.trainingSet.patients,
        cutoffs: m.cutoffs,
        digest: m.integrity.digest,
        signed: m.integrity.signature !== undefined,
        cv10Auc: m.validation.auc,
        runDir: r.runDir,
        folds: { trained: r.trainedFolds, resumed: r.resumedFolds },
      };
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        const lines = [
          `bundle: ${r.bundleDir} (recipe ${m.recipe.name}, ${m.members.length} fold models, format ${m.format} v${m.formatVersion})`,
          `trained on ${m.trainingSet.exams} exams of ${m.trainingSet.patients} patients; sites ${Object.keys(m.trainingSet.sites).join(", ")}; vendors ${Object.keys(m.trainingSet.vendors).join(", ")}; field strengths ${Object.keys(m.trainingSet.fieldStrengthsT).join(", ")} T`,
          `cv10 (pooled out-of-fold) AUROC and the bundle's cut-offs on P(>= t) (${m.cutoffs.method}):`,
          ...m.validation.auc.map((a) => {
            const k = m.thresholdsKpa.indexOf(a.thresholdKpa);
            return `  >= ${a.thresholdKpa.toFixed(1)} kPa  AUROC ${a.auc.toFixed(3)} (${a.ci95[0].toFixed(3)}, ${a.ci95[1].toFixed(3)})  cut-off ${(m.cutoffs.values[k]! * 100).toFixed(1)}%`;
          }),
          `series chosen by rules: ${m.seriesChoice.rulesSource}; overrides: ${m.seriesChoice.overrides.length ? `${m.seriesChoice.overrides.length} from ${m.seriesChoice.overridesSources.join(", ")}` : "none"} (stored in the bundle; predict applies them)`,
          `digest sha256 ${m.integrity.digest}${m.integrity.signature ? ` signed (key sha256 ${m.integrity.signature.publicKeySha256.slice(0, 16)})` : " (unsigned)"}`,
          `folds trained ${r.trainedFolds}, resumed ${r.resumedFolds}; run folder: ${r.runDir}`,
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      }
    } finally {
      progress.stop();
    }
  });
}
