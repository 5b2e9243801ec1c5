// Recursive indexing: walk the roots, read each file's header, group frames into series, studies and
// patients. A bad file is recorded with its reason and never stops the walk.
import { lstatSync, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { type ProgressSink, silentProgress, spawnWorker } from "../core/index.ts";
import { extractFile, type FileFacts } from "./extract.ts";
import { DicomFileError, readHeader } from "./header.ts";
import type { DicomIndex, FileIssue, MrFrame, PatientEntry, SeriesInfo, StudyEntry } from "./types.ts";

export interface IndexOptions {
  onProgress?: ProgressSink;
  /**
   * Worker threads reading headers in parallel. Default: none below 20 000 files (starting a worker costs
   * about a second, more than reading 5 000 headers), else one per available core (at most 4).
   */
  workers?: number;
}

const WORKERS_FROM_FILES = 20_000;
const WORKER_BATCH = 256;

// Names that are never DICOM and are common in exports; skipped without opening them.
const NEVER_DICOM =
  /\.(nii|nii\.gz|json|txt|csv|xml|html?|pdf|jpe?g|png|gif|bmp|zip|gz|tar|md|ini|log|exe|dll)$/i;

/** Lists every regular file under the roots (a root may itself be a file), in a stable order. */
export function listFiles(roots: string[]): { files: string[]; unreadable: FileIssue[] } {
  const files: string[] = [];
  const unreadable: FileIssue[] = [];
  const walk = (dir: string) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      unreadable.push({
        file: dir,
        code: "unreadable",
        reason: `cannot list folder: ${(e as Error).message}`,
      });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
      else if (e.isSymbolicLink()) {
        // Follow links to files; links to folders are not followed (they can loop).
        try {
          if (statSync(p).isFile()) files.push(p);
        } catch {
          unreadable.push({ file: p, code: "unreadable", reason: "broken symbolic link" });
        }
      }
    }
  };
  for (const root of roots) {
    let st: import("node:fs").Stats;
    try {
      st = lstatSync(root).isSymbolicLink() ? statSync(root) : lstatSync(root);
    } catch (e) {
      unreadable.push({ file: root, code: "unreadable", reason: `cannot open: ${(e as Error).message}` });
      continue;
    }
    if (st.isDirectory()) walk(root);
    else files.push(root);
  }
  return { files, unreadable };
}

/** The outcome of reading one file, as passed back from a worker or the main thread. */
export type FileOutcome =
  | { kind: "ok"; facts: FileFacts; bytesRead: number }
  | { kind: "skipped" | "error"; issue: FileIssue; bytesRead: number };

export function indexOneFile(file: string): FileOutcome {
  if (NEVER_DICOM.test(file)) {
    return {
      kind: "skipped",
      issue: { file, code: "not-dicom", reason: "not DICOM (file name)" },
      bytesRead: 0,
    };
  }
  let bytesRead = 0;
  try {
    const h = readHeader(file);
    bytesRead = h.bytesRead;
    return { kind: "ok", facts: extractFile(file, h), bytesRead };
  } catch (e) {
    if (e instanceof DicomFileError) {
      const kind = e.code === "not-dicom" || e.code === "not-image" ? "skipped" : "error";
      const issue: FileIssue = { file, code: e.code, reason: e.message };
      if (e.field) issue.field = e.field;
      return { kind, issue, bytesRead };
    }
    return {
      kind: "error",
      issue: {
        file,
        code: "parse-error",
        // Not a coded failure but a defect in the reader (what the fuzz tests look for): said plainly.
        reason: "cannot read this DICOM file (an unexpected error in the reader)",
      },
      bytesRead,
    };
  }
}

/** Accumulates file outcomes into series; order of arrival does not change the result. */
export class SeriesCollector {
  private readonly bySeries = new Map<string, { info: SeriesInfo; sops: Map<string, string> }>();
  readonly skipped: FileIssue[] = [];
  readonly errors: FileIssue[] = [];
  filesSeen = 0;
  filesIndexed = 0;
  bytesRead = 0;

  add(outcome: FileOutcome): void {
    this.filesSeen++;
    this.bytesRead += outcome.bytesRead;
    if (outcome.kind !== "ok") {
      (outcome.kind === "skipped" ? this.skipped : this.errors).push(outcome.issue);
      return;
    }
    const { series, frames } = outcome.facts;
    let entry = this.bySeries.get(series.seriesInstanceUid);
    if (!entry) {
      entry = { info: { ...series, echoTimesMs: [], frames: [] }, sops: new Map() };
      this.bySeries.set(series.seriesInstanceUid, entry);
    }
    const file = frames[0]!.file;
    const sop = frames[0]!.sopInstanceUid;
    const earlier = entry.sops.get(sop);
    if (earlier !== undefined) {
      this.errors.push({
        file,
        code: "duplicate",
        reason: `duplicate SOPInstanceUID ${sop} (also in ${earlier}); the copy is ignored`,
      });
      return;
    }
    entry.sops.set(sop, file);
    this.filesIndexed++;
    mergeSeriesFacts(entry.info, series);
    for (const f of frames) entry.info.frames.push(f);
  }

  finish(): DicomIndex {
    const series = [...this.bySeries.values()].map((e) => finishSeries(e.info));
    series.sort(compareSeries);
    const byFile = (a: FileIssue, b: FileIssue) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
    return {
      series,
      patients: groupPatients(series),
      skipped: this.skipped.sort(byFile),
      errors: this.errors.sort(byFile),
      filesSeen: this.filesSeen,
      filesIndexed: this.filesIndexed,
      bytesRead: this.bytesRead,
    };
  }
}

// Fields that differ between files of one series (a vendor splitting parameters per image) are merged:
// the first value wins, except for sets, which are united.
function mergeSeriesFacts(into: SeriesInfo, from: FileFacts["series"]): void {
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    const cur = (into as unknown as Record<string, unknown>)[k];
    if (cur === undefined) (into as unknown as Record<string, unknown>)[k] = v;
  }
  if (from.diffusionBValues) {
    into.diffusionBValues = [...new Set([...(into.diffusionBValues ?? []), ...from.diffusionBValues])].sort(
      (a, b) => a - b,
    );
  }
}

function finishSeries(info: SeriesInfo): SeriesInfo {
  info.frames.sort(compareFrames);
  const tes = new Set<number>();
  for (const f of info.frames) if (f.echoTimeMs !== undefined) tes.add(roundMs(f.echoTimeMs));
  info.echoTimesMs = [...tes].sort((a, b) => a - b);
  return info;
}

function roundMs(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function compareFrames(a: MrFrame, b: MrFrame): number {
  const ia = a.instanceNumber ?? 0;
  const ib = b.instanceNumber ?? 0;
  if (ia !== ib) return ia - ib;
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.frameIndex - b.frameIndex;
}

function compareSeries(a: SeriesInfo, b: SeriesInfo): number {
  return (
    cmp(a.patientId, b.patientId) ||
    cmp(a.studyDate ?? "", b.studyDate ?? "") ||
    cmp(a.studyInstanceUid, b.studyInstanceUid) ||
    (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0) ||
    cmp(a.seriesInstanceUid, b.seriesInstanceUid)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function groupPatients(series: SeriesInfo[]): PatientEntry[] {
  const patients = new Map<string, Map<string, StudyEntry>>();
  for (const s of series) {
    let studies = patients.get(s.patientId);
    if (!studies) patients.set(s.patientId, (studies = new Map()));
    let study = studies.get(s.studyInstanceUid);
    if (!study) {
      study = { studyInstanceUid: s.studyInstanceUid, series: [] };
      if (s.studyDate) study.studyDate = s.studyDate;
      if (s.accessionNumber) study.accessionNumber = s.accessionNumber;
      studies.set(s.studyInstanceUid, study);
    }
    study.series.push(s);
  }
  return [...patients.entries()].map(([patientId, studies]) => ({
    patientId,
    studies: [...studies.values()],
  }));
}

/**
 * Indexes every DICOM file under the roots (folders of any layout, or single files): headers only,
 * grouped into series. Non-DICOM files are skipped and counted; unusable DICOM files are listed with
 * their reason. Never throws for a bad file.
 */
export async function indexDicom(roots: string[], opts: IndexOptions = {}): Promise<DicomIndex> {
  const progress = opts.onProgress ?? silentProgress;
  progress({ stage: "dicom-index", done: 0, message: "listing files" });
  const { files, unreadable } = listFiles(roots);
  const collector = new SeriesCollector();
  // Folders that cannot be listed are reported, but are not files seen.
  collector.errors.push(...unreadable);
  const total = files.length;
  progress({ stage: "dicom-index", done: 0, total });
  const workers = opts.workers ?? (total >= WORKERS_FROM_FILES ? Math.min(4, availableParallelism()) : 0);
  let outcomes: FileOutcome[] | undefined;
  if (workers > 0 && total > WORKER_BATCH) {
    try {
      outcomes = await readInWorkers(files, workers, (done) =>
        progress({ stage: "dicom-index", done, total }),
      );
    } catch (e) {
      // Workers are an optimisation only: if they cannot run here, read in this thread.
      progress({
        stage: "dicom-index",
        done: 0,
        total,
        message: `worker threads failed (${(e as Error).message}); reading in one thread`,
      });
    }
  }
  if (outcomes) {
    // Added in file order, so that the result does not depend on which worker answered first.
    for (const o of outcomes) collector.add(o);
  } else {
    let lastYield = Date.now();
    for (let i = 0; i < total; i++) {
      collector.add(indexOneFile(files[i]!));
      // Yield now and then so that a progress bar (and anything else on the event loop) stays alive.
      if (Date.now() - lastYield > 100) {
        progress({ stage: "dicom-index", done: i + 1, total });
        await new Promise((r) => setImmediate(r));
        lastYield = Date.now();
      }
    }
  }
  progress({ stage: "dicom-index", done: total, total });
  return collector.finish();
}

/** Reads headers in worker threads, in batches; returns the outcomes in file order. */
async function readInWorkers(
  files: string[],
  count: number,
  onDone: (done: number) => void,
): Promise<FileOutcome[]> {
  const outcomes = new Array<FileOutcome>(files.length);
  const pool = Array.from({ length: count }, () =>
    spawnWorker(new URL("./index-worker.ts", import.meta.url)),
  );
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            let start = 0;
            const send = () => {
              if (next >= files.length) {
                resolve();
                return;
              }
              start = next;
              next = Math.min(files.length, next + WORKER_BATCH);
              w.postMessage(files.slice(start, next));
            };
            w.on("message", (batch: FileOutcome[]) => {
              for (let k = 0; k < batch.length; k++) outcomes[start + k] = batch[k]!;
              done += batch.length;
              onDone(done);
              send();
            });
            w.on("error", reject);
            w.on("exit", (code) => {
              if (next < files.length || code !== 0)
                reject(new Error(`index worker exited with code ${code}`));
            });
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return outcomes;
}
