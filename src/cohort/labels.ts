import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { LiverstiffError } from "../core/index.ts";

/** One usable label row: a stiffness in kPa and the keys that may match it to an exam. */
export interface LabelRow {
  /** Line number in the file (the header is line 1). */
  line: number;
  accessionNumber?: string;
  studyInstanceUid?: string;
  patientId?: string;
  /** YYYY-MM-DD */
  date?: string;
  site?: string;
  kpa: number;
}

export type LabelIssueKind =
  | "missing_value"
  | "non_numeric"
  | "implausible"
  | "duplicate"
  | "conflicting"
  | "no_key"
  | "bad_date"
  | "unmatched"
  | "ambiguous"
  | "patient_mismatch"
  | "needs_patient_date";

export interface LabelIssue {
  line: number;
  kind: LabelIssueKind;
  message: string;
}

export interface LabelTable {
  rows: LabelRow[];
  /** Rows dropped because another row for the same key disagrees (matched to exams to explain them). */
  conflicted: LabelRow[];
  issues: LabelIssue[];
  /** Which source column each field came from (for the summary). */
  columns: Partial<Record<LabelField, string>>;
  /** Non-empty data rows in the file. */
  dataRows: number;
}

type LabelField = "accessionNumber" | "studyInstanceUid" | "patientId" | "date" | "site" | "kpa";

// Header names are compared lower-case with everything but letters and digits removed.
const ALIASES: Record<LabelField, string[]> = {
  accessionNumber: ["accession", "accessionnumber", "accessionno", "acc", "accno"],
  studyInstanceUid: ["studyinstanceuid", "studyuid", "study"],
  patientId: ["patientid", "patient", "pid", "mrn", "subject", "subjectid"],
  date: ["studydate", "date", "examdate", "mredate", "scandate", "acquisitiondate"],
  site: ["site", "center", "centre", "institution", "hospital"],
  kpa: [
    "kpa",
    "stiffness",
    "stiffnesskpa",
    "mrekpa",
    "mre",
    "lsm",
    "liverstiffness",
    "liverstiffnesskpa",
    "mrestiffness",
  ],
};

export const KPA_MIN = 0.5;
export const KPA_MAX = 20;

export interface LabelOptions {
  /** Plausible kPa range (default 0.5 .. 20). */
  kpaRange?: [number, number];
  /** kPa values closer than this are "the same" for duplicates (default 0.005). */
  sameKpaTolerance?: number;
}

function canon(h: string): string {
  return h.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Reads a labels CSV (comma, semicolon or tab separated; UTF-8, BOM tolerated). */
export function readLabelsCsv(path: string, options: LabelOptions = {}): LabelTable {
  if (/\.(xlsx|xlsm|xls|ods)$/i.test(path)) {
    throw new LiverstiffError(
      "spreadsheets are not read directly: save the sheet as CSV (UTF-8) and pass that",
      {
        file: path,
      },
    );
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LiverstiffError("cannot read the labels file", { file: path }, { cause: err });
  }
  return parseLabelsCsv(text, options, path);
}

export function parseLabelsCsv(text: string, options: LabelOptions = {}, source = "labels"): LabelTable {
  const firstLine = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  const delimiter = [",", ";", "\t"].sort((a, b) => count(firstLine, b) - count(firstLine, a))[0];
  let records: string[][];
  try {
    records = parse(text, {
      bom: true,
      delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
    }) as string[][];
  } catch (err) {
    throw new LiverstiffError(`labels file is not valid CSV: ${(err as Error).message}`, { file: source });
  }
  if (records.length === 0) throw new LiverstiffError("labels file is empty", { file: source });
  const header = records[0].map(canon);
  const columns: Partial<Record<LabelField, string>> = {};
  const index: Partial<Record<LabelField, number>> = {};
  for (const field of Object.keys(ALIASES) as LabelField[]) {
    for (const alias of ALIASES[field]) {
      const i = header.indexOf(alias);
      if (i >= 0) {
        index[field] = i;
        columns[field] = records[0][i];
        break;
      }
    }
  }
  if (index.kpa === undefined) {
    throw new LiverstiffError(`labels file has no stiffness column (one of: ${ALIASES.kpa.join(", ")})`, {
      file: source,
    });
  }
  if (
    index.accessionNumber === undefined &&
    index.studyInstanceUid === undefined &&
    index.patientId === undefined
  ) {
    throw new LiverstiffError(
      "labels file has no accession number, StudyInstanceUID or patient id column to match exams by",
      { file: source },
    );
  }
  const [lo, hi] = options.kpaRange ?? [KPA_MIN, KPA_MAX];
  const rows: LabelRow[] = [];
  const issues: LabelIssue[] = [];
  let dataRows = 0;
  for (let r = 1; r < records.length; r++) {
    const rec = records[r];
    const line = r + 1;
    const get = (f: LabelField) => {
      const i = index[f];
      const v = i === undefined ? undefined : rec[i]?.trim();
      return v ? v : undefined;
    };
    if (rec.every((c) => !c.trim())) continue;
    dataRows++;
    const accessionNumber = get("accessionNumber");
    const studyInstanceUid = get("studyInstanceUid");
    const patientId = get("patientId");
    const rawDate = get("date");
    const rawKpa = get("kpa");
    if (!accessionNumber && !studyInstanceUid && !patientId) {
      issues.push({ line, kind: "no_key", message: "no accession number, StudyInstanceUID or patient id" });
      continue;
    }
    if (rawKpa === undefined) {
      issues.push({ line, kind: "missing_value", message: "stiffness (kPa) is missing" });
      continue;
    }
    const kpa = parseKpa(rawKpa);
    if (kpa === undefined) {
      issues.push({ line, kind: "non_numeric", message: `stiffness "${rawKpa}" is not a number` });
      continue;
    }
    if (kpa < lo || kpa > hi) {
      issues.push({ line, kind: "implausible", message: `stiffness ${kpa} kPa is outside ${lo}..${hi} kPa` });
      continue;
    }
    let date: string | undefined;
    if (rawDate !== undefined) {
      date = parseDate(rawDate);
      if (!date) {
        issues.push({
          line,
          kind: "bad_date",
          message: `date "${rawDate}" is not YYYY-MM-DD, YYYYMMDD or DD.MM.YYYY`,
        });
        if (!accessionNumber && !studyInstanceUid) continue;
      }
    }
    if (!accessionNumber && !studyInstanceUid && !date) {
      issues.push({ line, kind: "no_key", message: "a patient id alone needs a date to match an exam" });
      continue;
    }
    rows.push({ line, accessionNumber, studyInstanceUid, patientId, date, site: get("site"), kpa });
  }
  const dedup = dedupe(rows, options.sameKpaTolerance ?? 0.005);
  return {
    rows: dedup.rows,
    conflicted: dedup.conflicted,
    issues: [...issues, ...dedup.issues].sort((a, b) => a.line - b.line),
    columns,
    dataRows,
  };
}

function count(s: string, ch: string): number {
  return s.split(ch).length - 1;
}

/** "3.2", "3,2" (decimal comma), "3.2 kPa" -> 3.2; anything else -> undefined. */
export function parseKpa(raw: string): number | undefined {
  let s = raw.trim().replace(/\s*kpa$/i, "");
  if (/^[+-]?\d+,\d+$/.test(s)) s = s.replace(",", ".");
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/** ISO (YYYY-MM-DD, optionally with a time), DICOM (YYYYMMDD) or European (DD.MM.YYYY) -> YYYY-MM-DD. */
export function parseDate(raw: string): string | undefined {
  const s = raw.trim();
  let m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$/.exec(s) ?? /^(\d{4})(\d{2})(\d{2})$/.exec(s);
  let y: number;
  let mo: number;
  let d: number;
  if (m) {
    [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  } else {
    m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(s);
    if (!m) return undefined;
    [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  }
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return undefined;
  return t.toISOString().slice(0, 10);
}

function rowKey(r: LabelRow): string {
  if (r.accessionNumber) return `acc:${r.accessionNumber}`;
  if (r.studyInstanceUid) return `uid:${r.studyInstanceUid}`;
  return `pid:${r.patientId}@${r.date}`;
}

/** Same key twice: same value -> duplicate (first kept); different values -> conflicting (none kept). */
function dedupe(
  rows: LabelRow[],
  tol: number,
): { rows: LabelRow[]; conflicted: LabelRow[]; issues: LabelIssue[] } {
  const groups = new Map<string, LabelRow[]>();
  for (const r of rows) {
    const k = rowKey(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const out: LabelRow[] = [];
  const conflicted: LabelRow[] = [];
  const issues: LabelIssue[] = [];
  for (const [key, g] of groups) {
    if (g.length === 1) {
      out.push(g[0]);
      continue;
    }
    const values = g.map((r) => r.kpa);
    if (Math.max(...values) - Math.min(...values) > tol) {
      conflicted.push(...g);
      for (const r of g) {
        issues.push({
          line: r.line,
          kind: "conflicting",
          message: `conflicting stiffness values for ${key.replace(/^\w+:/, "")}: ${values.join(" vs ")} kPa (lines ${g.map((x) => x.line).join(", ")}); none used`,
        });
      }
      continue;
    }
    out.push(g[0]);
    for (const r of g.slice(1)) {
      issues.push({
        line: r.line,
        kind: "duplicate",
        message: `duplicate of line ${g[0].line} (same exam, same ${r.kpa} kPa); kept once`,
      });
    }
  }
  return { rows: out.sort((a, b) => a.line - b.line), conflicted, issues };
}

/** What the matcher needs to know about an exam. */
export interface ExamKeys {
  examId: string;
  studyInstanceUid: string;
  accessionNumber?: string;
  patientId: string;
  studyDate?: string;
}

export interface LabelMatch {
  kpa: number;
  line: number;
  site?: string;
  by: "accession" | "study_uid" | "patient_date";
}

export interface MatchResult {
  byExam: Map<string, LabelMatch>;
  issues: LabelIssue[];
  /** examId -> reason, for exams whose labels conflict after matching. */
  conflicts: Map<string, string>;
}

/**
 * How label rows find their exam. "strict" (the default): by accession number or StudyInstanceUID only,
 * and a patient id given on both sides must agree. "patient-date": as strict, and a row whose accession and
 * UID match no exam (or that has neither) falls back to its patient id and the nearest study date.
 */
export type LabelMatchMode = "strict" | "patient-date";
export const LABEL_MATCH_MODES: readonly LabelMatchMode[] = ["strict", "patient-date"];

/**
 * Matches label rows to exams: by accession number, else StudyInstanceUID, else (mode "patient-date"
 * only) patient id and the nearest study date within `windowDays` (a tie is ambiguous and reported). A row
 * whose key finds an exam of another patient is rejected. Two rows that land on one exam with different
 * values are a conflict (the exam gets no label); with the same value, a duplicate.
 */
export function matchLabels(
  rows: readonly LabelRow[],
  exams: readonly ExamKeys[],
  options: {
    windowDays?: number;
    sameKpaTolerance?: number;
    conflicted?: readonly LabelRow[];
    mode?: LabelMatchMode;
  } = {},
): MatchResult {
  const windowDays = options.windowDays ?? 7;
  const mode = options.mode ?? "strict";
  const tol = options.sameKpaTolerance ?? 0.005;
  const byAcc = new Map<string, ExamKeys[]>();
  const byUid = new Map<string, ExamKeys>();
  const byPid = new Map<string, ExamKeys[]>();
  for (const e of exams) {
    if (e.accessionNumber) push(byAcc, e.accessionNumber, e);
    byUid.set(e.studyInstanceUid, e);
    push(byPid, e.patientId, e);
  }
  const issues: LabelIssue[] = [];
  const hits = new Map<string, { row: LabelRow; by: LabelMatch["by"] }[]>();
  const otherPatient = (row: LabelRow, exam: ExamKeys, key: string): LabelIssue | undefined =>
    row.patientId && exam.patientId && row.patientId !== exam.patientId
      ? {
          line: row.line,
          kind: "patient_mismatch",
          message: `${key} belongs to an exam of patient ${exam.patientId}, but the row names patient ${row.patientId}; not used`,
        }
      : undefined;
  const find = (row: LabelRow): { exam?: ExamKeys; by?: LabelMatch["by"]; issue?: LabelIssue } => {
    if (row.accessionNumber) {
      const cands = byAcc.get(row.accessionNumber) ?? [];
      const narrowed = row.patientId ? cands.filter((c) => c.patientId === row.patientId) : cands;
      if (narrowed.length === 1) return { exam: narrowed[0], by: "accession" };
      if (narrowed.length > 1) {
        return {
          issue: {
            line: row.line,
            kind: "ambiguous",
            message: `accession number ${row.accessionNumber} belongs to ${narrowed.length} studies`,
          },
        };
      }
      if (cands.length > 0)
        return { issue: otherPatient(row, cands[0]!, `accession number ${row.accessionNumber}`) };
    }
    if (row.studyInstanceUid) {
      const exam = byUid.get(row.studyInstanceUid);
      if (exam) {
        const issue = otherPatient(row, exam, `StudyInstanceUID ${row.studyInstanceUid}`);
        return issue ? { issue } : { exam, by: "study_uid" };
      }
    }
    if (mode === "strict") {
      const keyed = row.accessionNumber || row.studyInstanceUid;
      return {
        issue: keyed
          ? {
              line: row.line,
              kind: "unmatched",
              message: `no exam matches (${describeKeys(row, windowDays, false)}); patient id + date is not tried without --labels-match patient-date`,
            }
          : {
              line: row.line,
              kind: "needs_patient_date",
              message:
                "the row has no accession number or StudyInstanceUID; matching by patient id + date needs --labels-match patient-date",
            },
      };
    }
    if (row.patientId && row.date) {
      const t = Date.parse(row.date);
      const cands = (byPid.get(row.patientId) ?? [])
        .filter((e) => e.studyDate)
        .map((e) => ({ e, d: Math.abs(Date.parse(e.studyDate!) - t) / 86400000 }))
        .filter((c) => c.d <= windowDays + 1e-9)
        .sort((a, b) => a.d - b.d);
      if (cands.length > 1 && cands[0].d === cands[1].d) {
        return {
          issue: {
            line: row.line,
            kind: "ambiguous",
            message: `patient's studies on ${cands[0].e.studyDate} and ${cands[1].e.studyDate} are equally near ${row.date}`,
          },
        };
      }
      if (cands.length > 0) return { exam: cands[0].e, by: "patient_date" };
    }
    return {
      issue: {
        line: row.line,
        kind: "unmatched",
        message: `no exam matches (${describeKeys(row, windowDays, true)})`,
      },
    };
  };
  for (const row of rows) {
    const f = find(row);
    if (!f.exam || !f.by) {
      if (f.issue) issues.push(f.issue);
      continue;
    }
    push(hits, f.exam.examId, { row, by: f.by });
  }
  const byExam = new Map<string, LabelMatch>();
  const conflicts = new Map<string, string>();
  for (const [examId, list] of hits) {
    const values = list.map((h) => h.row.kpa);
    if (Math.max(...values) - Math.min(...values) > tol) {
      const lines = list.map((h) => h.row.line).join(", ");
      const reason = `conflicting labels: ${values.join(" vs ")} kPa (lines ${lines})`;
      conflicts.set(examId, reason);
      for (const h of list) issues.push({ line: h.row.line, kind: "conflicting", message: reason });
      continue;
    }
    const first = list[0];
    byExam.set(examId, { kpa: first.row.kpa, line: first.row.line, site: first.row.site, by: first.by });
    for (const h of list.slice(1)) {
      issues.push({
        line: h.row.line,
        kind: "duplicate",
        message: `matches the same exam as line ${first.row.line} with the same value; kept once`,
      });
    }
  }
  // Rows that conflicted within the sheet: their exam gets no label, and says why.
  const conflictedByExam = new Map<string, LabelRow[]>();
  for (const row of options.conflicted ?? []) {
    const f = find(row);
    if (f.exam) push(conflictedByExam, f.exam.examId, row);
  }
  for (const [examId, list] of conflictedByExam) {
    byExam.delete(examId);
    const values = list.map((r) => r.kpa);
    conflicts.set(
      examId,
      `conflicting labels: ${values.join(" vs ")} kPa (lines ${list.map((r) => r.line).join(", ")})`,
    );
  }
  issues.sort((a, b) => a.line - b.line);
  return { byExam, issues, conflicts };
}

function describeKeys(r: LabelRow, windowDays: number, patientDate: boolean): string {
  const parts: string[] = [];
  if (r.accessionNumber) parts.push(`accession ${r.accessionNumber}`);
  if (r.studyInstanceUid) parts.push(`study UID ${r.studyInstanceUid}`);
  if (patientDate && r.patientId && r.date) parts.push(`patient id + date ${r.date} ±${windowDays} d`);
  return parts.join("; ");
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}
