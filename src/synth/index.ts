// synth/: a synthetic multi-site, multi-vendor abdominal MRI cohort with MRE stiffness, written as the
// files a hospital research export holds (DICOM, a labels table) plus the hidden truth the project checks
// itself against. It enters the pipeline at the left, like any hospital's data.
import { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  LiverstiffError,
  type ProgressSink,
  siblingModule,
  silentProgress,
  spawnWorker,
  writeFileAtomic,
  writeJsonAtomic,
} from "../core/index.ts";
import type { ExamResult, SeriesTruth } from "./exam.ts";
import { LABELMAP_CODES } from "./labelmap.ts";
import {
  type CohortSummary,
  type ExamPlan,
  type PatientPlan,
  planCohort,
  summarizeCohort,
  THRESHOLD_KEYS,
} from "./model.ts";
import { writePreviews } from "./preview.ts";
import { resolveSites, type SiteProfile } from "./sites.ts";
import type { WorkerJob, WorkerReply } from "./worker.ts";

export type { ExamResult, SeriesTruth } from "./exam.ts";
export {
  auroc,
  type CohortSummary,
  type ExamPlan,
  MODEL,
  oracleProbabilities,
  planCohort,
  summarizeCohort,
  THRESHOLD_KEYS,
  THRESHOLDS_KPA,
} from "./model.ts";
export { DEFAULT_SITE_COUNT, resolveSites, SITE_PROFILES, type SiteProfile } from "./sites.ts";

export const DEFAULT_EXAMS = 600;
export const DEFAULT_SEED = 20240601;

/**
 * The named cohorts. `development`: where every choice of the recipes was made (the generator's default
 * seed). `evaluation` and `evaluation-2`: locked cohorts that no choice has seen, from which every
 * headline number comes (the demo's default is `evaluation`).
 */
export const NAMED_COHORTS = {
  development: DEFAULT_SEED,
  evaluation: 20261203,
  "evaluation-2": 20261204,
} as const;
export type CohortName = keyof typeof NAMED_COHORTS;

export interface SynthOptions {
  out: string;
  exams?: number;
  /** A count (the first K profiles) or a comma-separated list of profile ids. */
  sites?: string | number;
  seed?: number | string;
  preview?: boolean;
  /** Worker threads (default 2). */
  workers?: number;
  /** Replace a cohort already in `out` (removes its dicom/ folder and truth files). */
  force?: boolean;
}

export interface SynthResult {
  dir: string;
  exams: number;
  patients: number;
  files: number;
  bytes: number;
  seconds: number;
  summary: CohortSummary;
  previews: string[];
}

const OUTPUTS = ["labels.csv", "truth.jsonl", "truth-series.jsonl", "truth-summary.json", "manifest.json"];

/** Checks options and the output folder; throws a LiverstiffError naming what is wrong. */
export function validateOptions(opts: SynthOptions): { sites: SiteProfile[]; exams: number; dir: string } {
  const exams = opts.exams ?? DEFAULT_EXAMS;
  if (!Number.isInteger(exams) || exams < 1) {
    throw new LiverstiffError("--exams must be a positive integer", { exams: String(opts.exams) });
  }
  if (exams > 100_000) throw new LiverstiffError("--exams is capped at 100000", { exams });
  const workers = opts.workers ?? 2;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new LiverstiffError("--workers must be a positive integer", { workers: String(opts.workers) });
  }
  const sites = resolveSites(opts.sites);
  if (typeof sites === "string") throw new LiverstiffError(sites, { sites: String(opts.sites) });
  const dir = resolve(opts.out);
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new Error("not a folder");
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new LiverstiffError("output folder cannot be created or written", {
      out: dir,
      reason: err instanceof Error ? err.message : String(err),
    });
  }
  const existing = readdirSync(dir).filter((f) => f === "dicom" || f === "labelmaps" || OUTPUTS.includes(f));
  if (existing.length > 0 && !opts.force) {
    throw new LiverstiffError("output folder already holds a cohort; choose another folder or pass --force", {
      out: dir,
    });
  }
  return { sites, exams, dir };
}

function csvField(s: string | number): string {
  const t = String(s);
  return /[",\n]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
}

function labelsCsv(exams: readonly ExamPlan[]): string {
  const rows = ["PatientID,AccessionNumber,StudyDate,LiverStiffness_kPa,Site,Age,Sex"];
  // An MRE report export is ordered by date, not by how the cohort was drawn.
  const sorted = [...exams].sort((a, b) => a.studyDate.localeCompare(b.studyDate) || a.index - b.index);
  for (const e of sorted) {
    rows.push(
      [e.patientId, e.accession, e.studyDate, e.kpa.toFixed(2), e.site, Math.floor(e.ageYears), e.sex]
        .map(csvField)
        .join(","),
    );
  }
  return `${rows.join("\n")}\n`;
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

function truthLine(e: ExamPlan, r: ExamResult | undefined): string {
  const o: Record<string, unknown> = {
    accession: e.accession,
    patient_id: e.patientId,
    site: e.site,
    study_date: e.studyDate,
    age_years: r4(e.ageYears),
    sex: e.sex,
    pediatric: e.ageYears < 18,
    visit: e.visit,
    kpa: e.kpa,
    true_kpa: r4(e.trueKpa),
    severity: r4(e.severity),
    z: r4(e.z),
    prior_mean: r4(e.priorMean),
    hidden_log: r4(e.hidden),
    measurement_noise_log: r4(e.measurementNoise),
    cues: {
      spleen_log: r4(e.cues.spleenLog),
      caudate_right_log: r4(e.cues.crlLog),
      nodularity_mm: r4(e.cues.nodularityMm),
      reticular: r4(e.cues.reticular),
      nodules: e.cues.nodules,
      ascites: e.cues.ascites,
    },
    nuisance: {
      body_scale: r4(e.nuisance.bodyScale),
      subcutaneous_fat_mm: r4(e.nuisance.subcutaneousFatMm),
      visceral_fat: r4(e.nuisance.visceralFat),
      liver_fat_fraction: r4(e.nuisance.liverFatFraction),
      liver_iron: r4(e.nuisance.liverIron),
    },
  };
  if (r) {
    o.phantom = {
      spleen_length_mm: r4(r.phantom.spleenLengthMm),
      caudate_right_ratio: r4(r.phantom.caudateToRightLobe),
    };
    o.labelmap = `labelmaps/${e.accession}.nii.gz`;
  }
  THRESHOLD_KEYS.forEach((k, i) => {
    o[`oracle_p_ge_${k}`] = r4(e.oracle[i]);
  });
  return JSON.stringify(o);
}

function seriesLine(s: SeriesTruth): string {
  return JSON.stringify({
    accession: s.accession,
    site: s.site,
    series_instance_uid: s.seriesInstanceUid,
    series_number: s.seriesNumber,
    series_description: s.seriesDescription,
    kind: s.kind,
    role: s.role,
    echo_roles: s.echoRoles.map((e) => ({ echo_time_ms: e.echoTimeMs, role: e.role })),
    enhanced: s.enhanced,
    files: s.files,
    geometry: s.geometry,
  });
}

/** Exams whose previews are drawn: for each site, the lowest- and the highest-severity adult exam. */
function previewPicks(exams: readonly ExamPlan[], sites: readonly SiteProfile[]): Set<number> {
  const out = new Set<number>();
  for (const s of sites) {
    const own = exams.filter((e) => e.site === s.id && e.ageYears >= 18);
    if (own.length === 0) continue;
    own.sort((a, b) => a.severity - b.severity);
    out.add(own[0].index);
    out.add(own[own.length - 1].index);
  }
  return out;
}

/**
 * Generates a cohort into `opts.out`: DICOM under dicom/<site>/<accession>/<series>/, labels.csv, and the
 * hidden truth (truth.jsonl, truth-series.jsonl, truth-summary.json). Same seed, same bytes.
 */
export async function synthesize(
  opts: SynthOptions,
  progress: ProgressSink = silentProgress,
): Promise<SynthResult> {
  const started = performance.now();
  const { sites, exams: nExams, dir } = validateOptions(opts);
  const seed = opts.seed ?? DEFAULT_SEED;
  if (opts.force) {
    rmSync(join(dir, "dicom"), { recursive: true, force: true });
    rmSync(join(dir, "preview"), { recursive: true, force: true });
    rmSync(join(dir, "labelmaps"), { recursive: true, force: true });
    for (const f of OUTPUTS) rmSync(join(dir, f), { force: true });
  }
  const { patients, exams } = planCohort({ exams: nExams, seed, sites });
  progress({ stage: "synth", done: 0, total: exams.length, message: "rendering exams" });
  const picks = opts.preview ? previewPicks(exams, sites) : new Set<number>();
  const results = await renderAll(exams, seed, dir, picks, opts.workers ?? 2, progress);

  const summary = summarizeCohort(patients, exams);
  writeFileAtomic(join(dir, "labels.csv"), labelsCsv(exams));
  writeFileAtomic(
    join(dir, "truth.jsonl"),
    `${exams.map((e) => truthLine(e, results[e.index])).join("\n")}\n`,
  );
  writeFileAtomic(
    join(dir, "truth-series.jsonl"),
    `${results.flatMap((r) => r.series.map(seriesLine)).join("\n")}\n`,
  );
  writeJsonAtomic(join(dir, "truth-summary.json"), truthSummary(summary, patients, sites, seed));
  writeJsonAtomic(join(dir, "labelmaps", "labels.json"), LABELMAP_CODES);
  let previews: string[] = [];
  if (opts.preview) previews = writePreviews(dir, exams, results, sites);
  const files = results.reduce((s, r) => s + r.files, 0);
  const bytes = results.reduce((s, r) => s + r.bytes, 0);
  const seconds = (performance.now() - started) / 1000;
  writeJsonAtomic(join(dir, "manifest.json"), {
    generator: "liverstiff synth",
    seed,
    exams: exams.length,
    sites: sites.map((s) => s.id),
    files,
    dicom_bytes: bytes,
  });
  progress({ stage: "synth", done: exams.length, total: exams.length, message: "done" });
  return { dir, exams: exams.length, patients: patients.length, files, bytes, seconds, summary, previews };
}

function truthSummary(
  s: CohortSummary,
  patients: readonly PatientPlan[],
  sites: readonly SiteProfile[],
  seed: number | string,
): Record<string, unknown> {
  return {
    seed,
    exams: s.exams,
    patients: s.patients,
    patients_with_repeat_exams: s.patientsWithRepeats,
    pediatric_share: r4(s.pediatricShare),
    exams_per_site: s.sites,
    sites: sites.map((x) => ({ id: x.id, vendor: x.vendor, field_t: x.fieldT, institution: x.institution })),
    prevalence: Object.fromEntries(Object.entries(s.prevalence).map(([k, v]) => [k, r4(v)])),
    ...Object.fromEntries(Object.entries(s.oracleAuc).map(([k, v]) => [k, r4(v)])),
    test_retest_icc: r4(s.testRetestIcc),
    kpa_median: s.kpaMedian,
    kpa_max: s.kpaMax,
    patients_total: patients.length,
  };
}

async function renderAll(
  exams: readonly ExamPlan[],
  seed: number | string,
  dir: string,
  picks: Set<number>,
  nWorkers: number,
  progress: ProgressSink,
): Promise<ExamResult[]> {
  const results: ExamResult[] = new Array(exams.length);
  let next = 0;
  let done = 0;
  const workers = Array.from({ length: Math.min(nWorkers, exams.length) }, () =>
    spawnWorker(siblingModule(import.meta.url, "worker")),
  );
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolvePromise, reject) => {
            const send = () => {
              if (next >= exams.length) {
                resolvePromise();
                return;
              }
              const exam = exams[next++];
              const job: WorkerJob = {
                exam,
                siteId: exam.site,
                seed,
                outDir: dir,
                preview: picks.has(exam.index),
              };
              w.postMessage(job);
            };
            w.on("message", (reply: WorkerReply) => {
              if (!reply.ok) {
                reject(
                  new LiverstiffError(`exam could not be rendered: ${reply.error}`, { exam: reply.index }),
                );
                return;
              }
              results[reply.result.index] = reply.result;
              done++;
              progress({ stage: "synth", done, total: exams.length });
              send();
            });
            w.on("error", reject);
            w.on("exit", (code) => {
              if (next < exams.length || done < exams.length)
                reject(new Error(`synth worker exited with code ${code}`));
            });
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
