import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  loadPrepared,
  openCatalog,
  type PrepConfig,
  prepareExam,
  prepName,
  recordedSeriesChoice,
  resolvePrep,
} from "../cohort/index.ts";
import {
  codeVersion,
  LiverstiffError,
  type ProgressSink,
  StageClock,
  silentProgress,
} from "../core/index.ts";
import {
  computeFeatures,
  createEncoder,
  DEFAULT_ENCODER_NAME,
  type Encoder,
  type ExamFeatures,
  encoderFactory,
  encoderNames,
  THRESHOLD_SUFFIXES,
  THRESHOLDS_KPA,
} from "../features/index.ts";
import { DataParallel } from "../nn/index.ts";
import { auroc } from "../stats/index.ts";
import { buildInfo, defaultDevice, getNumThreads, type ProcessGroup, setNumThreads } from "../torch/index.ts";
import { checkFinetunable, loadRecipe, parseRecipe, type Recipe, trainModel } from "../train/index.ts";
import { catalogFlow, type IngestFlow } from "./cohort.ts";
import { DEFAULT_THREADS_PER_FOLD, foldWorkers, planParallelism } from "./jobs.ts";
import {
  type FoldExecutor,
  type RecipeRunner,
  runValidation,
  sha256Json,
  type ValidationResult,
} from "./run.ts";
import { type SlurmOptions, slurmExecutor } from "./slurm.ts";
import type { SchemeName } from "./types.ts";

export interface WorkdirValidationOptions {
  workdir: string;
  /** Built-in recipe names or recipe files. */
  recipes: string[];
  schemes: SchemeName[];
  outDir: string;
  seed?: number;
  splitDate?: string;
  /** Runs every recipe on this encoder instead of the one its file names (recipes compared encoder-equal). */
  encoder?: string;
  /** A synthetic cohort's truth.jsonl: adds the oracle AUROC on the validated exams to metrics.json. */
  truthJsonl?: string;
  bootstrapResamples?: number;
  onProgress?: ProgressSink;
  /** Keep each fold's trained model next to its fold file (see ValidationOptions.saveModels). */
  saveModels?: boolean;
  /** Sets encoder.finetune on every recipe: each fold trains the encoder with the head (docs/train.md). */
  finetune?: boolean;
  /** Which cohort this is (e.g. the locked evaluation cohort): written to the manifest and the report. */
  cohort?: { name: string; description?: string; seed?: number };
  /**
   * Folds trained at once, in worker processes (default: one per core, at most the folds to train; 1 =
   * in this process), and libtorch threads per fold (default 1). Predictions do not depend on jobs; they
   * do on threads, which is therefore part of each fold's fingerprint (docs/validate.md).
   */
  jobs?: number;
  threadsPerFold?: number;
  /** Where folds train: "local" (worker processes of the running machine, the default) or "slurm" (a job array). */
  executor?: "local" | "slurm";
  /** sbatch options and how the driver waits, for executor "slurm" (validate/slurm.ts). */
  slurm?: SlurmOptions;
  /**
   * Data-parallel ranks (torch.ProcessGroup): every rank runs every fold in this process, in the same
   * order; fine-tuning recipes split each batch over the ranks (TrainOptions.parallel), and only rank 0
   * writes. Needs one job per rank and the local executor.
   */
  group?: ProcessGroup;
}

export interface PreparedRecipe {
  recipe: Recipe;
  encoder: Encoder;
  prep: PrepConfig;
  prepName: string;
}

const encoders = new Map<string, Encoder>();

/** The recipe's encoder name as the features registry knows it ("default" is the shipped CNN). */
export function encoderNameOf(recipe: Recipe, override?: string): string {
  const name = override ?? recipe.encoder.name;
  return name === "default" ? DEFAULT_ENCODER_NAME : name;
}

/** Loads a recipe and resolves what it needs from the earlier stages: its encoder and its preparation. */
export function prepareRecipe(
  nameOrPath: string,
  encoderOverride?: string,
  finetune?: boolean,
): PreparedRecipe {
  let recipe = loadRecipe(nameOrPath);
  if (finetune && !recipe.encoder.finetune) {
    // The ridge member reads frozen slice-mean features: fine-tuning trains the attention members alone.
    const head = recipe.head.kind === "liverstiff" ? { ...recipe.head, ridge: 0 } : recipe.head;
    recipe = parseRecipe(
      { ...recipe, head, encoder: { ...recipe.encoder, finetune: true, frozen: false } },
      `${nameOrPath} (--finetune)`,
    );
  }
  const encoderName = encoderNameOf(recipe, encoderOverride);
  let encoder = encoders.get(encoderName);
  if (!encoder) {
    encoder = createEncoder(encoderName);
    encoders.set(encoderName, encoder);
  }
  const resolved: Recipe = { ...recipe, encoder: { ...recipe.encoder, name: encoderName } };
  // A recipe that cannot be fine-tuned fails here, before any fold of any recipe has run.
  if (resolved.encoder.finetune) checkFinetunable(resolved, encoder);
  const prep = recipePrep(recipe, encoder.identity.inputSize);
  return { recipe: resolved, encoder, prep, prepName: prepName(prep) };
}

/** The shipped recipe whose inputs `ingest` prepares unless told otherwise (`validate`'s first). */
export const DEFAULT_RECIPE = "liverstiff";

/** A recipe's preparation: its own fields, its encoder's input size unless it sets one, cohort's defaults. */
export function recipePrep(recipe: Recipe, encoderInputSize: number): PrepConfig {
  return resolvePrep({ ...recipe.preparation, size: recipe.preparation.size ?? encoderInputSize });
}

/**
 * The preparation a recipe reads, without loading its encoder (the registry knows its input size): what
 * `ingest` prepares by default, so that `validate` on that work folder finds every exam prepared.
 */
export function recipePreparation(nameOrPath: string = DEFAULT_RECIPE): {
  prep: PrepConfig;
  prepName: string;
} {
  const recipe = loadRecipe(nameOrPath);
  const encoderName = encoderNameOf(recipe);
  const factory = encoderFactory(encoderName);
  if (!factory) {
    throw new LiverstiffError(
      `recipe ${nameOrPath} names an unknown encoder "${encoderName}" (known: ${encoderNames().join(", ")})`,
      { recipe: nameOrPath, encoder: encoderName },
    );
  }
  const prep = recipePrep(recipe, factory.inputSize);
  return { prep, prepName: prepName(prep) };
}

/**
 * Prepares, from the catalogued series, every usable labelled exam that lacks this preparation (e.g. a
 * recipe for Swin-B at 224 px on a work folder ingested at 128 px), so that no re-ingest is needed.
 */
export async function ensurePrepared(
  workdir: string,
  prep: PrepConfig,
  onProgress: ProgressSink,
): Promise<number> {
  const name = prepName(prep);
  const catalog = openCatalog(workdir, { readonly: false });
  try {
    const missing = catalog.usableExams().filter((e) => !catalog.prepared(e.examId, name));
    for (const [i, e] of missing.entries()) {
      onProgress({ stage: "prepare", done: i, total: missing.length, message: e.examId });
      await prepareExam(catalog, e.examId, prep);
    }
    if (missing.length > 0) onProgress({ stage: "prepare", done: missing.length, total: missing.length });
    return missing.length;
  } finally {
    catalog.close();
  }
}

/** A stable numeric seed for the engine from a fold's seed string. */
function numericSeed(seed: string): number {
  return createHash("sha256").update(seed).digest().readUInt32LE(0) % 2147483647;
}

/**
 * The recipe as validate/ runs it. With a work folder, a recipe that fine-tunes its encoder reads each
 * exam's prepared slices from it (the fold's model keeps that loader for predict()).
 */
export function recipeRunner(
  p: PreparedRecipe,
  workdir?: string,
  threadsPerFold = DEFAULT_THREADS_PER_FOLD,
  parallel?: DataParallel,
): RecipeRunner {
  return {
    name: p.recipe.name,
    // libtorch's thread count changes a head's predictions, so a fold trained with another is not reused.
    fingerprint: sha256Json({
      recipe: p.recipe,
      encoder: p.encoder.identity,
      prep: p.prepName,
      threads: threadsPerFold,
    }),
    train: recipeTrainer(p.recipe, p.prepName, workdir, parallel),
  };
}

/** How a resolved recipe trains one fold: all a worker process needs of it (no encoder, no weights). */
export function recipeTrainer(
  recipe: Recipe,
  prepName: string,
  workdir?: string,
  parallel?: DataParallel,
): RecipeRunner["train"] {
  const slices =
    workdir !== undefined && recipe.encoder.finetune
      ? (examId: string) => loadPrepared(workdir, examId, prepName)
      : undefined;
  return (train, val, seed) =>
    trainModel(recipe, {
      train,
      val,
      seed: numericSeed(seed),
      ...(slices ? { slices } : {}),
      ...(parallel ? { parallel } : {}),
    });
}

/** A synthetic cohort's truth.jsonl, by accession number. */
export function readTruth(truthJsonl: string): Map<string, Record<string, unknown>> {
  const byAccession = new Map<string, Record<string, unknown>>();
  for (const line of readFileSync(truthJsonl, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    const acc = o.accession ?? o.accessionNumber ?? o.accession_number;
    if (typeof acc === "string") byAccession.set(acc, o);
  }
  return byAccession;
}

/** Oracle AUROC per threshold over the given exams, from a truth file read by readTruth. */
export function oracleAuc(
  truthJsonl: string,
  byAccession: Map<string, Record<string, unknown>>,
  exams: readonly ExamFeatures[],
  accessionOf: (examId: string) => string | undefined,
): number[] {
  return THRESHOLDS_KPA.map((t, k) => {
    const labels: number[] = [];
    const scores: number[] = [];
    for (const e of exams) {
      const truth = byAccession.get(accessionOf(e.examId) ?? "");
      const p = truth?.[`oracle_p_ge_${THRESHOLD_SUFFIXES[k]}`];
      if (typeof p !== "number" || e.kpa === undefined) continue;
      labels.push(e.kpa >= t ? 1 : 0);
      scores.push(p);
    }
    if (labels.length !== exams.length)
      throw new LiverstiffError("the truth file does not cover every validated exam", {
        file: truthJsonl,
        covered: labels.length,
        exams: exams.length,
      });
    // A threshold with one class only among these exams (e.g. no exam >= 5.0 kPa in a small temporal
    // test part) has no AUROC: NaN, written as null.
    if (!labels.includes(0) || !labels.includes(1)) return Number.NaN;
    return auroc(labels, scores);
  });
}

/** The code that ran (core/paths.ts); re-exported for the stages right of validate/. */
export { codeVersion };

/**
 * Validates recipes on an ingested work folder: features from the cache (computed once per encoder and
 * preparation), then every scheme on identical splits, written to `outDir`.
 */
export async function validateWorkdir(options: WorkdirValidationOptions): Promise<ValidationResult> {
  const progress = options.onProgress ?? silentProgress;
  const seed = options.seed ?? 42;
  const started = performance.now();
  const clock = new StageClock();
  clock.mark("features");
  const prepared = options.recipes.map((r) => prepareRecipe(r, options.encoder, options.finetune));
  const names = prepared.map((p) => p.recipe.name);
  if (new Set(names).size !== names.length)
    throw new LiverstiffError("two recipes share a name; give each recipe file its own name", {
      recipes: names.join(","),
    });

  const featureSets = new Map<string, ExamFeatures[]>();
  const featuresFor = new Map<string, ExamFeatures[]>();
  for (const p of prepared) {
    const key = `${p.encoder.identity.name}/${p.encoder.identity.weightsSha256}/${p.prepName}`;
    let set = featureSets.get(key);
    if (!set) {
      await ensurePrepared(options.workdir, p.prep, progress);
      set = await computeFeatures({
        workdir: options.workdir,
        prep: p.prepName,
        encoder: p.encoder,
        onProgress: progress,
      });
      featureSets.set(key, set);
    }
    featuresFor.set(p.recipe.name, set);
  }
  const featureSeconds = (performance.now() - started) / 1000;

  const catalog = openCatalog(options.workdir);
  const accession = new Map<string, string | undefined>();
  let ingestFlow: IngestFlow;
  let seriesChoice:
    | { rulesSource: string; overridesSources: string[]; overrides: number; digest: string }
    | undefined;
  try {
    for (const e of catalog.exams()) accession.set(e.examId, e.accessionNumber);
    ingestFlow = catalogFlow(catalog);
    const recorded = recordedSeriesChoice(catalog);
    if (recorded)
      seriesChoice = {
        rulesSource: recorded.rulesSource,
        overridesSources: recorded.overridesSources,
        overrides: recorded.overrides.length,
        digest: recorded.digest,
      };
  } finally {
    catalog.close();
  }
  const accessionOf = (id: string) => accession.get(id);
  const reference = featuresFor.get(names[0]!)!;
  const labelled = reference.filter((e) => e.kpa !== undefined);
  const truthFile = options.truthJsonl;
  const truth = truthFile ? readTruth(truthFile) : undefined;
  const byId = new Map(labelled.map((e) => [e.examId, e]));
  const oracle =
    truthFile && truth
      ? {
          source: "truth.jsonl",
          aucOf: (ids: string[]) =>
            oracleAuc(
              truthFile,
              truth,
              ids.map((id) => byId.get(id)!),
              accessionOf,
            ),
        }
      : undefined;

  // Checked before any fold runs, so that a bad --jobs fails at once.
  const { threadsPerFold } = planParallelism(options, 1);
  const group = options.group;
  if (group && (options.executor === "slurm" || (options.jobs ?? 1) !== 1))
    throw new LiverstiffError(
      "data-parallel ranks train their folds one at a time here: give --jobs 1 and no --executor slurm",
      {
        jobs: options.jobs ?? "default",
        executor: options.executor ?? "local",
      },
    );
  const parallel = group ? new DataParallel(group) : undefined;
  const manifestParallel: Record<string, number> = { threadsPerFold };
  const threadsBefore = getNumThreads();
  const foldExecutor = (pending: number): FoldExecutor | undefined => {
    if (options.executor === "slurm") {
      Object.assign(manifestParallel, { executor: "slurm", slurmTasks: pending });
      return slurmExecutor(
        options.outDir,
        {
          workdir: resolve(options.workdir),
          seed,
          threads: threadsPerFold,
          recipes: prepared.map((p) => ({ recipe: p.recipe, prepName: p.prepName })),
          accessions: [...accession],
        },
        options.slurm ?? {},
        pending,
      );
    }
    const plan = planParallelism(group ? { ...options, jobs: 1 } : options, pending);
    Object.assign(manifestParallel, plan, group ? { dataParallelRanks: group.worldSize } : {});
    if (plan.jobs === 1) {
      setNumThreads(plan.threadsPerFold);
      return undefined;
    }
    return foldWorkers(plan.jobs, {
      workdir: options.workdir,
      seed,
      threads: plan.threadsPerFold,
      recipes: prepared.map((p) => ({
        recipe: p.recipe,
        prepName: p.prepName,
        exams: featuresFor.get(p.recipe.name)!,
      })),
      accessions: [...accession],
    });
  };
  const result = await runValidation({
    foldExecutor,
    stagesBefore: clock.stages(),
    examsFor: (recipe) => featuresFor.get(recipe)!,
    recipes: prepared.map((p) => recipeRunner(p, options.workdir, threadsPerFold, parallel)),
    writesFiles: (group?.rank ?? 0) === 0,
    schemes: options.schemes,
    outDir: options.outDir,
    seed,
    splitDate: options.splitDate,
    bootstrapResamples: options.bootstrapResamples,
    saveModels: options.saveModels,
    accessionOf,
    onProgress: progress,
    oracle,
    ingestFlow,
    manifest: {
      codeVersion: codeVersion(),
      workdir: options.workdir,
      recipesResolved: prepared.map((p) => ({
        recipe: p.recipe,
        encoder: p.encoder.identity,
        preparation: p.prep,
        prepName: p.prepName,
      })),
      dataFingerprint: sha256Json(labelled.map((e) => [e.examId, e.patientKey, e.site, e.studyDate, e.kpa])),
      data: {
        exams: labelled.length,
        patients: new Set(labelled.map((e) => e.patientKey)).size,
        sites: [...new Set(labelled.map((e) => e.site))].sort(),
      },
      libraries: { node: process.version, libtorch: buildInfo() },
      device: defaultDevice(),
      timings: { featuresSeconds: featureSeconds },
      ...(options.cohort ? { cohort: options.cohort } : {}),
      ...(seriesChoice ? { seriesChoice } : {}),
      parallelism: manifestParallel,
    },
  }).finally(() => setNumThreads(threadsBefore));
  return result;
}
