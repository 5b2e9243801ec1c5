// Cost of one fold of each baseline (docs/train.md, "Baselines") on synthetic features at the demo's size:
// 540 training + 60 inner-validation exams, 3 roles x featureDim. Peer measured in the same run: the
// liverstiff head's ridge member alone (fitRidge at a fixed penalty on the same design), which the
// probe runs once more after choosing its penalty. CPU seconds, median of `reps` runs. Last line: one
// JSON object.
//   npm run bench -- baselines [featureDim] [nTrain] [reps]
// e.g. npm run bench -- baselines 512 540 5
import { loadRecipe, trainModel } from "../src/train/index.ts";
import { fitRidge, gcvLambda, ridgeDesign, ridgeKernel } from "../src/train/ridge.ts";
import { synthExams } from "../test/train/synthetic.ts";

const [dimArg = "512", nArg = "540", repsArg = "5"] = process.argv.slice(2);
const D = Number(dimArg);
const n = Number(nArg);
const reps = Number(repsArg);
const train = synthExams({ n, featureDim: D, seed: 1, noise: 1.2 });
const val = synthExams({ n: Math.round(n / 9), featureDim: D, seed: 2, prefix: "v", noise: 1.2 });
const test = synthExams({ n: 60, featureDim: D, seed: 3, prefix: "t", noise: 1.2 });
const roles = ["t1_in", "t1_opp", "t2"] as const;
const logk = train.map((e) => Math.log(e.kpa!));
const head = loadRecipe("baseline-ridge").head;
const grid = head.kind === "baseline-ridge" ? head.lambdaGrid : [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU seconds of f (single-threaded code: its wall time on an idle machine, less noisy on a busy one). */
function seconds(f: () => void): number {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

const fold = (name: string) =>
  median(
    Array.from({ length: reps }, () =>
      seconds(() => {
        const m = trainModel(loadRecipe(name), { train, val });
        m.predict(val);
        m.predict(test);
        m.dispose();
      }),
    ),
  );
const parts = { design: [] as number[], kernel: [] as number[], gcv: [] as number[], fit: [] as number[] };
const peer: number[] = [];
for (let r = 0; r < reps; r++) {
  let d = ridgeDesign(train, roles, D, train[0]!.slices, null);
  parts.design.push(
    seconds(() => {
      d = ridgeDesign(train, roles, D, train[0]!.slices, null);
    }),
  );
  let k = ridgeKernel(d.x, n, d.width);
  parts.kernel.push(
    seconds(() => {
      k = ridgeKernel(d.x, n, d.width);
    }),
  );
  let lambda = 0.1;
  parts.gcv.push(
    seconds(() => {
      lambda = gcvLambda(k, logk, grid).lambda;
    }),
  );
  parts.fit.push(seconds(() => fitRidge(d.x, n, d.width, logk, lambda, k)));
  peer.push(seconds(() => fitRidge(d.x, n, d.width, logk, 0.1)));
}
const ridgeFold = fold("baseline-ridge");
const clinicalFold = fold("baseline-clinical");
const peerS = median(peer);
const columns = roles.length * D;
process.stdout.write(
  `${n} training exams x ${columns} columns, CPU seconds: baseline-ridge fold ${ridgeFold.toFixed(3)} s ` +
    `(design ${median(parts.design).toFixed(3)}, kernel ${median(parts.kernel).toFixed(3)}, GCV ${median(parts.gcv).toFixed(3)}, ` +
    `fit + cross-fitted SD ${median(parts.fit).toFixed(3)}), baseline-clinical fold ${clinicalFold.toFixed(3)} s; ` +
    `peer fitRidge alone ${peerS.toFixed(3)} s\n`,
);
console.log(
  JSON.stringify({
    bench: "baselines",
    train_exams: n,
    val_exams: val.length,
    columns,
    reps,
    baseline_ridge_fold_cpu_s: +ridgeFold.toFixed(3),
    baseline_clinical_fold_cpu_s: +clinicalFold.toFixed(4),
    ridge_design_cpu_s: +median(parts.design).toFixed(3),
    ridge_kernel_cpu_s: +median(parts.kernel).toFixed(3),
    ridge_gcv_cpu_s: +median(parts.gcv).toFixed(3),
    ridge_fit_cpu_s: +median(parts.fit).toFixed(3),
    peer_fit_ridge_cpu_s: +peerS.toFixed(3),
    ridge_fold_over_peer: +(ridgeFold / peerS).toFixed(2),
  }),
);
