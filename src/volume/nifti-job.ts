// One conversion job: assemble a stack of frames and write it as NIfTI + sidecar (in a worker or in-process).
import { describeError } from "../core/index.ts";
import { type MrFrame, readFramePixels, readFrameStoredValues } from "../dicom/index.ts";
import { assembleVolume, planStack, type StackPlan, stackStoredInt16 } from "./assemble.ts";
import { orientationCode } from "./geometry.ts";
import { asOutputWriteError } from "./io-errors.ts";
import { niftiImage, writeNifti, writeNiftiAsync, writeNiftiBytes, writeNiftiBytesAsync } from "./nifti.ts";

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
 * The series as its stored int16 values in a NIfTI file's bytes (no float copy of the volume: half the
 * memory and time), when its frames allow it (identity rescale, values within int16); else undefined.
 */
async function storedImage(job: NiftiJob): Promise<{ plan: StackPlan; bytes: Uint8Array } | undefined> {
  const plan = planStack(job.frames, { strictSpacing: job.strictSpacing });
  const image = niftiImage(plan.dims, plan.affine, "int16", job.description);
  const ok = await stackStoredInt16(plan, (f) => readFrameStoredValues(f), image.voxels as Int16Array);
  return ok ? { plan, bytes: image.bytes } : undefined;
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
    const stored = await storedImage(job);
    const a = stored
      ? undefined
      : await assembleVolume(job.frames, {
          readPixels: (f) => readFramePixels(f),
          strictSpacing: job.strictSpacing,
        });
    const plan = stored?.plan ?? a!;
    const warnings = plan.issues.map((i) => i.message);
    const sidecar = job.sidecar as { Liverstiff?: Record<string, unknown> };
    if (warnings.length && sidecar.Liverstiff) sidecar.Liverstiff.warnings = warnings;
    const dims = stored ? stored.plan.dims : a!.volume.dims;
    const out = {
      id: job.id,
      dims,
      orientation: orientationCode(stored?.plan.affine ?? a!.volume.affine),
      warnings,
    };
    const opts = { description: job.description, sidecar: job.sidecar };
    if (options.writeAsync) {
      // Resolves to the failure (never rejects), so that the caller decides what a failed write means.
      const written = (
        stored
          ? writeNiftiBytesAsync(job.file, stored.bytes, opts)
          : writeNiftiAsync(job.file, a!.volume, opts)
      ).then(
        () => undefined,
        (err: unknown) => failed(job.id, err),
      );
      return { ...out, written };
    }
    if (stored) writeNiftiBytes(job.file, stored.bytes, opts);
    else writeNifti(job.file, a!.volume, opts);
    return out;
  } catch (err) {
    return failed(job.id, err);
  }
}
