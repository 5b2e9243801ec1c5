import { type Command, Option } from "commander";
import type { PrepConfig } from "../../cohort/index.ts";
import { acquireLock, LiverstiffError } from "../../core/index.ts";
import { type MaskCliOptions, maskOptions, openMaskSource } from "../masks.ts";
import { progressReporter } from "../progress.ts";

interface IngestCliOptions extends MaskCliOptions {
  labels?: string;
  labelsMatch: "strict" | "patient-date";
  out: string;
  rules?: string;
  overrides?: string;
  recipe?: string;
  slices?: string;
  size?: string;
  fov?: string;
  inPlane?: string;
  crop?: string;
  normalize?: string;
  dtype?: string;
  windowDays: string;
  idSalt?: string;
  workers: string;
  jobs: string;
  json?: boolean;
}

function int(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new LiverstiffError(`--${name} must be an integer >= ${min}`, { [name]: v });
  return n;
}

/**
 * The preparation ingest caches: the recipe's (validate/'s resolution of it, one place for both), with
 * the fields given on the command line replaced.
 */
export async function ingestPreparation(opts: IngestCliOptions): Promise<PrepConfig> {
  const { recipePreparation } = await import("../../validate/workdir.ts");
  const { prep } = recipePreparation(opts.recipe);
  const inPlane = opts.inPlane ?? prep.inPlane;
  if (inPlane !== "mm" && inPlane !== "pixels") {
    throw new LiverstiffError("--in-plane must be mm or pixels", { "in-plane": inPlane });
  }
  const normalize = opts.normalize ?? prep.normalize;
  if (opts.normalize !== undefined && normalize !== "zscore" && normalize !== "percentile") {
    throw new LiverstiffError("--normalize must be zscore or percentile", { normalize });
  }
  const dtype = opts.dtype ?? prep.dtype;
  if (dtype !== "f32" && dtype !== "f16") {
    throw new LiverstiffError("--dtype must be f32 or f16", { dtype });
  }
  const fov = opts.fov === undefined ? prep.fovMm : Number(opts.fov);
  if (!(fov > 0))
    throw new LiverstiffError("--fov must be a positive number of mm", { fov: opts.fov ?? fov });
  return {
    ...prep,
    slices: opts.slices === undefined ? prep.slices : int("slices", opts.slices, 1),
    size: opts.size === undefined ? prep.size : int("size", opts.size, 8),
    fovMm: fov,
    inPlane,
    cropPx: opts.crop === undefined ? prep.cropPx : int("crop", opts.crop, 8),
    normalize: normalize as PrepConfig["normalize"],
    dtype,
  };
}

export function register(program: Command): void {
  const command = program
    .command("ingest")
    .description(
      "Scan DICOM folders (any layout), classify series (T1w in/opposed-phase, T2w), assemble volumes, join the " +
        "MRE labels, catalog exams in WORKDIR/catalog.sqlite and cache prepared model inputs. Re-running on the " +
        "same WORKDIR only prepares new or changed exams.",
    )
    .argument("<dicom-root...>", "folders or files to scan recursively")
    .requiredOption("--out <workdir>", "work directory (catalog, prepared inputs, summary.json)")
    .option(
      "--labels <csv>",
      "MRE results: accession or StudyInstanceUID (and patient id), and kPa (and site); template: docs/labels-template.csv",
    )
    .addOption(
      new Option(
        "--labels-match <mode>",
        "strict: a row matches by accession or StudyInstanceUID, and a patient id on both sides must agree; patient-date: also fall back to patient id + nearest date",
      )
        .choices(["strict", "patient-date"])
        .default("strict"),
    )
    .option("--rules <file>", "series-role rules (YAML or JSON) extending the defaults")
    .option(
      "--overrides <file>",
      "per-exam series overrides (CSV, YAML or JSON: accession or study_instance_uid, series_number or " +
        "series_instance_uid, role; template: docs/series-overrides-template.csv); they beat every rule",
    )
    .option(
      "--recipe <name-or-file>",
      "prepare the inputs this recipe reads (default: liverstiff, the shipped recipe), so that validate " +
        "and train on WORKDIR prepare nothing again; the options below override single fields of it",
    )
    .option("--slices <n>", "central axial slices per role (default: the recipe's; 5 as published)")
    .option(
      "--size <px>",
      "output in-plane size (default: the recipe's encoder's; 224 for Swin-B, 128 for the small CNN)",
    )
    .option("--fov <mm>", "field of view in mm for --in-plane mm (default: the recipe's)")
    .option(
      "--in-plane <mode>",
      "mm (fixed spacing and field of view) or pixels (crop/pad to --crop, then resize) (default: the recipe's)",
    )
    .option("--crop <px>", "crop/pad size for --in-plane pixels (default: the recipe's; 256 as published)")
    .option(
      "--normalize <mode>",
      "zscore (over the volume) or percentile (1st..99th -> 0..1) (default: the recipe's)",
    )
    .option("--dtype <type>", "cache element type: f32 or f16 (default: the recipe's)")
    .option("--window-days <days>", "label date window for patient id + date matching", "7")
    .option("--id-salt <salt>", "hash patient ids with this site-held salt (or set LIVERSTIFF_ID_SALT)")
    .option("--workers <n>", "worker threads for assembly and preparation (0 = in-process)", "0")
    .option(
      "--jobs <n>",
      "worker processes that segment and measure organs (1 = in this process, where the network already " +
        "uses every libtorch thread; more pays on many cores)",
      "1",
    )
    .option("--json", "print the summary as one JSON object");
  for (const o of maskOptions()) command.addOption(o);
  command.action(async (roots: string[], opts: IngestCliOptions) => {
    const prep = await ingestPreparation(opts);
    const windowDays = Number(opts.windowDays);
    if (!(windowDays >= 0))
      throw new LiverstiffError("--window-days must be >= 0", { "window-days": opts.windowDays });
    const { ingest } = await import("../../cohort/index.ts");
    const masks = await openMaskSource(opts);
    const bars = progressReporter();
    let summary: Awaited<ReturnType<typeof ingest>>;
    const lock = acquireLock(opts.out, "ingest");
    try {
      summary = await ingest({
        roots,
        workdir: opts.out,
        labelsCsv: opts.labels,
        rulesPath: opts.rules,
        overridesPath: opts.overrides,
        labelWindowDays: windowDays,
        labelsMatch: opts.labelsMatch,
        idSalt: opts.idSalt,
        workers: int("workers", opts.workers, 0),
        organJobs: int("jobs", opts.jobs, 1),
        prep,
        onProgress: bars.sink,
        ...(masks.source ? { masks: masks.source } : {}),
      });
    } finally {
      bars.stop();
      masks.close();
      lock.release();
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    const lines: [string, string | number][] = [
      ["files seen", summary.filesSeen],
      ["files indexed (MR image frames)", summary.filesIndexed],
      ["files skipped (not DICOM)", summary.filesSkipped],
      ...Object.entries(summary.fileErrors).map(([k, v]) => [`  file error: ${k}`, v] as [string, number]),
      ["exams found", summary.examsFound],
      ["usable (images + label)", summary.usable],
      ["usable images (incl. unlabelled)", summary.usableImages],
      ...Object.entries(summary.excludedByReason)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [`  excluded: ${k}`, v] as [string, number]),
      ["label rows", summary.labelRows],
      ...Object.entries(summary.labelIssues).map(([k, v]) => [`  label issue: ${k}`, v] as [string, number]),
      [
        "prepared (new / reused / failed)",
        `${summary.prepared.computed} / ${summary.prepared.reused} / ${summary.prepared.failed}`,
      ],
      ["preparation", summary.prepName],
      [
        "series chosen by",
        `rules: ${summary.seriesChoice.rulesSource}; overrides: ${summary.seriesChoice.overrides ? `${summary.seriesChoice.overrides} from ${summary.seriesChoice.overridesSources.join(", ")}` : "none"}`,
      ],
      ...(summary.organs
        ? [
            [
              "organ measures (new / reused / missing)",
              `${summary.organs.measured} / ${summary.organs.reused} / ${Object.values(summary.organs.missing).reduce((a, b) => a + b, 0)}  (${summary.organs.source})`,
            ] as [string, string],
          ]
        : []),
      [
        "time",
        `${(summary.durationMs / 1000).toFixed(1)} s (index ${(summary.timingsMs.index / 1000).toFixed(1)} s${summary.indexReused ? ", unchanged files: previous index reused" : ""})`,
      ],
    ];
    const w = Math.max(...lines.map(([k]) => k.length));
    process.stdout.write(`${lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n")}\n`);
    if (summary.seriesChoice.unmatchedOverrides.length > 0)
      process.stdout.write(
        `\noverrides that name an exam but no series of it:\n${summary.seriesChoice.unmatchedOverrides.map((r) => `  ${r}`).join("\n")}\n`,
      );
    if (summary.labelIssueRows.length > 0)
      process.stdout.write(
        `\nlabel rows not used as they stand (${opts.labels}):\n${summary.labelIssueRows.map((i) => `  line ${i.line}: ${i.kind}: ${i.message}`).join("\n")}\n`,
      );
    process.stdout.write(
      `\ncatalog: ${opts.out}/catalog.sqlite   details: liverstiff inspect ${opts.out} [exam]\n`,
    );
  });
}
