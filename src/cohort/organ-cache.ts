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
import { assembleVolume, readNifti, type Volume } from "../volume/index.ts";
import type { Catalog, ExamRecord } from "./catalog.ts";
import { measureOrgans, ORGAN_LABEL, ORGAN_MEASURES, type OrganMask, type OrganMeasures } from "./organs.ts";
import { defaultPixelReader, type RoleSource, sourcesFingerprint } from "./prepare-exam.ts";

/** Bumped when measureOrgans changes what it computes. */
export const ORGAN_CODE_VERSION = 1;

/** Label conventions of mask files a user brings. */
export const MASK_CONVENTIONS = {
  /** TotalSegmentator's MR task (total_mr): spleen 1, liver 5. */
  totalseg: { liver: 5, spleen: 1 },
  /** liverstiff's synthetic cohort (labelmaps/labels.json): liver 4, spleen 5. */
  synthetic: { liver: 4, spleen: 5 },
} as const;
export type MaskConvention = keyof typeof MASK_CONVENTIONS;

/** A segmentation network that labels liver and spleen on one volume's grid. */
export interface OrganSegmenter {
  /** e.g. "liverstiff-seg-v1" and the sha256 of its weights: part of every fingerprint. */
  identity: { name: string; weightsSha256: string };
  /** The role whose series the network segments (its mask serves every role). */
  role?: SeriesRole;
  segment(volume: Volume): OrganMask;
}

/** Where an exam's liver and spleen masks come from. */
export type MaskSource =
  | { kind: "files"; dir: string; convention: MaskConvention }
  | { kind: "network"; segmenter: OrganSegmenter };

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
    : `network:${source.segmenter.identity.name}:${source.segmenter.identity.weightsSha256}`;
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

/** A label-map NIfTI file as an OrganMask (codes mapped from the convention; geometry in LPS). */
export function readMaskFile(path: string, convention: MaskConvention): OrganMask {
  const img = readNifti(path).volume;
  const codes = MASK_CONVENTIONS[convention];
  const labels = new Uint8Array(img.data.length);
  let liver = 0;
  for (let i = 0; i < labels.length; i++) {
    const v = Math.round(img.data[i]);
    if (v === codes.liver) {
      labels[i] = ORGAN_LABEL.liver;
      liver++;
    } else if (v === codes.spleen) labels[i] = ORGAN_LABEL.spleen;
  }
  if (liver === 0)
    throw new LiverstiffError(
      `mask file has no liver label (${codes.liver} in the ${convention} convention)`,
      {
        file: path,
      },
    );
  return { dims: img.dims, affine: img.affine, labels };
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
    const role = source.segmenter.role ?? "t2";
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
  const exams = catalog.usableExams();
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
