import { join } from "node:path";
import {
  describeError,
  type ProgressSink,
  siblingModule,
  silentProgress,
  WorkerPool,
} from "../core/index.ts";
import {
  classifySeries,
  type DicomIndex,
  indexDicom,
  type MrFrame,
  type RoleDecision,
  type RoleRules,
  type SeriesInfo,
  selectFrames,
} from "../dicom/index.ts";
import { framesByEcho } from "./assemble.ts";
import { OutputWriteError } from "./io-errors.ts";
import { type NiftiJob, type NiftiJobResult, runNiftiJob } from "./nifti-job.ts";

export interface ConvertOptions {
  inputs: string[];
  outDir: string;
  rules?: RoleRules;
  onProgress?: ProgressSink;
  /** Keep unevenly spaced stacks or stacks with gaps (with a warning in the sidecar). Default false. */
  lenientSpacing?: boolean;
  /** Write .nii.gz (default) or plain .nii. */
  gzip?: boolean;
  /** Worker threads for assembly and writing (default 0 = in-process). */
  workers?: number;
}

export interface ConvertedSeries {
  seriesInstanceUid: string;
  seriesNumber?: number;
  description?: string;
  role: string | null;
  echoTimeMs?: number;
  file?: string;
  dims?: [number, number, number];
  /** Volumes in the file: more than one for a multi-volume series (4D; .bval/.bvec beside for diffusion). */
  volumes?: number;
  orientation?: string;
  error?: string;
}

export interface ConvertResult {
  converted: ConvertedSeries[];
  failed: ConvertedSeries[];
  index: Pick<DicomIndex, "filesSeen" | "filesIndexed" | "skipped" | "errors">;
}

/**
 * Writes every assembled series under the inputs as NIfTI-1 (gzip) with a JSON sidecar of its key header
 * fields (BIDS names, times in seconds as dcm2niix writes them) and its role. A dual-echo series gives
 * one file per echo; a multi-volume series one 4D file (with FSL's .bval/.bvec for diffusion); a series
 * that cannot be stacked is reported, never fatal. An output that cannot be
 * written (disk full, no permission, read-only) throws OutputWriteError naming the path: no partial file
 * is left, and the images are not blamed.
 */
export async function convertToNifti(options: ConvertOptions): Promise<ConvertResult> {
  const progress = options.onProgress ?? silentProgress;
  // Workers start before indexing so that their start-up (tsx + modules, ~0.5-2 s) overlaps with it.
  // Default 0: on a loaded 2-core x86-64 VM they did not pay (docs/ingest.md).
  const nWorkers = options.workers ?? 0;
  const pool: WorkerPool<NiftiJob, NiftiJobResult> | undefined =
    nWorkers > 0 ? new WorkerPool(siblingModule(import.meta.url, "worker"), nWorkers) : undefined;
  try {
    const index = await indexDicom(options.inputs, { onProgress: progress });
    const jobs: { job: NiftiJob; entry: ConvertedSeries }[] = [];
    const used = new Set<string>();
    for (const s of index.series) {
      let decisions: RoleDecision[];
      try {
        decisions = classifySeries(s, options.rules);
      } catch (err) {
        decisions = [{ role: null, reasons: [`classification failed: ${describeError(err)}`] }];
      }
      for (const { frames, decision } of splitForConversion(s, decisions)) {
        const entry: ConvertedSeries = {
          seriesInstanceUid: s.seriesInstanceUid,
          seriesNumber: s.seriesNumber,
          description: s.seriesDescription ?? s.protocolName,
          role: decision.role,
          echoTimeMs: decision.echoTimeMs ?? (s.echoTimesMs.length > 1 ? frames[0]?.echoTimeMs : undefined),
        };
        const base = uniqueName(used, fileStem(s, entry.echoTimeMs, decision.imageTypeValue));
        const job: NiftiJob = {
          id: jobs.length,
          frames,
          file: join(options.outDir, `${base}.nii${options.gzip === false ? "" : ".gz"}`),
          description: (s.seriesDescription ?? "").slice(0, 79),
          sidecar: sidecarFor(s, frames, decision, []),
          strictSpacing: !options.lenientSpacing,
        };
        jobs.push({ job, entry });
      }
    }
    const converted: ConvertedSeries[] = [];
    const failed: ConvertedSeries[] = [];
    let done = 0;
    progress({ stage: "convert", done, total: jobs.length });
    const results: { r: NiftiJobResult; entry: ConvertedSeries; file: string }[] = [];
    if (pool) {
      // Jobs go to the workers; each worker runs one at a time.
      results.push(
        ...(await Promise.all(
          jobs.map(async ({ job, entry }) => {
            const r = await pool.run(job);
            progress({ stage: "convert", done: ++done, total: jobs.length });
            return { r, entry, file: job.file };
          }),
        )),
      );
    } else {
      // One series at a time (bounded memory, and frames of one file stay together for dicom's cache);
      // writes go to the thread pool while the next series is decoded, at most 2 in flight.
      const inFlight: Promise<unknown>[] = [];
      for (const { job, entry } of jobs) {
        const r = await runNiftiJob(job, { writeAsync: true });
        const item = { r: r as NiftiJobResult, entry, file: job.file };
        results.push(item);
        if (r.written) {
          const w = r.written.then((failure) => {
            if (failure) item.r = failure;
          });
          inFlight.push(w);
          if (inFlight.length >= 2) await inFlight.shift();
        }
        progress({ stage: "convert", done: ++done, total: jobs.length });
        // The output folder cannot take more: stop instead of failing every remaining series.
        if (results.some((x) => x.r.outputError)) break;
      }
      await Promise.all(inFlight);
    }
    const io = results.find((x) => x.r.outputError)?.r.outputError;
    if (io) throw new OutputWriteError(io.path, io.code);
    for (const { r, entry, file } of results) {
      if (r.error) failed.push({ ...entry, error: r.error });
      else converted.push({ ...entry, file, dims: r.dims, volumes: r.volumes, orientation: r.orientation });
    }
    return {
      converted,
      failed,
      index: {
        filesSeen: index.filesSeen,
        filesIndexed: index.filesIndexed,
        skipped: index.skipped,
        errors: index.errors,
      },
    };
  } finally {
    await pool?.close();
  }
}

/** One stack per role decision that selects frames; otherwise one per echo (multi-echo series). */
function splitForConversion(
  s: SeriesInfo,
  decisions: RoleDecision[],
): { frames: MrFrame[]; decision: RoleDecision }[] {
  const selective = decisions.filter((d) => d.echoTimeMs !== undefined || d.imageTypeValue !== undefined);
  if (selective.length > 0) return selective.map((d) => ({ frames: selectFrames(s, d), decision: d }));
  const d = decisions[0] ?? { role: null, reasons: [] };
  const byEcho = framesByEcho(s.frames);
  if (byEcho.size > 1) {
    return [...byEcho.entries()].map(([te, frames]) => ({ frames, decision: { ...d, echoTimeMs: te } }));
  }
  return [{ frames: s.frames, decision: d }];
}

function fileStem(s: SeriesInfo, te?: number, imageType?: string): string {
  const desc = (s.seriesDescription ?? s.protocolName ?? "series")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .slice(0, 60);
  let stem = `${String(s.seriesNumber ?? 0).padStart(3, "0")}_${desc}`;
  if (te !== undefined) stem += `_TE${te}`;
  if (imageType) stem += `_${imageType}`;
  return stem;
}

function uniqueName(used: Set<string>, stem: string): string {
  let name = stem;
  for (let i = 2; used.has(name); i++) name = `${stem}_${i}`;
  used.add(name);
  return name;
}

function sidecarFor(
  s: SeriesInfo,
  frames: MrFrame[],
  d: RoleDecision,
  warnings: string[],
): Record<string, unknown> {
  const te = d.echoTimeMs ?? frames[0]?.echoTimeMs ?? s.echoTimesMs[0];
  const clean = (o: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(o).filter(
        ([, v]) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0),
      ),
    );
  return clean({
    Modality: s.modality,
    Manufacturer: s.manufacturer,
    ManufacturersModelName: s.manufacturerModelName,
    MagneticFieldStrength: s.magneticFieldStrengthT,
    InstitutionName: s.institutionName,
    SeriesDescription: s.seriesDescription,
    ProtocolName: s.protocolName,
    SeriesNumber: s.seriesNumber,
    SequenceName: s.sequenceName,
    ScanningSequence: s.scanningSequence?.join("_"),
    SequenceVariant: s.sequenceVariant?.join("_"),
    ScanOptions: s.scanOptions?.join("_"),
    MRAcquisitionType: s.mrAcquisitionType,
    ImageType: frames[0]?.imageType ?? s.imageType,
    EchoTime: te === undefined ? undefined : te / 1000,
    RepetitionTime: s.repetitionTimeMs === undefined ? undefined : s.repetitionTimeMs / 1000,
    FlipAngle: s.flipAngleDeg,
    EchoTrainLength: s.echoTrainLength,
    InversionTime: s.inversionTimeMs === undefined ? undefined : s.inversionTimeMs / 1000,
    SliceThickness: frames[0]?.sliceThicknessMm,
    SeriesInstanceUID: s.seriesInstanceUid,
    ConversionSoftware: "liverstiff",
    Liverstiff: clean({ role: d.role, roleReasons: d.reasons, warnings, frames: frames.length }),
  });
}
