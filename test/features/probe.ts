// Linear probe of frozen encoder features against a synthetic cohort's hidden truth (evaluation only:
// the hidden truth never enters pretraining). Per exam: slice-averaged features of each role,
// concatenated (missing role = zeros); standardised; ridge regression (dual form) with 10 patient-grouped
// folds; out-of-fold AUROC at 3.0 kPa (score = predicted log kPa) beside the oracle's AUROC on the same
// exams, and out-of-fold R^2 for the latent severity and each image cue (best over the ridge grid).
//
//   npx tsx test/features/probe.ts --cohort DIR --workdir WORKDIR [--prep s5-128-mm400-zscore-f32]
//       [--weights FILE.safetensors | --random SEED]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { openCatalog } from "../../src/cohort/index.ts";
import {
  computeFeatures,
  type Encoder,
  type FeatureCacheStats,
  loadCnnEncoder,
  loadDefaultEncoder,
  randomCnnEncoder,
} from "../../src/features/index.ts";

const { values: a } = parseArgs({
  options: {
    cohort: { type: "string" },
    workdir: { type: "string" },
    prep: { type: "string", default: "s5-128-mm400-zscore-f32" },
    weights: { type: "string" },
    random: { type: "string" },
  },
});
if (!a.cohort || !a.workdir) throw new Error("--cohort and --workdir are required");

const encoder: Encoder = a.random
  ? randomCnnEncoder(Number(a.random))
  : a.weights
    ? loadCnnEncoder(a.weights)
    : loadDefaultEncoder();
const stats: FeatureCacheStats = { computed: 0, reused: 0, slicesEncoded: 0 };
const t0 = performance.now();
const feats = await computeFeatures({ workdir: a.workdir, prep: a.prep!, encoder }, stats);
const encodeSeconds = (performance.now() - t0) / 1000;

const catalog = openCatalog(a.workdir);
const accession = new Map(catalog.exams().map((e) => [e.examId, e.accessionNumber]));
catalog.close();
type Truth = Record<string, unknown> & { cues: Record<string, number>; accession: string };
const truth = new Map<string, Truth>();
for (const line of readFileSync(`${a.cohort}/truth.jsonl`, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const t = JSON.parse(line) as Truth;
  truth.set(t.accession, t);
}

const roles = ["t1_in", "t1_opp", "t2"] as const;
const d = feats[0].featureDim;
const rows: number[][] = [];
const info: { patient: string; kpa: number; oracle: number; t: Truth }[] = [];
for (const f of feats) {
  const t = truth.get(accession.get(f.examId) ?? "");
  if (!t || f.kpa === undefined) continue;
  const x: number[] = [];
  for (const r of roles) {
    const v = f.roles[r];
    for (let j = 0; j < d; j++) {
      let s = 0;
      if (v) for (let k = 0; k < f.slices; k++) s += v[k * d + j];
      x.push(v ? s / f.slices : 0);
    }
  }
  rows.push(x);
  info.push({ patient: f.patientKey, kpa: f.kpa, oracle: t.oracle_p_ge_3_0 as number, t });
}
const n = rows.length;
const p = rows[0].length;

function auroc(score: number[], pos: boolean[]): number {
  let s = 0;
  let np = 0;
  let nn = 0;
  for (let i = 0; i < score.length; i++) {
    if (!pos[i]) continue;
    np++;
    for (let j = 0; j < score.length; j++) {
      if (pos[j]) continue;
      s += score[i] > score[j] ? 1 : score[i] === score[j] ? 0.5 : 0;
    }
  }
  for (const q of pos) if (!q) nn++;
  return s / (np * nn);
}

// Patient-grouped folds.
const patients = [...new Set(info.map((i) => i.patient))].sort();
let h = 12345;
const shuffled = patients
  .map((pt) => {
    h = (h * 1103515245 + 12345) % 2 ** 31;
    return [h, pt] as const;
  })
  .sort((x, y) => x[0] - y[0])
  .map((x) => x[1]);
const foldOf = new Map(shuffled.map((pt, i) => [pt, i % 10]));
const fold = info.map((i) => foldOf.get(i.patient)!);

function solveSpd(A: Float64Array, m: number, b: Float64Array): Float64Array {
  const L = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j <= i; j++) {
      let s = A[i * m + j];
      for (let k = 0; k < j; k++) s -= L[i * m + k] * L[j * m + k];
      L[i * m + j] = i === j ? Math.sqrt(s) : s / L[j * m + j];
    }
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * m + k] * y[k];
    y[i] = s / L[i * m + i];
  }
  const x = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < m; k++) s -= L[k * m + i] * x[k];
    x[i] = s / L[i * m + i];
  }
  return x;
}

/** Out-of-fold ridge predictions of target for each lambda (relative to p). */
function oof(target: number[], lambdas: number[]): number[][] {
  const preds = lambdas.map(() => new Array<number>(n).fill(0));
  for (let f = 0; f < 10; f++) {
    const tr = [...Array(n).keys()].filter((i) => fold[i] !== f);
    const te = [...Array(n).keys()].filter((i) => fold[i] === f);
    const mu = new Float64Array(p);
    const sd = new Float64Array(p);
    for (const i of tr) for (let j = 0; j < p; j++) mu[j] += rows[i][j] / tr.length;
    for (const i of tr) for (let j = 0; j < p; j++) sd[j] += (rows[i][j] - mu[j]) ** 2 / tr.length;
    for (let j = 0; j < p; j++) sd[j] = Math.sqrt(sd[j]) || 1;
    const z = (i: number) => rows[i].map((v, j) => (v - mu[j]) / sd[j]);
    const Ztr = tr.map(z);
    const Zte = te.map(z);
    const ym = tr.reduce((s, i) => s + target[i], 0) / tr.length;
    const m = tr.length;
    const K = new Float64Array(m * m);
    for (let i = 0; i < m; i++)
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let k = 0; k < p; k++) s += Ztr[i][k] * Ztr[j][k];
        K[i * m + j] = K[j * m + i] = s / p;
      }
    const Kte = Zte.map((zi) =>
      Ztr.map((zj) => {
        let s = 0;
        for (let k = 0; k < p; k++) s += zi[k] * zj[k];
        return s / p;
      }),
    );
    lambdas.forEach((lam, li) => {
      const A = Float64Array.from(K);
      for (let i = 0; i < m; i++) A[i * m + i] += lam;
      const alpha = solveSpd(A, m, Float64Array.from(tr.map((i) => target[i] - ym)));
      te.forEach((i, r) => {
        preds[li][i] = ym + Kte[r].reduce((s, k, c) => s + k * alpha[c], 0);
      });
    });
  }
  return preds;
}

function r2(pred: number[], y: number[]): number {
  const m = y.reduce((s, v) => s + v, 0) / y.length;
  const ss = y.reduce((s, v) => s + (v - m) ** 2, 0);
  return 1 - pred.reduce((s, v, i) => s + (v - y[i]) ** 2, 0) / ss;
}

const lambdas = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
const pos = info.map((i) => i.kpa >= 3);
const logk = info.map((i) => Math.log(i.kpa));
const predK = oof(logk, lambdas);
const oracleAuc = auroc(
  info.map((i) => i.oracle),
  pos,
);
const out: Record<string, unknown> = {
  encoder: encoder.identity,
  exams: n,
  features: p,
  cache: stats,
  encodeSeconds: Math.round(encodeSeconds * 10) / 10,
  oracleAuroc30: Math.round(oracleAuc * 1000) / 1000,
  probeAuroc30: Object.fromEntries(
    lambdas.map((l, i) => [l, Math.round(auroc(predK[i], pos) * 1000) / 1000]),
  ),
};
const targets: Record<string, number[]> = {
  severity: info.map((i) => i.t.severity as number),
  spleen_log: info.map((i) => i.t.cues.spleen_log),
  caudate_right_log: info.map((i) => i.t.cues.caudate_right_log),
  nodularity_mm: info.map((i) => i.t.cues.nodularity_mm),
  reticular: info.map((i) => i.t.cues.reticular),
  oracle_logit: info.map((i) => Math.log(Math.max(1e-4, i.oracle) / Math.max(1e-4, 1 - i.oracle))),
};
const r2s: Record<string, number> = {};
for (const [k, y] of Object.entries(targets)) {
  const pr = oof(y, lambdas);
  r2s[k] = Math.round(Math.max(...pr.map((q) => r2(q, y))) * 1000) / 1000;
}
out.r2 = r2s;
const best = Math.max(...Object.values(out.probeAuroc30 as Record<string, number>));
out.ratioToOracle = Math.round((best / oracleAuc) * 1000) / 1000;
console.log(JSON.stringify(out, null, 1));
encoder.dispose();
