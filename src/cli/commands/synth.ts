import type { Command } from "commander";
import { LiverstiffError } from "../../core/index.ts";
import { progressReporter } from "../progress.ts";

interface SynthCliOptions {
  out: string;
  exams?: string;
  sites?: string;
  seed?: string;
  preview?: boolean;
  workers?: string;
  force?: boolean;
}

function integer(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw new LiverstiffError(`${name} must be an integer`, { [name]: raw });
  return Number(raw);
}

export function register(program: Command): void {
  program
    .command("synth")
    .description(
      "Generate the synthetic multi-site, multi-vendor abdominal MRI cohort with MRE stiffness: DICOM files, " +
        "labels.csv, and the hidden truth (oracle probabilities, series roles) for the project's own checks.",
    )
    .requiredOption("--out <dir>", "output folder (created; must not already hold a cohort unless --force)")
    .option("--exams <n>", "number of exams (default 600)")
    .option("--sites <k|ids>", "number of sites (first K profiles, default 4) or ids, e.g. site-a,site-c")
    .option("--seed <seed>", "random seed (same seed, same bytes)")
    .option("--preview", "also write PNG montages of a normal and a cirrhotic exam per vendor")
    .option("--workers <n>", "worker threads (default 2)")
    .option("--force", "replace a cohort already in --out")
    .action(async (opts: SynthCliOptions) => {
      const exams = integer("--exams", opts.exams);
      const workers = integer("--workers", opts.workers);
      const seed =
        opts.seed === undefined ? undefined : /^\d+$/.test(opts.seed) ? Number(opts.seed) : opts.seed;
      const { synthesize, validateOptions } = await import("../../synth/index.ts");
      const synthOpts = {
        out: opts.out,
        exams,
        sites: opts.sites,
        seed,
        preview: opts.preview,
        workers,
        force: opts.force,
      };
      validateOptions(synthOpts);
      const progress = progressReporter();
      const result = await synthesize(synthOpts, (ev) => {
        if (ev.total !== undefined) progress.sink({ ...ev, stage: "synth" });
      }).finally(() => progress.stop());
      const s = result.summary;
      const auc = (k: string) => (s.oracleAuc[`oracle_auc_ge_${k}`] ?? Number.NaN).toFixed(3);
      const prev = (k: string) => `${((s.prevalence[`ge_${k}`] ?? 0) * 100).toFixed(1)}%`;
      const lines = [
        `wrote ${result.exams} exams of ${result.patients} patients (${result.files} DICOM files, ${(result.bytes / 1e6).toFixed(1)} MB) to ${result.dir} in ${result.seconds.toFixed(1)} s`,
        `sites: ${Object.entries(s.sites)
          .sort()
          .map(([k, v]) => `${k} ${v}`)
          .join(
            ", ",
          )}; pediatric ${(s.pediatricShare * 100).toFixed(1)}%; patients with repeat exams ${s.patientsWithRepeats}`,
        `positives: >=2.5 ${prev("2_5")}, >=3.0 ${prev("3_0")}, >=3.5 ${prev("3_5")}, >=4.0 ${prev("4_0")}, >=5.0 ${prev("5_0")}`,
        `oracle AUROC: >=2.5 ${auc("2_5")}, >=3.0 ${auc("3_0")}, >=3.5 ${auc("3_5")}, >=4.0 ${auc("4_0")}, >=5.0 ${auc("5_0")}`,
        "labels: labels.csv; hidden truth: truth.jsonl, truth-series.jsonl, truth-summary.json",
      ];
      if (result.previews.length > 0) lines.push(`previews: ${result.previews.join(", ")}`);
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
