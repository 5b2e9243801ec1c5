import { existsSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import {
  describeError,
  LiverstiffError,
  type ProgressSink,
  siblingModule,
  silentProgress,
  WorkerPool,
  writeJsonAtomic,
} from "../core/index.ts";
import {
  type DicomIndex,
  type ExamRoles,
  indexDicom,
  loadRoleRules,
  loadSeriesChoice,
  type MrFrame,
  overrideMatchesSeries,
  overridesForExam,
  pickSeriesForRoles,
  type RoleDecision,
  type RoleRules,
  readFramePixels,
  SERIES_ROLES,
  type SeriesChoice,
  type SeriesChoiceRecord,
  type SeriesInfo,
  type SeriesOverride,
  type SeriesRole,
  selectFrames,
  seriesChoiceRecord,
} from "../dicom/index.ts";
import {
  asOutputWriteError,
  cross,
  orientationCode,
  planeOfNormal,
  planStack,
  type StackPlan,
  sidecarPath,
} from "../volume/index.ts";
import { Catalog, type ExamRecord, type ExclusionRecord, type SeriesRecord } from "./catalog.ts";
import { examIdFor, ID_SALT_ENV, patientKey } from "./ids.ts";
import { loadIndexCache, saveIndexCache, stampFiles } from "./index-cache.ts";
import {
  type ExamKeys,
  type LabelIssue,
  type LabelMatch,
  type LabelMatchMode,
  matchLabels,
  readLabelsCsv,
} from "./labels.ts";
import { clearNiftiCache, isNiftiFrame, NIFTI_FILE, niftiSeries, readNiftiFrame } from "./nifti-input.ts";
import { ensureOrganMeasures, type MaskSource, type OrganMeasureSummary } from "./organ-cache.ts";
import { type PrepConfig, prepName, resolvePrep } from "./prepare.ts";
import { type BuildResult, buildPrepared, type RoleSource, sourcesFingerprint } from "./prepare-exam.ts";
import type { PrepareJob, PrepareJobResult } from "./worker.ts";

/** The parts of dicom/ the pipeline uses (injectable for tests). */
export interface DicomApi {
  indexDicom(roots: string[], opts: { onProgress?: ProgressSink }): Promise<DicomIndex>;
  readFramePixels(frame: MrFrame): Promise<Float32Array> | Float32Array;
  /** Classifies every series of an exam and ranks the candidates per role (best first). */
  pickSeriesForRoles(
    series: SeriesInfo[],
    rules?: RoleRules,
    overrides?: readonly SeriesOverride[],
  ): ExamRoles;
  loadRules(path: string): RoleRules;
}

export const DEFAULT_DICOM_API: DicomApi = {
  indexDicom,
  readFramePixels,
  pickSeriesForRoles,
  loadRules: loadRoleRules,
};

export interface IngestOptions {
  roots: string[];
  workdir: string;
  /** MRE labels CSV; without it exams are catalogued unlabelled (e.g. for inference). */
  labelsCsv?: string;
  /** Role rules file (YAML/JSON) for dicom/'s classifier. */
  rulesPath?: string;
  /** Per-exam series overrides (CSV, YAML or JSON; docs/dicom.md): they beat every rule. */
  overridesPath?: string;
  /**
   * The whole series choice at once (rules + overrides), as predict takes it from a bundle; not together
   * with rulesPath or overridesPath.
   */
  seriesChoice?: SeriesChoice;
  prep?: Partial<PrepConfig>;
  /** Days between a label's date and the study date for patient-id + date matching (default 7). */
  labelWindowDays?: number;
  /** How label rows find exams (default "strict": accession or StudyInstanceUID; see labels.ts). */
  labelsMatch?: LabelMatchMode;
  /** Salt for hashing patient ids (default: env LIVERSTIFF_ID_SALT; none = ids kept as they are). */
  idSalt?: string;
  /** Roles an exam needs to be usable: all of `all` and one of `anyOf` (default t2 + one T1w). */
  requiredRoles?: { all: SeriesRole[]; anyOf: SeriesRole[] };
  onProgress?: ProgressSink;
  dicom?: DicomApi;
  /** Reuse the previous run's DICOM index when no file under the roots changed (default true). */
  indexCache?: boolean;
  /**
   * Worker threads that assemble and prepare exams in parallel (default 0: in-process). Each costs
   * 0.5-2 s to start; worth it on many cores and large cohorts. Ignored with an injected `dicom`.
   */
  workers?: number;
  /**
   * Where liver and spleen masks come from for the organ measures (cohort/organs.ts): a user's label-map
   * files, a segmentation network, or none (no organ measures; heads that read them say so).
   */
  masks?: MaskSource;
  /**
   * Worker processes that measure organs (default 1: in-process, where the network uses every libtorch
   * thread). On 2 cores they did not pay (600 exams: 75 s on 2 workers, 65 s in-process); the measures do
   * not depend on the count.
   */
  organJobs?: number;
}

export interface IngestSummary {
  workdir: string;
  prepName: string;
  examsFound: number;
  /** Images usable and a label: ready for training and validation. */
  usable: number;
  /** Images usable (labelled or not): ready for inference. */
  usableImages: number;
  /** Exams not usable for training, by reason code. */
  excludedByReason: Record<string, number>;
  filesSeen: number;
  filesIndexed: number;
  /** Non-DICOM files skipped. */
  filesSkipped: number;
  /** DICOM files that could not be used, by code. */
  fileErrors: Record<string, number>;
  labelRows: number;
  labelIssues: Record<string, number>;
  /** Every label row not used as it stands (rejected, ambiguous, duplicate), by file line. */
  labelIssueRows: LabelIssue[];
  prepared: { computed: number; reused: number; failed: number };
  bytesAssembled: number;
  durationMs: number;
  timingsMs: { index: number; assemblePrepare: number };
  /** True when the DICOM index of the previous run was reused (no file changed). */
  indexReused: boolean;
  /** The rules and per-exam overrides the series were chosen by (stored in the catalog, then bundles). */
  seriesChoice: {
    rulesSource: string;
    overridesSources: string[];
    overrides: number;
    digest: string;
    /** Overrides that name an exam of the inputs but no series of it. */
    unmatchedOverrides: string[];
  };
  /** Organ measures of the usable exams (absent when no mask source was given). */
  organs?: Omit<OrganMeasureSummary, "errors">;
}

/** The catalog's meta key under which ingest records the series choice (a SeriesChoiceRecord). */
export const SERIES_CHOICE_META = "series_choice";

const DEFAULT_REQUIRED = { all: ["t2"] as SeriesRole[], anyOf: ["t1_in", "t1_opp"] as SeriesRole[] };

interface Candidate {
  series: SeriesInfo;
  decision: RoleDecision;
  frames: MrFrame[];
  plan?: StackPlan;
  error?: string;
  axial: boolean;
}

/**
 * index -> classify -> pick series per role -> assemble -> join labels -> catalog -> prepare. One bad
 * exam never stops the run: its reason goes into the exclusions. Re-running on the same work directory
 * only prepares exams whose sources or preparation changed.
 */
export async function ingest(options: IngestOptions): Promise<IngestSummary> {
  const t0 = Date.now();
  const progress = options.onProgress ?? silentProgress;
  const prep = resolvePrep(options.prep);
  const salt = options.idSalt ?? process.env[ID_SALT_ENV] ?? undefined;
  for (const r of options.roots) {
    if (!existsSync(r)) throw new LiverstiffError("input folder or file does not exist", { path: r });
  }
  const labels = options.labelsCsv ? readLabelsCsv(options.labelsCsv) : undefined;
  const dicom = options.dicom ?? DEFAULT_DICOM_API;
  const nWorkers = options.dicom ? 0 : Math.max(0, Math.floor(options.workers ?? 0));
  const pool =
    nWorkers > 0
      ? new WorkerPool<PrepareJob, PrepareJobResult>(siblingModule(import.meta.url, "worker"), nWorkers)
      : undefined;
  try {
    const choice = resolveSeriesChoice(options, dicom);
    const { index, indexReused } = await indexInputs(options, dicom, progress);
    const inputs = inputSeries(options, index);
    const tIndex = Date.now();
    const catalog = Catalog.open(options.workdir);
    const runId = catalog.startRun();
    try {
      const run: IngestRun = {
        options,
        progress,
        dicom,
        choice,
        prep,
        prepName: prepName(prep),
        salt,
        catalog,
        pool,
        concurrency: pool ? nWorkers * 2 : 1,
        exclusions: inputs.fileExclusions,
      };
      const exams = examsOf(inputs.allSeries, salt);
      const match = joinLabels(run, labels, exams.keys);
      const indexMs = tIndex - t0;
      const summary = startSummary(run, exams, match, { index, indexReused, indexMs, inputs, labels });
      const results = await processExams(run, exams, match);
      // Summarise in exam order, so that exclusions and the summary do not depend on timing.
      tally(run, summary, results);
      if (options.masks) summary.organs = await measureOrgans(run, options.masks);
      summary.timingsMs.assemblePrepare = Date.now() - tIndex;
      summary.durationMs = Date.now() - t0;
      catalog.transaction(() => {
        catalog.replaceExclusions(run.exclusions);
        catalog.finishRun(runId, summary);
      });
      writeJsonAtomic(join(options.workdir, "summary.json"), summary);
      return summary;
    } finally {
      catalog.close();
      clearNiftiCache();
    }
  } finally {
    await pool?.close();
  }
}

/** What every step of one ingest shares; `exclusions` collects the run's, in the order they are found. */
interface IngestRun {
  options: IngestOptions;
  progress: ProgressSink;
  dicom: DicomApi;
  choice: SeriesChoice;
  prep: PrepConfig;
  prepName: string;
  salt: string | undefined;
  catalog: Catalog;
  pool: WorkerPool<PrepareJob, PrepareJobResult> | undefined;
  /** Exams in flight at once: one in-process, or up to 2 per worker with a pool. */
  concurrency: number;
  exclusions: ExclusionRecord[];
}

/** The studies of the inputs (an exam each) and their keys, in the order the series were found. */
interface Exams {
  studies: Map<string, SeriesInfo[]>;
  keys: ExamKeys[];
}

type LabelJoin = ReturnType<typeof matchLabels>;

/** The DICOM index: the previous run's when no file under the roots changed (not with an injected API). */
async function indexInputs(
  options: IngestOptions,
  dicom: DicomApi,
  progress: ProgressSink,
): Promise<{ index: DicomIndex; indexReused: boolean }> {
  const useCache = !options.dicom && options.indexCache !== false;
  const workAbs = resolve(options.workdir);
  const stamps = useCache
    ? stampFiles(options.roots).filter((s) => s[0] !== workAbs && !s[0].startsWith(workAbs + sep))
    : [];
  const cached = useCache ? loadIndexCache(options.workdir, options.roots, stamps) : undefined;
  if (cached) {
    progress({ stage: "dicom-index", done: cached.filesSeen, total: cached.filesSeen, message: "unchanged" });
    return { index: cached, indexReused: true };
  }
  const index = await dicom.indexDicom(options.roots, { onProgress: progress });
  if (useCache) saveIndexCache(options.workdir, options.roots, stamps, index);
  return { index, indexReused: false };
}

/** The DICOM and NIfTI series of the inputs, the files skipped, and the file-level exclusions. */
function inputSeries(options: IngestOptions, index: DicomIndex) {
  // NIfTI files (skipped by the DICOM indexer) become series too; their JSON sidecars are not "skipped".
  const niftiFiles = index.skipped.filter((s) => NIFTI_FILE.test(s.file)).map((s) => s.file);
  const sidecars = new Set(niftiFiles.map((f) => sidecarPath(f)));
  const nifti = niftiSeries(niftiFiles, (f) => rootOf(options.roots, f));
  // Our own outputs, when the work directory lies under a root, are not "skipped input".
  const workAbs = resolve(options.workdir);
  // Dropped copies of a SOP instance (same pixels) are reported with the file errors, not as non-DICOM.
  const duplicates = index.skipped.filter((s) => s.code === "duplicate");
  const skipped = index.skipped.filter(
    (s) =>
      s.code !== "duplicate" &&
      !NIFTI_FILE.test(s.file) &&
      !sidecars.has(s.file) &&
      !resolve(s.file).startsWith(workAbs + sep),
  );
  const fileIssues = [...index.errors, ...duplicates];
  const fileExclusions: ExclusionRecord[] = [];
  for (const e of fileIssues) {
    fileExclusions.push({ scope: "file", ref: e.file, code: e.code, reason: e.reason });
  }
  for (const e of nifti.errors)
    fileExclusions.push({ scope: "file", ref: e.file, code: "nifti-error", reason: e.reason });
  return { allSeries: [...index.series, ...nifti.series], nifti, skipped, fileIssues, fileExclusions };
}

/** Exams = studies. */
function examsOf(allSeries: SeriesInfo[], salt: string | undefined): Exams {
  const studies = new Map<string, SeriesInfo[]>();
  for (const s of allSeries) {
    const list = studies.get(s.studyInstanceUid);
    if (list) list.push(s);
    else studies.set(s.studyInstanceUid, [s]);
  }
  const keys: ExamKeys[] = [...studies.entries()].map(([uid, list]) => ({
    examId: examIdFor(uid, salt),
    studyInstanceUid: uid,
    accessionNumber: list.find((s) => s.accessionNumber)?.accessionNumber,
    patientId: list[0].patientId,
    studyDate: list.find((s) => s.studyDate)?.studyDate,
  }));
  return { studies, keys };
}

/** Label rows matched to exams (none without a labels file). */
function joinLabels(
  run: IngestRun,
  labels: ReturnType<typeof readLabelsCsv> | undefined,
  keys: ExamKeys[],
): LabelJoin {
  if (!labels) {
    return {
      byExam: new Map<string, LabelMatch>(),
      issues: [] as LabelIssue[],
      conflicts: new Map<string, string>(),
    };
  }
  return matchLabels(labels.rows, keys, {
    windowDays: run.options.labelWindowDays,
    conflicted: labels.conflicted,
    mode: run.options.labelsMatch,
  });
}

/** The summary before any exam is processed; records the label issues, the series choice and the overrides. */
function startSummary(
  run: IngestRun,
  exams: Exams,
  match: LabelJoin,
  found: {
    index: DicomIndex;
    indexReused: boolean;
    indexMs: number;
    inputs: ReturnType<typeof inputSeries>;
    labels: ReturnType<typeof readLabelsCsv> | undefined;
  },
): IngestSummary {
  const { options, choice, exclusions } = run;
  const { index, inputs, labels } = found;
  const labelIssues = [...(labels?.issues ?? []), ...match.issues].sort((a, b) => a.line - b.line);
  for (const li of labelIssues) {
    exclusions.push({ scope: "label", ref: `labels:${li.line}`, code: li.kind, reason: li.message });
  }
  const record = seriesChoiceRecord(choice);
  run.catalog.setMeta(SERIES_CHOICE_META, JSON.stringify(record));
  const unmatched = unmatchedOverrides(choice.overrides, exams.studies, exams.keys);
  for (const u of unmatched)
    exclusions.push({
      scope: "exam",
      ref: u.examId,
      examId: u.examId,
      code: "override_unmatched",
      reason: u.reason,
    });
  return {
    workdir: options.workdir,
    prepName: run.prepName,
    examsFound: exams.studies.size,
    usable: 0,
    usableImages: 0,
    excludedByReason: {},
    filesSeen: index.filesSeen,
    filesIndexed: index.filesIndexed + inputs.nifti.series.length,
    filesSkipped: inputs.skipped.length,
    fileErrors: countBy([
      ...inputs.fileIssues.map((e) => e.code),
      ...inputs.nifti.errors.map(() => "nifti-error"),
    ]),
    labelRows: labels?.dataRows ?? 0,
    labelIssues: countBy(labelIssues.map((i) => i.kind)),
    labelIssueRows: labelIssues,
    prepared: { computed: 0, reused: 0, failed: 0 },
    bytesAssembled: 0,
    durationMs: 0,
    timingsMs: { index: found.indexMs, assemblePrepare: 0 },
    indexReused: found.indexReused,
    seriesChoice: {
      rulesSource: choice.rulesSource,
      overridesSources: choice.overridesSources,
      overrides: choice.overrides.length,
      digest: record.digest,
      unmatchedOverrides: unmatched.map((u) => u.reason),
    },
  };
}

/** Every exam through processExamSafely, `run.concurrency` at a time; results in exam order. */
async function processExams(run: IngestRun, exams: Exams, match: LabelJoin): Promise<ExamOutcome[]> {
  const { keys } = exams;
  const { options } = run;
  run.progress({ stage: "cohort-prepare", done: 0, total: keys.length });
  let next = 0;
  const results: ExamOutcome[] = new Array(keys.length);
  await Promise.all(
    Array.from({ length: Math.min(run.concurrency, keys.length) }, async () => {
      while (next < keys.length) {
        const i = next++;
        const k = keys[i];
        results[i] = await processExamSafely({
          keys: k,
          seriesList: exams.studies.get(k.studyInstanceUid)!,
          dicom: run.dicom,
          choice: run.choice,
          prep: run.prep,
          prepName: run.prepName,
          catalog: run.catalog,
          workdir: options.workdir,
          required: options.requiredRoles ?? DEFAULT_REQUIRED,
          salt: run.salt,
          label: match.byExam.get(k.examId),
          labelConflict: match.conflicts.get(k.examId),
          pool: run.pool,
        });
      }
    }),
  );
  return results;
}

/** Organ measures of the usable exams from the mask source; an exam whose measure fails is an exclusion. */
async function measureOrgans(run: IngestRun, masks: MaskSource): Promise<IngestSummary["organs"]> {
  const o = await ensureOrganMeasures(run.catalog, masks, run.progress, { jobs: run.options.organJobs });
  for (const e of o.errors)
    run.exclusions.push({ scope: "exam", ref: e.examId, code: "organ-error", reason: e.reason });
  return { measured: o.measured, reused: o.reused, missing: o.missing, source: o.source };
}

/** Adds each exam's outcome to the summary and its exclusions to the run's, with progress per exam. */
function tally(run: IngestRun, summary: IngestSummary, results: ExamOutcome[]): void {
  let done = 0;
  for (const result of results) {
    run.exclusions.push(...result.exclusions);
    if (result.exam.usable) summary.usableImages++;
    if (result.exam.exclusionReason) {
      const code = result.reasonCode ?? "other";
      summary.excludedByReason[code] = (summary.excludedByReason[code] ?? 0) + 1;
    } else summary.usable++;
    if (result.prepared === "computed") summary.prepared.computed++;
    else if (result.prepared === "reused") summary.prepared.reused++;
    else if (result.prepared === "failed") summary.prepared.failed++;
    summary.bytesAssembled += result.bytes;
    run.progress({ stage: "cohort-prepare", done: ++done, total: results.length });
  }
}

/**
 * The series choice the last ingest into this catalog recorded (undefined for a work folder made before
 * ingest recorded it).
 */
export function recordedSeriesChoice(catalog: Catalog): SeriesChoiceRecord | undefined {
  const text = catalog.meta(SERIES_CHOICE_META);
  return text === undefined ? undefined : (JSON.parse(text) as SeriesChoiceRecord);
}

/** The series choice of this run: given whole, or from the rules and overrides files, or the defaults. */
function resolveSeriesChoice(options: IngestOptions, dicom: DicomApi): SeriesChoice {
  if (options.seriesChoice) {
    if (options.rulesPath || options.overridesPath)
      throw new LiverstiffError("give a series choice or rules/overrides files, not both");
    return options.seriesChoice;
  }
  return loadSeriesChoice(options, (path) => dicom.loadRules(path));
}

/**
 * Overrides that name an exam of this run but no series of it: a typo in a series number, or an export
 * that lacks the series. Reported, never guessed around.
 */
function unmatchedOverrides(
  overrides: readonly SeriesOverride[],
  studies: ReadonlyMap<string, SeriesInfo[]>,
  keys: readonly ExamKeys[],
): { source: string; examId: string; reason: string }[] {
  const out: { source: string; examId: string; reason: string }[] = [];
  for (const k of keys) {
    const series = studies.get(k.studyInstanceUid) ?? [];
    for (const o of overridesForExam(overrides, k)) {
      const hit = series.some((s) => overrideMatchesSeries(o, s));
      if (!hit)
        out.push({
          source: o.source,
          examId: k.examId,
          reason: `override ${o.source} names ${o.seriesNumber !== undefined ? `series ${o.seriesNumber}` : `series ${o.seriesInstanceUid}`}, which the exam does not have`,
        });
    }
  }
  return out;
}

function rootOf(roots: string[], file: string): string {
  const abs = resolve(file);
  let best = dirname(abs);
  let len = -1;
  for (const r of roots) {
    const ar = resolve(r);
    if ((abs === ar || abs.startsWith(ar + sep)) && ar.length > len) {
      best = abs === ar ? dirname(dirname(ar)) : ar;
      len = ar.length;
    }
  }
  return best;
}

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

const ROLE_LABEL: Record<SeriesRole, string> = {
  t1_in: "T1w in-phase",
  t1_opp: "T1w opposed-phase",
  t2: "T2w",
};

interface ExamContext {
  keys: ExamKeys;
  seriesList: SeriesInfo[];
  dicom: DicomApi;
  choice: SeriesChoice;
  prep: PrepConfig;
  prepName: string;
  catalog: Catalog;
  workdir: string;
  required: { all: SeriesRole[]; anyOf: SeriesRole[] };
  salt?: string;
  label?: LabelMatch;
  labelConflict?: string;
  pool?: WorkerPool<PrepareJob, PrepareJobResult>;
}

interface ExamOutcome {
  exam: ExamRecord;
  exclusions: ExclusionRecord[];
  reasonCode?: string;
  prepared: "computed" | "reused" | "failed" | "none";
  bytes: number;
}

/** processExam, with anything unexpected turned into an exclusion of that exam (the run goes on). */
async function processExamSafely(ctx: ExamContext): Promise<ExamOutcome> {
  try {
    return await processExam(ctx);
  } catch (err) {
    const first = ctx.seriesList[0];
    const reason = `unexpected error while processing the exam: ${describeError(err)}`;
    const exam: ExamRecord = {
      examId: ctx.keys.examId,
      patientKey: patientKey(ctx.keys.patientId, ctx.salt),
      site: ctx.label?.site ?? first?.institutionName ?? "unknown",
      siteSource: ctx.label?.site ? "labels" : first?.institutionName ? "institution" : "unknown",
      studyInstanceUid: ctx.keys.studyInstanceUid,
      accessionNumber: ctx.keys.accessionNumber,
      studyDate: ctx.keys.studyDate,
      vendor: first?.vendor,
      kpa: ctx.label?.kpa,
      usable: false,
      exclusionReason: reason,
      roles: [],
    };
    try {
      ctx.catalog.upsertExam(exam);
    } catch {
      // the exclusion below still records it
    }
    return {
      exam,
      exclusions: [{ scope: "exam", ref: exam.examId, examId: exam.examId, code: "internal_error", reason }],
      reasonCode: "internal_error",
      prepared: "failed",
      bytes: 0,
    };
  }
}

/** dicom/'s pick for one role: the first-ranked candidate, with its alternatives. */
type PickedRole = NonNullable<ExamRoles["chosen"][SeriesRole]>;
type RankedCandidate = Candidate & { whyNot?: string };
/** The series records of an exam, by series (or split part of a series) and decision. */
type RecordLookup = (s: SeriesInfo, d: RoleDecision) => SeriesRecord | undefined;
/** An exam that is not usable or not labelled: its exclusion code and reason. */
interface ExamProblem {
  reasonCode: string;
  reason: string;
}

async function processExam(ctx: ExamContext): Promise<ExamOutcome> {
  const exclusions: ExclusionRecord[] = [];
  const picked = pickRoles(ctx, exclusions);
  const { seriesRecords, recordFor } = buildSeriesRecords(ctx.keys.examId, picked);
  const { chosen, failedRoles } = assembleCandidates(ctx, picked, recordFor, exclusions);
  const sources: RoleSource[] = [...chosen.entries()].map(([role, c]) => ({
    role,
    seriesInstanceUid: c.series.seriesInstanceUid,
    echoTimeMs: c.decision.echoTimeMs,
    imageTypeValue: c.decision.imageTypeValue,
    frames: c.frames,
  }));
  let problem = usabilityProblem(ctx, chosen, failedRoles);
  let prepared: ExamOutcome["prepared"] = "none";
  let bytes = 0;
  let sourceFingerprint: string | undefined;
  // Preparation only for exams whose images are usable.
  if (!problem) {
    sourceFingerprint = sourcesFingerprint(sources, ctx.prep.roles);
    ({ prepared, bytes, problem } = await prepareSources(ctx, sources));
  }
  const usable = !problem;
  if (!problem) problem = labelProblem(ctx);
  const exam = examRecord(ctx, chosen, usable, problem?.reason, sourceFingerprint);
  if (problem) {
    const { examId } = ctx.keys;
    exclusions.push({ scope: "exam", ref: examId, examId, code: problem.reasonCode, reason: problem.reason });
  }
  ctx.catalog.transaction(() => {
    ctx.catalog.upsertExam(exam);
    ctx.catalog.replaceSeries(ctx.keys.examId, seriesRecords);
    ctx.catalog.setRoleSources(ctx.keys.examId, usable ? sources : []);
  });
  return { exam, exclusions, reasonCode: problem?.reasonCode, prepared, bytes };
}

/** dicom/'s classification and pick, with this exam's series overrides; a failure is an exclusion. */
function pickRoles(ctx: ExamContext, exclusions: ExclusionRecord[]): ExamRoles {
  const { seriesList } = ctx;
  try {
    return ctx.dicom.pickSeriesForRoles(
      seriesList,
      ctx.choice.rules,
      overridesForExam(ctx.choice.overrides, ctx.keys),
    );
  } catch (err) {
    const examId = ctx.keys.examId;
    exclusions.push({
      scope: "exam",
      ref: examId,
      examId,
      code: "classify_error",
      reason: describeError(err),
    });
    return { chosen: {}, decisions: seriesList.map((s) => ({ series: s, decisions: [] })) };
  }
}

/** One record per series decision (per echo or image type of a split series), none chosen yet. */
function buildSeriesRecords(
  examId: string,
  picked: ExamRoles,
): { seriesRecords: SeriesRecord[]; recordFor: RecordLookup } {
  const seriesRecords: SeriesRecord[] = [];
  const byKey = new Map<string, SeriesRecord>();
  for (const { series: s, decisions } of picked.decisions) {
    const list =
      decisions.length > 0 ? decisions : [{ role: null, reasons: ["no decision"] } as RoleDecision];
    for (const d of list) {
      const rec: SeriesRecord = {
        examId,
        seriesInstanceUid: s.seriesInstanceUid,
        ...(s.seriesId !== undefined ? { seriesId: s.seriesId } : {}),
        seriesNumber: s.seriesNumber,
        description: s.seriesDescription ?? s.protocolName,
        echoTimeMs: d.echoTimeMs,
        imageTypeValue: d.imageTypeValue,
        role: d.role,
        reasons: d.reasons,
        chosen: false,
        frames: d.role ? selectFrames(s, d).length : s.frames.length,
      };
      seriesRecords.push(rec);
      byKey.set(recordKey(s, d), rec);
    }
  }
  return { seriesRecords, recordFor: (s, d) => byKey.get(recordKey(s, d)) };
}

// seriesId: records that dicom/ split from one SeriesInstanceUID (SeriesNumber, echo, phase) stay apart.
function recordKey(s: SeriesInfo, d: RoleDecision): string {
  return `${s.seriesId ?? s.seriesInstanceUid}|${d.echoTimeMs ?? ""}|${d.imageTypeValue ?? ""}`;
}

/** Per role, the best candidate whose stack can be assembled, or why none can. */
function assembleCandidates(
  ctx: ExamContext,
  picked: ExamRoles,
  recordFor: RecordLookup,
  exclusions: ExclusionRecord[],
): { chosen: Map<SeriesRole, Candidate>; failedRoles: Map<SeriesRole, string> } {
  const chosen = new Map<SeriesRole, Candidate>();
  const failedRoles = new Map<SeriesRole, string>();
  for (const role of SERIES_ROLES) {
    const choice = picked.chosen[role];
    if (!choice) continue;
    // dicom/'s ranking (evidence, original, T2 preference, slices, series number), then ours on top,
    // stable: a stack that can be assembled first, then axial acquisitions (the slices we prepare).
    const ranked = [choice, ...choice.alternatives].map((c) =>
      assessCandidate(ctx, role, c, recordFor, exclusions),
    );
    const best = ranked
      .map((c, i) => ({ c, i }))
      .sort(
        (a, b) =>
          Number(!!a.c.error) - Number(!!b.c.error) || Number(b.c.axial) - Number(a.c.axial) || a.i - b.i,
      )[0]!.c;
    if (best.error) {
      failedRoles.set(role, best.error);
      continue;
    }
    chosen.set(role, best);
    noteChoice(choice, ranked, best, recordFor);
  }
  return { chosen, failedRoles };
}

/** A candidate with its stack plan, or the reason its stack cannot be used (also an exclusion). */
function assessCandidate(
  ctx: ExamContext,
  role: SeriesRole,
  c: PickedRole | PickedRole["alternatives"][number],
  recordFor: RecordLookup,
  exclusions: ExclusionRecord[],
): RankedCandidate {
  const iop = c.frames[0]?.imageOrientationPatient;
  const axial = iop
    ? planeOfNormal(cross([iop[0], iop[1], iop[2]], [iop[3], iop[4], iop[5]])) === "axial"
    : false;
  const cand: RankedCandidate = {
    series: c.series,
    decision: c.decision,
    frames: c.frames,
    axial,
    whyNot: "whyNot" in c ? (c.whyNot as string) : undefined,
  };
  const rec = recordFor(c.series, c.decision);
  try {
    cand.plan = planStack(c.frames);
    if (cand.plan.dims[2] < ctx.prep.slices && ctx.prep.roles.includes(role)) {
      throw new LiverstiffError(
        `only ${cand.plan.dims[2]} slices, the preparation needs ${ctx.prep.slices}`,
        {
          geometry: "too_few_slices",
        },
      );
    }
    if (rec) {
      rec.dims = cand.plan.dims;
      rec.spacingMm = [
        c.frames[0].pixelSpacingMm[1],
        c.frames[0].pixelSpacingMm[0],
        Number(cand.plan.sliceStepMm.toFixed(4)),
      ];
      rec.orientation = orientationCode(cand.plan.affine);
    }
  } catch (err) {
    cand.error = describeError(err);
    if (rec) rec.note = `cannot be used: ${cand.error}`;
    exclusions.push({
      scope: "series",
      ref: c.series.seriesInstanceUid,
      examId: ctx.keys.examId,
      code: err instanceof LiverstiffError ? String(err.context.geometry ?? "geometry") : "geometry",
      reason: `series ${c.series.seriesNumber ?? "?"} (${rec?.description ?? "no description"}) as ${ROLE_LABEL[role]}: ${cand.error}`,
    });
  }
  return cand;
}

/** Marks the chosen record and says why it was chosen, and why the other usable candidates were not. */
function noteChoice(
  choice: PickedRole,
  ranked: RankedCandidate[],
  best: RankedCandidate,
  recordFor: RecordLookup,
): void {
  const rec = recordFor(best.series, best.decision);
  if (rec) {
    rec.chosen = true;
    const why: string[] = [];
    if (best !== ranked[0]) {
      why.push(
        ranked[0].error
          ? `series ${ranked[0].series.seriesNumber ?? "?"} ranked first but cannot be used`
          : `axial acquisition preferred over series ${ranked[0].series.seriesNumber ?? "?"}`,
      );
    } else why.push(...choice.reasons);
    rec.note = why.length ? `chosen: ${why.join("; ")}` : "chosen (only candidate)";
  }
  for (const other of ranked) {
    if (other === best || other.error) continue;
    const r = recordFor(other.series, other.decision);
    if (r && !r.note) r.note = `not chosen: ${other.whyNot ?? "ranked lower"}`;
  }
}

/** A required role with no usable series: the failed role's reason before a missing role's. */
function usabilityProblem(
  ctx: ExamContext,
  chosen: Map<SeriesRole, Candidate>,
  failedRoles: Map<SeriesRole, string>,
): ExamProblem | undefined {
  const missingAll = ctx.required.all.filter((r) => !chosen.has(r));
  const hasAny = ctx.required.anyOf.length === 0 || ctx.required.anyOf.some((r) => chosen.has(r));
  if (missingAll.length === 0 && hasAny) return undefined;
  const missing = missingAll.length > 0 ? missingAll[0] : ctx.required.anyOf[0];
  const failed = [...missingAll, ...(hasAny ? [] : ctx.required.anyOf)].find((r) => failedRoles.has(r));
  if (failed) {
    return {
      reasonCode: `${failed}_unusable`,
      reason: `${ROLE_LABEL[failed]} series cannot be used: ${failedRoles.get(failed)}`,
    };
  }
  if (missingAll.length > 0)
    return { reasonCode: `no_${missing}`, reason: `no ${ROLE_LABEL[missing]} series` };
  return { reasonCode: "no_t1", reason: "no T1w (in- or opposed-phase) series" };
}

/** Prepares (or reuses) the exam's slices, in a worker when there is a pool, and records them. */
async function prepareSources(
  ctx: ExamContext,
  sources: RoleSource[],
): Promise<{ prepared: ExamOutcome["prepared"]; bytes: number; problem?: ExamProblem }> {
  const examId = ctx.keys.examId;
  try {
    let r: BuildResult;
    if (ctx.pool) {
      const reply = await ctx.pool.run({ workdir: ctx.workdir, examId, sources, prep: ctx.prep });
      if (!reply.ok) throw new LiverstiffError(reply.error, { exam: examId });
      r = reply.result;
    } else {
      r = await buildPrepared(ctx.workdir, examId, sources, ctx.prep, (f) =>
        isNiftiFrame(f) ? readNiftiFrame(f) : ctx.dicom.readFramePixels(f),
      );
    }
    // Recorded on reuse too: a catalog rebuilt next to an existing cache must still list it.
    ctx.catalog.setPrepared({ examId, prepName: ctx.prepName, fingerprint: r.fingerprint, path: r.path });
    return { prepared: r.status, bytes: r.voxels * 2 };
  } catch (err) {
    // A cache that cannot be written (disk full, read-only) stops the run; it is never the exam's fault.
    const io =
      asOutputWriteError(err, undefined, ctx.workdir) ??
      (err instanceof Error ? asOutputWriteError(err.message, undefined, ctx.workdir) : undefined);
    if (io) throw io;
    return {
      prepared: "failed",
      bytes: 0,
      problem: {
        reasonCode: "pixel_error",
        reason: `images cannot be read or prepared: ${describeError(err)}`,
      },
    };
  }
}

/** A usable exam without a trustworthy label: conflicting labels, or none matched. */
function labelProblem(ctx: ExamContext): ExamProblem | undefined {
  if (ctx.labelConflict) return { reasonCode: "label_conflict", reason: ctx.labelConflict };
  if (!ctx.label) return { reasonCode: "no_label", reason: "no MRE label matched" };
  return undefined;
}

function examRecord(
  ctx: ExamContext,
  chosen: Map<SeriesRole, Candidate>,
  usable: boolean,
  exclusionReason: string | undefined,
  sourceFingerprint: string | undefined,
): ExamRecord {
  const { keys, seriesList } = ctx;
  const first = seriesList[0];
  const labelSite = ctx.label?.site;
  return {
    examId: keys.examId,
    patientKey: patientKey(keys.patientId, ctx.salt),
    site: labelSite ?? first.institutionName ?? "unknown",
    siteSource: labelSite ? "labels" : first.institutionName ? "institution" : "unknown",
    studyInstanceUid: keys.studyInstanceUid,
    accessionNumber: keys.accessionNumber,
    studyDate: keys.studyDate,
    ageYears: seriesList.find((s) => s.patientAgeYears !== undefined)?.patientAgeYears,
    sex: seriesList.find((s) => s.patientSex)?.patientSex,
    vendor: first.vendor,
    manufacturer: first.manufacturer,
    model: first.manufacturerModelName,
    fieldStrengthT: seriesList.find((s) => s.magneticFieldStrengthT)?.magneticFieldStrengthT,
    kpa: ctx.labelConflict ? undefined : ctx.label?.kpa,
    labelLine: ctx.label?.line,
    usable,
    exclusionReason,
    roles: SERIES_ROLES.filter((r) => chosen.has(r)),
    sourceFingerprint,
  };
}
