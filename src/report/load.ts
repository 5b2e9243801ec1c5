// Reading a validation run folder: metrics.json (required), manifest.json and predictions.csv (optional).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { LiverstiffError } from "../core/index.ts";
import type { ValidationMetrics } from "../validate/types.ts";

/** The measured and predicted stiffness of one test exam, for the kPa scatter plot. */
export interface KpaPoint {
  recipe: string;
  scheme: string;
  kpa: number;
  kpaPred: number;
}

export interface RunFolder {
  metrics: ValidationMetrics;
  /** Free-form; {} when the run folder has no manifest.json. */
  manifest: Record<string, unknown>;
  /** Rows of predictions.csv with a predicted kPa; empty when the file or the column is absent. */
  kpaPoints: KpaPoint[];
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LiverstiffError("cannot read the file", { file: path }, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LiverstiffError(`not valid JSON: ${(err as Error).message}`, { file: path }, { cause: err });
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Checks the parts of a ValidationMetrics object that the report cannot do without, and throws a
 * LiverstiffError naming the field otherwise. Optional parts (kPa, subgroups, folds, oracle) may be absent.
 */
export function checkMetrics(value: unknown, file = "metrics.json"): ValidationMetrics {
  const fail = (field: string, message: string): never => {
    throw new LiverstiffError(`${file}: ${message}`, { file, field });
  };
  if (!isObject(value)) return fail("(root)", "expected a JSON object");
  if (value.formatVersion !== 1)
    fail("formatVersion", `unsupported format version ${String(value.formatVersion)}`);
  if (!Array.isArray(value.schemes)) return fail("schemes", "expected an array");
  for (const [i, s] of (value.schemes as unknown[]).entries()) {
    if (!isObject(s)) return fail(`schemes[${i}]`, "expected an object");
    if (typeof s.recipe !== "string") fail(`schemes[${i}].recipe`, "expected a string");
    if (typeof s.scheme !== "string") fail(`schemes[${i}].scheme`, "expected a string");
    if (!Array.isArray(s.thresholds)) return fail(`schemes[${i}].thresholds`, "expected an array");
    for (const [k, t] of (s.thresholds as unknown[]).entries()) {
      const at = `schemes[${i}].thresholds[${k}]`;
      if (!isObject(t)) return fail(at, "expected an object");
      if (typeof t.thresholdKpa !== "number") fail(`${at}.thresholdKpa`, "expected a number");
      if (typeof t.auc !== "number") fail(`${at}.auc`, "expected a number");
    }
  }
  if (value.comparisons !== undefined && !Array.isArray(value.comparisons))
    fail("comparisons", "expected an array");
  return value as unknown as ValidationMetrics;
}

/** Reads metrics.json, manifest.json and predictions.csv from a run folder. */
export function readRunFolder(runDir: string): RunFolder {
  const metricsPath = join(runDir, "metrics.json");
  if (!existsSync(metricsPath)) {
    throw new LiverstiffError("the run folder has no metrics.json (run `liverstiff validate` first)", {
      file: metricsPath,
    });
  }
  const metrics = checkMetrics(readJson(metricsPath), metricsPath);
  const manifestPath = join(runDir, "manifest.json");
  let manifest: Record<string, unknown> = {};
  if (existsSync(manifestPath)) {
    const m = readJson(manifestPath);
    if (!isObject(m)) throw new LiverstiffError("expected a JSON object", { file: manifestPath });
    manifest = m;
  }
  const predictionsPath = join(runDir, "predictions.csv");
  const kpaPoints = existsSync(predictionsPath) ? readKpaPoints(predictionsPath) : [];
  return { metrics, manifest, kpaPoints };
}

/** The rows of predictions.csv that carry a predicted kPa (the report's scatter plot needs no more). */
export function readKpaPoints(path: string): KpaPoint[] {
  let records: Record<string, string>[];
  try {
    records = parse(readFileSync(path, "utf8"), { columns: true, skip_empty_lines: true, trim: true });
  } catch (err) {
    throw new LiverstiffError(
      `cannot parse the CSV: ${(err as Error).message}`,
      { file: path },
      { cause: err },
    );
  }
  const out: KpaPoint[] = [];
  for (const r of records) {
    if (!r.kpa_pred) continue;
    const kpa = Number(r.kpa);
    const kpaPred = Number(r.kpa_pred);
    if (!Number.isFinite(kpa) || !Number.isFinite(kpaPred)) continue;
    out.push({ recipe: r.recipe ?? "", scheme: r.scheme ?? "", kpa, kpaPred });
  }
  return out;
}

/**
 * A numeric array from whatever a JSON round trip made of it: a plain array (nulls for infinities), a
 * typed array (in memory), or the index-keyed object that JSON.stringify makes of a Float64Array.
 */
export function numbers(value: unknown): number[] {
  const toNum = (x: unknown) => (typeof x === "number" ? x : Number.NaN);
  if (Array.isArray(value)) return value.map(toNum);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number>);
  }
  if (isObject(value)) {
    const out: number[] = [];
    for (let i = 0; String(i) in value; i++) out.push(toNum(value[String(i)]));
    return out;
  }
  return [];
}
