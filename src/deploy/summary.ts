// What a bundle knows about the exams it was trained on, and the checks predict runs against it: scanner,
// field strength, protocol (per-role geometry), age, and a feature-space distance for volumes that do not
// look like anything in training.
import type { ExamRecord, SeriesRecord } from "../cohort/index.ts";
import { SERIES_ROLES, type SeriesRole } from "../dicom/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../features/index.ts";

export interface Range {
  min: number;
  max: number;
}

export interface RoleProtocol {
  /** Exams with this role. */
  exams: number;
  /** In-plane pixel spacing (mm, the larger of the two). */
  inPlaneMm: Range;
  /** Distance between slices (mm). */
  sliceStepMm: Range;
  /** Slices in the volume. */
  slices: Range;
  /** Matrix (the larger of rows and columns). */
  matrix: Range;
}

/** Per role, statistics of the slice-mean feature vector in training, for a feature-space distance. */
export interface FeatureReference {
  mean: number[];
  sd: number[];
  /** Root-mean-square z-distance of the training exams themselves: median, 99th percentile, max. */
  distance: { median: number; p99: number; max: number };
}

export interface TrainingSetSummary {
  exams: number;
  patients: number;
  sites: Record<string, number>;
  vendors: Record<string, number>;
  /** "Manufacturer model" -> exams. */
  scanners: Record<string, number>;
  /** Field strength in tesla (as text, e.g. "1.5") -> exams; "unknown" when not recorded. */
  fieldStrengthsT: Record<string, number>;
  ageYears: (Range & { median: number; missing: number }) | null;
  sex: Record<string, number>;
  kpa: {
    min: number;
    max: number;
    mean: number;
    quantiles: { p05: number; p25: number; median: number; p75: number; p95: number };
    /** Exams at or above each threshold (THRESHOLDS_KPA order). */
    atOrAbove: number[];
  };
  roles: Record<string, number>;
  protocol: Partial<Record<SeriesRole, RoleProtocol>>;
  features: Partial<Record<SeriesRole, FeatureReference>>;
}

export interface Warning {
  code:
    | "vendor_unseen"
    | "scanner_unseen"
    | "field_strength_outside"
    | "protocol_outside"
    | "age_outside"
    | "missing_optional_role"
    | "suspicious_volume"
    | "feature_outlier"
    | "kpa_outside_category"
    | "calls_not_monotone"
    | "member_note"
    | "figure_not_written"
    | "dicom_not_written"
    | "cam_not_written";
  message: string;
}

const pct1 = (p: number) => `${(p * 100).toFixed(1)}%`;

/**
 * Where the outputs could be read as contradicting each other, say so: a predicted kPa outside the
 * category's range (the regression and the classifiers are separate heads), or a threshold above its
 * cut-off that the category does not follow because a lower one is below its own.
 */
export function decisionWarnings(p: {
  thresholds: readonly {
    thresholdKpa: number;
    probability: number;
    cutoff: number;
    positive: boolean;
    counted: boolean;
  }[];
  category: { label: string };
  kpaPred: { value: number; predictionInterval?: [number, number]; agreesWithCategory: boolean } | null;
}): Warning[] {
  const out: Warning[] = [];
  if (p.kpaPred && !p.kpaPred.agreesWithCategory) {
    const pi = p.kpaPred.predictionInterval;
    out.push({
      code: "kpa_outside_category",
      message: pi
        ? `the category ${p.category.label} lies outside the predicted kPa's 80% prediction interval ${pi[0].toFixed(2)}-${pi[1].toFixed(2)} (predicted ${p.kpaPred.value.toFixed(2)} kPa): the category (probabilities against cut-offs) and the kPa (a separate regression) disagree by more than the kPa's cross-validated error`
        : `the predicted ${p.kpaPred.value.toFixed(2)} kPa lies outside the category ${p.category.label}; the category follows the thresholds' probabilities and cut-offs, the kPa is a separate regression`,
    });
  }
  const ignored = p.thresholds.filter((t) => t.positive && !t.counted);
  if (ignored.length > 0) {
    const first = p.thresholds.find((t) => !t.positive)!;
    out.push({
      code: "calls_not_monotone",
      message: `${ignored.map((t) => `P(>= ${t.thresholdKpa.toFixed(1)} kPa) ${pct1(t.probability)} is above its cut-off ${pct1(t.cutoff)}`).join("; ")}, but P(>= ${first.thresholdKpa.toFixed(1)} kPa) ${pct1(first.probability)} is below its cut-off ${pct1(first.cutoff)}: the category stops there`,
    });
  }
  return out;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of [...values].sort()) out[v] = (out[v] ?? 0) + 1;
  return out;
}

function range(values: readonly number[]): Range {
  return { min: Math.min(...values), max: Math.max(...values) };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

export function scannerName(e: Pick<ExamRecord, "vendor" | "manufacturer" | "model">): string {
  return `${e.vendor ?? e.manufacturer ?? "unknown"} ${e.model ?? "unknown"}`;
}

export function fieldStrengthKey(t: number | undefined): string {
  return t === undefined ? "unknown" : (Math.round(t * 10) / 10).toFixed(1);
}

/** The geometry of an exam's chosen series per role, from the catalog's series records. */
export function chosenGeometry(
  series: readonly SeriesRecord[],
): Partial<Record<SeriesRole, { inPlaneMm: number; sliceStepMm: number; slices: number; matrix: number }>> {
  const out: Partial<
    Record<SeriesRole, { inPlaneMm: number; sliceStepMm: number; slices: number; matrix: number }>
  > = {};
  for (const s of series) {
    if (!s.chosen || !s.role || !s.dims || !s.spacingMm) continue;
    out[s.role] = {
      inPlaneMm: Math.max(s.spacingMm[0], s.spacingMm[1]),
      sliceStepMm: s.spacingMm[2],
      slices: s.dims[2],
      matrix: Math.max(s.dims[0], s.dims[1]),
    };
  }
  return out;
}

/** Mean over slices of a role's per-slice features. */
function sliceMean(f: ExamFeatures, role: SeriesRole): Float64Array | undefined {
  const a = f.roles[role];
  if (!a) return undefined;
  const m = new Float64Array(f.featureDim);
  for (let s = 0; s < f.slices; s++)
    for (let d = 0; d < f.featureDim; d++) m[d]! += a[s * f.featureDim + d]! / f.slices;
  return m;
}

/** RMS over features of the z-score of the exam's slice-mean vector against the training reference. */
export function featureDistance(
  f: ExamFeatures,
  role: SeriesRole,
  ref: FeatureReference,
): number | undefined {
  const m = sliceMean(f, role);
  if (!m || m.length !== ref.mean.length) return undefined;
  let ss = 0;
  for (let d = 0; d < m.length; d++) {
    const z = (m[d]! - ref.mean[d]!) / ref.sd[d]!;
    ss += z * z;
  }
  return Math.sqrt(ss / m.length);
}

function featureReference(features: readonly ExamFeatures[], role: SeriesRole): FeatureReference | undefined {
  const means = features.map((f) => sliceMean(f, role)).filter((m): m is Float64Array => m !== undefined);
  if (means.length < 2) return undefined;
  const dim = means[0]!.length;
  const mean = new Array<number>(dim).fill(0);
  const sd = new Array<number>(dim).fill(0);
  for (const m of means) for (let d = 0; d < dim; d++) mean[d]! += m[d]! / means.length;
  for (const m of means) for (let d = 0; d < dim; d++) sd[d]! += (m[d]! - mean[d]!) ** 2 / (means.length - 1);
  // A floor keeps constant features from dividing by zero (and from dominating the distance).
  const floor = 1e-6;
  for (let d = 0; d < dim; d++) sd[d] = Math.max(Math.sqrt(sd[d]!), floor);
  const ref: FeatureReference = { mean, sd, distance: { median: 0, p99: 0, max: 0 } };
  const dist = features
    .map((f) => featureDistance(f, role, ref))
    .filter((x): x is number => x !== undefined)
    .sort((a, b) => a - b);
  ref.distance = { median: quantile(dist, 0.5), p99: quantile(dist, 0.99), max: dist[dist.length - 1]! };
  return ref;
}

/** The training-set summary stored in a bundle, from the catalog records and features of its exams. */
export function summarizeTrainingSet(
  exams: readonly ExamRecord[],
  seriesOf: (examId: string) => readonly SeriesRecord[],
  features: readonly ExamFeatures[],
): TrainingSetSummary {
  const ages = exams
    .map((e) => e.ageYears)
    .filter((a): a is number => a !== undefined)
    .sort((a, b) => a - b);
  const kpas = exams
    .map((e) => e.kpa)
    .filter((k): k is number => k !== undefined)
    .sort((a, b) => a - b);
  const protocol: Partial<Record<SeriesRole, RoleProtocol>> = {};
  const geometry = exams.map((e) => chosenGeometry(seriesOf(e.examId)));
  for (const role of SERIES_ROLES) {
    const g = geometry.map((x) => x[role]).filter((x) => x !== undefined);
    if (g.length === 0) continue;
    protocol[role] = {
      exams: g.length,
      inPlaneMm: range(g.map((x) => r4(x.inPlaneMm))),
      sliceStepMm: range(g.map((x) => r4(x.sliceStepMm))),
      slices: range(g.map((x) => x.slices)),
      matrix: range(g.map((x) => x.matrix)),
    };
  }
  const feats: Partial<Record<SeriesRole, FeatureReference>> = {};
  for (const role of SERIES_ROLES) {
    const ref = featureReference(features, role);
    if (ref) feats[role] = ref;
  }
  return {
    exams: exams.length,
    patients: new Set(exams.map((e) => e.patientKey)).size,
    sites: countBy(exams.map((e) => e.site)),
    vendors: countBy(exams.map((e) => e.vendor ?? "unknown")),
    scanners: countBy(exams.map(scannerName)),
    fieldStrengthsT: countBy(exams.map((e) => fieldStrengthKey(e.fieldStrengthT))),
    ageYears:
      ages.length > 0
        ? {
            min: ages[0]!,
            max: ages[ages.length - 1]!,
            median: quantile(ages, 0.5),
            missing: exams.length - ages.length,
          }
        : null,
    sex: countBy(exams.map((e) => e.sex ?? "unknown")),
    kpa: {
      min: kpas[0]!,
      max: kpas[kpas.length - 1]!,
      mean: r4(kpas.reduce((a, b) => a + b, 0) / kpas.length),
      quantiles: {
        p05: r4(quantile(kpas, 0.05)),
        p25: r4(quantile(kpas, 0.25)),
        median: r4(quantile(kpas, 0.5)),
        p75: r4(quantile(kpas, 0.75)),
        p95: r4(quantile(kpas, 0.95)),
      },
      atOrAbove: THRESHOLDS_KPA.map((t) => kpas.filter((k) => k >= t).length),
    },
    roles: countBy(exams.flatMap((e) => e.roles)),
    protocol,
    features: feats,
  };
}

/** Relative slack on protocol ranges: a slice step of 8.3 mm is not "outside" a training range ending at 8. */
const PROTOCOL_SLACK = 0.05;

function outside(v: number, r: Range): boolean {
  const slack = PROTOCOL_SLACK * Math.max(Math.abs(r.min), Math.abs(r.max));
  return v < r.min - slack || v > r.max + slack;
}

const fmt = (x: number) => String(Math.round(x * 100) / 100);

/**
 * The out-of-distribution warnings for one exam: scanner, field strength, protocol and age outside what
 * the training set held, optional roles the recipe uses but the exam lacks, and a volume whose features
 * lie farther from training than any training exam's did.
 */
export function distributionWarnings(
  exam: ExamRecord,
  series: readonly SeriesRecord[],
  features: ExamFeatures | undefined,
  summary: TrainingSetSummary,
  modelRoles: readonly SeriesRole[],
): Warning[] {
  const out: Warning[] = [];
  const vendor = exam.vendor ?? "unknown";
  if (!(vendor in summary.vendors))
    out.push({
      code: "vendor_unseen",
      message: `vendor ${vendor} was not in the training set (${Object.keys(summary.vendors).join(", ")})`,
    });
  else if (!(scannerName(exam) in summary.scanners))
    out.push({
      code: "scanner_unseen",
      message: `scanner model ${scannerName(exam)} was not in the training set`,
    });
  const fs = fieldStrengthKey(exam.fieldStrengthT);
  if (!(fs in summary.fieldStrengthsT))
    out.push({
      code: "field_strength_outside",
      message: `field strength ${fs} T was not in the training set (${Object.keys(summary.fieldStrengthsT).join(", ")} T)`,
    });
  const geometry = chosenGeometry(series);
  for (const role of SERIES_ROLES) {
    const g = geometry[role];
    const p = summary.protocol[role];
    if (!g || !p) continue;
    const checks: [string, number, Range, string][] = [
      ["in-plane pixel spacing", g.inPlaneMm, p.inPlaneMm, " mm"],
      ["slice step", g.sliceStepMm, p.sliceStepMm, " mm"],
      ["number of slices", g.slices, p.slices, ""],
      ["matrix", g.matrix, p.matrix, ""],
    ];
    for (const [what, v, r, unit] of checks)
      if (outside(v, r))
        out.push({
          code: "protocol_outside",
          message: `${role}: ${what} ${fmt(v)}${unit} is outside the training range ${fmt(r.min)}-${fmt(r.max)}${unit}`,
        });
  }
  if (summary.ageYears && exam.ageYears !== undefined) {
    const a = summary.ageYears;
    if (exam.ageYears < a.min || exam.ageYears > a.max)
      out.push({
        code: "age_outside",
        message: `age ${fmt(exam.ageYears)} y is outside the training range ${fmt(a.min)}-${fmt(a.max)} y`,
      });
  }
  for (const role of modelRoles)
    if (!exam.roles.includes(role) && (summary.roles[role] ?? 0) > 0)
      out.push({
        code: "missing_optional_role",
        message: `no ${role} series: the model uses the roles present (${exam.roles.join(", ")}); ${summary.roles[role]} of ${summary.exams} training exams had it`,
      });
  if (features)
    for (const role of SERIES_ROLES) {
      const ref = summary.features[role];
      if (!ref) continue;
      const d = featureDistance(features, role, ref);
      if (d !== undefined && d > ref.distance.max)
        out.push({
          code: "feature_outlier",
          message: `${role}: the image features lie farther from the training set (distance ${fmt(d)}) than any training exam's (max ${fmt(ref.distance.max)}); check the series shows the liver`,
        });
    }
  return out;
}

/** Checks a prepared role's slices: non-finite values, blank (constant) slices. */
export function volumeWarnings(role: SeriesRole, values: Float32Array, slices: number): Warning[] {
  const plane = values.length / slices;
  const out: Warning[] = [];
  let nonFinite = 0;
  const blank: number[] = [];
  for (let s = 0; s < slices; s++) {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = s * plane; i < (s + 1) * plane; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) {
        nonFinite++;
        continue;
      }
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (!(max - min > 1e-6)) blank.push(s + 1);
  }
  if (nonFinite > 0)
    out.push({ code: "suspicious_volume", message: `${role}: ${nonFinite} voxels are not finite numbers` });
  if (blank.length > 0)
    out.push({
      code: "suspicious_volume",
      message: `${role}: slice${blank.length > 1 ? "s" : ""} ${blank.join(", ")} of ${slices} ${blank.length > 1 ? "are" : "is"} blank (constant)`,
    });
  return out;
}
