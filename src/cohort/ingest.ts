import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  describeError,
  LiverstiffError,
  type ProgressSink,
  silentProgress,
  writeJsonAtomic,
} from "../core/index.ts";
import type { DicomIndex, MrFrame, RoleDecision, SeriesInfo, SeriesRole } from "../dicom/index.ts";
import { SERIES_ROLES } from "../dicom/index.ts";
import {
  assembleVolume,
  cross,
  framesForDecision,
  orientationCode,
  planeOfNormal,
  planStack,
  type StackPlan,
} from "../volume/index.ts";
import { Catalog, type ExamRecord, type ExclusionRecord, type SeriesRecord } from "./catalog.ts";
import { examIdFor, ID_SALT_ENV, patientKey } from "./ids.ts";
import { type ExamKeys, type LabelIssue, type LabelMatch, matchLabels, readLabelsCsv } from "./labels.ts";
import {
  cachedFingerprint,
  type PrepConfig,
  preparedPath,
  prepareVolume,
  prepFingerprint,
  prepName,
  resolvePrep,
  sourceFingerprint,
  writePrepared,
} from "./prepare.ts";

/** The parts of dicom/ the pipeline uses (injectable for tests). */
export interface DicomApi {
  indexDicom(roots: string[], opts: { onProgress?: ProgressSink }): Promise<DicomIndex>;
  readFramePixels(frame: MrFrame): Promise<Float32Array> | Float32Array;
  classifySeries(series: SeriesInfo, rules?: unknown): RoleDecision[];
  loadRules?(path: string): unknown;
}

export interface IngestOptions {
  roots: string[];
  workdir: string;
  /** MRE labels CSV; without it exams are catalogued unlabelled (e.g. for inference). */
  labelsCsv?: string;
  /** Role rules file (YAML/JSON) for dicom/'s classifier. */
  rulesPath?: string;
  prep?: Partial<PrepConfig>;
  /** Days between a label's date and the study date for patient-id + date matching (default 7). */
  labelWindowDays?: number;
  /** Salt for hashing patient ids (default: env LIVERSTIFF_ID_SALT; none = ids kept as they are). */
  idSalt?: string;
  /** Roles an exam needs to be usable: all of `all` and one of `anyOf` (default t2 + one T1w). */
  requiredRoles?: { all: SeriesRole[]; anyOf: SeriesRole[] };
  onProgress?: ProgressSink;
  dicom?: DicomApi;
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
  prepared: { computed: number; reused: number; failed: number };
  bytesAssembled: number;
  durationMs: number;
  timingsMs: { index: number; assemblePrepare: number };
}

const DEFAULT_REQUIRED = { all: ["t2"] as SeriesRole[], anyOf: ["t1_in", "t1_opp"] as SeriesRole[] };

/** Resolves dicom/'s public face at run time (so that the API can be injected in tests). */
export async function defaultDicomApi(): Promise<DicomApi> {
  const mod = (await import("../dicom/index.ts")) as unknown as Record<string, unknown>;
  const need = ["indexDicom", "readFramePixels", "classifySeries"];
  for (const n of need) {
    if (typeof mod[n] !== "function") {
      throw new LiverstiffError(`dicom/ does not provide ${n}() yet`, { module: "src/dicom/index.ts" });
    }
  }
  return {
    indexDicom: mod.indexDicom as DicomApi["indexDicom"],
    readFramePixels: mod.readFramePixels as DicomApi["readFramePixels"],
    classifySeries: mod.classifySeries as DicomApi["classifySeries"],
    loadRules:
      typeof mod.loadRoleRules === "function" ? (mod.loadRoleRules as (p: string) => unknown) : undefined,
  };
}

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
  const name = prepName(prep);
  const salt = options.idSalt ?? process.env[ID_SALT_ENV] ?? undefined;
  const required = options.requiredRoles ?? DEFAULT_REQUIRED;
  for (const r of options.roots) {
    if (!existsSync(r)) throw new LiverstiffError("input folder or file does not exist", { path: r });
  }
  const labels = options.labelsCsv ? readLabelsCsv(options.labelsCsv) : undefined;
  const dicom = options.dicom ?? (await defaultDicomApi());
  const rules = options.rulesPath ? loadRules(dicom, options.rulesPath) : undefined;

  const index = await dicom.indexDicom(options.roots, { onProgress: progress });
  const tIndex = Date.now();

  const catalog = Catalog.open(options.workdir);
  const runId = catalog.startRun();
  try {
    const exclusions: ExclusionRecord[] = [];
    for (const e of index.errors) {
      exclusions.push({ scope: "file", ref: e.file, code: e.code, reason: e.reason });
    }
    // Exams = studies.
    const studies = new Map<string, SeriesInfo[]>();
    for (const s of index.series) {
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
    const match = labels
      ? matchLabels(labels.rows, keys, { windowDays: options.labelWindowDays })
      : {
          byExam: new Map<string, LabelMatch>(),
          issues: [] as LabelIssue[],
          conflicts: new Map<string, string>(),
        };
    const labelIssues = [...(labels?.issues ?? []), ...match.issues].sort((a, b) => a.line - b.line);
    for (const li of labelIssues) {
      exclusions.push({ scope: "label", ref: `labels:${li.line}`, code: li.kind, reason: li.message });
    }

    const summary: IngestSummary = {
      workdir: options.workdir,
      prepName: name,
      examsFound: studies.size,
      usable: 0,
      usableImages: 0,
      excludedByReason: {},
      filesSeen: index.filesSeen,
      filesIndexed: index.filesIndexed,
      filesSkipped: index.skipped.length,
      fileErrors: countBy(index.errors.map((e) => e.code)),
      labelRows: labels ? labels.rows.length + (labels.issues.length ?? 0) : 0,
      labelIssues: countBy(labelIssues.map((i) => i.kind)),
      prepared: { computed: 0, reused: 0, failed: 0 },
      bytesAssembled: 0,
      durationMs: 0,
      timingsMs: { index: tIndex - t0, assemblePrepare: 0 },
    };

    let done = 0;
    const total = keys.length;
    progress({ stage: "cohort-prepare", done, total });
    for (const k of keys) {
      const seriesList = studies.get(k.studyInstanceUid)!;
      const result = await processExam({
        keys: k,
        seriesList,
        dicom,
        rules,
        prep,
        prepName: name,
        catalog,
        workdir: options.workdir,
        required,
        salt,
        label: match.byExam.get(k.examId),
        labelConflict: match.conflicts.get(k.examId),
      });
      exclusions.push(...result.exclusions);
      if (result.exam.usable) summary.usableImages++;
      if (result.exam.exclusionReason) {
        const code = result.reasonCode ?? "other";
        summary.excludedByReason[code] = (summary.excludedByReason[code] ?? 0) + 1;
      } else summary.usable++;
      if (result.prepared === "computed") summary.prepared.computed++;
      else if (result.prepared === "reused") summary.prepared.reused++;
      else if (result.prepared === "failed") summary.prepared.failed++;
      summary.bytesAssembled += result.bytes;
      progress({ stage: "cohort-prepare", done: ++done, total });
    }
    summary.timingsMs.assemblePrepare = Date.now() - tIndex;
    summary.durationMs = Date.now() - t0;
    catalog.transaction(() => {
      catalog.replaceExclusions(exclusions);
      catalog.finishRun(runId, summary);
    });
    writeJsonAtomic(join(options.workdir, "summary.json"), summary);
    return summary;
  } finally {
    catalog.close();
  }
}

function loadRules(dicom: DicomApi, path: string): unknown {
  if (!dicom.loadRules) throw new LiverstiffError("this build cannot load role rules files", { file: path });
  return dicom.loadRules(path);
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
  rules: unknown;
  prep: PrepConfig;
  prepName: string;
  catalog: Catalog;
  workdir: string;
  required: { all: SeriesRole[]; anyOf: SeriesRole[] };
  salt?: string;
  label?: LabelMatch;
  labelConflict?: string;
}

interface ExamOutcome {
  exam: ExamRecord;
  exclusions: ExclusionRecord[];
  reasonCode?: string;
  prepared: "computed" | "reused" | "failed" | "none";
  bytes: number;
}

async function processExam(ctx: ExamContext): Promise<ExamOutcome> {
  const { keys, seriesList } = ctx;
  const examId = keys.examId;
  const first = seriesList[0];
  const exclusions: ExclusionRecord[] = [];
  const seriesRecords: SeriesRecord[] = [];
  const candidates = new Map<SeriesRole, Candidate[]>();
  for (const s of seriesList) {
    let decisions: RoleDecision[];
    try {
      decisions = ctx.dicom.classifySeries(s, ctx.rules);
    } catch (err) {
      decisions = [{ role: null, reasons: [`classification failed: ${describeError(err)}`] }];
    }
    if (decisions.length === 0) decisions = [{ role: null, reasons: ["no decision"] }];
    for (const d of decisions) {
      const frames = d.role ? framesForDecision(s.frames, d) : s.frames;
      const rec: SeriesRecord = {
        examId,
        seriesInstanceUid: s.seriesInstanceUid,
        seriesNumber: s.seriesNumber,
        description: s.seriesDescription ?? s.protocolName,
        echoTimeMs: d.echoTimeMs,
        imageTypeValue: d.imageTypeValue,
        role: d.role,
        reasons: d.reasons,
        chosen: false,
        frames: frames.length,
      };
      seriesRecords.push(rec);
      if (!d.role) continue;
      const iop = frames[0]?.imageOrientationPatient;
      const axial = iop
        ? planeOfNormal(cross([iop[0], iop[1], iop[2]], [iop[3], iop[4], iop[5]])) === "axial"
        : false;
      const cand: Candidate = { series: s, decision: d, frames, axial };
      try {
        cand.plan = planStack(frames);
        rec.dims = cand.plan.dims;
        rec.spacingMm = [
          s.frames[0].pixelSpacingMm[1],
          s.frames[0].pixelSpacingMm[0],
          Number(cand.plan.sliceStepMm.toFixed(4)),
        ];
        rec.orientation = orientationCode(cand.plan.affine);
      } catch (err) {
        cand.error = describeError(err);
        rec.note = `cannot be assembled: ${cand.error}`;
        exclusions.push({
          scope: "series",
          ref: s.seriesInstanceUid,
          examId,
          code: err instanceof LiverstiffError ? String(err.context.geometry ?? "geometry") : "geometry",
          reason: `series ${s.seriesNumber ?? "?"} (${rec.description ?? "no description"}) as ${ROLE_LABEL[d.role]}: ${cand.error}`,
        });
      }
      (candidates.get(d.role) ?? candidates.set(d.role, []).get(d.role)!).push(cand);
      (cand as Candidate & { record: SeriesRecord }).record = rec;
    }
  }
  // Pick one candidate per role: assemblable first, then axial, then most slices, then original images,
  // then the lowest series number.
  const chosen = new Map<SeriesRole, Candidate>();
  const failedRoles = new Map<SeriesRole, string>();
  for (const role of SERIES_ROLES) {
    const list = candidates.get(role) ?? [];
    list.sort(
      (a, b) =>
        Number(!!a.error) - Number(!!b.error) ||
        Number(b.axial) - Number(a.axial) ||
        (b.plan?.dims[2] ?? 0) - (a.plan?.dims[2] ?? 0) ||
        Number(b.series.imageType.includes("ORIGINAL")) - Number(a.series.imageType.includes("ORIGINAL")) ||
        (a.series.seriesNumber ?? 1e9) - (b.series.seriesNumber ?? 1e9),
    );
    const best = list[0];
    if (!best) continue;
    if (best.error) {
      failedRoles.set(role, best.error);
      continue;
    }
    if (best.plan && best.plan.dims[2] < ctx.prep.slices && ctx.prep.roles.includes(role)) {
      failedRoles.set(role, `only ${best.plan.dims[2]} slices, the preparation needs ${ctx.prep.slices}`);
      (best as Candidate & { record: SeriesRecord }).record.note = failedRoles.get(role);
      continue;
    }
    chosen.set(role, best);
    const rec = (best as Candidate & { record: SeriesRecord }).record;
    rec.chosen = true;
    rec.note =
      list.length > 1 ? `chosen over ${list.length - 1} other ${ROLE_LABEL[role]} candidate(s)` : "chosen";
    for (const other of list.slice(1)) {
      const r = (other as Candidate & { record: SeriesRecord }).record;
      if (!r.note) r.note = `not chosen: series ${best.series.seriesNumber ?? "?"} preferred`;
    }
  }
  // Usability.
  let reasonCode: string | undefined;
  let reason: string | undefined;
  const missingAll = ctx.required.all.filter((r) => !chosen.has(r));
  const hasAny = ctx.required.anyOf.length === 0 || ctx.required.anyOf.some((r) => chosen.has(r));
  if (missingAll.length > 0 || !hasAny) {
    const missing = missingAll.length > 0 ? missingAll[0] : ctx.required.anyOf[0];
    const failed = [...missingAll, ...(hasAny ? [] : ctx.required.anyOf)].find((r) => failedRoles.has(r));
    if (failed) {
      reasonCode = `${failed}_unusable`;
      reason = `${ROLE_LABEL[failed]} series cannot be used: ${failedRoles.get(failed)}`;
    } else if (missingAll.length > 0) {
      reasonCode = `no_${missing}`;
      reason = `no ${ROLE_LABEL[missing]} series`;
    } else {
      reasonCode = "no_t1";
      reason = "no T1w (in- or opposed-phase) series";
    }
  }
  // Preparation (only for exams whose images are usable).
  let prepared: ExamOutcome["prepared"] = "none";
  let bytes = 0;
  let srcFp: string | undefined;
  const prepRoles = ctx.prep.roles.filter((r) => chosen.has(r));
  if (!reason) {
    srcFp = sourceFingerprint(
      Object.fromEntries(
        prepRoles.map((r) => {
          const c = chosen.get(r)!;
          return [
            r,
            {
              sopFrames: c.frames.map((f) => `${f.sopInstanceUid}#${f.frameIndex}`),
              echoTimeMs: c.decision.echoTimeMs,
              imageTypeValue: c.decision.imageTypeValue,
            },
          ];
        }),
      ),
    );
    const fp = prepFingerprint(srcFp, ctx.prep);
    const path = preparedPath(ctx.workdir, ctx.prepName, examId);
    if (cachedFingerprint(path) === fp) {
      prepared = "reused";
    } else {
      try {
        const roles: Partial<Record<SeriesRole, Float32Array>> = {};
        const meta: Record<string, string> = {};
        for (const r of prepRoles) {
          const c = chosen.get(r)!;
          const assembled = await assembleVolume(c.frames, {
            readPixels: (f) => ctx.dicom.readFramePixels(f),
          });
          bytes += assembled.volume.data.length * 2;
          roles[r] = prepareVolume(assembled.volume, ctx.prep);
          meta[`${r}.series`] = c.series.seriesInstanceUid;
          meta[`${r}.dims`] = assembled.volume.dims.join("x");
          meta[`${r}.spacing_mm`] = assembled.volume.spacing.map((x) => x.toFixed(4)).join("x");
          meta[`${r}.orientation`] = orientationCode(assembled.volume.affine);
        }
        writePrepared(
          path,
          {
            examId,
            prepName: ctx.prepName,
            fingerprint: fp,
            slices: ctx.prep.slices,
            height: ctx.prep.size,
            width: ctx.prep.size,
            roles,
            meta,
          },
          ctx.prep.dtype,
        );
        ctx.catalog.setPrepared({ examId, prepName: ctx.prepName, fingerprint: fp, path });
        prepared = "computed";
      } catch (err) {
        prepared = "failed";
        reasonCode = "pixel_error";
        reason = `images cannot be read or prepared: ${describeError(err)}`;
      }
    }
  }
  const usable = !reason;
  if (!reason) {
    if (ctx.labelConflict) {
      reasonCode = "label_conflict";
      reason = ctx.labelConflict;
    } else if (!ctx.label) {
      reasonCode = "no_label";
      reason = "no MRE label matched";
    }
  }
  const labelSite = ctx.label?.site;
  const exam: ExamRecord = {
    examId,
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
    exclusionReason: reason,
    roles: SERIES_ROLES.filter((r) => chosen.has(r)),
    sourceFingerprint: srcFp,
  };
  if (reason) exclusions.push({ scope: "exam", ref: examId, examId, code: reasonCode ?? "other", reason });
  ctx.catalog.transaction(() => {
    ctx.catalog.upsertExam(exam);
    ctx.catalog.replaceSeries(examId, seriesRecords);
  });
  return { exam, exclusions, reasonCode, prepared, bytes };
}
