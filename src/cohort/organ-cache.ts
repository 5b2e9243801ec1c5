// Organ measures per exam, cached in WORKDIR/organs/<exam>.json with the fingerprint of what they were
// computed from (the role series and the mask source), so that every fold, recipe and predict reads
// the same numbers and a re-run measures only what changed.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  describeError,
  LiverstiffError,
  type ProgressSink,
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

async function measureExam(
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

/**
 * Measures liver and spleen (ORGAN_MEASURES) for every usable exam of the catalog whose cached measures
 * are missing or stale. An exam without a mask (no file under the user's folder, a failed segmentation)
 * keeps no measures and is counted by reason; the run goes on.
 */
export async function ensureOrganMeasures(
  catalog: Catalog,
  source: MaskSource,
  onProgress: ProgressSink = silentProgress,
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
  for (const [i, exam] of exams.entries()) {
    const sources = catalog.roleSources(exam.examId);
    const maskFile = source.kind === "files" ? findMaskFile(source.dir, exam, sources) : undefined;
    if (source.kind === "files" && !maskFile) {
      miss(exam.examId, "no-mask-file");
    } else {
      const fingerprint = fingerprintOf(sources, tag, maskFile);
      const cached = readOrganMeasures(catalog.workdir, exam.examId);
      if (cached?.fingerprint === fingerprint) summary.reused++;
      else {
        try {
          const m = await measureExam(exam, sources, source, fingerprint, maskFile);
          writeJsonAtomic(organsPath(catalog.workdir, exam.examId), m);
          summary.measured++;
        } catch (err) {
          miss(exam.examId, "organ-error");
          summary.errors.push({ examId: exam.examId, reason: describeError(err) });
        }
      }
    }
    onProgress({ stage: "organs", done: i + 1, total: exams.length });
    if (i % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  return summary;
}
