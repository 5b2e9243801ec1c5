// One conversion job: assemble a stack of frames and write it as NIfTI + sidecar (in a worker or in-process).
import { describeError } from "../core/index.ts";
import { type MrFrame, readFramePixels, readFrameStoredValues } from "../dicom/index.ts";
import { assembleVolume, planVolumes, type StackPlan, stackStoredInt16 } from "./assemble.ts";
import { orientationCode } from "./geometry.ts";
import { asOutputWriteError } from "./io-errors.ts";
import { niftiImage, writeNifti, writeNiftiAsync, writeNiftiBytes, writeNiftiBytesAsync } from "./nifti.ts";
import type { Volume } from "./volume.ts";

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
  /** Volumes in the file (4D when more than one). */
  volumes?: number;
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

/** What a job writes: a NIfTI file's bytes, or a float volume to encode; FSL's .bval/.bvec for diffusion. */
interface JobImage {
  plan: StackPlan;
  volumes: number;
  bytes?: Uint8Array;
  volume?: Volume;
  companions?: Record<string, string>;
  warnings: string[];
}

const readStored = (f: MrFrame) => readFrameStoredValues(f);
const readFloat = (f: MrFrame) => readFramePixels(f);

/**
 * The series as a file's bytes from its stored int16 values (no float copy of the volume: half the
 * memory and time) when its frames allow it (identity rescale, values within int16); else the rescaled
 * float volume. A multi-volume series is one 4D file, int16 when every volume allows it, else float32.
 */
async function imageOf(job: NiftiJob): Promise<JobImage> {
  const plans = planVolumes(job.frames, { strictSpacing: job.strictSpacing });
  const plan = plans[0]!;
  const warnings = plans.flatMap((p) => p.issues.map((i) => i.message));
  if (plans.length > 1) {
    const diffusion = diffusionFiles(plans);
    if (diffusion.warning) warnings.push(diffusion.warning);
    return {
      plan,
      volumes: plans.length,
      bytes: await multiVolumeBytes(job, plans),
      companions: diffusion.files,
      warnings,
    };
  }
  const image = niftiImage(plan.dims, plan.affine, "int16", job.description);
  if (await stackStoredInt16(plan, readStored, image.voxels as Int16Array))
    return { plan, volumes: 1, bytes: image.bytes, warnings };
  const a = await assembleVolume(plan.frames, { readPixels: readFloat, strictSpacing: job.strictSpacing });
  return { plan, volumes: 1, volume: a.volume, warnings };
}

async function multiVolumeBytes(job: NiftiJob, plans: StackPlan[]): Promise<Uint8Array> {
  const { dims, affine } = plans[0]!;
  const n = dims[0] * dims[1] * dims[2];
  const tr = job.sidecar.RepetitionTime;
  const series = { volumes: plans.length, repetitionTimeS: typeof tr === "number" ? tr : undefined };
  const stored = niftiImage(dims, affine, "int16", job.description, series);
  let fits = true;
  for (let v = 0; v < plans.length && fits; v++)
    fits = await stackStoredInt16(
      plans[v]!,
      readStored,
      stored.voxels.subarray(v * n, (v + 1) * n) as Int16Array,
    );
  if (fits) return stored.bytes;
  const image = niftiImage(dims, affine, "float32", job.description, series);
  for (let v = 0; v < plans.length; v++) {
    const a = await assembleVolume(plans[v]!.frames, {
      readPixels: readFloat,
      strictSpacing: job.strictSpacing,
    });
    image.voxels.set(a.volume.data, v * n);
  }
  return image.bytes;
}

/**
 * FSL's .bval and .bvec of a diffusion series (dcm2niix's convention): one b-value per volume, and the
 * gradient in the image's voxel axes, its x negated when the voxel-to-world rotation keeps handedness
 * (FSL's radiological convention). None when no frame says its b-value; a warning when a volume's
 * images disagree.
 */
function diffusionFiles(plans: StackPlan[]): { files?: Record<string, string>; warning?: string } {
  if (!plans.some((p) => p.frames.some((f) => f.diffusionBValue !== undefined))) return {};
  const key = (f: MrFrame) => `${f.diffusionBValue ?? 0}|${f.diffusionGradient?.join(",") ?? "none"}`;
  const mixed = plans.findIndex((p) => new Set(p.frames.map(key)).size > 1);
  if (mixed >= 0)
    return {
      warning: `diffusion volume ${mixed + 1}: its images give different b-values or gradients; no .bval/.bvec written`,
    };
  const a = plans[0]!.affine;
  const axes = [0, 1, 2].map((c) => {
    const v = [a[c]!, a[4 + c]!, a[8 + c]!];
    const len = Math.hypot(v[0]!, v[1]!, v[2]!);
    return v.map((x) => x / len);
  });
  const det =
    axes[0]![0]! * (axes[1]![1]! * axes[2]![2]! - axes[1]![2]! * axes[2]![1]!) -
    axes[1]![0]! * (axes[0]![1]! * axes[2]![2]! - axes[0]![2]! * axes[2]![1]!) +
    axes[2]![0]! * (axes[0]![1]! * axes[1]![2]! - axes[0]![2]! * axes[1]![1]!);
  const bvals = plans.map((p) => p.frames[0]!.diffusionBValue ?? 0);
  const bvecs = plans.map((p) => {
    const g = p.frames[0]!.diffusionGradient;
    if (!g) return [0, 0, 0];
    const b = axes.map((ax) => ax[0]! * g[0] + ax[1]! * g[1] + ax[2]! * g[2]);
    if (det > 0) b[0] = -b[0]!;
    return b.map((x) => (Math.abs(x) < 5e-7 ? 0 : x));
  });
  const fmt = (x: number) => String(Number(x.toFixed(6)));
  return {
    files: {
      ".bval": `${bvals.map(fmt).join(" ")}\n`,
      ".bvec": `${[0, 1, 2].map((r) => bvecs.map((b) => fmt(b[r]!)).join(" ")).join("\n")}\n`,
    },
  };
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
    const image = await imageOf(job);
    const { warnings } = image;
    const sidecar = job.sidecar as { Liverstiff?: Record<string, unknown> };
    if (warnings.length && sidecar.Liverstiff) sidecar.Liverstiff.warnings = warnings;
    if (image.volumes > 1 && sidecar.Liverstiff) sidecar.Liverstiff.volumes = image.volumes;
    const out = {
      id: job.id,
      dims: image.plan.dims,
      volumes: image.volumes,
      orientation: orientationCode(image.plan.affine),
      warnings,
    };
    const opts = { description: job.description, sidecar: job.sidecar, companions: image.companions };
    const write = (): Promise<void> =>
      image.bytes
        ? writeNiftiBytesAsync(job.file, image.bytes, opts)
        : writeNiftiAsync(job.file, image.volume!, opts);
    if (options.writeAsync) {
      // Resolves to the failure (never rejects), so that the caller decides what a failed write means.
      const written = write().then(
        () => undefined,
        (err: unknown) => failed(job.id, err),
      );
      return { ...out, written };
    }
    if (image.bytes) writeNiftiBytes(job.file, image.bytes, opts);
    else writeNifti(job.file, image.volume!, opts);
    return out;
  } catch (err) {
    return failed(job.id, err);
  }
}
