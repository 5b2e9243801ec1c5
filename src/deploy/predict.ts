// `liverstiff predict`: new exams from DICOM (or NIfTI) through the same ingest rules, the bundle's
// preparation and encoder, and its ensemble, to one report per exam. An exam that cannot be used gets a
// reason; the others are predicted.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve, sep } from "node:path";
import {
  DEFAULT_DICOM_API,
  type ExamRecord,
  ingest,
  loadPrepared,
  type MaskSource,
  openCatalog,
  type PreparedExam,
  type RoleSource,
  type SeriesRecord,
} from "../cohort/index.ts";
import {
  describeError,
  LiverstiffError,
  type ProgressSink,
  silentProgress,
  writeFileAtomic,
} from "../core/index.ts";
import {
  type DicomIndex,
  indexDicom,
  layerOverrides,
  loadRoleRules,
  loadSeriesOverrides,
  SERIES_ROLES,
  type SeriesChoice,
  type SeriesRole,
  seriesChoiceFromRecord,
  seriesChoiceRecord,
  sourceName,
} from "../dicom/index.ts";
import {
  camEncoderOf,
  DEFAULT_CAM_THRESHOLD_KPA,
  type ExamCam,
  GradCam,
  occlusionMaps,
  thresholdIndex,
  unexplainableReason,
} from "../explain/index.ts";
import { computeFeatures, type ExamFeatures } from "../features/index.ts";
import { codeVersion } from "../validate/workdir.ts";
import type { BundleManifest, LoadedBundle } from "./bundle.ts";
import { type CamFiles, type OcclusionFiles, writeExamCams, writeExamOcclusion } from "./cam.ts";
import { type DicomResultFiles, writeExamDicom } from "./dicom-results.ts";
import { type EnsemblePrediction, predictEnsemble } from "./ensemble.ts";
import { examFigure } from "./figure.ts";
import { type EdgeLetters, preparedEdgeLetters } from "./orientation.ts";
import { decisionWarnings, distributionWarnings, volumeWarnings, type Warning } from "./summary.ts";

export const PREDICTIONS_FORMAT = "liverstiff-predictions";
export const INTENDED_USE =
  "Research use only. liverstiff is not a medical device; its output must not be used for diagnosis or treatment decisions.";

export interface PredictOptions {
  /** Exam folders and/or DICOM (or NIfTI) files. */
  inputs: string[];
  bundle: LoadedBundle;
  /** Where to write one PNG per predicted exam (default: none). */
  pngDir?: string;
  /**
   * Where to write each predicted exam's DICOM results: a Comprehensive SR and a Secondary Capture of its
   * figure, in the exam's study (default: none).
   */
  dicomDir?: string;
  /** With dicomDir: also an Encapsulated PDF of a one-page report per exam. */
  dicomPdf?: boolean;
  /** Ingest into this folder and keep it (default: a temporary folder, removed afterwards). */
  workdir?: string;
  /** Liver and spleen masks for the organ measures (the shipped segmenter, or a user's label maps). */
  masks?: MaskSource;
  /** A site's own role rules (YAML/JSON), used instead of the rules the bundle was trained with. */
  rulesPath?: string;
  /** A site's per-exam overrides, laid over the bundle's (a site's rows for an exam replace the bundle's). */
  overridesPath?: string;
  /** Where to write the Grad-CAM maps, DIR/<accession>/<role>.nii.gz (default: none). */
  camDir?: string;
  /** The threshold whose logit the maps explain (kPa; default 3.0). */
  camThresholdKpa?: number;
  /** With camDir: also the occlusion-sensitivity maps (any encoder and head; one encoder pass per patch). */
  occlusion?: boolean;
  onProgress?: ProgressSink;
}

/** How the series of the predicted exams were chosen, and whether it is how training chose them. */
export interface PredictSeriesChoice {
  /** "bundle" (the rules training used), or the site's rules file. */
  rules: string;
  /** The overrides applied: "bundle" (training's rows) and/or the site's file. */
  overrides: string[];
  /** Digest of the rules and overrides applied, and of those the bundle was trained with. */
  digest: string;
  trainingDigest: string;
  /** True when the rules applied are the rules training used (overrides aside). */
  rulesAsTrained: boolean;
}

export interface SeriesUsed {
  seriesInstanceUid: string;
  seriesNumber?: number;
  description?: string;
  echoTimeMs?: number;
  dims?: [number, number, number];
  spacingMm?: [number, number, number];
  orientation?: string;
}

export interface ExamReport {
  examId: string;
  accession?: string;
  studyInstanceUid: string;
  studyDate?: string;
  /** The inputs (as given) that hold the exam's files. */
  inputs: string[];
  scanner: { vendor?: string; manufacturer?: string; model?: string; fieldStrengthT?: number };
  ageYears?: number;
  sex?: string;
  status: "predicted" | "unusable";
  /** Why the exam could not be used (status "unusable"). */
  reason?: string;
  /** The series chosen for each role, by the same rules as ingest. */
  series: Partial<Record<SeriesRole, SeriesUsed>>;
  thresholds?: EnsemblePrediction["thresholds"];
  category?: EnsemblePrediction["category"];
  kpaPred?: EnsemblePrediction["kpaPred"];
  attention?: EnsemblePrediction["attention"];
  members?: EnsemblePrediction["members"];
  warnings: Warning[];
  /** The PNG of the slices used and the attention over them. */
  png?: string;
  /** The DICOM results written (`dicomDir`): the SR, the figure's Secondary Capture, the PDF (`dicomPdf`). */
  dicom?: DicomResultFiles;
  /** The Grad-CAM maps written for the exam (predict --cam-out). */
  cam?: CamFiles;
  /** The occlusion maps written for the exam (predict --cam-out --occlusion). */
  occlusion?: OcclusionFiles;
}

export interface InputReport {
  path: string;
  filesSeen: number;
  exams: string[];
  /** Why the input gave no exam (e.g. no MR image in it). */
  problem?: string;
}

export interface PredictReport {
  format: typeof PREDICTIONS_FORMAT;
  formatVersion: 1;
  createdAt: string;
  intendedUse: string;
  bundle: {
    path: string;
    recipe: string;
    createdAt: string;
    codeVersion: BundleManifest["codeVersion"];
    encoder: string;
    members: number;
    cutoffMethod: string;
    cv10Auc3_0?: number;
  };
  seriesChoice: PredictSeriesChoice;
  inputs: InputReport[];
  exams: ExamReport[];
  counts: { exams: number; predicted: number; unusable: number };
  timings: { indexSeconds: number; ingestSeconds: number; predictSeconds: number; totalSeconds: number };
}

const NIFTI = /\.nii(\.gz)?$/i;

function under(file: string, root: string): boolean {
  const f = resolve(file);
  const r = resolve(root);
  return f === r || f.startsWith(r.endsWith(sep) ? r : r + sep);
}

function describeNoMr(index: DicomIndex, root: string): string {
  const skipped = index.skipped.filter((s) => under(s.file, root));
  const errors = index.errors.filter((s) => under(s.file, root));
  const seen = skipped.length + errors.length;
  if (seen === 0) return "no files in it";
  const byCode = new Map<string, number>();
  for (const e of [...skipped, ...errors]) byCode.set(e.code, (byCode.get(e.code) ?? 0) + 1);
  const parts = [...byCode.entries()].map(([code, n]) => `${n} ${code}`).join(", ");
  return `no MR image in it (${seen} file${seen > 1 ? "s" : ""}: ${parts})`;
}

function seriesUsed(records: readonly SeriesRecord[]): Partial<Record<SeriesRole, SeriesUsed>> {
  const out: Partial<Record<SeriesRole, SeriesUsed>> = {};
  for (const s of records) {
    if (!s.chosen || !s.role) continue;
    const u: SeriesUsed = { seriesInstanceUid: s.seriesInstanceUid };
    if (s.seriesNumber !== undefined) u.seriesNumber = s.seriesNumber;
    if (s.description !== undefined) u.description = s.description;
    if (s.echoTimeMs !== undefined) u.echoTimeMs = s.echoTimeMs;
    if (s.dims) u.dims = s.dims;
    if (s.spacingMm) u.spacingMm = s.spacingMm;
    if (s.orientation) u.orientation = s.orientation;
    out[s.role] = u;
  }
  // In role order (t1_in, t1_opp, t2), whatever order the catalog listed the series in.
  return Object.fromEntries(SERIES_ROLES.filter((r) => out[r]).map((r) => [r, out[r]!]));
}

function baseReport(e: ExamRecord, inputs: string[], series: readonly SeriesRecord[]): ExamReport {
  const r: ExamReport = {
    examId: e.examId,
    studyInstanceUid: e.studyInstanceUid,
    inputs,
    scanner: {},
    status: "unusable",
    series: seriesUsed(series),
    warnings: [],
  };
  if (e.accessionNumber) r.accession = e.accessionNumber;
  if (e.studyDate) r.studyDate = e.studyDate;
  if (e.vendor) r.scanner.vendor = e.vendor;
  if (e.manufacturer) r.scanner.manufacturer = e.manufacturer;
  if (e.model) r.scanner.model = e.model;
  if (e.fieldStrengthT !== undefined) r.scanner.fieldStrengthT = e.fieldStrengthT;
  if (e.ageYears !== undefined) r.ageYears = e.ageYears;
  if (e.sex) r.sex = e.sex;
  return r;
}

function safeFileName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * The roles the recipe's model reads for an exam with these roles present, and the optional ones it would
 * read if present (for the missing-role warning). liverstiff heads read every role of `head.roles` that is
 * present; deepliver2 heads read their `inputs`, "t1" being t1_in when present, else t1_opp.
 */
export function modelRoles(
  manifest: BundleManifest,
  present: readonly SeriesRole[],
): { used: SeriesRole[]; optional: SeriesRole[] } {
  const prepared = (r: SeriesRole) => manifest.preparation.roles.includes(r);
  const head = manifest.recipe.head as { kind: string; roles?: SeriesRole[]; inputs?: string[] };
  if (head.kind === "deepliver2") {
    const used = new Set<SeriesRole>();
    for (const input of head.inputs ?? ["t2", "t1"]) {
      if (input === "t1") used.add(present.includes("t1_in") ? "t1_in" : "t1_opp");
      else used.add(input as SeriesRole);
    }
    const explicit = (head.inputs ?? []).filter((i): i is SeriesRole => i !== "t1");
    return {
      used: SERIES_ROLES.filter((r) => used.has(r) && present.includes(r)),
      optional: explicit.filter((r) => r !== "t2" && prepared(r)),
    };
  }
  const optional = SERIES_ROLES.filter((r) => prepared(r) && (head.roles ?? SERIES_ROLES).includes(r));
  return { used: optional.filter((r) => present.includes(r)), optional };
}

// Edge letters per source orientation and preparation: measured once, then reused for every exam.
const edgeLettersCache = new Map<string, EdgeLetters | null>();

function edgeLetters(sourceOrientation: string, manifest: BundleManifest): EdgeLetters | null {
  const key = `${sourceOrientation}|${manifest.prepName}`;
  if (!edgeLettersCache.has(key))
    edgeLettersCache.set(key, preparedEdgeLetters(sourceOrientation, manifest.preparation));
  return edgeLettersCache.get(key)!;
}

const figureBaseName = (exam: ExamRecord) => safeFileName(exam.accessionNumber ?? exam.examId);

/**
 * Draws the exam's figure and, given `pngDir`, writes it there and records it in the report; returns the
 * PNG (for the DICOM Secondary Capture). The figure never stops a prediction: a failure to draw or write
 * it becomes a `figure_not_written` warning for the exam.
 */
function drawFigure(
  pngDir: string | undefined,
  report: ExamReport,
  exam: ExamRecord,
  prepared: PreparedExam,
  used: readonly SeriesRole[],
  manifest: BundleManifest,
  cam?: ExamCam,
): Uint8Array | undefined {
  try {
    const orientation: Partial<Record<SeriesRole, EdgeLetters>> = {};
    for (const role of used) {
      const code = prepared.meta[`${role}.orientation`] ?? report.series[role]?.orientation;
      const letters = code ? edgeLetters(code, manifest) : null;
      if (letters) orientation[role] = letters;
    }
    const png = examFigure({
      examId: report.examId,
      ...(report.accession ? { accession: report.accession } : {}),
      ...(report.studyDate ? { studyDate: report.studyDate } : {}),
      model: `${manifest.recipe.name}, ${report.members?.length ?? 0} fold models`,
      slices: prepared.slices,
      size: prepared.height,
      roles: Object.fromEntries(used.map((r) => [r, prepared.roles[r]])),
      attention: report.attention ?? null,
      thresholds: report.thresholds ?? [],
      category: report.category ?? { label: "none" },
      kpaPred: report.kpaPred ?? null,
      orientation,
      overlay: cam ? { thresholdKpa: cam.thresholdKpa, maps: cam.maps } : null,
    });
    if (pngDir) {
      const path = join(pngDir, `${figureBaseName(exam)}.png`);
      writeFileAtomic(path, png);
      report.png = path;
    }
    return png;
  } catch (err) {
    report.warnings.push({
      code: "figure_not_written",
      message: `the figure could not be drawn or written: ${describeError(err)}`,
    });
    return undefined;
  }
}

/**
 * Writes a predicted exam's DICOM results into `dir` (dicom-results.ts), with what every exam shares: the
 * bundle's identity, the notice, the version writing them, and the SOP Class of each indexed series.
 */
function dicomResultsWriter(
  dir: string,
  bundle: Pick<LoadedBundle, "path" | "manifest">,
  index: DicomIndex,
  pdf: boolean,
) {
  const sopClass = new Map(index.series.map((s) => [s.seriesInstanceUid, s.sopClassUid]));
  const { version, commit } = codeVersion();
  // The commit shortened, "+dirty" kept.
  const softwareVersion = commit ? `${version} (${commit.replace(/^(\w{12})\w*/, "$1")})` : version;
  const identity = {
    name: basename(resolve(bundle.path)),
    recipe: bundle.manifest.recipe.name,
    digest: bundle.manifest.integrity.digest,
    createdAt: bundle.manifest.createdAt,
  };
  return (
    report: ExamReport,
    exam: ExamRecord,
    sources: readonly RoleSource[],
    used: readonly SeriesRole[],
    figurePng: Uint8Array | undefined,
  ) =>
    writeExamDicom(report, {
      dir,
      baseName: figureBaseName(exam),
      bundle: identity,
      notice: INTENDED_USE,
      softwareVersion,
      sources,
      used,
      sopClassOf: (uid) => sopClass.get(uid),
      ...(figurePng ? { figurePng } : {}),
      pdf,
    });
}

/**
 * Writes the exam's Grad-CAM maps into `camDir` and records them in the report. Like the figure, the maps
 * never stop a prediction: a failure becomes a `cam_not_written` warning for the exam.
 */
function writeCams(
  camDir: string,
  gradCam: GradCam,
  thresholdKpa: number,
  report: ExamReport,
  exam: ExamRecord,
  features: ExamFeatures,
  prepared: PreparedExam,
): ExamCam | undefined {
  let cam: ExamCam | undefined;
  mapsOrWarning(report, "Grad-CAM maps", () => {
    cam = gradCam.explain(features, prepared, thresholdKpa);
    report.cam = writeExamCams(camDir, safeFileName(exam.accessionNumber ?? exam.examId), cam, prepared);
  });
  return cam;
}

/** Maps never stop a prediction: a failure becomes a `cam_not_written` warning for the exam. */
function mapsOrWarning(report: ExamReport, what: string, write: () => void): void {
  try {
    write();
  } catch (err) {
    report.warnings.push({
      code: "cam_not_written",
      message: `the ${what} could not be computed or written: ${describeError(err)}`,
    });
  }
}

/** The exam's occlusion maps beside its Grad-CAM maps; a failure is a warning, as for the maps. */
function writeOcclusion(
  options: PredictOptions,
  thresholdKpa: number,
  report: ExamReport,
  exam: ExamRecord,
  features: ExamFeatures,
  prepared: PreparedExam,
): void {
  mapsOrWarning(report, "occlusion maps", () => {
    const models = options.bundle.members.map((m) => m.model);
    const o = occlusionMaps(models, options.bundle.encoder, features, prepared, { thresholdKpa });
    const folder = safeFileName(exam.accessionNumber ?? exam.examId);
    report.occlusion = writeExamOcclusion(options.camDir!, folder, o, prepared);
  });
}

/** Refuses (throws) maps the bundle cannot give: an unknown threshold, an encoder or head it cannot cut. */
export function checkExplainable(
  bundle: Pick<LoadedBundle, "encoder" | "members">,
  thresholdKpa = DEFAULT_CAM_THRESHOLD_KPA,
): void {
  thresholdIndex(thresholdKpa);
  camEncoderOf(bundle.encoder);
  for (const m of bundle.members) {
    const reason = unexplainableReason(m.model);
    if (reason) throw new LiverstiffError(`Grad-CAM maps: ${reason}`, { recipe: m.model.recipe.name });
  }
}

function checkCamRequest(options: PredictOptions): void {
  if (options.camDir) checkExplainable(options.bundle, options.camThresholdKpa);
}

function bundleGradCam(options: PredictOptions): GradCam | undefined {
  if (!options.camDir) return undefined;
  return new GradCam(
    options.bundle.encoder,
    options.bundle.members.map((m) => m.model),
  );
}

/**
 * The series choice for new exams: the bundle's rules and overrides, with a site's rules file in place of
 * the rules and a site's overrides file laid over the overrides.
 */
export function predictionSeriesChoice(
  bundle: Pick<LoadedBundle, "path" | "manifest">,
  site: { rulesPath?: string; overridesPath?: string },
): { choice: SeriesChoice; summary: PredictSeriesChoice } {
  const trained = seriesChoiceFromRecord(bundle.manifest.seriesChoice, bundle.path);
  const choice: SeriesChoice = { ...trained, rulesSource: "bundle", overridesSources: [] };
  const overrides = trained.overrides.length > 0 ? ["bundle"] : [];
  if (site.rulesPath) {
    choice.rules = loadRoleRules(site.rulesPath);
    choice.rulesSource = sourceName(site.rulesPath);
  }
  if (site.overridesPath) {
    choice.overrides = layerOverrides(trained.overrides, loadSeriesOverrides(site.overridesPath));
    overrides.push(sourceName(site.overridesPath));
  }
  choice.overridesSources = overrides;
  const applied = seriesChoiceRecord(choice);
  return {
    choice,
    summary: {
      rules: choice.rulesSource,
      overrides,
      digest: applied.digest,
      trainingDigest: bundle.manifest.seriesChoice.digest,
      rulesAsTrained: JSON.stringify(applied.rules) === JSON.stringify(seriesChoiceRecord(trained).rules),
    },
  };
}

/**
 * Predicts every exam found under the inputs. Throws (a LiverstiffError) only when nothing can be done at
 * all: an input that does not exist, or no MR exam anywhere in the inputs.
 */
export async function predictExams(options: PredictOptions): Promise<PredictReport> {
  const t0 = performance.now();
  const progress = options.onProgress ?? silentProgress;
  const { manifest, encoder, members } = options.bundle;
  if (options.inputs.length === 0) throw new LiverstiffError("no input: give exam folders or DICOM files");
  for (const input of options.inputs)
    if (!existsSync(input)) throw new LiverstiffError("input folder or file does not exist", { path: input });
  // A bad rules or overrides file, or maps the bundle cannot give, are refused before any exam is read.
  const { choice, summary: seriesChoice } = predictionSeriesChoice(options.bundle, options);
  checkCamRequest(options);

  const index = await indexDicom(options.inputs, { onProgress: progress });
  const tIndex = performance.now();
  const inputs: InputReport[] = options.inputs.map((path) => ({
    path,
    filesSeen: [
      ...index.series.flatMap((s) => s.frames.map((f) => f.file)),
      ...index.skipped.map((s) => s.file),
      ...index.errors.map((s) => s.file),
    ]
      .filter((f, i, all) => all.indexOf(f) === i)
      .filter((f) => under(f, path)).length,
    exams: [],
  }));
  const hasNifti = index.skipped.some((s) => NIFTI.test(s.file));
  if (index.series.length === 0 && !hasNifti)
    throw new LiverstiffError(
      `no MR exam found: ${options.inputs.map((p) => `${p}: ${describeNoMr(index, p)}`).join("; ")}`,
      { inputs: options.inputs.length },
    );

  const workdir = options.workdir ?? mkdtempSync(join(tmpdir(), "liverstiff-predict-"));
  let gradCam: GradCam | undefined;
  try {
    await ingest({
      roots: options.inputs,
      workdir,
      prep: manifest.preparation,
      requiredRoles: manifest.requiredRoles,
      dicom: { ...DEFAULT_DICOM_API, indexDicom: async () => index },
      seriesChoice: choice,
      onProgress: progress,
      ...(options.masks ? { masks: options.masks } : {}),
    });
    const tIngest = performance.now();
    // Members that fine-tuned their encoder run it on the prepared slices of this work folder.
    for (const m of members) m.model.useSlices?.((id) => loadPrepared(workdir, id, manifest.prepName));
    // Which input each study came from.
    const studyInputs = new Map<string, Set<string>>();
    for (const s of index.series)
      for (const input of options.inputs)
        if (s.frames.some((f) => under(f.file, input))) {
          const set = studyInputs.get(s.studyInstanceUid) ?? new Set<string>();
          set.add(input);
          studyInputs.set(s.studyInstanceUid, set);
        }

    const catalog = openCatalog(workdir);
    let exams: ExamRecord[];
    const series = new Map<string, SeriesRecord[]>();
    // The frames each role was built from: what the DICOM results reference.
    const roleSources = new Map<string, RoleSource[]>();
    try {
      exams = catalog.exams();
      for (const e of exams) series.set(e.examId, catalog.series(e.examId));
      if (options.dicomDir) for (const e of exams) roleSources.set(e.examId, catalog.roleSources(e.examId));
    } finally {
      catalog.close();
    }
    gradCam = bundleGradCam(options);
    const reports: ExamReport[] = [];
    const ready: { report: ExamReport; exam: ExamRecord; features: ExamFeatures }[] = [];
    for (const [i, e] of exams.entries()) {
      progress({ stage: "predict", done: i, total: exams.length, message: e.accessionNumber ?? e.examId });
      const given = [...(studyInputs.get(e.studyInstanceUid) ?? [])];
      for (const input of inputs) if (given.includes(input.path)) input.exams.push(e.examId);
      const report = baseReport(e, given, series.get(e.examId) ?? []);
      reports.push(report);
      if (!e.usable) {
        report.reason = e.exclusionReason ?? "the exam's images cannot be used";
        continue;
      }
      try {
        const [features] = await computeFeatures({
          workdir,
          prep: manifest.prepName,
          encoder,
          examIds: [e.examId],
          requireLabel: false,
        });
        ready.push({ report, exam: e, features: features! });
      } catch (err) {
        report.reason = `the exam's images could not be encoded: ${describeError(err)}`;
      }
    }
    const predictions = predictEnsemble(
      members.map((m) => ({ fold: m.info.fold, model: m.model })),
      ready.map((r) => r.features),
      manifest.cutoffs.values,
      manifest.kpaError,
    );
    const dicomResults = options.dicomDir
      ? dicomResultsWriter(options.dicomDir, options.bundle, index, options.dicomPdf ?? false)
      : undefined;
    for (const [k, { report, exam, features }] of ready.entries()) {
      const p = predictions[k]!;
      report.status = "predicted";
      report.thresholds = p.thresholds;
      report.category = p.category;
      report.kpaPred = p.kpaPred;
      report.attention = p.attention;
      report.members = p.members;
      report.warnings.push(
        ...p.notes.map((message) => ({ code: "member_note" as const, message })),
        ...decisionWarnings(p),
        ...distributionWarnings(
          exam,
          series.get(exam.examId) ?? [],
          features,
          manifest.trainingSet,
          modelRoles(manifest, exam.roles).optional,
        ),
      );
      const used = modelRoles(manifest, exam.roles).used;
      let figure: Uint8Array | undefined;
      try {
        const prepared = loadPrepared(workdir, exam.examId, manifest.prepName);
        for (const role of used) {
          const v = prepared.roles[role];
          if (v) report.warnings.push(...volumeWarnings(role, v, prepared.slices));
        }
        let cam: ExamCam | undefined;
        if (gradCam && options.camDir) {
          const t = options.camThresholdKpa ?? DEFAULT_CAM_THRESHOLD_KPA;
          cam = writeCams(options.camDir, gradCam, t, report, exam, features, prepared);
          if (options.occlusion) writeOcclusion(options, t, report, exam, features, prepared);
        }
        // With maps, the figure (and so the DICOM Secondary Capture) draws them over the slices.
        if (options.pngDir || options.dicomDir)
          figure = drawFigure(options.pngDir, report, exam, prepared, used, manifest, cam);
      } catch (err) {
        report.warnings.push({
          code: "suspicious_volume",
          message: `the prepared slices could not be read back for checks and the figure: ${describeError(err)}`,
        });
      }
      dicomResults?.(report, exam, roleSources.get(exam.examId) ?? [], used, figure);
    }
    for (const input of inputs)
      if (input.exams.length === 0)
        input.problem = index.series.some((s) => s.frames.some((f) => under(f.file, input.path)))
          ? "its series belong to no usable exam"
          : describeNoMr(index, input.path);
    progress({ stage: "predict", done: exams.length, total: exams.length });
    const t1 = performance.now();
    const auc3 = manifest.validation?.auc?.find((a) => a.thresholdKpa === 3.0)?.auc;
    return {
      format: PREDICTIONS_FORMAT,
      formatVersion: 1,
      createdAt: new Date().toISOString(),
      intendedUse: INTENDED_USE,
      bundle: {
        path: options.bundle.path,
        recipe: manifest.recipe.name,
        createdAt: manifest.createdAt,
        codeVersion: manifest.codeVersion,
        encoder: `${manifest.encoder.name} (sha256 ${manifest.encoder.weightsSha256.slice(0, 12)})`,
        members: members.length,
        cutoffMethod: manifest.cutoffs.method,
        ...(auc3 !== undefined ? { cv10Auc3_0: auc3 } : {}),
      },
      seriesChoice,
      inputs,
      exams: reports,
      counts: {
        exams: reports.length,
        predicted: reports.filter((r) => r.status === "predicted").length,
        unusable: reports.filter((r) => r.status === "unusable").length,
      },
      timings: {
        indexSeconds: (tIndex - t0) / 1000,
        ingestSeconds: (tIngest - tIndex) / 1000,
        predictSeconds: (t1 - tIngest) / 1000,
        totalSeconds: (t1 - t0) / 1000,
      },
    };
  } finally {
    gradCam?.dispose();
    if (!options.workdir) rmSync(workdir, { recursive: true, force: true });
  }
}
