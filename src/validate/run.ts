import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { csvCell } from "../core/csv.ts";
import {
  describeError,
  LiverstiffError,
  type ProgressSink,
  StageClock,
  type StageTiming,
  silentProgress,
  writeFileAtomic,
  writeJsonAtomic,
} from "../core/index.ts";
import { type ExamFeatures, THRESHOLD_SUFFIXES, THRESHOLDS_KPA } from "../features/types.ts";
import { youden } from "../stats/index.ts";
import { cohortFlow, cohortSummaries, type IngestFlow } from "./cohort.ts";
import { addOracleShares, compareRecipes, schemeMetrics } from "./metrics.ts";
import {
  assertPatientDisjoint,
  crossValidationFolds,
  type Fold,
  leaveOneSiteOutFolds,
  type SplitExam,
  type TemporalInfo,
  temporalFold,
} from "./splits.ts";
import type {
  FoldSummary,
  PredictionRow,
  RecipeComparison,
  SchemeMetrics,
  SchemeName,
  ValidationMetrics,
} from "./types.ts";

/** What validation needs of a trained model. */
export interface ValidationModel {
  predict(exams: ExamFeatures[]): { examId: string; probabilities: number[]; kpaPred?: number }[];
  /** Frees the model's native memory once the fold is done. */
  dispose?(): void;
  /** Writes the model to one file (atomically); needed for ValidationOptions.saveModels. */
  save?(path: string): void;
}

/**
 * A recipe as validation sees it: a name, a fingerprint of everything that decides its predictions
 * (recipe config, encoder identity, preparation), and a way to train on one fold.
 */
export interface RecipeRunner {
  name: string;
  fingerprint: string;
  train(train: ExamFeatures[], val: ExamFeatures[], seed: string): Promise<ValidationModel> | ValidationModel;
}

export interface ValidationOptions {
  /** Labelled, usable exams with their features (per recipe, when recipes use different encoders). */
  examsFor: (recipe: string) => ExamFeatures[];
  recipes: RecipeRunner[];
  schemes: SchemeName[];
  outDir: string;
  seed: number;
  splitDate?: string;
  valFraction?: number;
  bootstrapResamples?: number;
  accessionOf?: (examId: string) => string | undefined;
  onProgress?: ProgressSink;
  /**
   * When the cohort's hidden truth is known (synthetic cohorts): the oracle AUROC per threshold on given
   * exams; metrics.json gets it on all validated exams and on each scheme's test exams.
   */
  oracle?: { source: string; aucOf: (examIds: string[]) => number[] };
  /** What ingest counted before validation (files, series, exams, exclusions): the flow's first steps. */
  ingestFlow?: IngestFlow;
  /** Extra manifest fields: code version, recipes, data fingerprint, library versions. */
  manifest?: Record<string, unknown>;
  /**
   * Also keep each fold's trained model, as `<fold>.safetensors` next to its fold JSON (written first,
   * atomically; its sha256 goes into the fold JSON). A finished fold whose model file is missing or does
   * not match is trained again. Default false: fold files as before.
   */
  saveModels?: boolean;
  /**
   * Where the folds that are not resumed train: given their number, an executor (e.g. worker processes,
   * see validate/workdir.ts), or undefined to train them here one after another (the default).
   */
  foldExecutor?: (pendingFolds: number) => FoldExecutor | undefined;
  /** Stages timed before runValidation (e.g. features), listed first in manifest.json's `stages`. */
  stagesBefore?: StageTiming[];
  /**
   * False on the data-parallel ranks other than 0: they train every fold with rank 0 (reading the same
   * finished folds) but write nothing, neither fold files nor models nor the run's files. Default true.
   */
  writesFiles?: boolean;
}

/** One fold to train and write: all a worker process needs besides the recipe's exams. */
export interface FoldJob {
  recipe: string;
  fold: Fold;
  fingerprint: string;
  /** The fold file to write atomically and, with saveModels, the model file beside it. */
  file: string;
  modelPath?: string;
}

/** Trains fold jobs, each to its fold file; `concurrency` of them at once. */
export interface FoldExecutor {
  readonly concurrency: number;
  run(job: FoldJob): Promise<FoldFile>;
  close(): Promise<void>;
}

/** What training one fold needs besides the fold itself. */
export interface FoldContext {
  /** False: the fold is trained but its file is not written (a data-parallel rank other than 0). */
  writes?: boolean;
  runner: RecipeRunner;
  byId: Map<string, ExamFeatures>;
  seed: number;
  accessionOf?: (examId: string) => string | undefined;
}

export interface ValidationResult {
  metrics: ValidationMetrics;
  rows: PredictionRow[];
  outDir: string;
  /** Folds loaded from a previous (interrupted) run instead of being trained again. */
  resumedFolds: number;
  trainedFolds: number;
  /** Wall and CPU time per stage (stagesBefore, then folds and metrics), as in manifest.json. */
  stages: StageTiming[];
}

/** A fold file's content (folds/<recipe>/<scheme>/<fold>.json). */
export interface FoldFile {
  fingerprint: string;
  rows: PredictionRow[];
  summary: Omit<FoldSummary, "auc">;
  /** With saveModels: sha256 (hex) of the fold's model file. */
  modelSha256?: string;
}

/** Where runValidation keeps a fold's result (and, with saveModels, its model). */
export function foldFilePaths(
  outDir: string,
  recipe: string,
  scheme: SchemeName,
  fold: string,
): { json: string; model: string } {
  const base = join(outDir, "folds", recipe, scheme, safeName(fold));
  return { json: `${base}.json`, model: `${base}.safetensors` };
}

function sha256File(path: string): string | undefined {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return undefined;
  }
}

/** sha256 (hex) of a value's JSON form: the fingerprints of folds, recipes and data. */
export function sha256Json(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}

function buildFolds(
  scheme: SchemeName,
  split: SplitExam[],
  options: ValidationOptions,
): { folds: Fold[]; temporal?: TemporalInfo } {
  const common = { seed: options.seed, valFraction: options.valFraction };
  if (scheme === "cv10") return { folds: crossValidationFolds(split, { ...common, k: 10 }) };
  if (scheme === "loso") return { folds: leaveOneSiteOutFolds(split, common) };
  const { fold, info } = temporalFold(split, { ...common, splitDate: options.splitDate });
  return { folds: [fold], temporal: info };
}

/** Youden cut-off per threshold on the fold's validation part; 0.5 where it has a single class. */
function chooseCutoffs(val: ExamFeatures[], probs: number[][]): [number, number, number, number, number] {
  return THRESHOLDS_KPA.map((tKpa, t) => {
    const labels = val.map((e) => (e.kpa! >= tKpa ? 1 : 0));
    const pos = labels.reduce((a: number, b) => a + b, 0);
    if (pos === 0 || pos === labels.length) return 0.5;
    // pROC reports -Inf / +Inf when calling every exam positive / negative is best; as probabilities
    // those are 0 and 1 (a case is positive when p > cut-off), which JSON and CSV carry unchanged.
    const cut = youden(
      labels,
      probs.map((p) => p[t]!),
    ).threshold;
    return Math.min(1, Math.max(0, cut));
  }) as [number, number, number, number, number];
}

function checkProbabilities(recipe: string, examId: string, p: number[]): void {
  if (p.length !== THRESHOLDS_KPA.length || p.some((v) => !(v >= 0 && v <= 1)))
    throw new LiverstiffError("the model returned invalid probabilities", {
      recipe,
      exam: examId,
      probabilities: p.join(","),
    });
}

/**
 * Trains one fold and writes its fold file atomically (the model file first, with saveModels): a fold
 * file on disk is always complete, whichever process wrote it.
 */
export async function trainFoldFile(ctx: FoldContext, job: FoldJob): Promise<FoldFile> {
  const writes = ctx.writes !== false;
  const result = await runFold(ctx, job.fold, writes ? job.modelPath : undefined);
  result.fingerprint = job.fingerprint;
  if (writes) writeJsonAtomic(job.file, result);
  return result;
}

async function runFold(ctx: FoldContext, fold: Fold, modelPath?: string): Promise<FoldFile> {
  const { runner, byId } = ctx;
  const pick = (ids: string[]) => ids.map((id) => byId.get(id)!);
  const train = pick(fold.train);
  const val = pick(fold.val);
  const test = pick(fold.test);
  const started = performance.now();
  const model = await runner.train(train, val, `${ctx.seed}/${runner.name}/${fold.scheme}/${fold.name}`);
  let valPred: ReturnType<ValidationModel["predict"]>;
  let testPred: ReturnType<ValidationModel["predict"]>;
  try {
    valPred = model.predict(val);
    testPred = model.predict(test);
    if (modelPath) {
      if (!model.save)
        throw new LiverstiffError("the recipe's model cannot be saved", { recipe: runner.name });
      model.save(modelPath);
    }
  } finally {
    model.dispose?.();
  }
  const cutoffs = chooseCutoffs(
    val,
    valPred.map((p) => p.probabilities),
  );
  const rows: PredictionRow[] = testPred.map((p, i) => {
    const e = test[i]!;
    if (p.examId !== e.examId)
      throw new LiverstiffError("the model returned predictions out of order", {
        recipe: runner.name,
        exam: e.examId,
      });
    checkProbabilities(runner.name, e.examId, p.probabilities);
    const row: PredictionRow = {
      accession: ctx.accessionOf?.(e.examId) ?? e.examId,
      examId: e.examId,
      patientId: e.patientKey,
      site: e.site,
      recipe: runner.name,
      scheme: fold.scheme,
      fold: fold.name,
      kpa: e.kpa!,
      probabilities: p.probabilities as PredictionRow["probabilities"],
      cutoffs,
    };
    if (p.kpaPred !== undefined) row.kpaPred = p.kpaPred;
    if (e.ageYears !== undefined) row.ageYears = e.ageYears;
    if (e.sex !== undefined) row.sex = e.sex;
    if (e.vendor !== undefined) row.vendor = e.vendor;
    if (e.fieldStrengthT !== undefined) row.fieldStrengthT = e.fieldStrengthT;
    return row;
  });
  const seconds = (performance.now() - started) / 1000;
  const out: FoldFile = {
    fingerprint: "",
    rows,
    summary: { fold: fold.name, nTrain: train.length, nVal: val.length, nTest: test.length, seconds },
  };
  if (modelPath) out.modelSha256 = sha256File(modelPath);
  return out;
}

function foldJob(
  runner: RecipeRunner,
  fold: Fold,
  byId: Map<string, ExamFeatures>,
  options: ValidationOptions,
): FoldJob {
  const fingerprint = sha256Json({
    recipe: runner.fingerprint,
    seed: options.seed,
    train: fold.train,
    val: fold.val,
    test: fold.test,
    kpa: [...fold.train, ...fold.val, ...fold.test].map((id) => byId.get(id)!.kpa),
  });
  const paths = foldFilePaths(options.outDir, runner.name, fold.scheme, fold.name);
  const job: FoldJob = { recipe: runner.name, fold, fingerprint, file: paths.json };
  if (options.saveModels) job.modelPath = paths.model;
  return job;
}

/** The job's fold file from an earlier run, when it matches the job (and its model file, if kept). */
/** The fold file of a job when it is there, complete, and of the same fingerprint (and model). */
export function finishedFold(job: FoldJob): FoldFile | undefined {
  if (!existsSync(job.file)) return undefined;
  try {
    const saved = JSON.parse(readFileSync(job.file, "utf8")) as FoldFile;
    const modelOk =
      !job.modelPath || (saved.modelSha256 !== undefined && sha256File(job.modelPath) === saved.modelSha256);
    if (saved.fingerprint === job.fingerprint && modelOk) return saved;
  } catch {
    // A fold file that does not parse is retrained; writes are atomic, so this is rare.
  }
  return undefined;
}

/**
 * Trains the jobs, `executor.concurrency` at once (one at a time in this process without an executor).
 * A failing fold stops new folds from starting; those already running finish and keep their files, then
 * the first failure is thrown, naming its recipe, scheme and fold.
 */
async function runFoldJobs(
  jobs: FoldJob[],
  executor: FoldExecutor | undefined,
  inProcess: (job: FoldJob) => Promise<FoldFile>,
  on: { started(job: FoldJob): void; finished(job: FoldJob, result: FoldFile): void },
): Promise<void> {
  let next = 0;
  let failure: Error | undefined;
  const lane = async () => {
    while (failure === undefined && next < jobs.length) {
      const job = jobs[next++]!;
      on.started(job);
      try {
        on.finished(job, await (executor ? executor.run(job) : inProcess(job)));
      } catch (err) {
        failure ??= foldError(job, err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, executor?.concurrency ?? 1) }, lane));
  } finally {
    await executor?.close();
  }
  if (failure) throw failure;
}

function foldError(job: FoldJob, err: unknown): LiverstiffError {
  const where = { recipe: job.recipe, scheme: job.fold.scheme, fold: job.fold.name };
  if (err instanceof LiverstiffError)
    return new LiverstiffError(err.message, { ...err.context, ...where }, { cause: err });
  return new LiverstiffError(`training failed: ${describeError(err)}`, where, { cause: err });
}

/**
 * Runs every scheme for every recipe on identical splits, writing each finished fold to disk at once, so
 * that a re-run after an interruption resumes from the finished folds and ends with the same results.
 */
export async function runValidation(options: ValidationOptions): Promise<ValidationResult> {
  const progress = options.onProgress ?? silentProgress;
  const started = performance.now();
  const clock = new StageClock();
  clock.mark("folds");
  const bootstrapResamples = options.bootstrapResamples ?? 2000;
  if (options.recipes.length === 0) throw new LiverstiffError("no recipe to validate");
  // Splits come from the first recipe's exam list: every recipe must see the same exams.
  const reference = options.examsFor(options.recipes[0]!.name);
  const labelled = reference.filter((e) => e.kpa !== undefined && Number.isFinite(e.kpa));
  if (labelled.length < 20)
    throw new LiverstiffError(
      `validation needs at least 20 labelled, usable exams; found ${labelled.length}`,
    );
  const split: SplitExam[] = labelled.map((e) => ({
    examId: e.examId,
    patientKey: e.patientKey,
    site: e.site,
    studyDate: e.studyDate,
    kpa: e.kpa!,
  }));
  const patientOf = new Map(split.map((e) => [e.examId, e.patientKey]));
  const plans = options.schemes.map((scheme) => ({ scheme, ...buildFolds(scheme, split, options) }));
  for (const plan of plans)
    for (const fold of plan.folds) assertPatientDisjoint(fold, (id) => patientOf.get(id)!);

  const total = options.recipes.length * plans.reduce((a, p) => a + p.folds.length, 0);
  const labelledIds = new Set(split.map((e) => e.examId));
  // Every fold in a fixed order (recipe, scheme, fold): finished ones are read back, the others train,
  // here or in worker processes, and the results are assembled in this order whoever finished first.
  const contexts = new Map<string, FoldContext>();
  const slots: { key: string; job: FoldJob; result?: FoldFile }[] = [];
  for (const runner of options.recipes) {
    const exams = options.examsFor(runner.name).filter((e) => labelledIds.has(e.examId));
    const byId = new Map(exams.map((e) => [e.examId, e]));
    for (const id of labelledIds)
      if (!byId.has(id))
        throw new LiverstiffError("a recipe lacks features for an exam the others have", {
          recipe: runner.name,
          exam: id,
        });
    contexts.set(runner.name, {
      runner,
      byId,
      seed: options.seed,
      accessionOf: options.accessionOf,
      writes: options.writesFiles,
    });
    for (const plan of plans)
      for (const fold of plan.folds) {
        const job = foldJob(runner, fold, byId, options);
        slots.push({ key: `${runner.name}/${plan.scheme}`, job, result: finishedFold(job) });
      }
  }
  const pending = slots.filter((s) => !s.result);
  const resumedFolds = slots.length - pending.length;
  const trainedFolds = pending.length;
  let done = resumedFolds;
  if (resumedFolds > 0)
    progress({ stage: "validate", done, total, message: `${resumedFolds} finished folds resumed` });
  const running = new Set<string>();
  const label = (j: FoldJob) => `${j.recipe} ${j.fold.scheme} fold ${j.fold.name}`;
  await runFoldJobs(
    pending.map((s) => s.job),
    pending.length > 0 ? options.foldExecutor?.(pending.length) : undefined,
    (job) => trainFoldFile(contexts.get(job.recipe)!, job),
    {
      started(job) {
        running.add(label(job));
        progress({ stage: "validate", done, total, message: `training ${[...running].join(", ")}` });
      },
      finished(job, result) {
        pending.find((s) => s.job === job)!.result = result;
        running.delete(label(job));
        done++;
        progress({ stage: "validate", done, total, message: `${label(job)} done` });
      },
    },
  );
  const rowsByRecipeScheme = new Map<string, PredictionRow[]>();
  const summaries = new Map<string, Omit<FoldSummary, "auc">[]>();
  for (const { key, result } of slots) {
    if (!rowsByRecipeScheme.has(key)) {
      rowsByRecipeScheme.set(key, []);
      summaries.set(key, []);
    }
    rowsByRecipeScheme.get(key)!.push(...result!.rows);
    summaries.get(key)!.push(result!.summary);
  }

  clock.mark("metrics");
  progress({ stage: "metrics", done: 0, message: "computing metrics" });
  const schemes: SchemeMetrics[] = [];
  const comparisons: RecipeComparison[] = [];
  for (const plan of plans) {
    for (const runner of options.recipes) {
      const key = `${runner.name}/${plan.scheme}`;
      const m = schemeMetrics(runner.name, plan.scheme, rowsByRecipeScheme.get(key)!, summaries.get(key)!, {
        bootstrapResamples,
        seed: `${options.seed}/${key}`,
      });
      if (plan.temporal) m.temporal = plan.temporal;
      schemes.push(m);
    }
    for (let i = 0; i < options.recipes.length; i++)
      for (let j = i + 1; j < options.recipes.length; j++) {
        const a = options.recipes[i]!.name;
        const b = options.recipes[j]!.name;
        comparisons.push(
          ...compareRecipes(
            plan.scheme,
            { recipe: a, rows: rowsByRecipeScheme.get(`${a}/${plan.scheme}`)! },
            { recipe: b, rows: rowsByRecipeScheme.get(`${b}/${plan.scheme}`)! },
          ),
        );
      }
  }
  const metrics: ValidationMetrics = {
    formatVersion: 1,
    createdAt: new Date().toISOString(),
    schemes,
    comparisons,
    cohort: cohortSummaries(labelled.map((e) => ({ ...e, kpa: e.kpa! }))),
    flow: cohortFlow(
      options.ingestFlow,
      labelled,
      plans.map((p) => ({
        scheme: p.scheme,
        rows: rowsByRecipeScheme.get(`${options.recipes[0]!.name}/${p.scheme}`)!,
        droppedTestExams: p.temporal?.droppedTestExams,
      })),
    ),
  };
  if (options.oracle) {
    const byScheme: Partial<Record<SchemeName, number[]>> = {};
    const first = options.recipes[0]!.name;
    for (const plan of plans) {
      const ids = rowsByRecipeScheme.get(`${first}/${plan.scheme}`)!.map((r) => r.examId);
      byScheme[plan.scheme] = options.oracle.aucOf(ids);
    }
    metrics.oracle = {
      aucByThreshold: options.oracle.aucOf([...labelledIds]),
      source: options.oracle.source,
      byScheme,
    };
    addOracleShares(schemes, metrics.oracle);
  }
  const rows = [...rowsByRecipeScheme.values()].flat();
  const stages = [...(options.stagesBefore ?? []), ...clock.stages()];
  if (options.writesFiles === false)
    return { metrics, rows, outDir: options.outDir, resumedFolds, trainedFolds, stages };
  writeFileAtomic(join(options.outDir, "predictions.csv"), predictionsCsv(rows));
  writeJsonAtomic(join(options.outDir, "metrics.json"), metrics);
  writeJsonAtomic(join(options.outDir, "manifest.json"), {
    ...options.manifest,
    seed: options.seed,
    schemes: options.schemes,
    recipes: options.recipes.map((r) => ({ name: r.name, fingerprint: r.fingerprint })),
    splitFingerprint: sha256Json(plans.map((p) => p.folds)),
    folds: { trained: trainedFolds, resumed: resumedFolds },
    timings: {
      ...((options.manifest?.timings as Record<string, number> | undefined) ?? {}),
      validationSeconds: (performance.now() - started) / 1000,
    },
    stages,
    finishedAt: metrics.createdAt,
  });
  return { metrics, rows, outDir: options.outDir, resumedFolds, trainedFolds, stages };
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_");
}

function csvField(v: string | number | undefined): string {
  return csvCell(v);
}

export const PREDICTION_COLUMNS = [
  "accession",
  "patient_id",
  "site",
  "recipe",
  "scheme",
  "fold",
  "kpa",
  ...THRESHOLD_SUFFIXES.map((s) => `p_ge_${s}`),
  "kpa_pred",
  "exam_id",
  ...THRESHOLD_SUFFIXES.map((s) => `cutoff_${s}`),
];

export function predictionsCsv(rows: readonly PredictionRow[]): string {
  const lines = [PREDICTION_COLUMNS.join(",")];
  for (const r of rows) {
    lines.push(
      [
        r.accession,
        r.patientId,
        r.site,
        r.recipe,
        r.scheme,
        r.fold,
        r.kpa,
        ...r.probabilities,
        r.kpaPred,
        r.examId,
        ...r.cutoffs,
      ]
        .map(csvField)
        .join(","),
    );
  }
  return `${lines.join("\n")}\n`;
}
