// One conversion job: assemble a stack of frames and write it as NIfTI + sidecar (in a worker or in-process).
import { describeError } from "../core/index.ts";
import { type MrFrame, readFramePixels } from "../dicom/index.ts";
import { assembleVolume } from "./assemble.ts";
import { orientationCode } from "./geometry.ts";
import { writeNifti } from "./nifti.ts";

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
}

/** The work of one job, also used in-process when there are no workers. */
export async function runNiftiJob(job: NiftiJob): Promise<NiftiJobResult> {
  try {
    const a = await assembleVolume(job.frames, {
      readPixels: (f) => readFramePixels(f),
      strictSpacing: job.strictSpacing,
    });
    const warnings = a.issues.map((i) => i.message);
    const sidecar = job.sidecar as { Liverstiff?: Record<string, unknown> };
    if (warnings.length && sidecar.Liverstiff) sidecar.Liverstiff.warnings = warnings;
    writeNifti(job.file, a.volume, { description: job.description, sidecar: job.sidecar });
    return { id: job.id, dims: a.volume.dims, orientation: orientationCode(a.volume.affine), warnings };
  } catch (err) {
    return { id: job.id, error: describeError(err) };
  }
}
