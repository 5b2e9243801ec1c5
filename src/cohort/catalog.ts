import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import type { MrFrame, RoleDecision, SeriesRole, Vendor } from "../dicom/index.ts";

/** One exam (one imaging study of one patient) as the catalog holds it. No names, no birth dates. */
export interface ExamRecord {
  examId: string;
  /** The patient id, or its salted hash when a salt was given. Splits group exams by this. */
  patientKey: string;
  site: string;
  /** Where `site` came from: the labels' site column, InstitutionName, or neither. */
  siteSource: "labels" | "institution" | "unknown";
  studyInstanceUid: string;
  accessionNumber?: string;
  studyDate?: string;
  ageYears?: number;
  sex?: "M" | "F" | "O";
  vendor?: Vendor;
  manufacturer?: string;
  model?: string;
  fieldStrengthT?: number;
  kpa?: number;
  /** Line of the labels file the kPa came from. */
  labelLine?: number;
  /** Images usable: the required roles were found and assembled. */
  usable: boolean;
  /** Why the exam is excluded (null when usable and labelled). */
  exclusionReason?: string;
  /** Roles present, in SERIES_ROLES order. */
  roles: SeriesRole[];
  /** Hash of the source SOP UIDs per role (what preparation depends on). */
  sourceFingerprint?: string;
}

export interface SeriesRecord {
  examId: string;
  seriesInstanceUid: string;
  /** dicom/'s seriesId when it split the UID (SeriesNumber, echo, phase); part of the row's key only. */
  seriesId?: string;
  seriesNumber?: number;
  description?: string;
  /** Echo time when the series was split by echo, or the role took one echo. */
  echoTimeMs?: number;
  imageTypeValue?: string;
  /** The role the rules gave (null: none). */
  role: SeriesRole | null;
  reasons: string[];
  /** True when this series (echo) was picked as the exam's input for its role. */
  chosen: boolean;
  /** Why it was or was not picked, or why it could not be assembled. */
  note?: string;
  frames: number;
  dims?: [number, number, number];
  spacingMm?: [number, number, number];
  orientation?: string;
}

export interface ExclusionRecord {
  scope: "file" | "series" | "exam" | "label";
  /** The exam, series UID, file path or "labels:LINE" it concerns. */
  ref: string;
  examId?: string;
  code: string;
  reason: string;
}

export interface PreparedRecord {
  examId: string;
  prepName: string;
  fingerprint: string;
  path: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS exams (
  exam_id TEXT PRIMARY KEY,
  patient_key TEXT NOT NULL,
  site TEXT NOT NULL,
  site_source TEXT NOT NULL,
  study_instance_uid TEXT NOT NULL,
  accession_number TEXT,
  study_date TEXT,
  age_years REAL,
  sex TEXT,
  vendor TEXT,
  manufacturer TEXT,
  model TEXT,
  field_strength_t REAL,
  kpa REAL,
  label_line INTEGER,
  usable INTEGER NOT NULL,
  exclusion_reason TEXT,
  roles TEXT NOT NULL,
  source_fingerprint TEXT,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exams_patient ON exams(patient_key);
CREATE TABLE IF NOT EXISTS series (
  exam_id TEXT NOT NULL,
  series_instance_uid TEXT NOT NULL,
  echo_key TEXT NOT NULL,
  series_number INTEGER,
  description TEXT,
  echo_time_ms REAL,
  image_type_value TEXT,
  role TEXT,
  reasons TEXT NOT NULL,
  chosen INTEGER NOT NULL,
  note TEXT,
  frames INTEGER NOT NULL,
  dims TEXT,
  spacing_mm TEXT,
  orientation TEXT,
  PRIMARY KEY (exam_id, series_instance_uid, echo_key)
);
CREATE TABLE IF NOT EXISTS exclusions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  scope TEXT NOT NULL,
  ref TEXT NOT NULL,
  exam_id TEXT,
  code TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prepared (
  exam_id TEXT NOT NULL,
  prep_name TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  path TEXT NOT NULL,
  PRIMARY KEY (exam_id, prep_name)
);
CREATE TABLE IF NOT EXISTS role_frames (
  exam_id TEXT NOT NULL,
  role TEXT NOT NULL,
  series_instance_uid TEXT NOT NULL,
  echo_time_ms REAL,
  image_type_value TEXT,
  frames TEXT NOT NULL,
  PRIMARY KEY (exam_id, role)
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  summary TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

export const CATALOG_FILE = "catalog.sqlite";
const SCHEMA_VERSION = "1";

interface ExamRow {
  exam_id: string;
  patient_key: string;
  site: string;
  site_source: string;
  study_instance_uid: string;
  accession_number: string | null;
  study_date: string | null;
  age_years: number | null;
  sex: string | null;
  vendor: string | null;
  manufacturer: string | null;
  model: string | null;
  field_strength_t: number | null;
  kpa: number | null;
  label_line: number | null;
  usable: number;
  exclusion_reason: string | null;
  roles: string;
  source_fingerprint: string | null;
}

interface SeriesRow {
  exam_id: string;
  series_instance_uid: string;
  series_number: number | null;
  description: string | null;
  echo_time_ms: number | null;
  image_type_value: string | null;
  role: string | null;
  reasons: string;
  chosen: number;
  note: string | null;
  frames: number;
  dims: string | null;
  spacing_mm: string | null;
  orientation: string | null;
}

const u = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/**
 * The cohort catalog: a SQLite file in the work directory. Writes go through transactions (a crash
 * leaves the previous state); later stages read it through the typed methods below.
 */
export class Catalog {
  readonly path: string;
  private readonly db: Database.Database;

  private constructor(path: string, readonly: boolean) {
    this.path = path;
    this.db = new Database(path, { readonly, fileMustExist: readonly });
    if (!readonly) {
      this.db.pragma("journal_mode = WAL");
      this.db.exec(SCHEMA);
      this.db
        .prepare("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)")
        .run(SCHEMA_VERSION);
    }
  }

  /** Opens (creating if needed) the catalog of a work directory. */
  static open(workdir: string, options: { readonly?: boolean } = {}): Catalog {
    if (!options.readonly) mkdirSync(workdir, { recursive: true });
    return new Catalog(join(workdir, CATALOG_FILE), options.readonly ?? false);
  }

  /** The work directory this catalog lives in. */
  get workdir(): string {
    return dirname(this.path);
  }

  /** A value of the meta table (JSON text), or undefined. */
  meta(key: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)").run(key, value);
  }

  close(): void {
    this.db.close();
  }

  /** Records the frames each chosen role is built from (so that any preparation can be made later). */
  setRoleSources(
    examId: string,
    sources: readonly {
      role: SeriesRole;
      seriesInstanceUid: string;
      echoTimeMs?: number;
      imageTypeValue?: string;
      frames: MrFrame[];
    }[],
  ): void {
    this.db.prepare("DELETE FROM role_frames WHERE exam_id = ?").run(examId);
    const ins = this.db.prepare(
      "INSERT INTO role_frames (exam_id, role, series_instance_uid, echo_time_ms, image_type_value, frames) VALUES (?, ?, ?, ?, ?, ?)",
    );
    for (const s of sources) {
      ins.run(
        examId,
        s.role,
        s.seriesInstanceUid,
        s.echoTimeMs ?? null,
        s.imageTypeValue ?? null,
        JSON.stringify(s.frames),
      );
    }
  }

  roleSources(examId: string): {
    role: SeriesRole;
    seriesInstanceUid: string;
    echoTimeMs?: number;
    imageTypeValue?: string;
    frames: MrFrame[];
  }[] {
    const rows = this.db
      .prepare(
        "SELECT role, series_instance_uid, echo_time_ms, image_type_value, frames FROM role_frames WHERE exam_id = ? ORDER BY role",
      )
      .all(examId) as {
      role: SeriesRole;
      series_instance_uid: string;
      echo_time_ms: number | null;
      image_type_value: string | null;
      frames: string;
    }[];
    return rows.map((r) => ({
      role: r.role,
      seriesInstanceUid: r.series_instance_uid,
      echoTimeMs: u(r.echo_time_ms),
      imageTypeValue: u(r.image_type_value),
      frames: JSON.parse(r.frames) as MrFrame[],
    }));
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  upsertExam(e: ExamRecord): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO exams (exam_id, patient_key, site, site_source, study_instance_uid, accession_number,
          study_date, age_years, sex, vendor, manufacturer, model, field_strength_t, kpa, label_line, usable,
          exclusion_reason, roles, source_fingerprint, updated_at)
         VALUES (@examId, @patientKey, @site, @siteSource, @studyInstanceUid, @accessionNumber, @studyDate, @ageYears,
          @sex, @vendor, @manufacturer, @model, @fieldStrengthT, @kpa, @labelLine, @usable, @exclusionReason, @roles,
          @sourceFingerprint, @updatedAt)`,
      )
      .run({
        examId: e.examId,
        patientKey: e.patientKey,
        site: e.site,
        siteSource: e.siteSource,
        studyInstanceUid: e.studyInstanceUid,
        accessionNumber: e.accessionNumber ?? null,
        studyDate: e.studyDate ?? null,
        ageYears: e.ageYears ?? null,
        sex: e.sex ?? null,
        vendor: e.vendor ?? null,
        manufacturer: e.manufacturer ?? null,
        model: e.model ?? null,
        fieldStrengthT: e.fieldStrengthT ?? null,
        kpa: e.kpa ?? null,
        labelLine: e.labelLine ?? null,
        usable: e.usable ? 1 : 0,
        exclusionReason: e.exclusionReason ?? null,
        roles: e.roles.join(","),
        sourceFingerprint: e.sourceFingerprint ?? null,
        updatedAt: new Date().toISOString(),
      });
  }

  replaceSeries(examId: string, series: readonly SeriesRecord[]): void {
    this.db.prepare("DELETE FROM series WHERE exam_id = ?").run(examId);
    const ins = this.db.prepare(
      `INSERT OR REPLACE INTO series (exam_id, series_instance_uid, echo_key, series_number, description, echo_time_ms,
        image_type_value, role, reasons, chosen, note, frames, dims, spacing_mm, orientation)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const s of series) {
      ins.run(
        examId,
        s.seriesInstanceUid,
        `${s.seriesId ?? ""}|${s.echoTimeMs ?? ""}|${s.imageTypeValue ?? ""}`,
        s.seriesNumber ?? null,
        s.description ?? null,
        s.echoTimeMs ?? null,
        s.imageTypeValue ?? null,
        s.role,
        JSON.stringify(s.reasons),
        s.chosen ? 1 : 0,
        s.note ?? null,
        s.frames,
        s.dims ? JSON.stringify(s.dims) : null,
        s.spacingMm ? JSON.stringify(s.spacingMm) : null,
        s.orientation ?? null,
      );
    }
  }

  /** Replaces the exclusion list (it describes the latest run). */
  replaceExclusions(list: readonly ExclusionRecord[]): void {
    this.db.prepare("DELETE FROM exclusions").run();
    const ins = this.db.prepare(
      "INSERT INTO exclusions (scope, ref, exam_id, code, reason) VALUES (?, ?, ?, ?, ?)",
    );
    for (const x of list) ins.run(x.scope, x.ref, x.examId ?? null, x.code, x.reason);
  }

  setPrepared(p: PreparedRecord): void {
    this.db
      .prepare("INSERT OR REPLACE INTO prepared (exam_id, prep_name, fingerprint, path) VALUES (?, ?, ?, ?)")
      .run(p.examId, p.prepName, p.fingerprint, p.path);
  }

  prepared(examId: string, prepName: string): PreparedRecord | undefined {
    const r = this.db
      .prepare(
        "SELECT exam_id, prep_name, fingerprint, path FROM prepared WHERE exam_id = ? AND prep_name = ?",
      )
      .get(examId, prepName) as
      | { exam_id: string; prep_name: string; fingerprint: string; path: string }
      | undefined;
    return r && { examId: r.exam_id, prepName: r.prep_name, fingerprint: r.fingerprint, path: r.path };
  }

  /** Every preparation cached for an exam. */
  preparedFor(examId: string): PreparedRecord[] {
    return (
      this.db
        .prepare(
          "SELECT exam_id, prep_name, fingerprint, path FROM prepared WHERE exam_id = ? ORDER BY prep_name",
        )
        .all(examId) as { exam_id: string; prep_name: string; fingerprint: string; path: string }[]
    ).map((r) => ({ examId: r.exam_id, prepName: r.prep_name, fingerprint: r.fingerprint, path: r.path }));
  }

  startRun(): number {
    return Number(
      this.db.prepare("INSERT INTO runs (started_at) VALUES (?)").run(new Date().toISOString())
        .lastInsertRowid,
    );
  }

  finishRun(id: number, summary: unknown): void {
    this.db
      .prepare("UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?")
      .run(new Date().toISOString(), JSON.stringify(summary), id);
  }

  lastRunSummary<T = unknown>(): T | undefined {
    const r = this.db
      .prepare("SELECT summary FROM runs WHERE summary IS NOT NULL ORDER BY id DESC LIMIT 1")
      .get() as { summary: string } | undefined;
    return r ? (JSON.parse(r.summary) as T) : undefined;
  }

  exams(): ExamRecord[] {
    return (this.db.prepare("SELECT * FROM exams ORDER BY study_date, exam_id").all() as ExamRow[]).map(
      toExam,
    );
  }

  exam(examId: string): ExamRecord | undefined {
    const r = this.db.prepare("SELECT * FROM exams WHERE exam_id = ?").get(examId) as ExamRow | undefined;
    return r && toExam(r);
  }

  /**
   * Exams a model can use: images usable, and (unless `requireLabel: false`, e.g. for inference) a kPa.
   */
  usableExams(options: { requireLabel?: boolean } = {}): ExamRecord[] {
    const requireLabel = options.requireLabel ?? true;
    return this.exams().filter((e) => e.usable && (!requireLabel || e.kpa !== undefined));
  }

  series(examId: string): SeriesRecord[] {
    return (
      this.db
        .prepare(
          "SELECT * FROM series WHERE exam_id = ? ORDER BY series_number, series_instance_uid, echo_time_ms",
        )
        .all(examId) as SeriesRow[]
    ).map((r) => ({
      examId: r.exam_id,
      seriesInstanceUid: r.series_instance_uid,
      seriesNumber: u(r.series_number),
      description: u(r.description),
      echoTimeMs: u(r.echo_time_ms),
      imageTypeValue: u(r.image_type_value),
      role: r.role as SeriesRole | null,
      reasons: JSON.parse(r.reasons) as string[],
      chosen: r.chosen === 1,
      note: u(r.note),
      frames: r.frames,
      dims: r.dims ? (JSON.parse(r.dims) as [number, number, number]) : undefined,
      spacingMm: r.spacing_mm ? (JSON.parse(r.spacing_mm) as [number, number, number]) : undefined,
      orientation: u(r.orientation),
    }));
  }

  exclusions(filter: { scope?: ExclusionRecord["scope"]; examId?: string } = {}): ExclusionRecord[] {
    const rows = this.db
      .prepare("SELECT scope, ref, exam_id, code, reason FROM exclusions ORDER BY id")
      .all() as {
      scope: ExclusionRecord["scope"];
      ref: string;
      exam_id: string | null;
      code: string;
      reason: string;
    }[];
    return rows
      .filter(
        (r) => (!filter.scope || r.scope === filter.scope) && (!filter.examId || r.exam_id === filter.examId),
      )
      .map((r) => ({ scope: r.scope, ref: r.ref, examId: u(r.exam_id), code: r.code, reason: r.reason }));
  }
}

function toExam(r: ExamRow): ExamRecord {
  return {
    examId: r.exam_id,
    patientKey: r.patient_key,
    site: r.site,
    siteSource: r.site_source as ExamRecord["siteSource"],
    studyInstanceUid: r.study_instance_uid,
    accessionNumber: u(r.accession_number),
    studyDate: u(r.study_date),
    ageYears: u(r.age_years),
    sex: u(r.sex) as ExamRecord["sex"],
    vendor: u(r.vendor) as Vendor | undefined,
    manufacturer: u(r.manufacturer),
    model: u(r.model),
    fieldStrengthT: u(r.field_strength_t),
    kpa: u(r.kpa),
    labelLine: u(r.label_line),
    usable: r.usable === 1,
    exclusionReason: u(r.exclusion_reason),
    roles: r.roles ? (r.roles.split(",") as SeriesRole[]) : [],
    sourceFingerprint: u(r.source_fingerprint),
  };
}

/** Opens the catalog of a work directory read-only (for later stages). */
export function openCatalog(workdir: string, options: { readonly?: boolean } = { readonly: true }): Catalog {
  return Catalog.open(workdir, options);
}

export type { RoleDecision };
