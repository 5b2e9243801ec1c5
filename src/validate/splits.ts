import { LiverstiffError, Rng } from "../core/index.ts";
import type { SchemeName } from "./types.ts";

/** What a split needs to know of an exam. */
export interface SplitExam {
  examId: string;
  patientKey: string;
  site: string;
  /** YYYY-MM-DD */
  studyDate?: string;
  kpa: number;
}

/** One fold of a scheme: exam ids for training (with its inner validation part) and for testing. */
export interface Fold {
  scheme: SchemeName;
  /** "1".."10" for cv10, "temporal", or the held-out site for loso. */
  name: string;
  train: string[];
  val: string[];
  test: string[];
}

export interface TemporalInfo {
  splitDate: string;
  droppedTestExams: number;
}

/** The 3.0 kPa label that stratifies every split. */
const PRIMARY_KPA = 3.0;

interface PatientGroup {
  patientKey: string;
  exams: SplitExam[];
  /** Stratum for assignment: site and whether any exam of the patient is >= 3.0 kPa. */
  stratum: string;
}

function groupByPatient(exams: readonly SplitExam[], withSite: boolean): PatientGroup[] {
  const byPatient = new Map<string, SplitExam[]>();
  for (const e of exams) {
    const list = byPatient.get(e.patientKey);
    if (list) list.push(e);
    else byPatient.set(e.patientKey, [e]);
  }
  const groups: PatientGroup[] = [];
  for (const [patientKey, list] of [...byPatient.entries()].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    list.sort((a, b) => (a.examId < b.examId ? -1 : 1));
    const positive = list.some((e) => e.kpa >= PRIMARY_KPA);
    // A patient seen at several sites is stratified by the site of the first exam; stratification is a
    // balance aid, never a correctness requirement.
    const site = withSite ? list[0]!.site : "";
    groups.push({ patientKey, exams: list, stratum: `${site}|${positive ? 1 : 0}` });
  }
  return groups;
}

/**
 * Deals patients into `k` parts, stratified: inside each stratum (site x 3.0 kPa label) patients are
 * shuffled and each goes to the part that, so far, holds the fewest exams of that stratum (ties: fewest
 * exams overall, then lowest index). Repeat exams of a patient always travel together.
 */
function dealPatients(groups: PatientGroup[], k: number, rng: Rng): PatientGroup[][] {
  const parts: PatientGroup[][] = Array.from({ length: k }, () => []);
  const partSize = new Array<number>(k).fill(0);
  const strata = new Map<string, PatientGroup[]>();
  for (const g of groups) {
    const list = strata.get(g.stratum);
    if (list) list.push(g);
    else strata.set(g.stratum, [g]);
  }
  for (const stratum of [...strata.keys()].sort()) {
    const members = rng.shuffle([...strata.get(stratum)!]);
    const inStratum = new Array<number>(k).fill(0);
    // Start each stratum at a random part so small strata do not pile into part 0.
    const offset = rng.int(k);
    for (const g of members) {
      let best = -1;
      for (let j = 0; j < k; j++) {
        const p = (j + offset) % k;
        if (
          best < 0 ||
          inStratum[p]! < inStratum[best]! ||
          (inStratum[p] === inStratum[best] && partSize[p]! < partSize[best]!)
        )
          best = p;
      }
      parts[best]!.push(g);
      inStratum[best]! += g.exams.length;
      partSize[best]! += g.exams.length;
    }
  }
  return parts;
}

function ids(groups: PatientGroup[]): string[] {
  return groups.flatMap((g) => g.exams.map((e) => e.examId)).sort();
}

/**
 * Holds out about `fraction` of a training part, patient-grouped and stratified by the 3.0 kPa label (and
 * site), for early stopping and for choosing cut-offs.
 */
export function innerValidation(
  exams: readonly SplitExam[],
  fraction: number,
  seed: number | string,
): { train: string[]; val: string[] } {
  if (!(fraction > 0 && fraction < 1))
    throw new LiverstiffError("validation fraction must be in (0, 1)", { fraction });
  const groups = groupByPatient(exams, true);
  const k = Math.max(2, Math.round(1 / fraction));
  const parts = dealPatients(groups, k, Rng.derive(seed, "inner-validation"));
  const val = parts[0]!;
  const train = parts.slice(1).flat();
  return { train: ids(train), val: ids(val) };
}

/** 10-fold (or k-fold) cross-validation, patient-grouped, stratified by site and by the 3.0 kPa label. */
export function crossValidationFolds(
  exams: readonly SplitExam[],
  options: { k?: number; valFraction?: number; seed: number | string },
): Fold[] {
  const k = options.k ?? 10;
  const patients = new Set(exams.map((e) => e.patientKey)).size;
  if (patients < k)
    throw new LiverstiffError(`cross-validation needs at least ${k} patients, the cohort has ${patients}`, {
      patients,
    });
  const groups = groupByPatient(exams, true);
  const parts = dealPatients(groups, k, Rng.derive(options.seed, "cv-folds"));
  return parts.map((testPart, i) => {
    const trainExams = parts.flatMap((p, j) => (j === i ? [] : p)).flatMap((g) => g.exams);
    const inner = innerValidation(trainExams, options.valFraction ?? 0.1, `${options.seed}/cv-fold-${i + 1}`);
    return { scheme: "cv10", name: String(i + 1), train: inner.train, val: inner.val, test: ids(testPart) };
  });
}

/**
 * The temporal hold-out: train on exams before the cut-off date, test on exams on or after it of patients
 * never seen in training. Default cut-off: the date that leaves the latest 20% of exams for testing.
 */
export function temporalFold(
  exams: readonly SplitExam[],
  options: { splitDate?: string; testFraction?: number; valFraction?: number; seed: number | string },
): { fold: Fold; info: TemporalInfo } {
  const missing = exams.filter((e) => !e.studyDate);
  if (missing.length > 0)
    throw new LiverstiffError("the temporal scheme needs a study date for every exam", {
      exam: missing[0]!.examId,
      missing: missing.length,
    });
  const dates = exams.map((e) => e.studyDate!).sort();
  let splitDate = options.splitDate;
  if (splitDate === undefined) {
    const testFraction = options.testFraction ?? 0.2;
    splitDate = dates[Math.min(dates.length - 1, Math.floor(dates.length * (1 - testFraction)))]!;
  } else if (!/^\d{4}-\d{2}-\d{2}$/.test(splitDate)) {
    throw new LiverstiffError("the split date must be YYYY-MM-DD", { splitDate });
  }
  const before = exams.filter((e) => e.studyDate! < splitDate);
  const trainPatients = new Set(before.map((e) => e.patientKey));
  const after = exams.filter((e) => e.studyDate! >= splitDate);
  const test = after.filter((e) => !trainPatients.has(e.patientKey));
  if (before.length === 0 || test.length === 0)
    throw new LiverstiffError("the temporal split leaves no training or no test exams", {
      splitDate,
      train: before.length,
      test: test.length,
    });
  const inner = innerValidation(before, options.valFraction ?? 0.1, `${options.seed}/temporal`);
  return {
    fold: {
      scheme: "temporal",
      name: "temporal",
      train: inner.train,
      val: inner.val,
      test: test.map((e) => e.examId).sort(),
    },
    info: { splitDate, droppedTestExams: after.length - test.length },
  };
}

/**
 * Leave-one-site-out: each site in turn is the test set. A patient scanned at several sites is removed
 * from training whenever one of their exams is in the test site.
 */
export function leaveOneSiteOutFolds(
  exams: readonly SplitExam[],
  options: { valFraction?: number; seed: number | string },
): Fold[] {
  const sites = [...new Set(exams.map((e) => e.site))].sort();
  if (sites.length < 2)
    throw new LiverstiffError("leave-one-site-out needs at least two sites", { sites: sites.length });
  return sites.map((site) => {
    const test = exams.filter((e) => e.site === site);
    const testPatients = new Set(test.map((e) => e.patientKey));
    const trainExams = exams.filter((e) => e.site !== site && !testPatients.has(e.patientKey));
    const inner = innerValidation(trainExams, options.valFraction ?? 0.1, `${options.seed}/loso/${site}`);
    return {
      scheme: "loso",
      name: site,
      train: inner.train,
      val: inner.val,
      test: test.map((e) => e.examId).sort(),
    };
  });
}

/** Throws when any patient appears on two sides of a fold: the invariant every scheme must keep. */
export function assertPatientDisjoint(fold: Fold, patientOf: (examId: string) => string): void {
  const side = new Map<string, string>();
  for (const [name, list] of [
    ["train", fold.train],
    ["val", fold.val],
    ["test", fold.test],
  ] as const) {
    for (const id of list) {
      const p = patientOf(id);
      const seen = side.get(p);
      if (seen !== undefined && seen !== name)
        throw new LiverstiffError("a patient appears on two sides of a split", {
          scheme: fold.scheme,
          fold: fold.name,
          patient: p,
          sides: `${seen}+${name}`,
        });
      side.set(p, name);
    }
  }
}
