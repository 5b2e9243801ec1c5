// Synthetic per-slice features with a known signal, for the head tests: feature 0 of every slice carries
// standardised log kPa plus noise (stronger in T2w than in T1w); the rest is noise. Some exams lack t1_opp.
import { Rng } from "../../src/core/index.ts";
import type { ExamFeatures } from "../../src/features/types.ts";

export interface SynthOptions {
  n: number;
  featureDim?: number;
  slices?: number;
  seed?: number;
  /** Noise SD on the signal feature (signal SD is 1). */
  noise?: number;
  /** Fraction of exams without t1_opp. */
  missingOpp?: number;
  prefix?: string;
}

export function synthExams(o: SynthOptions): ExamFeatures[] {
  const D = o.featureDim ?? 16;
  const S = o.slices ?? 5;
  const rng = Rng.derive(o.seed ?? 1, "synth-features");
  const noise = o.noise ?? 0.6;
  const out: ExamFeatures[] = [];
  for (let i = 0; i < o.n; i++) {
    const z = rng.normal();
    const kpa = Math.exp(Math.log(2.9) + 0.33 * z);
    const roles: ExamFeatures["roles"] = {};
    for (const [role, gain] of [
      ["t2", 1],
      ["t1_in", 0.6],
      ["t1_opp", 0.6],
    ] as const) {
      if (role === "t1_opp" && rng.uniform() < (o.missingOpp ?? 0.2)) continue;
      const a = new Float32Array(S * D);
      for (let s = 0; s < S; s++) {
        for (let f = 0; f < D; f++) a[s * D + f] = rng.normal() * 0.5 + 0.1 * f;
        a[s * D] = gain * z + rng.normal() * noise;
      }
      roles[role] = a;
    }
    out.push({
      examId: `${o.prefix ?? "e"}${i}`,
      patientKey: `p${i}`,
      site: `site${i % 4}`,
      ageYears: rng.uniform() < 0.05 ? undefined : Math.round(20 + 50 * rng.uniform()),
      sex: rng.uniform() < 0.5 ? "M" : "F",
      kpa,
      slices: S,
      featureDim: D,
      roles,
    });
  }
  return out;
}
