// Per-exam series overrides: "for this exam, series 7 is the T2w", "series 4 is not to be used". A person
// who has looked at an exam (on the QC page, say) says so in a CSV or YAML file; the override beats every
// rule of the classifier and the ranking, and travels with the model into predict (docs/dicom.md).
import { readFileSync } from "node:fs";
import { csvParse, LiverstiffError, yaml, zod } from "../core/index.ts";
import type { SeriesInfo, SeriesRole } from "./types.ts";

export interface SeriesOverride {
  /** The exam, by AccessionNumber or StudyInstanceUID (exactly one). */
  accession?: string;
  studyInstanceUid?: string;
  /** The series, by SeriesNumber or SeriesInstanceUID (at least one; both must then agree). */
  seriesNumber?: number;
  seriesInstanceUid?: string;
  role: SeriesRole | "none";
  /** For a multi-echo series: the echo (ms) that takes the role. */
  echoTimeMs?: number;
  /** Where the row came from ("overrides.csv:4"), for the reasons and the error messages. */
  source: string;
}

const ROLE_VALUES = ["t1_in", "t1_opp", "t2", "none"] as const;

// One row's fields, as both file kinds spell them (CSV header cells, YAML keys).
/** One row's schema (built on first use: zod is loaded only when an overrides file is read). */
function buildRowSchema() {
  const { z } = zod();
  return z
    .object({
      accession: z.string().min(1).optional(),
      study_instance_uid: z.string().min(1).optional(),
      series_number: z.coerce.number().int().nonnegative().optional(),
      series_instance_uid: z.string().min(1).optional(),
      role: z.enum(ROLE_VALUES),
      echo_time_ms: z.coerce.number().positive().optional(),
    })
    .strict()
    .refine((r) => (r.accession === undefined) !== (r.study_instance_uid === undefined), {
      message: "give exactly one of accession and study_instance_uid",
    })
    .refine((r) => r.series_number !== undefined || r.series_instance_uid !== undefined, {
      message: "give series_number or series_instance_uid",
    });
}
let rowSchema: ReturnType<typeof buildRowSchema> | undefined;

/** The columns (CSV) or keys (YAML) of an overrides file, in the order the template lists them. */
export const OVERRIDE_COLUMNS = [
  "accession",
  "study_instance_uid",
  "series_number",
  "series_instance_uid",
  "role",
  "echo_time_ms",
] as const;

function toOverride(raw: unknown, source: string, file: string, line: number | string): SeriesOverride {
  rowSchema ??= buildRowSchema();
  const parsed = rowSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LiverstiffError(`invalid series override: ${issue.message}`, {
      file,
      line,
      field: issue.path.join(".") || "(row)",
    });
  }
  const r = parsed.data;
  const o: SeriesOverride = { role: r.role, source };
  if (r.accession !== undefined) o.accession = r.accession;
  if (r.study_instance_uid !== undefined) o.studyInstanceUid = r.study_instance_uid;
  if (r.series_number !== undefined) o.seriesNumber = r.series_number;
  if (r.series_instance_uid !== undefined) o.seriesInstanceUid = r.series_instance_uid;
  if (r.echo_time_ms !== undefined) o.echoTimeMs = r.echo_time_ms;
  return o;
}

function parseCsvOverrides(text: string, file: string, label: string): SeriesOverride[] {
  let records: string[][];
  try {
    records = csvParse().parse(text, { bom: true, skip_empty_lines: true, trim: true }) as string[][];
  } catch (err) {
    throw new LiverstiffError(`series overrides are not valid CSV: ${(err as Error).message}`, { file });
  }
  if (records.length === 0) return [];
  const header = records[0]!.map((h) => h.toLowerCase());
  const unknown = header.filter((h) => !(OVERRIDE_COLUMNS as readonly string[]).includes(h));
  if (unknown.length > 0)
    throw new LiverstiffError(
      `series overrides: unknown column ${JSON.stringify(unknown[0])} (columns: ${OVERRIDE_COLUMNS.join(", ")})`,
      { file, line: 1 },
    );
  return records.slice(1).map((cells, i) => {
    const row: Record<string, string> = {};
    header.forEach((h, j) => {
      if (cells[j] !== undefined && cells[j] !== "") row[h] = cells[j]!;
    });
    // Line numbers as a person counts them: the header is line 1 (blank lines are skipped by the parser).
    return toOverride(row, `${label}:${i + 2}`, file, i + 2);
  });
}

function parseYamlOverrides(text: string, file: string, label: string): SeriesOverride[] {
  let content: unknown;
  try {
    content = yaml().parse(text);
  } catch (err) {
    throw new LiverstiffError(`series overrides do not parse: ${(err as Error).message}`, { file });
  }
  const list = content === null || content === undefined ? [] : content;
  if (!Array.isArray(list))
    throw new LiverstiffError("series overrides: the file must be a list of rows", { file });
  return list.map((row, i) => toOverride(row, `${label}#${i + 1}`, file, `row ${i + 1}`));
}

/** Parses an overrides file's text: CSV, or YAML/JSON (a list of rows) when the name says so. */
export function parseSeriesOverrides(text: string, file: string): SeriesOverride[] {
  const label = file.split(/[\\/]/).pop() ?? file;
  const overrides = /\.(ya?ml|json)$/i.test(file)
    ? parseYamlOverrides(text, file, label)
    : parseCsvOverrides(text, file, label);
  checkNoConflicts(overrides, file);
  return overrides;
}

/** Reads a series overrides file (CSV, YAML or JSON); throws a LiverstiffError naming the file and row. */
export function loadSeriesOverrides(path: string): SeriesOverride[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LiverstiffError("cannot read the series overrides", { file: path }, { cause: err });
  }
  return parseSeriesOverrides(text, path);
}

const examKey = (o: SeriesOverride) =>
  o.accession !== undefined ? `a:${o.accession}` : `s:${o.studyInstanceUid}`;

// Two rows giving one exam's role to two different series, or one series two roles for one echo, are
// a mistake in the file, not something to resolve silently.
function checkNoConflicts(overrides: readonly SeriesOverride[], file: string): void {
  const roleOwner = new Map<string, SeriesOverride>();
  const seriesRole = new Map<string, SeriesOverride>();
  for (const o of overrides) {
    const series = `${o.seriesNumber ?? ""}|${o.seriesInstanceUid ?? ""}|${o.echoTimeMs ?? ""}`;
    const s = seriesRole.get(`${examKey(o)}|${series}`);
    if (s && s.role !== o.role)
      throw new LiverstiffError(
        `series overrides: ${o.source} gives the series of ${s.source} another role`,
        {
          file,
        },
      );
    seriesRole.set(`${examKey(o)}|${series}`, o);
    if (o.role === "none") continue;
    const r = roleOwner.get(`${examKey(o)}|${o.role}`);
    if (r && `${r.seriesNumber ?? ""}|${r.seriesInstanceUid ?? ""}|${r.echoTimeMs ?? ""}` !== series)
      throw new LiverstiffError(
        `series overrides: ${o.source} and ${r.source} give ${o.role} of one exam to two series`,
        { file },
      );
    roleOwner.set(`${examKey(o)}|${o.role}`, o);
  }
}

/** The overrides that name this exam. */
export function overridesForExam(
  overrides: readonly SeriesOverride[],
  exam: { accessionNumber?: string; studyInstanceUid: string },
): SeriesOverride[] {
  return overrides.filter((o) =>
    o.accession !== undefined
      ? exam.accessionNumber !== undefined && o.accession === exam.accessionNumber
      : o.studyInstanceUid === exam.studyInstanceUid,
  );
}

/** Whether an override names this series (every identifier it gives must match). */
export function overrideMatchesSeries(o: SeriesOverride, s: SeriesInfo): boolean {
  if (o.seriesInstanceUid !== undefined && o.seriesInstanceUid !== s.seriesInstanceUid) return false;
  if (o.seriesNumber !== undefined && o.seriesNumber !== s.seriesNumber) return false;
  return true;
}

/**
 * A site's overrides laid over another set (the bundle's): for an exam that the site's file names, the
 * site's rows replace the other set's rows for that exam.
 */
export function layerOverrides(
  base: readonly SeriesOverride[],
  top: readonly SeriesOverride[],
): SeriesOverride[] {
  const named = new Set(top.map(examKey));
  return [...base.filter((o) => !named.has(examKey(o))), ...top];
}
