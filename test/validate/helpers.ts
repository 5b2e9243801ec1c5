// Stand-ins shared by validate/'s tests: a small cohort with one informative feature, and a "recipe"
// that learns one offset (enough to test the plumbing without the engine).
import { Rng } from "../../src/core/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../../src/features/types.ts";
import type { RecipeRunner } from "../../src/validate/index.ts";

/** A cohort of exams whose single feature is log(kPa) plus noise; some patients have repeat exams. */
export function cohort(nPatients: number, seed: number): ExamFeatures[] {
  const rng = new Rng(seed);
  const sites = ["A", "B", "C", "D"];
  const exams: ExamFeatures[] = [];
  for (let p = 0; p < nPatients; p++) {
    const site = sites[p % 4]!;
    const repeats = rng.bernoulli(0.15) ? 2 : 1;
    const base = Math.exp(rng.normal(Math.log(2.8), 0.35));
    for (let r = 0; r < repeats; r++) {
      const kpa = base * Math.exp(rng.normal(0, 0.05));
      const year = 2011 + rng.int(12);
      exams.push({
        examId: `E${p}-${r}`,
        patientKey: `P${p}`,
        site,
        studyDate: `${year}-0${1 + rng.int(9)}-1${rng.int(10)}`,
        ageYears: 5 + rng.int(80),
        sex: rng.bernoulli(0.5) ? "M" : "F",
        vendor: site === "A" ? "GE" : "Siemens",
        fieldStrengthT: site === "C" ? 3 : 1.5,
        kpa,
        slices: 1,
        featureDim: 1,
        roles: { t2: Float32Array.of(Math.log(kpa) + rng.normal(0, 0.15)) },
      });
    }
  }
  return exams;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** A "recipe" whose training learns one offset from the training part, enough to test the plumbing. */
export function fakeRunner(name: string, noise: number): RecipeRunner & { calls: number } {
  const runner = {
    name,
    fingerprint: `fake-${name}-${noise}`,
    calls: 0,
    train(train: ExamFeatures[]) {
      runner.calls++;
      const mean = train.reduce((a, e) => a + e.roles.t2![0]! - Math.log(e.kpa!), 0) / train.length;
      return {
        predict: (exams: ExamFeatures[]) =>
          exams.map((e) => {
            const x =
              e.roles.t2![0]! - mean + noise * Math.sin(e.examId.length * 7.1 + e.roles.t2![0]! * 1e3);
            return {
              examId: e.examId,
              probabilities: THRESHOLDS_KPA.map((t) => sigmoid(8 * (x - Math.log(t)))),
              kpaPred: Math.exp(x),
            };
          }),
      };
    },
  };
  return runner;
}
