// The PACS side of the service: every `pollSeconds`, find studies with MR series on the DICOMweb root
// (QIDO-RS), retrieve those that are new or whose MR series changed (WADO-RS) into jobs, and store each
// finished job's SR and Secondary Capture back into its study (STOW-RS), as soon as it is done and again
// at each poll while the PACS refuses them. Only MR series are looked at, so the service's own SR and SC
// never make a study look changed.
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describeError } from "../core/index.ts";
import { type DicomJson, DicomWebClient, jsonNumber, jsonString, TAG } from "./dicomweb.ts";
import { jobPaths, receiveFiles, stagingDir } from "./receive.ts";
import type { AttachContext } from "./service.ts";

export const DEFAULT_POLL_SECONDS = 30;
export const DEFAULT_SETTLE_SECONDS = 10;

export interface PacsOptions {
  /** The DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web */
  url: string;
  pollSeconds: number;
  /**
   * A study is retrieved once its MR series and instance counts have not changed for this long, so that a
   * study still arriving at the PACS is not predicted half-stored (default 10 s).
   */
  settleSeconds?: number;
  /** Only studies from this StudyDate on (YYYYMMDD). */
  fromDate?: string;
}

export interface PacsStatus {
  url: string;
  pollSeconds: number;
  lastPollAt?: string;
  lastPollSeconds?: number;
  lastError?: string;
  studiesRetrieved: number;
  resultsStored: number;
}

/** What identifies the MR content of a study between polls: its MR series and their instance counts. */
function seriesKey(series: readonly DicomJson[]): string {
  return series
    .map((s) => `${jsonString(s, TAG.seriesInstanceUid)}:${jsonNumber(s, TAG.seriesInstances) ?? "?"}`)
    .sort()
    .join(",");
}

export class PacsPoller {
  private readonly client: DicomWebClient;
  private readonly options: PacsOptions;
  private readonly ctx: AttachContext;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private readonly state: PacsStatus;
  /** Jobs whose results are being stored now (a finished job and a poll may both ask). */
  private readonly storing = new Set<number>();
  /** Studies whose MR content changed lately: the key and when it was first seen so. */
  private readonly settling = new Map<string, { key: string; sinceMs: number }>();
  /** When the next poll is due: the poll interval, or sooner when a study settles before it. */
  private nextDelayMs: number;

  constructor(ctx: AttachContext, options: PacsOptions) {
    this.ctx = ctx;
    this.options = options;
    this.client = new DicomWebClient(options.url);
    const shown = new URL(this.client.root);
    shown.username = "";
    shown.password = "";
    this.state = {
      url: shown.href.replace(/\/+$/, ""),
      pollSeconds: options.pollSeconds,
      studiesRetrieved: 0,
      resultsStored: 0,
    };
    this.nextDelayMs = options.pollSeconds * 1000;
    ctx.onJobFinished((jobId) => void this.storeResults(jobId));
  }

  status(): PacsStatus {
    return { ...this.state };
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
        if (!this.stopped) this.timer = setTimeout(tick, this.nextDelayMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }

  /** One cycle: results not yet stored, then new or changed studies. Errors are kept in the status. */
  async pollOnce(): Promise<void> {
    const t0 = performance.now();
    this.nextDelayMs = this.options.pollSeconds * 1000;
    try {
      for (const job of this.ctx.store.jobsToStore()) await this.storeResults(job.id);
      const studies = await this.client.searchMrStudies(
        this.options.fromDate ? { fromDate: this.options.fromDate } : {},
      );
      for (const study of studies) {
        if (this.stopped) return;
        const uid = jsonString(study, TAG.studyInstanceUid);
        if (uid) await this.retrieveIfChanged(uid);
      }
      delete this.state.lastError;
    } catch (err) {
      this.state.lastError = describeError(err);
      this.ctx.log(`PACS poll failed: ${this.state.lastError}`);
    } finally {
      this.state.lastPollAt = new Date().toISOString();
      this.state.lastPollSeconds = (performance.now() - t0) / 1000;
    }
  }

  private async retrieveIfChanged(studyInstanceUid: string): Promise<void> {
    const { store, dataDir } = this.ctx;
    const series = await this.client.searchSeries(studyInstanceUid, "MR");
    const key = seriesKey(series);
    if (series.length === 0 || store.seenSeriesKey(studyInstanceUid) === key) {
      this.settling.delete(studyInstanceUid);
      return;
    }
    if (!this.settled(studyInstanceUid, key)) return;
    this.settling.delete(studyInstanceUid);
    const staging = stagingDir(dataDir);
    let n = 0;
    for (const s of series) {
      const seriesUid = jsonString(s, TAG.seriesInstanceUid);
      if (!seriesUid) continue;
      await this.client.retrieveSeries(studyInstanceUid, seriesUid, (file) => {
        writeFileSync(join(staging, `${String(++n).padStart(6, "0")}.dcm`), file);
      });
    }
    try {
      const received = await receiveFiles(store, dataDir, staging, "pacs");
      this.state.studiesRetrieved++;
      this.ctx.log(
        `PACS: study ${studyInstanceUid}: ${n} instances retrieved, ${received.map((r) => `job ${r.job.id} (${r.outcome})`).join(", ")}`,
      );
    } catch (err) {
      store.audit({ studyInstanceUid, action: "retrieve", outcome: "failed", detail: describeError(err) });
    }
    store.markSeen(studyInstanceUid, key);
    this.ctx.notifyWorker();
  }

  /** True once the study's key has stayed the same for the settle time; else schedules a poll for then. */
  private settled(studyInstanceUid: string, key: string): boolean {
    const settleMs = (this.options.settleSeconds ?? DEFAULT_SETTLE_SECONDS) * 1000;
    const now = Date.now();
    const seen = this.settling.get(studyInstanceUid);
    if (seen?.key !== key) this.settling.set(studyInstanceUid, { key, sinceMs: now });
    const waitMs = (seen?.key === key ? seen.sinceMs : now) + settleMs - now;
    if (waitMs <= 0) return true;
    this.nextDelayMs = Math.min(this.nextDelayMs, waitMs + 50);
    return false;
  }

  /** STOW-RS of a done PACS job's SR and SC into its study; a refusal is kept and retried at the next poll. */
  async storeResults(jobId: number): Promise<void> {
    if (this.storing.has(jobId)) return;
    this.storing.add(jobId);
    try {
      await this.storeJob(jobId);
    } finally {
      this.storing.delete(jobId);
    }
  }

  private async storeJob(jobId: number): Promise<void> {
    const { store, dataDir } = this.ctx;
    const job = store.job(jobId);
    if (job?.source !== "pacs" || job.state !== "done" || job.storeState === "stored") return;
    const exam = (store.exams(jobId) ?? []).find((e) => e.studyInstanceUid === job.studyInstanceUid);
    const files = [exam?.dicom?.sr, exam?.dicom?.sc].filter((f): f is string => !!f);
    if (files.length === 0) {
      store.setStoreState(jobId, "failed", "predict wrote no SR or Secondary Capture for the study");
      return;
    }
    try {
      const out = jobPaths(dataDir, jobId).out;
      const stored = await this.client.store(
        job.studyInstanceUid,
        files.map((f) => readFileSync(join(out, basename(f)))),
      );
      store.setStoreState(jobId, "stored", `${stored} instances (SR and Secondary Capture)`);
      this.state.resultsStored++;
      this.ctx.log(`PACS: job ${jobId} study ${job.studyInstanceUid}: SR and Secondary Capture stored`);
    } catch (err) {
      store.setStoreState(jobId, "failed", describeError(err));
    }
  }
}

/** The attach hook for `startService`: a poller on the PACS, started once the service listens. */
export function pacsAttachment(options: PacsOptions) {
  return (ctx: AttachContext) => {
    const poller = new PacsPoller(ctx, options);
    poller.start();
    return { stop: () => poller.stop(), status: () => poller.status() as unknown as Record<string, unknown> };
  };
}
