// Preparing one exam from the frames its roles were assembled from: used by ingest, and by later stages
// that need another preparation (another size, slice count or normalisation) without re-indexing.
import { LiverstiffError } from "../core/index.ts";
import { type MrFrame, readFramePixels, type SeriesRole } from "../dicom/index.ts";
import { assembleVolume, orientationCode } from "../volume/index.ts";
import type { Catalog } from "./catalog.ts";
import { isNiftiFrame, readNiftiFrame } from "./nifti-input.ts";
import {
  cachedFingerprint,
  type PreparedExam,
  type PrepConfig,
  preparedAffine,
  preparedPath,
  prepareVolume,
  prepFingerprint,
  prepName,
  readPrepared,
  resolvePrep,
  sourceFingerprint,
  writePrepared,
} from "./prepare.ts";

/** The frames one role of an exam is built from (kept in the catalog). */
export interface RoleSource {
  role: SeriesRole;
  seriesInstanceUid: string;
  echoTimeMs?: number;
  imageTypeValue?: string;
  frames: MrFrame[];
}

export type PixelReader = (f: MrFrame) => Float32Array | Promise<Float32Array>;

/** dicom's reader for DICOM frames, the NIfTI reader for frames that came from NIfTI files. */
export const defaultPixelReader: PixelReader = (f) =>
  isNiftiFrame(f) ? readNiftiFrame(f) : readFramePixels(f);

export function sourcesFingerprint(sources: readonly RoleSource[], roles: readonly SeriesRole[]): string {
  return sourceFingerprint(
    Object.fromEntries(
      sources
        .filter((s) => roles.includes(s.role))
        .map((s) => [
          s.role,
          {
            sopFrames: s.frames.map((f) => `${f.sopInstanceUid}#${f.frameIndex}`),
            echoTimeMs: s.echoTimeMs,
            imageTypeValue: s.imageTypeValue,
          },
        ]),
    ),
  );
}

export interface BuildResult {
  status: "computed" | "reused";
  path: string;
  fingerprint: string;
  /** Decoded voxels read (0 when reused). */
  voxels: number;
}

/**
 * Writes WORKDIR/prepared/<prep>/<exam>.safetensors from the role sources unless a file with the same
 * fingerprint is already there. Throws (LiverstiffError or a decoder error) when pixels cannot be read.
 */
export async function buildPrepared(
  workdir: string,
  examId: string,
  sources: readonly RoleSource[],
  prep: PrepConfig,
  readPixels: PixelReader = defaultPixelReader,
): Promise<BuildResult> {
  const roles = prep.roles.filter((r) => sources.some((s) => s.role === r));
  const fp = prepFingerprint(sourcesFingerprint(sources, roles), prep);
  const name = prepName(prep);
  const path = preparedPath(workdir, name, examId);
  if (cachedFingerprint(path) === fp) return { status: "reused", path, fingerprint: fp, voxels: 0 };
  const out: Partial<Record<SeriesRole, Float32Array>> = {};
  const meta: Record<string, string> = {};
  let voxels = 0;
  for (const r of roles) {
    const src = sources.find((s) => s.role === r)!;
    const a = await assembleVolume(src.frames, { readPixels });
    voxels += a.volume.data.length;
    out[r] = prepareVolume(a.volume, prep);
    meta[`${r}.series`] = src.seriesInstanceUid;
    if (src.echoTimeMs !== undefined) meta[`${r}.echo_time_ms`] = String(src.echoTimeMs);
    meta[`${r}.dims`] = a.volume.dims.join("x");
    meta[`${r}.spacing_mm`] = a.volume.spacing.map((x) => x.toFixed(4)).join("x");
    meta[`${r}.orientation`] = orientationCode(a.volume.affine);
    meta[`${r}.affine`] = preparedAffine(a.volume, prep).join(",");
  }
  writePrepared(
    path,
    {
      examId,
      prepName: name,
      fingerprint: fp,
      slices: prep.slices,
      height: prep.size,
      width: prep.size,
      roles: out,
      meta,
    },
    prep.dtype,
  );
  return { status: "computed", path, fingerprint: fp, voxels };
}

/**
 * The prepared inputs of one catalogued exam under any preparation: from the cache when its fingerprint
 * matches, else assembled from the exam's recorded frames (the source files must still be there) and
 * cached. `catalog` must be writable (`Catalog.open(workdir)`).
 */
export async function prepareExam(
  catalog: Catalog,
  examId: string,
  prep: Partial<PrepConfig> = {},
  readPixels: PixelReader = defaultPixelReader,
): Promise<PreparedExam> {
  const exam = catalog.exam(examId);
  if (!exam)
    throw new LiverstiffError("no such exam in the catalog", { exam: examId, catalog: catalog.path });
  if (!exam.usable) {
    throw new LiverstiffError(`exam is not usable: ${exam.exclusionReason ?? "unknown reason"}`, {
      exam: examId,
    });
  }
  const config = resolvePrep(prep);
  const sources = catalog.roleSources(examId);
  const r = await buildPrepared(catalog.workdir, examId, sources, config, readPixels);
  catalog.setPrepared({ examId, prepName: prepName(config), fingerprint: r.fingerprint, path: r.path });
  return readPrepared(r.path);
}
