// Recursive indexing: walk the roots, read each file's header, group frames into series, studies and
// patients. A bad file is recorded with its reason and never stops the walk.
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { type ProgressSink, siblingModule, silentProgress, spawnWorker } from "../core/index.ts";
import { extractFile, type FileFacts } from "./extract.ts";
import { DicomFileError, readHeader } from "./header.ts";
import { clearPixelCache, readFrameStoredValues } from "./pixels.ts";
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

/** A file whose SOPInstanceUID an earlier file of the same SeriesInstanceUID already brought. */
interface PendingCopy {
  facts: FileFacts;
  keptFile: string;
}

/** Files of one SeriesInstanceUID and SeriesNumber, before the split by echo and complex component. */
interface Group {
  info: SeriesInfo;
  conflicts: string[];
}

/**
 * Accumulates file outcomes into series. Outcomes arrive in file order (workers' too), which decides only
 * which of two copies of a SOP instance is the one kept.
 */
export class SeriesCollector {
  private readonly groups = new Map<string, Group>();
  /** Per SeriesInstanceUID: SOPInstanceUID -> the file that brought it first. */
  private readonly sops = new Map<string, Map<string, string>>();
  private readonly copies: PendingCopy[] = [];
  readonly skipped: FileIssue[] = [];
  readonly errors: FileIssue[] = [];
  readonly warnings: FileIssue[] = [];
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
    let sops = this.sops.get(series.seriesInstanceUid);
    if (!sops) this.sops.set(series.seriesInstanceUid, (sops = new Map()));
    const sop = frames[0]!.sopInstanceUid;
    const earlier = sops.get(sop);
    if (earlier !== undefined) {
      // Compared with the kept file's pixels in finish(), which may decode.
      this.copies.push({ facts: outcome.facts, keptFile: earlier });
      return;
    }
    sops.set(sop, frames[0]!.file);
    this.addFrames(outcome.facts);
  }

  private addFrames({ series, frames }: FileFacts): Group {
    const key = `${series.seriesInstanceUid}|${series.seriesNumber ?? ""}`;
    let group = this.groups.get(key);
    if (!group) {
      group = { info: { ...series, echoTimesMs: [], frames: [] }, conflicts: [] };
      this.groups.set(key, group);
    }
    this.filesIndexed++;
    mergeSeriesFacts(group.info, series);
    for (const f of frames) group.info.frames.push(f);
    return group;
  }

  async finish(): Promise<DicomIndex> {
    await this.resolveCopies();
    const numbersPerUid = new Map<string, Set<string>>();
    for (const g of this.groups.values()) {
      const uid = g.info.seriesInstanceUid;
      if (!numbersPerUid.has(uid)) numbersPerUid.set(uid, new Set());
      numbersPerUid.get(uid)!.add(String(g.info.seriesNumber ?? "(none)"));
    }
    const series: SeriesInfo[] = [];
    for (const g of this.groups.values()) {
      const numbers = numbersPerUid.get(g.info.seriesInstanceUid)!;
      if (g.conflicts.length) g.info.conflictingCopies = g.conflicts;
      for (const part of splitSeries(g.info, numbers)) series.push(finishSeries(part));
    }
    series.sort(compareSeries);
    const byFile = (a: FileIssue, b: FileIssue) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
    return {
      series,
      patients: groupPatients(series),
      skipped: this.skipped.sort(byFile),
      errors: this.errors.sort(byFile),
      warnings: this.warnings.sort(byFile),
      filesSeen: this.filesSeen,
      filesIndexed: this.filesIndexed,
      bytesRead: this.bytesRead,
    };
  }

  /**
   * Same SOPInstanceUID twice: a copy with the same stored pixels is dropped and counted; one with
   * different pixels is kept beside the first and named in a warning (see docs/dicom.md).
   */
  private async resolveCopies(): Promise<void> {
    let decoded = false;
    for (const { facts, keptFile } of this.copies) {
      const file = facts.frames[0]!.file;
      const sop = facts.frames[0]!.sopInstanceUid;
      let same: boolean;
      try {
        const cmp = await samePixels(keptFile, facts.frames);
        same = cmp.same;
        decoded ||= cmp.decoded;
      } catch (e) {
        // The copy cannot be decoded or read (or the kept file no longer can): it is not used either way.
        decoded = true;
        const code = e instanceof DicomFileError ? e.code : "unreadable";
        this.errors.push({
          file,
          code,
          reason: `copy of SOPInstanceUID ${sop} (also in ${keptFile}) cannot be compared: ${(e as Error).message}`,
        });
        continue;
      }
      if (same) {
        this.skipped.push({
          file,
          code: "duplicate",
          reason: `duplicate of ${keptFile} (same SOPInstanceUID ${sop}, same pixel data); the copy is ignored`,
        });
        continue;
      }
      const sentence = `SOPInstanceUID ${sop} is in ${keptFile} and in ${file} with different pixel data; both are kept`;
      this.warnings.push({ file, code: "duplicate", reason: sentence });
      this.addFrames(facts).conflicts.push(sentence);
    }
    this.copies.length = 0;
    if (decoded) clearPixelCache();
  }
}

/** Whether a copy's frames hold the same stored values as the kept file's: bytes first, then decoded. */
async function samePixels(keptFile: string, frames: MrFrame[]): Promise<{ same: boolean; decoded: boolean }> {
  const copy = frames[0]!.file;
  if (readFileSync(copy).equals(readFileSync(keptFile))) return { same: true, decoded: false };
  for (const f of frames) {
    const a = await readFrameStoredValues({ file: keptFile, frameIndex: f.frameIndex });
    const b = await readFrameStoredValues(f);
    if (a.rows !== b.rows || a.columns !== b.columns || a.values.length !== b.values.length)
      return { same: false, decoded: true };
    for (let i = 0; i < a.values.length; i++)
      if (a.values[i] !== b.values[i]) return { same: false, decoded: true };
  }
  return { same: true, decoded: true };
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

/** The echo a frame belongs to: EchoNumbers and echo time both (a change in either splits, as dcm2niix). */
function echoKey(f: MrFrame): string {
  const te = f.echoTimeMs === undefined ? "" : String(Math.round(f.echoTimeMs * 100) / 100);
  return `${f.echoNumber ?? ""}|${te}`;
}

function echoFacts(f: MrFrame): string {
  const facts = [
    f.echoNumber !== undefined ? `EchoNumbers ${f.echoNumber}` : "",
    f.echoTimeMs !== undefined ? `TE ${roundMs(f.echoTimeMs)} ms` : "",
  ].filter(Boolean);
  return facts.length ? ` (${facts.join(", ")})` : "";
}

function componentOf(f: MrFrame): string {
  return f.complexComponent ?? "MAGNITUDE";
}

/**
 * Splits one SeriesInstanceUID + SeriesNumber group into one record per echo and per complex component
 * (magnitude, phase, real, imaginary), each with its own id and the reason it was split.
 */
function splitSeries(info: SeriesInfo, numbersOfUid: Set<string>): SeriesInfo[] {
  const echoes = new Map<string, MrFrame>();
  const components = new Set<string>();
  for (const f of info.frames) {
    if (!echoes.has(echoKey(f))) echoes.set(echoKey(f), f);
    components.add(componentOf(f));
  }
  const byNumber = numbersOfUid.size > 1;
  const byEcho = echoes.size > 1;
  const byComponent = components.size > 1;
  const baseId = byNumber
    ? `${info.seriesInstanceUid}#sn=${info.seriesNumber ?? "none"}`
    : info.seriesInstanceUid;
  const numberWhy = byNumber
    ? `SeriesNumber ${info.seriesNumber ?? "(none)"} of SeriesInstanceUID ${info.seriesInstanceUid}, which holds SeriesNumbers ${[...numbersOfUid].sort((a, b) => Number(a) - Number(b)).join(", ")}`
    : undefined;
  if (!byEcho && !byComponent) {
    const one: SeriesInfo = { ...info, seriesId: baseId };
    if (numberWhy) one.splitReason = `split: ${numberWhy}`;
    return [one];
  }
  const tes = [...new Set(info.frames.map((f) => f.echoTimeMs).filter((t) => t !== undefined))].map(roundMs);
  const acquisitionEchoTimesMs = [...new Set(tes)].sort((a, b) => a - b);
  const echoOrder = [...echoes.values()].sort(
    (a, b) => (a.echoNumber ?? 0) - (b.echoNumber ?? 0) || (a.echoTimeMs ?? 0) - (b.echoTimeMs ?? 0),
  );
  const parts = new Map<string, SeriesInfo>();
  for (const f of info.frames) {
    const component = componentOf(f);
    const key = `${byEcho ? echoKey(f) : ""}#${byComponent ? component : ""}`;
    let part = parts.get(key);
    if (!part) {
      const ids = [baseId];
      const why = numberWhy ? [numberWhy] : [];
      if (byEcho) {
        const n = echoOrder.findIndex((e) => echoKey(e) === echoKey(f)) + 1;
        ids.push(`echo=${n}`);
        why.push(`echo ${n} of ${echoes.size}${echoFacts(f)}`);
      }
      if (byComponent) {
        ids.push(component.toLowerCase());
        why.push(
          `${component.toLowerCase()} images of a series with ${[...components].join(", ").toLowerCase()}`,
        );
      }
      part = {
        ...info,
        seriesId: ids.join("#"),
        splitReason: `split: ${why.join("; ")}`,
        // Series-level type facts follow the part's own frames, not the group's first file.
        imageType: f.imageType,
        frames: [],
      };
      if (byComponent) part.complexComponent = component;
      if (byEcho && acquisitionEchoTimesMs.length > 1) part.acquisitionEchoTimesMs = acquisitionEchoTimesMs;
      parts.set(key, part);
    }
    part.frames.push(f);
  }
  return [...parts.values()];
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
    cmp(a.seriesInstanceUid, b.seriesInstanceUid) ||
    cmp(a.seriesId ?? "", b.seriesId ?? "")
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
  return await collector.finish();
}

/** Reads headers in worker threads, in batches; returns the outcomes in file order. */
async function readInWorkers(
  files: string[],
  count: number,
  onDone: (done: number) => void,
): Promise<FileOutcome[]> {
  const outcomes = new Array<FileOutcome>(files.length);
  const pool = Array.from({ length: count }, () =>
    spawnWorker(siblingModule(import.meta.url, "index-worker")),
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
