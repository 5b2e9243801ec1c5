// The latent generative model of the synthetic cohort: who the patients are, how severe their fibrosis is,
// which image cues that severity produces, what MRE measures, and the oracle P(kPa >= t | what the exam
// shows). Nothing here renders images; the phantom and the renderer read the cue values decided here.
import { Rng, THRESHOLD_SUFFIXES, THRESHOLDS_KPA, type ThresholdSuffix } from "../core/index.ts";
import type { SiteProfile } from "./sites.ts";

export { THRESHOLDS_KPA };
export type ThresholdKey = ThresholdSuffix;
export const THRESHOLD_KEYS: readonly ThresholdKey[] = THRESHOLD_SUFFIXES;

/**
 * Parameters of the generative model. The oracle below reads the same numbers, so the ceiling it computes
 * is exact for data drawn from this model (up to the numerical integration).
 */
export const MODEL = {
  /** Severity v = 4 * sigmoid(slope * z), z ~ N(mu, 1): v in (0, 4), stage-like. */
  severitySlope: 1.6,
  /** Children have less fibrosis (shift of mu). */
  childShift: -0.8,
  /** Older adults a little more (per year from 50). */
  agePerYear: 0.012,
  /** Repeat exams: z follows an AR(1) across exams that keeps the marginal N(mu, 1). */
  repeatCorrelation: 0.85,
  /** log kPa = log(base) + a v + b v^2 + u + e. */
  kpaBase: 1.95,
  kpaLinear: 0.17,
  kpaQuadratic: 0.05,
  /** Hidden inflammation / congestion (not visible), sd on the log scale; half of it patient-level. */
  hiddenSd: 0.2,
  /** MRE measurement noise, sd on the log scale (test-retest ICC near 0.9 over the cohort's spread). */
  measurementSd: 0.13,
  /** Cue: log linear spleen scale = spleenSlope v + N(0, spleenSd). */
  spleenSlope: 0.085,
  spleenSd: 0.07,
  /** Cue: log caudate/right-lobe ratio change = crlSlope v + N(0, crlSd). */
  crlSlope: 0.11,
  crlSd: 0.09,
  /** Cue: surface nodularity amplitude (mm) = max(0, nodSlope (v - nodOnset) + N(0, nodSd)). */
  nodSlope: 1.7,
  nodOnset: 1.5,
  nodSd: 1.0,
  /** Cue: reticular T2 contrast (fraction) = max(0, texSlope (v - texOnset) + N(0, texSd)). */
  texSlope: 0.055,
  texOnset: 1.1,
  texSd: 0.035,
  /** Cue: regenerative nodules ~ Poisson(nodulesMax sigmoid((v - nodulesMid) / nodulesWidth)). */
  nodulesMax: 8,
  nodulesMid: 3.1,
  nodulesWidth: 0.25,
  /** Cue: ascites ~ Bernoulli(ascitesFloor + ascitesMax sigmoid((v - ascitesMid) / ascitesWidth)). */
  ascitesFloor: 0.015,
  ascitesMax: 0.6,
  ascitesMid: 3.3,
  ascitesWidth: 0.2,
} as const;

export type Sex = "M" | "F";

/** The visible image cues of one exam (what the renderer draws). */
export interface Cues {
  /** log of the linear spleen scale factor relative to the body. */
  spleenLog: number;
  /** log caudate/right-lobe ratio change (caudate grows by 0.6x, right lobe shrinks by 0.4x of it). */
  crlLog: number;
  /** Surface nodularity amplitude in mm (0 = smooth). */
  nodularityMm: number;
  /** Reticular T2 contrast, fraction of liver signal (0 = homogeneous). */
  reticular: number;
  /** Number of regenerative nodules. */
  nodules: number;
  ascites: boolean;
}

/** Nuisance variables: visible, but unrelated to stiffness. */
export interface Nuisance {
  /** Body size factor (1 = average adult). */
  bodyScale: number;
  /** Subcutaneous fat thickness, mm. */
  subcutaneousFatMm: number;
  /** Fat fraction of the visceral compartment, 0..1. */
  visceralFat: number;
  /** Liver proton-density fat fraction, 0..1 (drops opposed-phase signal). */
  liverFatFraction: number;
  /** Liver iron, extra R2* in 1/ms at 1.5T (darkens T2w and the later echo). */
  liverIron: number;
  /** Patient left-right / antero-posterior offset in the bore, mm, and liver height (z), mm. */
  offsetMm: [number, number, number];
}

export interface PatientPlan {
  patientId: string;
  sex: Sex;
  site: string;
  birthYear: number;
  birthDate: string;
  pediatric: boolean;
  exams: number[];
}

export interface ExamPlan {
  index: number;
  patientId: string;
  accession: string;
  site: string;
  /** YYYY-MM-DD */
  studyDate: string;
  studyTime: string;
  ageYears: number;
  sex: Sex;
  birthDate: string;
  /** Order of this exam among the patient's exams (0 = first). */
  visit: number;
  /** Prior mean of z given what the header shows (site, age). */
  priorMean: number;
  /** Latent severity on the normal scale, and stage-like severity v = g(z). */
  z: number;
  severity: number;
  /** Hidden inflammation/congestion (log scale) and measurement noise (log scale). */
  hidden: number;
  measurementNoise: number;
  /** log kPa without measurement noise (the "true" stiffness), and the measured kPa (the label). */
  trueKpa: number;
  kpa: number;
  cues: Cues;
  nuisance: Nuisance;
  /** Oracle P(kPa >= t | what the exam shows), per threshold in THRESHOLDS_KPA order. */
  oracle: number[];
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function severityOf(z: number): number {
  return 4 * sigmoid(MODEL.severitySlope * z);
}

export function meanLogKpa(v: number): number {
  return Math.log(MODEL.kpaBase) + MODEL.kpaLinear * v + MODEL.kpaQuadratic * v * v;
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 on erf; absolute error < 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function normalLogPdf(x: number, mean: number, sd: number): number {
  const d = (x - mean) / sd;
  return -0.5 * d * d - Math.log(sd);
}

/** log-likelihood of an observed clamped cue max(0, mean + N(0, sd)). */
function censoredLogLik(observed: number, mean: number, sd: number): number {
  if (observed <= 0) return Math.log(Math.max(1e-300, normalCdf(-mean / sd)));
  return normalLogPdf(observed, mean, sd);
}

function noduleRate(v: number): number {
  return MODEL.nodulesMax * sigmoid((v - MODEL.nodulesMid) / MODEL.nodulesWidth);
}

function ascitesProb(v: number): number {
  return MODEL.ascitesFloor + MODEL.ascitesMax * sigmoid((v - MODEL.ascitesMid) / MODEL.ascitesWidth);
}

/** Draws the visible cues of an exam of severity v. */
export function drawCues(v: number, rng: Rng): Cues {
  const nodMean = MODEL.nodSlope * (v - MODEL.nodOnset);
  const texMean = MODEL.texSlope * (v - MODEL.texOnset);
  return {
    spleenLog: MODEL.spleenSlope * v + rng.normal(0, MODEL.spleenSd),
    crlLog: MODEL.crlSlope * v + rng.normal(0, MODEL.crlSd),
    nodularityMm: Math.max(0, nodMean + rng.normal(0, MODEL.nodSd)),
    reticular: Math.max(0, texMean + rng.normal(0, MODEL.texSd)),
    nodules: poisson(noduleRate(v), rng),
    ascites: rng.bernoulli(ascitesProb(v)),
  };
}

function poisson(lambda: number, rng: Rng): number {
  if (lambda <= 0) return 0;
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= rng.uniform();
    if (p <= l) return k;
    k++;
  }
}

/** log P(cues | v), for the oracle. */
export function cueLogLik(c: Cues, v: number): number {
  let ll = normalLogPdf(c.spleenLog, MODEL.spleenSlope * v, MODEL.spleenSd);
  ll += normalLogPdf(c.crlLog, MODEL.crlSlope * v, MODEL.crlSd);
  ll += censoredLogLik(c.nodularityMm, MODEL.nodSlope * (v - MODEL.nodOnset), MODEL.nodSd);
  ll += censoredLogLik(c.reticular, MODEL.texSlope * (v - MODEL.texOnset), MODEL.texSd);
  const lambda = noduleRate(v);
  ll += c.nodules * Math.log(Math.max(lambda, 1e-300)) - lambda - logFactorial(c.nodules);
  const pa = ascitesProb(v);
  ll += Math.log(c.ascites ? pa : 1 - pa);
  return ll;
}

function logFactorial(n: number): number {
  let s = 0;
  for (let i = 2; i <= n; i++) s += Math.log(i);
  return s;
}

/**
 * The oracle: P(kPa >= t | cues, site, age), by integrating the posterior of z on a grid. Given z,
 * log kPa is normal with mean meanLogKpa(g(z)) and the hidden + measurement variance, so each grid point
 * contributes a normal CDF.
 */
export function oracleProbabilities(c: Cues, priorMean: number): number[] {
  const n = 241;
  const lo = priorMean - 6;
  const step = 12 / (n - 1);
  const logw = new Float64Array(n);
  const mean = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const z = lo + i * step;
    const v = severityOf(z);
    const lw = -0.5 * (z - priorMean) * (z - priorMean) + cueLogLik(c, v);
    logw[i] = lw;
    mean[i] = meanLogKpa(v);
    if (lw > max) max = lw;
  }
  const sd = Math.sqrt(MODEL.hiddenSd ** 2 + MODEL.measurementSd ** 2);
  const out = THRESHOLDS_KPA.map(() => 0);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.exp(logw[i] - max);
    total += w;
    for (let k = 0; k < THRESHOLDS_KPA.length; k++) {
      out[k] += w * normalCdf((mean[i] - Math.log(THRESHOLDS_KPA[k])) / sd);
    }
  }
  return out.map((p) => p / total);
}

/** Area under the ROC curve (Mann-Whitney, ties counted half). NaN when a class is empty. */
export function auroc(scores: readonly number[], positive: readonly boolean[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0;
  let nPos = 0;
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (positive[idx[k]]) {
        rankSumPos += rank;
        nPos++;
      }
    }
    i = j + 1;
  }
  const nNeg = idx.length - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export interface CohortOptions {
  exams: number;
  seed: number | string;
  sites: readonly SiteProfile[];
}

const START_YEAR = 2011;
const END_YEAR = 2022;

function isoDate(dayIndex: number): string {
  const d = new Date(Date.UTC(START_YEAR, 0, 1) + dayIndex * 86_400_000);
  return d.toISOString().slice(0, 10);
}

const TOTAL_DAYS = Math.round((Date.UTC(END_YEAR + 1, 0, 1) - Date.UTC(START_YEAR, 0, 1)) / 86_400_000);

/**
 * Draws the whole cohort's latent plan (patients, exams, cues, labels, oracle) without rendering. Cheap:
 * used by the generator before the workers render, and by tests to check the model's statistics.
 */
export function planCohort(opts: CohortOptions): { patients: PatientPlan[]; exams: ExamPlan[] } {
  const rng = Rng.derive(opts.seed, "cohort");
  const totalWeight = opts.sites.reduce((s, x) => s + x.weight, 0);
  const patients: PatientPlan[] = [];
  const exams: ExamPlan[] = [];
  const usedIds = new Set<string>();
  const usedAcc = new Set<string>();
  while (exams.length < opts.exams) {
    let r = rng.uniform() * totalWeight;
    let site = opts.sites[opts.sites.length - 1];
    for (const s of opts.sites) {
      r -= s.weight;
      if (r < 0) {
        site = s;
        break;
      }
    }
    const pediatric = rng.bernoulli(site.pediatricShare);
    const sex: Sex = rng.bernoulli(pediatric ? 0.55 : site.maleShare) ? "M" : "F";
    const nExams = rng.bernoulli(0.09) ? (rng.bernoulli(0.8) ? 2 : 3) : 1;
    // First exam date and age at it.
    const spanDays = nExams === 1 ? 0 : Math.round(rng.range(200, 1500) * (nExams - 1));
    const firstDay = rng.int(Math.max(1, TOTAL_DAYS - spanDays));
    let age: number;
    if (pediatric) age = rng.range(5, 17.5 - spanDays / 365.25);
    else {
      age = rng.normal(site.adultAgeMean, 15);
      while (age < 18 || age > 85 - spanDays / 365.25) age = rng.normal(site.adultAgeMean, 15);
    }
    const firstDate = Date.UTC(START_YEAR, 0, 1) + firstDay * 86_400_000;
    const birthMs = firstDate - age * 365.25 * 86_400_000;
    const birthDate = new Date(birthMs).toISOString().slice(0, 10);
    let patientId = "";
    do patientId = site.patientIdFormat(rng.int(10_000_000));
    while (usedIds.has(patientId));
    usedIds.add(patientId);
    const patient: PatientPlan = {
      patientId,
      sex,
      site: site.id,
      birthYear: Number(birthDate.slice(0, 4)),
      birthDate,
      pediatric,
      exams: [],
    };
    patients.push(patient);

    // Patient-level nuisance (constant across visits) and the severity process.
    const child = pediatric;
    const bodyScale = child ? 0.62 + 0.3 * ((age - 5) / 12) + rng.normal(0, 0.04) : rng.normal(1, 0.06);
    const adiposity = rng.uniform();
    const subcutaneousFatMm = (child ? 6 : 10) + adiposity * (child ? 20 : 38) + rng.normal(0, 3);
    const visceralFat = 0.25 + 0.55 * adiposity * (sex === "M" ? 1 : 0.8) + rng.normal(0, 0.05);
    const steatosisRisk = 0.12 + 0.45 * adiposity;
    const hasSteatosis = rng.bernoulli(child ? steatosisRisk * 0.6 : steatosisRisk);
    const liverFatFraction = hasSteatosis ? rng.range(0.06, 0.35) : rng.range(0.01, 0.05);
    const liverIron = rng.bernoulli(0.12) ? rng.range(0.04, 0.25) : rng.range(0, 0.01);
    const hiddenPatient = rng.normal(0, MODEL.hiddenSd / Math.SQRT2);
    let z = 0;
    let day = firstDay;
    for (let visit = 0; visit < nExams; visit++) {
      if (exams.length >= opts.exams) break;
      if (visit > 0) day += Math.round(spanDays / (nExams - 1) + rng.normal(0, 30));
      day = Math.min(day, TOTAL_DAYS - 1);
      const studyDate = isoDate(day);
      const ageYears = (Date.UTC(START_YEAR, 0, 1) + day * 86_400_000 - birthMs) / (365.25 * 86_400_000);
      const priorMean =
        site.severityMean + (child ? MODEL.childShift : MODEL.agePerYear * (Math.min(ageYears, 85) - 50));
      const eta = rng.normal();
      const rho = MODEL.repeatCorrelation;
      z = visit === 0 ? priorMean + eta : priorMean + rho * (z - priorMean) + Math.sqrt(1 - rho * rho) * eta;
      const severity = severityOf(z);
      const hidden = hiddenPatient + rng.normal(0, MODEL.hiddenSd / Math.SQRT2);
      const measurementNoise = rng.normal(0, MODEL.measurementSd);
      const logTrue = meanLogKpa(severity) + hidden;
      const cues = drawCues(severity, rng);
      let accession = "";
      do accession = site.accessionFormat(rng.int(100_000_000), studyDate);
      while (usedAcc.has(accession));
      usedAcc.add(accession);
      const index = exams.length;
      const minutes = 7 * 60 + rng.int(11 * 60);
      exams.push({
        index,
        patientId,
        accession,
        site: site.id,
        studyDate,
        studyTime: `${String(Math.floor(minutes / 60)).padStart(2, "0")}${String(minutes % 60).padStart(2, "0")}${String(rng.int(60)).padStart(2, "0")}`,
        ageYears,
        sex,
        birthDate,
        visit,
        priorMean,
        z,
        severity,
        hidden,
        measurementNoise,
        trueKpa: Math.exp(logTrue),
        kpa: Math.round(Math.exp(logTrue + measurementNoise) * 100) / 100,
        cues,
        nuisance: {
          bodyScale,
          subcutaneousFatMm: Math.max(3, subcutaneousFatMm),
          visceralFat: Math.min(0.9, Math.max(0.1, visceralFat)),
          liverFatFraction,
          liverIron,
          offsetMm: [rng.normal(0, 8), rng.normal(0, 6), rng.normal(0, 25)],
        },
        oracle: oracleProbabilities(cues, priorMean),
      });
      patient.exams.push(index);
    }
  }
  return { patients, exams };
}

export interface CohortSummary {
  exams: number;
  patients: number;
  pediatricShare: number;
  patientsWithRepeats: number;
  sites: Record<string, number>;
  /** Share of exams with kPa >= t. */
  prevalence: Record<string, number>;
  /** Oracle AUROC per threshold: keys oracle_auc_ge_2_5 ... */
  oracleAuc: Record<string, number>;
  /** Test-retest ICC of log kPa implied by the model over this cohort's spread. */
  testRetestIcc: number;
  kpaMedian: number;
  kpaMax: number;
}

export function summarizeCohort(patients: readonly PatientPlan[], exams: readonly ExamPlan[]): CohortSummary {
  const prevalence: Record<string, number> = {};
  const oracleAuc: Record<string, number> = {};
  THRESHOLDS_KPA.forEach((t, k) => {
    const pos = exams.map((e) => e.kpa >= t);
    prevalence[`ge_${THRESHOLD_KEYS[k]}`] = pos.filter(Boolean).length / Math.max(1, exams.length);
    oracleAuc[`oracle_auc_ge_${THRESHOLD_KEYS[k]}`] = auroc(
      exams.map((e) => e.oracle[k]),
      pos,
    );
  });
  const sites: Record<string, number> = {};
  for (const e of exams) sites[e.site] = (sites[e.site] ?? 0) + 1;
  const logTrue = exams.map((e) => Math.log(e.trueKpa));
  const m = logTrue.reduce((a, b) => a + b, 0) / Math.max(1, logTrue.length);
  const varTrue = logTrue.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, logTrue.length - 1);
  const kpas = exams.map((e) => e.kpa).sort((a, b) => a - b);
  return {
    exams: exams.length,
    patients: patients.length,
    pediatricShare: exams.filter((e) => e.ageYears < 18).length / Math.max(1, exams.length),
    patientsWithRepeats: patients.filter((p) => p.exams.length > 1).length,
    sites,
    prevalence,
    oracleAuc,
    testRetestIcc: varTrue / (varTrue + MODEL.measurementSd ** 2),
    kpaMedian: kpas[Math.floor(kpas.length / 2)] ?? Number.NaN,
    kpaMax: kpas[kpas.length - 1] ?? Number.NaN,
  };
}
