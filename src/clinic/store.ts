// The service's state: one SQLite file under the data folder holding the jobs (one per received version
// of a study), the audit log, and what the PACS poller has already seen. No names, no birth dates: a job
// knows its study by StudyInstanceUID and accession only.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { ExamReport } from "../deploy/index.ts";

export const JOBS_FILE = "jobs.sqlite";

/** received → predicting → done | failed. A restart puts "predicting" jobs back to "received". */
export type JobState = "received" | "predicting" | "done" | "failed";
/** Where the study came from: an upload (web app or API), the PACS poller, or a C-STORE to the DIMSE SCP. */
export type JobSource = "upload" | "pacs" | "dimse";
/**
 * For jobs whose results go back (PACS: STOW-RS into the study; DIMSE: C-STORE to --send-to): whether the
 * SR and the Secondary Capture were sent.
 */
export type StoreState = "none" | "pending" | "stored" | "failed";

export interface Job {
  id: number;
  studyInstanceUid: string;
  accession?: string;
  /** sha256 of the study's sorted MR SOP Instance UIDs: the same instances give the same digest. */
  instanceDigest: string;
  instances: number;
  source: JobSource;
  state: JobState;
  /** Why the job failed (state "failed"). */
  reason?: string;
  /** The category label (">= 3.0 kPa") once done. */
  category?: string;
  attempts: number;
  receivedAt: string;
  startedAt?: string;
  finishedAt?: string;
  storeState: StoreState;
  storeReason?: string;
}

export interface AuditEntry {
  id: number;
  time: string;
  studyInstanceUid?: string;
  accession?: string;
  jobId?: number;
  action: string;
  outcome: string;
  bundleDigest: string;
  detail?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  study_instance_uid TEXT NOT NULL,
  accession TEXT,
  instance_digest TEXT NOT NULL,
  instances INTEGER NOT NULL,
  source TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  category TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  received_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  store_state TEXT NOT NULL DEFAULT 'none',
  store_reason TEXT,
  exams TEXT,
  UNIQUE (study_instance_uid, instance_digest)
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time TEXT NOT NULL,
  study_instance_uid TEXT,
  accession TEXT,
  job_id INTEGER,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  bundle_digest TEXT NOT NULL,
  detail TEXT
);
CREATE TABLE IF NOT EXISTS pacs_seen (
  study_instance_uid TEXT PRIMARY KEY,
  series_key TEXT NOT NULL,
  seen_at TEXT NOT NULL
);
`;

interface JobRow {
  id: number;
  study_instance_uid: string;
  accession: string | null;
  instance_digest: string;
  instances: number;
  source: string;
  state: string;
  reason: string | null;
  category: string | null;
  attempts: number;
  received_at: string;
  started_at: string | null;
  finished_at: string | null;
  store_state: string;
  store_reason: string | null;
}

interface AuditRow {
  id: number;
  time: string;
  study_instance_uid: string | null;
  accession: string | null;
  job_id: number | null;
  action: string;
  outcome: string;
  bundle_digest: string;
  detail: string | null;
}

const u = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
const now = () => new Date().toISOString();

function jobOf(r: JobRow): Job {
  const job: Job = {
    id: r.id,
    studyInstanceUid: r.study_instance_uid,
    instanceDigest: r.instance_digest,
    instances: r.instances,
    source: r.source as JobSource,
    state: r.state as JobState,
    attempts: r.attempts,
    receivedAt: r.received_at,
    storeState: r.store_state as StoreState,
  };
  const optional = {
    accession: u(r.accession),
    reason: u(r.reason),
    category: u(r.category),
    startedAt: u(r.started_at),
    finishedAt: u(r.finished_at),
    storeReason: u(r.store_reason),
  };
  for (const [k, v] of Object.entries(optional))
    if (v !== undefined) (job as unknown as Record<string, unknown>)[k] = v;
  return job;
}

function auditOf(r: AuditRow): AuditEntry {
  const e: AuditEntry = {
    id: r.id,
    time: r.time,
    action: r.action,
    outcome: r.outcome,
    bundleDigest: r.bundle_digest,
  };
  if (r.study_instance_uid !== null) e.studyInstanceUid = r.study_instance_uid;
  if (r.accession !== null) e.accession = r.accession;
  if (r.job_id !== null) e.jobId = r.job_id;
  if (r.detail !== null) e.detail = r.detail;
  return e;
}

export interface NewStudy {
  studyInstanceUid: string;
  accession?: string;
  instanceDigest: string;
  instances: number;
  source: JobSource;
  /** Its results are sent back (a PACS job; a DIMSE job with a destination): store state "pending". */
  resultsGoBack?: boolean;
}

/** What receiving a study did: a new job, a failed job queued again, or the job that already has it. */
export interface Admission {
  job: Job;
  outcome: "new" | "retry" | "duplicate";
}

/**
 * The job store: `DATA/jobs.sqlite`. Every change is one statement or one transaction, so a crash leaves
 * the previous state; `open` puts jobs that were predicting when the process stopped back in the queue.
 */
export class JobStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly bundleDigest: string;

  private constructor(path: string, bundleDigest: string) {
    this.path = path;
    this.bundleDigest = bundleDigest;
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
  }

  /** Opens (or creates) the store in `dataDir`; audits the service start with the bundle's digest. */
  static open(dataDir: string, bundleDigest: string): JobStore {
    mkdirSync(dataDir, { recursive: true });
    return new JobStore(join(dataDir, JOBS_FILE), bundleDigest);
  }

  close(): void {
    this.db.close();
  }

  /** Jobs left "predicting" by a process that stopped go back to "received"; returns them. */
  resumeInterrupted(): Job[] {
    const rows = this.db
      .prepare("SELECT * FROM jobs WHERE state = 'predicting' ORDER BY id")
      .all() as JobRow[];
    const back = this.db.prepare("UPDATE jobs SET state = 'received' WHERE id = ?");
    this.db.transaction(() => {
      for (const r of rows) {
        back.run(r.id);
        this.audit({
          job: jobOf(r),
          action: "resume",
          outcome: "queued",
          detail: "the service stopped during it",
        });
      }
    })();
    return rows.map((r) => jobOf({ ...r, state: "received" }));
  }

  /**
   * Admits a received study: a study whose instances are those of an existing job is not processed again
   * (unless that job failed: then it is queued again); a changed study (other instances) is a new job.
   */
  admit(study: NewStudy): Admission {
    return this.db.transaction((): Admission => {
      const existing = this.db
        .prepare("SELECT * FROM jobs WHERE study_instance_uid = ? AND instance_digest = ?")
        .get(study.studyInstanceUid, study.instanceDigest) as JobRow | undefined;
      if (existing && existing.state !== "failed") {
        const job = jobOf(existing);
        this.audit({ job, action: "receive", outcome: "duplicate", detail: `source ${study.source}` });
        return { job, outcome: "duplicate" };
      }
      if (existing) {
        this.db
          .prepare(
            "UPDATE jobs SET state = 'received', reason = NULL, attempts = 0, received_at = ?, started_at = NULL, finished_at = NULL WHERE id = ?",
          )
          .run(now(), existing.id);
        const job = this.job(existing.id)!;
        this.audit({ job, action: "receive", outcome: "retry", detail: `source ${study.source}` });
        return { job, outcome: "retry" };
      }
      const info = this.db
        .prepare(
          `INSERT INTO jobs (study_instance_uid, accession, instance_digest, instances, source, state, received_at, store_state)
           VALUES (?, ?, ?, ?, ?, 'received', ?, ?)`,
        )
        .run(
          study.studyInstanceUid,
          study.accession ?? null,
          study.instanceDigest,
          study.instances,
          study.source,
          now(),
          (study.resultsGoBack ?? study.source === "pacs") ? "pending" : "none",
        );
      const job = this.job(Number(info.lastInsertRowid))!;
      this.audit({
        job,
        action: "receive",
        outcome: "new",
        detail: `source ${study.source}, ${study.instances} MR instances`,
      });
      return { job, outcome: "new" };
    })();
  }

  job(id: number): Job | undefined {
    const r = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
    return r && jobOf(r);
  }

  /** Every job of a study, newest first. */
  jobsOfStudy(studyInstanceUid: string): Job[] {
    const rows = this.db
      .prepare("SELECT * FROM jobs WHERE study_instance_uid = ? ORDER BY id DESC")
      .all(studyInstanceUid) as JobRow[];
    return rows.map(jobOf);
  }

  /** The newest job of each study, newest first. */
  latestJobs(limit = 500): Job[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM jobs WHERE id IN (SELECT MAX(id) FROM jobs GROUP BY study_instance_uid)
         ORDER BY id DESC LIMIT ?`,
      )
      .all(limit) as JobRow[];
    return rows.map(jobOf);
  }

  counts(): Record<JobState, number> {
    const rows = this.db.prepare("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").all() as {
      state: JobState;
      n: number;
    }[];
    const out: Record<JobState, number> = { received: 0, predicting: 0, done: 0, failed: 0 };
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /** Takes the oldest received job: marks it predicting and counts the attempt. */
  takeNext(): Job | undefined {
    return this.db.transaction(() => {
      const r = this.db.prepare("SELECT * FROM jobs WHERE state = 'received' ORDER BY id LIMIT 1").get() as
        | JobRow
        | undefined;
      if (!r) return undefined;
      this.db
        .prepare("UPDATE jobs SET state = 'predicting', attempts = attempts + 1, started_at = ? WHERE id = ?")
        .run(now(), r.id);
      const job = this.job(r.id)!;
      this.audit({ job, action: "predict", outcome: "started", detail: `attempt ${job.attempts}` });
      return job;
    })();
  }

  /** A finished prediction: the exam entries of the report (as predict --json writes them). */
  finish(id: number, exams: ExamReport[], category: string | undefined): void {
    this.db
      .prepare(
        "UPDATE jobs SET state = 'done', category = ?, exams = ?, reason = NULL, finished_at = ? WHERE id = ?",
      )
      .run(category ?? null, JSON.stringify(exams), now(), id);
    const job = this.job(id)!;
    this.audit({
      job,
      action: "predict",
      outcome: "done",
      detail: category ? `category ${category}` : undefined,
    });
  }

  fail(id: number, reason: string, exams?: ExamReport[]): void {
    this.db
      .prepare("UPDATE jobs SET state = 'failed', reason = ?, exams = ?, finished_at = ? WHERE id = ?")
      .run(reason, exams ? JSON.stringify(exams) : null, now(), id);
    this.audit({ job: this.job(id)!, action: "predict", outcome: "failed", detail: reason });
  }

  /** Puts a job that was predicting back in the queue (the service is stopping). */
  requeue(id: number): void {
    this.db.prepare("UPDATE jobs SET state = 'received' WHERE id = ? AND state = 'predicting'").run(id);
    this.audit({
      job: this.job(id)!,
      action: "predict",
      outcome: "interrupted",
      detail: "the service is stopping",
    });
  }

  exams(id: number): ExamReport[] | undefined {
    const r = this.db.prepare("SELECT exams FROM jobs WHERE id = ?").get(id) as
      | { exams: string | null }
      | undefined;
    return r?.exams ? (JSON.parse(r.exams) as ExamReport[]) : undefined;
  }

  /** Done jobs of a source whose results are not yet sent back (pending, or failed: retried). */
  jobsToStore(source: JobSource = "pacs"): Job[] {
    const rows = this.db
      .prepare(
        "SELECT * FROM jobs WHERE source = ? AND state = 'done' AND store_state IN ('pending', 'failed') ORDER BY id",
      )
      .all(source) as JobRow[];
    return rows.map(jobOf);
  }

  setStoreState(id: number, state: StoreState, reason?: string): void {
    this.db
      .prepare("UPDATE jobs SET store_state = ?, store_reason = ? WHERE id = ?")
      .run(state, reason ?? null, id);
    this.audit({
      job: this.job(id)!,
      action: "store",
      outcome: state,
      ...(reason ? { detail: reason } : {}),
    });
  }

  /** The PACS poller's memory: a key of the study's MR series and their instance counts when last retrieved. */
  seenSeriesKey(studyInstanceUid: string): string | undefined {
    const r = this.db
      .prepare("SELECT series_key FROM pacs_seen WHERE study_instance_uid = ?")
      .get(studyInstanceUid) as { series_key: string } | undefined;
    return r?.series_key;
  }

  markSeen(studyInstanceUid: string, seriesKey: string): void {
    this.db
      .prepare(
        `INSERT INTO pacs_seen (study_instance_uid, series_key, seen_at) VALUES (?, ?, ?)
         ON CONFLICT(study_instance_uid) DO UPDATE SET series_key = excluded.series_key, seen_at = excluded.seen_at`,
      )
      .run(studyInstanceUid, seriesKey, now());
  }

  /** Appends to the audit log: time, study, accession, job, action, outcome, the bundle's digest. */
  audit(entry: {
    job?: Pick<Job, "id" | "studyInstanceUid" | "accession">;
    studyInstanceUid?: string;
    action: string;
    outcome: string;
    detail?: string | undefined;
  }): void {
    this.db
      .prepare(
        `INSERT INTO audit (time, study_instance_uid, accession, job_id, action, outcome, bundle_digest, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        now(),
        entry.job?.studyInstanceUid ?? entry.studyInstanceUid ?? null,
        entry.job?.accession ?? null,
        entry.job?.id ?? null,
        entry.action,
        entry.outcome,
        this.bundleDigest,
        entry.detail ?? null,
      );
  }

  auditLog(limit = 1000, studyInstanceUid?: string): AuditEntry[] {
    const rows = (
      studyInstanceUid
        ? this.db
            .prepare("SELECT * FROM audit WHERE study_instance_uid = ? ORDER BY id DESC LIMIT ?")
            .all(studyInstanceUid, limit)
        : this.db.prepare("SELECT * FROM audit ORDER BY id DESC LIMIT ?").all(limit)
    ) as AuditRow[];
    return rows.map(auditOf);
  }
}
