import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { LiverstiffError } from "../core/index.ts";

/** Which columns of a predictions table hold what. */
export interface PredictionColumns {
  scoreCol: string;
  /** 0/1 outcome column; or give kpaCol and threshold. */
  labelCol?: string;
  /** Measured stiffness (kPa); the label is 1 when kPa >= threshold. */
  kpaCol?: string;
  threshold?: number;
  clusterCol?: string;
  compareCol?: string;
  /** Keep only the rows where each column has its value (all must hold), before anything is read. */
  where?: readonly { column: string; value: string }[];
  /**
   * The column naming what one row is (an exam): it must not repeat among the rows evaluated. Default: the
   * first of exam_id, accession, exam, id in the header; false: no check. Not checked when it is the cluster
   * column (a patient's exams are meant to repeat it).
   */
  idCol?: string | false;
}

export const DEFAULT_ID_COLUMNS = ["exam_id", "accession", "exam", "examid", "id"];

export interface PredictionTable {
  file: string;
  /** Data rows in the file, and how many the `where` filters kept. */
  rowsInFile: number;
  rowsKept: number;
  /** The id column checked for repeats, if any. */
  idCol?: string;
  labels: Uint8Array;
  scores: Float64Array;
  scores2?: Float64Array;
  clusters?: string[];
  kpa?: Float64Array;
}

/**
 * Reads a predictions CSV (header row, comma-separated) into typed arrays. Every problem is a
 * LiverstiffError naming the file, the column and the row (data rows count from 1; the file line is
 * row + 1).
 */
export function readPredictionTable(file: string, columns: PredictionColumns): PredictionTable {
  if (columns.labelCol === undefined && columns.kpaCol === undefined) {
    throw new LiverstiffError("give a label column or a kPa column with a threshold", { file });
  }
  if (columns.labelCol !== undefined && columns.kpaCol !== undefined) {
    throw new LiverstiffError("give either a label column or a kPa column, not both", { file });
  }
  if (
    columns.kpaCol !== undefined &&
    !(typeof columns.threshold === "number" && Number.isFinite(columns.threshold))
  ) {
    throw new LiverstiffError("a kPa column needs a finite --threshold in kPa", {
      file,
      column: columns.kpaCol,
    });
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new LiverstiffError(
      `cannot read the predictions file: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  let rows: string[][];
  try {
    rows = parse(text, {
      bom: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: false,
    }) as string[][];
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new LiverstiffError(
      `the predictions file is not valid CSV: ${e.message}`,
      e.lines !== undefined ? { file, line: e.lines } : { file },
      { cause: err },
    );
  }
  if (rows.length === 0) throw new LiverstiffError("the predictions file is empty", { file });
  const header = rows[0];
  const all = rows.slice(1);
  if (all.length === 0) throw new LiverstiffError("the predictions file has a header but no rows", { file });
  const body = filterRows(file, header, all, columns.where ?? []);
  const idCol = checkUniqueIds(file, header, body, columns);
  const columnIndex = (name: string, role: string): number => {
    const k = header.indexOf(name);
    if (k < 0) {
      throw new LiverstiffError(`the ${role} column is not in the header (columns: ${header.join(", ")})`, {
        file,
        column: name,
      });
    }
    return k;
  };
  const numbers = (name: string, role: string): Float64Array => {
    const k = columnIndex(name, role);
    const out = new Float64Array(body.length);
    for (let r = 0; r < body.length; r++) {
      const raw = body[r][k];
      const v = raw === "" ? Number.NaN : Number(raw);
      if (!Number.isFinite(v)) {
        throw new LiverstiffError(`the ${role} value is not a finite number: ${JSON.stringify(raw)}`, {
          file,
          column: name,
          row: r + 1,
        });
      }
      out[r] = v;
    }
    return out;
  };

  const scores = numbers(columns.scoreCol, "score");
  const labels = new Uint8Array(body.length);
  let kpa: Float64Array | undefined;
  if (columns.labelCol !== undefined) {
    const raw = numbers(columns.labelCol, "label");
    for (let r = 0; r < raw.length; r++) {
      if (raw[r] !== 0 && raw[r] !== 1) {
        throw new LiverstiffError(
          `a label must be 0 or 1, got ${body[r][columnIndex(columns.labelCol, "label")]}`,
          {
            file,
            column: columns.labelCol,
            row: r + 1,
          },
        );
      }
      labels[r] = raw[r];
    }
  } else {
    kpa = numbers(columns.kpaCol as string, "kPa");
    const thr = columns.threshold as number;
    for (let r = 0; r < kpa.length; r++) labels[r] = kpa[r] >= thr ? 1 : 0;
  }
  const table: PredictionTable = { file, rowsInFile: all.length, rowsKept: body.length, labels, scores };
  if (idCol) table.idCol = idCol;
  if (kpa) table.kpa = kpa;
  if (columns.compareCol !== undefined) table.scores2 = numbers(columns.compareCol, "comparison score");
  if (columns.clusterCol !== undefined) {
    const k = columnIndex(columns.clusterCol, "cluster");
    table.clusters = body.map((row, r) => {
      if (row[k] === "") {
        throw new LiverstiffError("the cluster id is empty", {
          file,
          column: columns.clusterCol as string,
          row: r + 1,
        });
      }
      return row[k];
    });
  }
  let nPos = 0;
  for (let r = 0; r < labels.length; r++) nPos += labels[r];
  if (nPos < 2 || labels.length - nPos < 2) {
    const column = columns.labelCol ?? (columns.kpaCol as string);
    throw new LiverstiffError(
      `needs at least 2 positive and 2 negative cases, got ${nPos} positive and ${labels.length - nPos} negative`,
      { file, column },
    );
  }
  return table;
}

function filterRows(
  file: string,
  header: readonly string[],
  rows: string[][],
  where: readonly { column: string; value: string }[],
): string[][] {
  let kept = rows;
  for (const w of where) {
    const k = header.indexOf(w.column);
    if (k < 0)
      throw new LiverstiffError(
        `--where names a column that is not in the header (columns: ${header.join(", ")})`,
        {
          file,
          column: w.column,
        },
      );
    const next = kept.filter((r) => r[k] === w.value);
    if (next.length === 0) {
      const values = [...new Set(kept.map((r) => r[k]))].sort().slice(0, 12);
      throw new LiverstiffError(`no row has ${w.column}=${w.value} (values there: ${values.join(", ")})`, {
        file,
        column: w.column,
      });
    }
    kept = next;
  }
  return kept;
}

/** Refuses rows that repeat the id column, saying which columns tell them apart and how to filter. */
function checkUniqueIds(
  file: string,
  header: readonly string[],
  body: readonly string[][],
  columns: PredictionColumns,
): string | undefined {
  if (columns.idCol === false) return undefined;
  const idCol = columns.idCol ?? DEFAULT_ID_COLUMNS.find((c) => header.includes(c));
  if (idCol === undefined || idCol === columns.clusterCol) return undefined;
  const k = header.indexOf(idCol);
  if (k < 0)
    throw new LiverstiffError(`the id column is not in the header (columns: ${header.join(", ")})`, {
      file,
      column: idCol,
    });
  const groups = new Map<string, number[]>();
  body.forEach((r, i) => {
    const g = groups.get(r[k]);
    if (g) g.push(i);
    else groups.set(r[k], [i]);
  });
  const repeated = [...groups.entries()].filter(([, g]) => g.length > 1);
  if (repeated.length === 0) return idCol;
  // Columns with few values that differ within a repeated id: what the rows are really "per".
  const used = new Set([
    idCol,
    columns.scoreCol,
    columns.labelCol,
    columns.kpaCol,
    columns.compareCol,
    columns.clusterCol,
  ]);
  const splitters = header
    .map((name, c) => ({ name, c, values: [...new Set(body.map((r) => r[c]))].sort() }))
    .filter(
      (h) => !used.has(h.name) && h.values.length <= 12 && h.values.some((v) => !Number.isFinite(Number(v))),
    )
    .filter((h) => repeated.some(([, g]) => new Set(g.map((i) => body[i]![h.c])).size > 1))
    .sort((a, b) => a.values.length - b.values.length)
    .slice(0, 3);
  const [id, g] = repeated[0]!;
  const differ = splitters.map((h) => `${h.name} (${h.values.join(", ")})`).join(", ");
  const how =
    splitters.length > 0
      ? `the rows differ in ${differ}: evaluate one at a time, e.g. ${splitters.map((h) => `--where ${h.name}=${h.values[0]}`).join(" ")}`
      : "filter the rows with --where COLUMN=VALUE";
  throw new LiverstiffError(
    `${idCol} ${id} appears ${g.length} times among the ${body.length} rows evaluated (${repeated.length} ids repeat), so the AUROC would count exams more than once; ${how}. If the repeats are one patient's exams, give a column unique per exam with --id-col and the patient column with --cluster-col`,
    { file, column: idCol },
  );
}
