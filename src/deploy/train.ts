// `liverstiff train`: the recipe's cv10 validation run, with every fold's model kept, becomes the bundle.
// The ten fold models are the ensemble (together they were trained on every labelled, usable exam; each
// exam was held out of exactly one), and the validation run that trained them is the bundle's estimate.
import { join } from "node:path";
import { type ExamRecord, openCatalog, recordedSeriesChoice, type SeriesRecord } from "../cohort/index.ts";
import { LiverstiffError, type ProgressSink, silentProgress } from "../core/index.ts";
import type { SeriesChoiceRecord, SeriesRole } from "../dicom/index.ts";
import { computeFeatures, THRESHOLDS_KPA } from "../features/index.ts";
import { youden } from "../stats/index.ts";
import { buildInfo, defaultDevice } from "../torch/index.ts";
import { foldFilePaths, type PredictionRow } from "../validate/index.ts";
import type { SlurmOptions } from "../validate/slurm.ts";
import { codeVersion, prepareRecipe, validateWorkdir } from "../validate/workdir.ts";
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  type BundleContent,
  type BundleManifest,
  type Five,
  type KpaError,
  writeBundle,
} from "./bundle.ts";
import { monotoneCutoffs } from "./cutoffs.ts";
import { readBundleKey } from "./integrity.ts";
import { summarizeTrainingSet } from "./summary.ts";

export interface TrainBundleOptions {
  workdir: string;
  /** Built-in recipe name or recipe file. */
  recipe: string;
  /** The bundle folder to write. */
  out: string;
  /** Seed of the cv10 splits and training (default 42, as validate). */
  seed?: number;
  /** The validation run folder (default WORKDIR/runs/bundle-<recipe>-seed<seed>); finished folds resume. */
  runDir?: string;
  /** Run the recipe on this encoder instead of its own. */
  encoder?: string;
  bootstrapResamples?: number;
  /**
   * "monotone" (default): cut-offs non-decreasing across thresholds (monotonePooledCutoffs), so the calls
   * never contradict each other; "per-threshold": each threshold's own Youden cut-off (pooledCutoffs), the
   * category still stopping at the first threshold below its cut-off.
   */
  cutoffRule?: "monotone" | "per-threshold";
  /** A PEM Ed25519 private key: the bundle's digest is signed with it (`predict --trust` checks it). */
  signKey?: string;
  /** Folds trained at once and libtorch threads per fold (see validateWorkdir). */
  jobs?: number;
  threadsPerFold?: number;
  /** Where the folds train: local worker processes, or a Slurm job array (see validateWorkdir). */
  executor?: "local" | "slurm";
  slurm?: SlurmOptions;
  onProgress?: ProgressSink;
}

export interface TrainBundleResult {
  bundleDir: string;
  runDir: string;
  manifest: BundleManifest;
  trainedFolds: number;
  resumedFolds: number;
}

/** Required roles as ingest applies them by default (a T2w and one T1w). */
export const REQUIRED_ROLES: { all: SeriesRole[]; anyOf: SeriesRole[] } = {
  all: ["t2"],
  anyOf: ["t1_in", "t1_opp"],
};

export const CUTOFF_METHODS = {
  monotone: "youden-pooled-out-of-fold-cv10-monotone",
  "per-threshold": "youden-pooled-out-of-fold-cv10",
} as const;

/**
 * Youden cut-off per threshold on the pooled out-of-fold predictions (one per exam), clamped to [0, 1] as
 * validate/ does; 0.5 where a threshold has one class only. Unconstrained: see monotonePooledCutoffs.
 */
export function pooledCutoffs(rows: readonly PredictionRow[]): Five {
  return THRESHOLDS_KPA.map((t, k) => {
    const labels = rows.map((r) => (r.kpa >= t ? 1 : 0));
    const pos = labels.reduce((a: number, b) => a + b, 0);
    if (pos === 0 || pos === labels.length) return 0.5;
    const cut = youden(
      labels,
      rows.map((r) => r.probabilities[k]),
    ).threshold;
    return Math.min(1, Math.max(0, cut));
  }) as Five;
}

/**
 * The bundle's cut-offs: non-decreasing across thresholds, maximising the summed Youden J on the pooled
 * out-of-fold predictions (cutoffs.ts), ties broken toward pooledCutoffs.
 */
export function monotonePooledCutoffs(rows: readonly PredictionRow[]): Five {
  return monotoneCutoffs(
    THRESHOLDS_KPA.map((t) => rows.map((r) => (r.kpa >= t ? 1 : 0))),
    THRESHOLDS_KPA.map((_, k) => rows.map((r) => r.probabilities[k]!)),
    pooledCutoffs(rows),
  ) as Five;
}

function workdirSeriesChoice(workdir: string): SeriesChoiceRecord {
  const catalog = openCatalog(workdir);
  try {
    const recorded = recordedSeriesChoice(catalog);
    if (!recorded)
      throw new LiverstiffError(
        "the work folder does not record how its series were chosen (rules, overrides); run `liverstiff ingest` on it again (prepared exams are reused)",
        { workdir },
      );
    return recorded;
  } finally {
    catalog.close();
  }
}

/** Out-of-fold exams needed before the kPa's error quantiles are worth stating. */
const MIN_KPA_ERROR_EXAMS = 20;

/**
 * The kPa head's pooled out-of-fold error as the 10% and 90% quantiles of log(measured / predicted): the
 * predicted kPa's 80% prediction interval (null when the recipe does not regress kPa).
 */
export function kpaErrorOf(rows: readonly PredictionRow[]): KpaError | null {
  const ratios = rows
    .filter((r) => r.kpaPred !== undefined && r.kpaPred > 0 && r.kpa > 0)
    .map((r) => Math.log(r.kpa / r.kpaPred!))
    .sort((a, b) => a - b);
  if (ratios.length < MIN_KPA_ERROR_EXAMS) return null;
  const q = (p: number) => {
    const pos = (ratios.length - 1) * p;
    const lo = Math.floor(pos);
    return ratios[lo]! + (ratios[Math.ceil(pos)]! - ratios[lo]!) * (pos - lo);
  };
  return {
    method: "quantiles-10-90-log-ratio-pooled-out-of-fold-cv10",
    coverage: 0.8,
    n: ratios.length,
    logRatioQuantiles: [q(0.1), q(0.9)],
  };
}

export async function trainBundle(options: TrainBundleOptions): Promise<TrainBundleResult> {
  const progress = options.onProgress ?? silentProgress;
  const seed = options.seed ?? 42;
  // A bad signing key is refused before hours of training, not after.
  if (options.signKey) readBundleKey(options.signKey, "private");
  // Checked before hours of training: the bundle must say how its exams' series were chosen.
  const seriesChoice = workdirSeriesChoice(options.workdir);
  const p = prepareRecipe(options.recipe, options.encoder);
  const name = p.recipe.name;
  const runDir = options.runDir ?? join(options.workdir, "runs", `bundle-${name}-seed${seed}`);
  const result = await validateWorkdir({
    workdir: options.workdir,
    recipes: [options.recipe],
    schemes: ["cv10"],
    outDir: runDir,
    seed,
    encoder: options.encoder,
    bootstrapResamples: options.bootstrapResamples,
    saveModels: true,
    jobs: options.jobs,
    threadsPerFold: options.threadsPerFold,
    ...(options.executor ? { executor: options.executor } : {}),
    ...(options.slurm ? { slurm: options.slurm } : {}),
    onProgress: progress,
  });
  const metrics = result.metrics.schemes.find((s) => s.scheme === "cv10" && s.recipe === name);
  if (!metrics) throw new LiverstiffError("the cv10 run produced no metrics", { recipe: name, run: runDir });
  const rows = result.rows.filter((r) => r.recipe === name && r.scheme === "cv10");

  progress({ stage: "bundle", done: 0, message: "training-set summary" });
  const catalog = openCatalog(options.workdir);
  let exams: ExamRecord[];
  const series = new Map<string, SeriesRecord[]>();
  try {
    exams = rows.map((r) => {
      const e = catalog.exam(r.examId);
      if (!e) throw new LiverstiffError("a validated exam is missing from the catalog", { exam: r.examId });
      series.set(e.examId, catalog.series(e.examId));
      return e;
    });
  } finally {
    catalog.close();
  }
  const features = await computeFeatures({
    workdir: options.workdir,
    prep: p.prepName,
    encoder: p.encoder,
    examIds: exams.map((e) => e.examId),
  });
  const trainingSet = summarizeTrainingSet(exams, (id) => series.get(id) ?? [], features);

  const members = metrics.folds.map((f) => {
    const foldRows = rows.filter((r) => r.fold === f.fold);
    return {
      info: {
        fold: f.fold,
        nTrain: f.nTrain,
        nVal: f.nVal,
        nTest: f.nTest,
        cutoffs: (foldRows[0]?.cutoffs ?? [0.5, 0.5, 0.5, 0.5, 0.5]) as Five,
      },
      sourceFile: foldFilePaths(runDir, name, "cv10", f.fold).model,
    };
  });
  const manifest: BundleContent = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    codeVersion: codeVersion(),
    trainedOn: { device: defaultDevice(), libtorchCuda: buildInfo().cuda },
    recipe: p.recipe,
    preparation: p.prep,
    prepName: p.prepName,
    encoder: p.encoder.identity,
    thresholdsKpa: [...THRESHOLDS_KPA],
    cutoffs:
      options.cutoffRule === "per-threshold"
        ? { method: CUTOFF_METHODS["per-threshold"], values: pooledCutoffs(rows) }
        : { method: CUTOFF_METHODS.monotone, values: monotonePooledCutoffs(rows) },
    kpaError: kpaErrorOf(rows),
    validation: {
      scheme: "cv10",
      seed,
      runDir,
      nExams: metrics.nExams,
      nPatients: metrics.nPatients,
      auc: metrics.thresholds.map((t) => ({
        thresholdKpa: t.thresholdKpa,
        auc: t.auc,
        ci95: t.aucDelongCi95,
      })),
    },
    trainingSet,
    requiredRoles: REQUIRED_ROLES,
    seriesChoice,
  };
  const written = writeBundle(options.out, manifest, members, { signKey: options.signKey });
  progress({ stage: "bundle", done: 1, total: 1, message: options.out });
  return {
    bundleDir: options.out,
    runDir,
    manifest: written,
    trainedFolds: result.trainedFolds,
    resumedFolds: result.resumedFolds,
  };
}
