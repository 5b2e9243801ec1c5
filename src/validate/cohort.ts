// The validated cohort as a journal's Table 1 (per site and overall) and the STARD-style flow of exams
// from files on disk to each scheme's test part.
import type { Catalog, IngestSummary } from "../cohort/index.ts";
import { THRESHOLDS_KPA } from "../features/types.ts";
import type { CohortFlow, CohortSummary, PredictionRow, SchemeName } from "./types.ts";

/** What the cohort table needs of an exam (ExamFeatures and PredictionRow both have it). */
export interface CohortExam {
  patientKey: string;
  site: string;
  vendor?: string;
  fieldStrengthT?: number;
  ageYears?: number;
  sex?: string;
  kpa?: number;
}

/** Counts of a key over the items, keys sorted; items without a key count as "not recorded". */
function tally<T>(items: readonly T[], key: (x: T) => string | undefined): Record<string, number> {
  const counts = new Map<string, number>();
  for (const x of items) {
    const k = key(x) ?? "not recorded";
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** Quantile of sorted values by linear interpolation (R's type 7, the default of quantile()). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

function summarise(group: string, exams: readonly CohortExam[]): CohortSummary {
  const ages = exams.flatMap((e) =>
    e.ageYears !== undefined && Number.isFinite(e.ageYears) ? [e.ageYears] : [],
  );
  const mean = ages.reduce((a, b) => a + b, 0) / ages.length;
  const sd =
    ages.length >= 2
      ? Math.sqrt(ages.reduce((a, b) => a + (b - mean) ** 2, 0) / (ages.length - 1))
      : Number.NaN;
  const kpa = exams
    .flatMap((e) => (e.kpa !== undefined && Number.isFinite(e.kpa) ? [e.kpa] : []))
    .sort((a, b) => a - b);
  return {
    group,
    exams: exams.length,
    patients: new Set(exams.map((e) => e.patientKey)).size,
    vendors: tally(exams, (e) => e.vendor),
    fieldStrengths: tally(exams, (e) =>
      e.fieldStrengthT === undefined ? undefined : String(e.fieldStrengthT),
    ),
    age: ages.length > 0 ? { n: ages.length, mean, sd } : null,
    sex: tally(exams, (e) => e.sex),
    pediatric: { n: ages.filter((a) => a < 18).length, of: ages.length },
    kpa: {
      median: quantileSorted(kpa, 0.5),
      q1: quantileSorted(kpa, 0.25),
      q3: quantileSorted(kpa, 0.75),
    },
    positives: THRESHOLDS_KPA.map((t) => ({ thresholdKpa: t, n: kpa.filter((k) => k >= t).length })),
  };
}

/** One summary per site (sorted) and one for all exams, last. */
export function cohortSummaries(exams: readonly CohortExam[]): CohortSummary[] {
  const sites = [...new Set(exams.map((e) => e.site))].sort();
  return [
    ...sites.map((s) =>
      summarise(
        s,
        exams.filter((e) => e.site === s),
      ),
    ),
    summarise("all", exams),
  ];
}

/** Counts ingest knew before validation (absent without a work folder's catalog). */
export type IngestFlow = Omit<CohortFlow, "validated" | "validatedPatients" | "schemes">;

/** The flow: ingest's counts, then the validated exams, then each scheme's pooled test part. */
export function cohortFlow(
  ingest: IngestFlow | undefined,
  validated: readonly CohortExam[],
  tests: { scheme: SchemeName; rows: readonly PredictionRow[]; droppedTestExams?: number }[],
): CohortFlow {
  return {
    ...ingest,
    validated: validated.length,
    validatedPatients: new Set(validated.map((e) => e.patientKey)).size,
    schemes: tests.map((t) => {
      const out: CohortFlow["schemes"][number] = {
        scheme: t.scheme,
        testExams: new Set(t.rows.map((r) => r.examId)).size,
        testPatients: new Set(t.rows.map((r) => r.patientId)).size,
      };
      if (t.droppedTestExams !== undefined) out.droppedTestExams = t.droppedTestExams;
      return out;
    }),
  };
}

/** The flow's first steps as the catalog and the last ingest's summary know them. */
export function catalogFlow(catalog: Catalog): IngestFlow {
  const exams = catalog.exams();
  const series = new Set<string>();
  for (const e of exams) for (const x of catalog.series(e.examId)) series.add(x.seriesInstanceUid);
  const summary = catalog.lastRunSummary<IngestSummary>();
  const flow: IngestFlow = {
    series: series.size,
    examsFound: exams.length,
    usableImages: exams.filter((e) => e.usable).length,
    labelled: exams.filter((e) => e.usable && e.kpa !== undefined).length,
  };
  if (summary) {
    flow.files = summary.filesSeen;
    flow.dicomFiles = summary.filesIndexed;
    flow.excludedByReason = summary.excludedByReason;
  }
  return flow;
}
