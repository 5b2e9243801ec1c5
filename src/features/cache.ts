// The feature cache: per (exam, preparation, encoder) the per-slice features of every role, computed
// once and kept under WORKDIR/features/<encoder name>-<sha8>/<prepName>/<examId>.safetensors, so that
// every fold of every scheme and recipe trains only its head.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type ExamRecord, loadPrepared, openCatalog, readOrganMeasures } from "../cohort/index.ts";
import { LiverstiffError, type ProgressSink, silentProgress } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import { parseSafetensors, type RawTensor, writeSafetensors } from "../nn/index.ts";
import { type Encoder, resizeSlices } from "./encoder.ts";
import type { EncoderIdentity, ExamFeatures } from "./types.ts";

/** Bumped when this code changes what a cache file holds; part of every fingerprint. */
export const FEATURES_CODE_VERSION = 1;
const FORMAT = "liverstiff-features-1";
const SERIES_ROLES: readonly SeriesRole[] = ["t1_in", "t1_opp", "t2"];

export interface ComputeFeaturesOptions {
  workdir: string;
  /** The preparation's name as ingest printed it (e.g. "s5-128-mm400-zscore-f32"). */
  prep: string;
  encoder: Encoder;
  /** Exams to encode (default: the catalog's usable exams; labelled ones only unless requireLabel is false). */
  examIds?: readonly string[];
  /** With the default exam list: only exams with a kPa (default true). */
  requireLabel?: boolean;
  onProgress?: ProgressSink;
}

export interface FeatureCacheStats {
  computed: number;
  reused: number;
  slicesEncoded: number;
}

/** Folder-safe form of an encoder name ("torchscript:swin.pt" -> "torchscript_swin.pt"). */
export function encoderDirName(id: EncoderIdentity): string {
  const sha8 = /^[0-9a-f]{64}$/.test(id.weightsSha256)
    ? id.weightsSha256.slice(0, 8)
    : createHash("sha256").update(id.weightsSha256).digest("hex").slice(0, 8);
  return `${id.name.replace(/[^A-Za-z0-9._-]/g, "_")}-${sha8}`;
}

export function featuresPath(workdir: string, id: EncoderIdentity, prep: string, examId: string): string {
  return join(workdir, "features", encoderDirName(id), prep, `${examId}.safetensors`);
}

/** What a cache file depends on: the prepared exam's fingerprint, the encoder's identity, this code. */
export function featuresFingerprint(preparedFingerprint: string, id: EncoderIdentity): string {
  return createHash("sha256")
    .update(JSON.stringify({ v: FEATURES_CODE_VERSION, prepared: preparedFingerprint, encoder: id }))
    .digest("hex")
    .slice(0, 32);
}

interface CachedFeatures {
  fingerprint: string;
  slices: number;
  featureDim: number;
  roles: Partial<Record<SeriesRole, Float32Array>>;
}

/** Reads a cache file; undefined when absent, unreadable or not ours (it is then recomputed). */
export function readCachedFeatures(path: string): CachedFeatures | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  try {
    const { tensors, metadata } = parseSafetensors(bytes, path);
    if (metadata.format !== FORMAT || !metadata.fingerprint) return undefined;
    const roles: Partial<Record<SeriesRole, Float32Array>> = {};
    let slices = 0;
    let featureDim = 0;
    for (const [name, raw] of tensors) {
      if (raw.dtype !== "F32" || raw.shape.length !== 2) return undefined;
      [slices, featureDim] = raw.shape as [number, number];
      const copy = new Uint8Array(raw.bytes); // aligned copy
      roles[name as SeriesRole] = new Float32Array(copy.buffer, 0, slices * featureDim);
    }
    return { fingerprint: metadata.fingerprint, slices, featureDim, roles };
  } catch {
    return undefined;
  }
}

function writeCachedFeatures(
  path: string,
  f: CachedFeatures,
  meta: { examId: string; prep: string; encoder: EncoderIdentity },
): void {
  const entries: [string, RawTensor][] = [];
  for (const role of SERIES_ROLES) {
    const a = f.roles[role];
    if (!a) continue;
    entries.push([
      role,
      {
        dtype: "F32",
        shape: [f.slices, f.featureDim],
        bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
      },
    ]);
  }
  writeSafetensors(path, entries, {
    format: FORMAT,
    fingerprint: f.fingerprint,
    examId: meta.examId,
    prep: meta.prep,
    encoder: JSON.stringify(meta.encoder),
  });
}

function toExamFeatures(workdir: string, e: ExamRecord, f: CachedFeatures): ExamFeatures {
  const organs = readOrganMeasures(workdir, e.examId)?.measures;
  return {
    ...(organs ? { organs: { ...organs } } : {}),
    examId: e.examId,
    patientKey: e.patientKey,
    site: e.site,
    studyDate: e.studyDate,
    ageYears: e.ageYears,
    sex: e.sex,
    vendor: e.vendor,
    fieldStrengthT: e.fieldStrengthT,
    kpa: e.kpa,
    slices: f.slices,
    featureDim: f.featureDim,
    roles: f.roles,
  };
}

/**
 * Features of every requested exam, from the cache when its fingerprint matches (the prepared exam and
 * the encoder are unchanged), else encoded now and written atomically. Exams come back in catalog order
 * (study date, then id). Prepared slices of another size than the encoder's input are resized.
 */
export async function computeFeatures(
  options: ComputeFeaturesOptions,
  stats?: FeatureCacheStats,
): Promise<ExamFeatures[]> {
  const progress = options.onProgress ?? silentProgress;
  const { workdir, prep, encoder } = options;
  const id = encoder.identity;
  const catalog = openCatalog(workdir);
  let exams: ExamRecord[];
  let prepared: Map<string, string>;
  try {
    if (options.examIds) {
      exams = options.examIds.map((examId) => {
        const e = catalog.exam(examId);
        if (!e) throw new LiverstiffError("exam is not in the catalog", { exam: examId, workdir });
        if (!e.usable) {
          throw new LiverstiffError(`exam is not usable: ${e.exclusionReason ?? "images incomplete"}`, {
            exam: examId,
          });
        }
        return e;
      });
    } else {
      exams = catalog.usableExams({ requireLabel: options.requireLabel ?? true });
    }
    prepared = new Map();
    for (const e of exams) {
      const rec = catalog.prepared(e.examId, prep);
      if (!rec) {
        throw new LiverstiffError(
          `exam has no prepared inputs for preparation ${prep}; run ingest with that preparation`,
          { exam: e.examId, prep, workdir },
        );
      }
      prepared.set(e.examId, rec.fingerprint);
    }
  } finally {
    catalog.close();
  }

  const st = stats ?? { computed: 0, reused: 0, slicesEncoded: 0 };
  const out: ExamFeatures[] = [];
  progress({ stage: "features", done: 0, total: exams.length, message: encoderDirName(id) });
  for (let i = 0; i < exams.length; i++) {
    const e = exams[i];
    const path = featuresPath(workdir, id, prep, e.examId);
    const fingerprint = featuresFingerprint(prepared.get(e.examId)!, id);
    let f = readCachedFeatures(path);
    if (f && f.fingerprint === fingerprint && f.featureDim === id.featureDim) {
      st.reused++;
    } else {
      f = encodeExam(workdir, e.examId, prep, encoder, fingerprint);
      writeCachedFeatures(path, f, { examId: e.examId, prep, encoder: id });
      st.computed++;
      st.slicesEncoded += f.slices * Object.keys(f.roles).length;
    }
    out.push(toExamFeatures(workdir, e, f));
    progress({ stage: "features", done: i + 1, total: exams.length });
    // Yield so that progress bars and signals get a turn between exams.
    if (i % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** Encodes all roles of one prepared exam in one batch. */
export function encodeExam(
  workdir: string,
  examId: string,
  prep: string,
  encoder: Encoder,
  fingerprint = "",
): CachedFeatures {
  const p = loadPrepared(workdir, examId, prep);
  if (p.height !== p.width) {
    throw new LiverstiffError("prepared slices are not square", { exam: examId, prep });
  }
  const roles = SERIES_ROLES.filter((r) => p.roles[r] !== undefined);
  const plane = p.height * p.width;
  const all = new Float32Array(roles.length * p.slices * plane);
  roles.forEach((r, k) => {
    all.set(p.roles[r]!, k * p.slices * plane);
  });
  const n = roles.length * p.slices;
  const s = encoder.identity.inputSize;
  const input = resizeSlices(all, n, p.height, s);
  const feats = encoder.encode(input, n);
  const d = encoder.identity.featureDim;
  const out: Partial<Record<SeriesRole, Float32Array>> = {};
  roles.forEach((r, k) => {
    out[r] = feats.slice(k * p.slices * d, (k + 1) * p.slices * d);
  });
  return { fingerprint, slices: p.slices, featureDim: d, roles: out };
}
