// Organ measures per exam, cached in WORKDIR/organs/<exam>.json with the fingerprint of what they were
// computed from (the role series and the mask source), so that every fold, recipe and predict reads
// the same numbers and a re-run measures only what changed.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  describeError,
  LiverstiffError,
  ProcessPool,
  type ProgressSink,
  siblingModule,
  silentProgress,
  writeJsonAtomic,
} from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import {
  LABEL_CONVENTIONS,
  type LabelConvention,
  ORGAN_LABELS,
  type OrganMask,
  readOrganMaskNifti,
  type Segmenter,
} from "../segment/index.ts";
import { assembleVolume, type Volume } from "../volume/index.ts";
import type { Catalog, ExamRecord } from "./catalog.ts";
import { measureOrgans, ORGAN_MEASURES, type OrganMeasures } from "./organs.ts";
import { defaultPixelReader, type RoleSource, sourcesFingerprint } from "./prepare-exam.ts";

/** Bumped when measureOrgans changes what it computes. */
export const ORGAN_CODE_VERSION = 1;

/** The segmentation network and the role whose series it segments (its mask serves every role). */
export interface NetworkMaskSource {
  kind: "network";
  segmenter: Pick<Segmenter, "manifest" | "segment">;
  /** Default t2: the role the shipped network was trained on. */
  role?: SeriesRole;
  /** The weights file, so that worker processes can load the same network (needed for `jobs` > 1). */
  weightsPath?: string;
}

/** Where an exam's liver and spleen masks come from. */
export type MaskSource = { kind: "files"; dir: string; convention: LabelConvention } | NetworkMaskSource;

export interface CachedOrganMeasures {
  examId: string;
  fingerprint: string;
  /** "files:<convention>" or "network:<name>". */
  source: string;
  /** The mask file read, or the series the network segmented. */
  maskFrom: string;
  measures: OrganMeasures;
}

export function organsPath(workdir: string, examId: string): string {
  return join(workdir, "organs", `${examId}.json`);
}

function sourceTag(source: MaskSource): string {
  return source.kind === "files"
    ? `files:${source.convention}`
    : `network:${source.segmenter.manifest.name}:${source.segmenter.manifest.sha256}`;
}

/** The cached measures of an exam, or undefined when none were made. */
export function readOrganMeasures(workdir: string, examId: string): CachedOrganMeasures | undefined {
  const path = organsPath(workdir, examId);
  if (!existsSync(path)) return undefined;
  try {
    const o = JSON.parse(readFileSync(path, "utf8")) as CachedOrganMeasures;
    if (!o.measures || typeof o.fingerprint !== "string") return undefined;
    // JSON has no NaN: a measure that could not be computed is stored as null.
    for (const m of ORGAN_MEASURES) if (typeof o.measures[m] !== "number") o.measures[m] = Number.NaN;
    return o;
  } catch {
    return undefined;
  }
}

/** The mask file of an exam under a user's folder: <accession>, <StudyInstanceUID> or a role series' UID. */
export function findMaskFile(
  dir: string,
  exam: ExamRecord,
  sources: readonly RoleSource[],
): string | undefined {
  const stems = [exam.accessionNumber, exam.studyInstanceUid, ...sources.map((s) => s.seriesInstanceUid)];
  for (const stem of stems) {
    if (!stem) continue;
    for (const ext of [".nii.gz", ".nii"]) {
      const p = join(dir, `${stem}${ext}`);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

/** A user's label map as an OrganMask; one without any liver voxel is refused, naming the file. */
function readMaskFile(path: string, convention: LabelConvention): OrganMask {
  const mask = readOrganMaskNifti(path, convention);
  if (!mask.labels.includes(ORGAN_LABELS.liver))
    throw new LiverstiffError(
      `label map has no liver voxel (codes ${LABEL_CONVENTIONS[convention].liver.join(", ")} in the ${convention} convention)`,
      { file: path },
    );
  return mask;
}

export interface OrganMeasureSummary {
  measured: number;
  reused: number;
  /** Exams without measures, by reason (no mask file, segmentation failed, ...). */
  missing: Record<string, number>;
  /** Why measuring failed, per exam. */
  errors: { examId: string; reason: string }[];
  source: string;
}

function fingerprintOf(sources: readonly RoleSource[], tag: string, maskFile?: string): string {
  const roles = sources.map((s) => s.role);
  const h = createHash("sha256");
  h.update(`organs/${ORGAN_CODE_VERSION}\n${tag}\n${sourcesFingerprint(sources, roles)}\n`);
  if (maskFile) h.update(readFileSync(maskFile));
  return h.digest("hex");
}

export async function measureExam(
  exam: ExamRecord,
  sources: readonly RoleSource[],
  source: MaskSource,
  fingerprint: string,
  maskFile: string | undefined,
): Promise<CachedOrganMeasures> {
  const volumes: Partial<Record<SeriesRole, Volume>> = {};
  for (const s of sources) {
    if (s.role === "t1_in" || s.role === "t1_opp" || s.role === "t2")
      volumes[s.role] = (await assembleVolume(s.frames, { readPixels: defaultPixelReader })).volume;
  }
  let mask: OrganMask;
  let maskFrom: string;
  if (source.kind === "files") {
    mask = readMaskFile(maskFile!, source.convention);
    maskFrom = maskFile!;
  } else {
    const role = source.role ?? "t2";
    const chosen = volumes[role] ? role : (Object.keys(volumes)[0] as SeriesRole);
    mask = source.segmenter.segment(volumes[chosen]!);
    maskFrom = sources.find((s) => s.role === chosen)!.seriesInstanceUid;
  }
  return {
    examId: exam.examId,
    fingerprint,
    source: sourceTag(source),
    maskFrom,
    measures: measureOrgans(volumes, mask),
  };
}

/** One exam whose measures are missing or stale. */
export interface OrganJob {
  exam: ExamRecord;
  sources: RoleSource[];
  fingerprint: string;
  maskFile?: string;
}

/** What a worker process needs to measure exams as the parent would: the mask source, loadable there. */
export type OrganWorkerSource =
  | { kind: "files"; dir: string; convention: LabelConvention }
  | { kind: "network"; weightsPath: string; role?: SeriesRole };

export interface OrganWorkerInit {
  workdir: string;
  source: OrganWorkerSource;
}

/** Measures one exam and writes its cache file (atomically): the unit of work in-process or in a worker. */
export async function runOrganJob(workdir: string, source: MaskSource, job: OrganJob): Promise<void> {
  const m = await measureExam(job.exam, job.sources, source, job.fingerprint, job.maskFile);
  writeJsonAtomic(organsPath(workdir, job.exam.examId), m);
}

function workerSource(source: MaskSource): OrganWorkerSource | undefined {
  if (source.kind === "files") return source;
  return source.weightsPath
    ? { kind: "network", weightsPath: source.weightsPath, role: source.role }
    : undefined;
}

/** Runs the jobs on `jobs` worker processes, at most one per process at a time, in the jobs' order. */
async function runInWorkers(
  init: OrganWorkerInit,
  todo: readonly OrganJob[],
  jobs: number,
  onDone: (job: OrganJob, error?: string) => void,
): Promise<void> {
  const pool = new ProcessPool<OrganWorkerInit, OrganJob, null>(
    siblingModule(import.meta.url, "organ-worker"),
    jobs,
    init,
  );
  try {
    let next = 0;
    const lane = async () => {
      while (next < todo.length) {
        const job = todo[next++]!;
        try {
          await pool.run(job);
          onDone(job);
        } catch (err) {
          onDone(job, describeError(err));
        }
      }
    };
    await Promise.all(Array.from({ length: jobs }, lane));
  } finally {
    await pool.close();
  }
}

/**
 * Measures liver and spleen (ORGAN_MEASURES) for every usable exam of the catalog whose cached measures
 * are missing or stale, on `jobs` worker processes when there are enough exams (a network source needs
 * its `weightsPath` for that), else in this process; the files written do not depend on `jobs`. An exam
 * without a mask (no file under the user's folder, a failed segmentation) keeps no measures and is
 * counted by reason; the run goes on.
 */
export async function ensureOrganMeasures(
  catalog: Catalog,
  source: MaskSource,
  onProgress: ProgressSink = silentProgress,
  options: { jobs?: number } = {},
): Promise<OrganMeasureSummary> {
  const tag = sourceTag(source);
  const summary: OrganMeasureSummary = { measured: 0, reused: 0, missing: {}, errors: [], source: tag };
  // A stale file of another source must not be read as this exam's measures.
  const miss = (examId: string, reason: string) => {
    summary.missing[reason] = (summary.missing[reason] ?? 0) + 1;
    rmSync(organsPath(catalog.workdir, examId), { force: true });
  };
  // Unlabelled exams too: predict measures exams that have no MRE.
  const exams = catalog.usableExams({ requireLabel: false });
  onProgress({ stage: "organs", done: 0, total: exams.length, message: tag });
  const todo: OrganJob[] = [];
  for (const exam of exams) {
    const sources = catalog.roleSources(exam.examId);
    const maskFile = source.kind === "files" ? findMaskFile(source.dir, exam, sources) : undefined;
    if (source.kind === "files" && !maskFile) {
      miss(exam.examId, "no-mask-file");
      continue;
    }
    const fingerprint = fingerprintOf(sources, tag, maskFile);
    if (readOrganMeasures(catalog.workdir, exam.examId)?.fingerprint === fingerprint) summary.reused++;
    else todo.push({ exam, sources, fingerprint, ...(maskFile ? { maskFile } : {}) });
  }
  let done = exams.length - todo.length;
  const failures = new Map<string, string>();
  const onDone = (job: OrganJob, error?: string) => {
    if (error === undefined) summary.measured++;
    else failures.set(job.exam.examId, error);
    onProgress({ stage: "organs", done: ++done, total: exams.length });
  };
  onProgress({ stage: "organs", done, total: exams.length, message: tag });
  const jobs = Math.min(Math.max(1, Math.floor(options.jobs ?? 1)), todo.length);
  const init = workerSource(source);
  // Worker processes pay a start-up (tsx, libtorch, the network) that a handful of exams does not repay.
  if (jobs > 1 && init && todo.length >= 2 * jobs)
    await runInWorkers({ workdir: catalog.workdir, source: init }, todo, jobs, onDone);
  else
    for (const [i, job] of todo.entries()) {
      try {
        await runOrganJob(catalog.workdir, source, job);
        onDone(job);
      } catch (err) {
        onDone(job, describeError(err));
      }
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
  // Errors in exam order, so that the summary does not depend on timing.
  for (const job of todo) {
    const reason = failures.get(job.exam.examId);
    if (reason === undefined) continue;
    miss(job.exam.examId, "organ-error");
    summary.errors.push({ examId: job.exam.examId, reason });
  }
  return summary;
}
