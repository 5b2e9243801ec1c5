import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

export interface ProcCase {
  name: string;
  labels: number[];
  scores: number[];
  scores2?: number[];
  auc: number;
  auc2?: number;
  delong_var: number;
  delong_ci95: [number, number];
  delong_paired_z?: number;
  delong_paired_p?: number;
  bootstrap_ci95_approx: [number, number];
  youden: {
    threshold: number;
    sensitivity: number;
    specificity: number;
    accuracy: number;
    tp: number;
    tn: number;
    fp: number;
    fn: number;
    sensitivity_wilson95: [number, number];
    specificity_wilson95: [number, number];
  };
}

const dir = new URL("../fixtures/stats/", import.meta.url);

export function procCases(): ProcCase[] {
  return JSON.parse(readFileSync(new URL("proc-fixtures.json", dir), "utf8")) as ProcCase[];
}

// biome-ignore lint/suspicious/noExplicitAny: fixture JSON, read field by field in the tests
export function extraFixtures(): any {
  return JSON.parse(readFileSync(new URL("extra-fixtures.json", dir), "utf8"));
}

/** |actual - expected| <= rel * |expected| (+ a tiny absolute floor for values that are 0). */
export function assertRel(actual: number, expected: number, rel: number, what: string): void {
  const tol = rel * Math.abs(expected) + 1e-300;
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: got ${actual}, expected ${expected} (relative error ${Math.abs(actual - expected) / Math.abs(expected)} > ${rel})`,
  );
}

export function assertAbs(actual: number, expected: number, abs: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= abs,
    `${what}: got ${actual}, expected ${expected} (difference > ${abs})`,
  );
}
