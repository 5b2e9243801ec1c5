// One conversion job: assemble a stack of frames and write it as NIfTI + sidecar (in a worker or in-process).
import { describeError } from "../core/index.ts";
import { type MrFrame, readFramePixels } from "../dicom/index.ts";
import { assembleVolume } from "./assemble.ts";
import { orientationCode } from "./geometry.ts";
import { asOutputWriteError } from "./io-errors.ts";
import { writeNifti, writeNiftiAsync } from "./nifti.ts";

export interface NiftiJob {
  id: number;
  frames: MrFrame[];
  file: string;
  description: string;
  sidecar: Record<string, unknown>;
  strictSpacing: boolean;
}

export interface NiftiJobResult {
  id: number;
  dims?: [number, number, number];
  orientation?: string;
  warnings?: string[];
  error?: string;
  /** Set when the output could not be written (disk full, no permission): the run must stop. */
  outputError?: { path: string; code: string };
}

/** A failed job: an output-write failure is marked as such (it is not the series' fault). */
function failed(id: number, err: unknown): NiftiJobResult {
  const io = asOutputWriteError(err);
  if (io) return { id, error: io.message, outputError: { path: io.path, code: io.code } };
  return { id, error: describeError(err) };
}

/**
 * The work of one job. With `writeAsync`, the files are written in the background and `written` settles
 * when they are on disk (so that the caller can assemble the next series meanwhile).
 */
export async function runNiftiJob(
  job: NiftiJob,
  options: { writeAsync?: boolean } = {},
): Promise<NiftiJobResult & { written?: Promise<NiftiJobResult | undefined> }> {
  try {
    const a = await assembleVolume(job.frames, {
      readPixels: (f) => readFramePixels(f),
      strictSpacing: job.strictSpacing,
    });
    const warnings = a.issues.map((i) => i.message);
    const sidecar = job.sidecar as { Liverstiff?: Record<string, unknown> };
    if (warnings.length && sidecar.Liverstiff) sidecar.Liverstiff.warnings = warnings;
    const out = { id: job.id, dims: a.volume.dims, orientation: orientationCode(a.volume.affine), warnings };
    const opts = { description: job.description, sidecar: job.sidecar };
    if (options.writeAsync) {
      // Resolves to the failure (never rejects), so that the caller decides what a failed write means.
      const written = writeNiftiAsync(job.file, a.volume, opts).then(
        () => undefined,
        (err: unknown) => failed(job.id, err),
      );
      return { ...out, written };
    }
    writeNifti(job.file, a.volume, opts);
    return out;
  } catch (err) {
    return failed(job.id, err);
  }
}
