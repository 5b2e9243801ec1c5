// Timing of one fold's head training on synthetic features (docs/train.md). No peer: the figures are the
// cost of a fold and its held-out AUROC. Last line: one JSON object.
//   npm run bench -- heads [recipe] [featureDim] [nTrain] [threads]
// e.g. npm run bench -- heads liverstiff 512 450 1
import { setNumThreads } from "../src/torch/index.ts";
import { auroc, loadRecipe, trainModel } from "../src/train/index.ts";
import { synthExams } from "../test/train/synthetic.ts";

const [recipeName = "liverstiff", dimArg = "512", nArg = "450", threadsArg = "1"] = process.argv.slice(2);
setNumThreads(Number(threadsArg));
const D = Number(dimArg);
const n = Number(nArg);
const train = synthExams({ n, featureDim: D, seed: 1, noise: 1.2 });
const val = synthExams({ n: Math.round(n / 9), featureDim: D, seed: 2, prefix: "v", noise: 1.2 });
const test = synthExams({ n: 200, featureDim: D, seed: 3, prefix: "t", noise: 1.2 });
const recipe = loadRecipe(recipeName);
const t0 = performance.now();
const c0 = process.cpuUsage();
const model = trainModel(recipe, { train, val });
const cpu = process.cpuUsage(c0);
const preds = model.predict(test);
const auc = auroc(
  test.map((e) => (e.kpa! >= 3 ? 1 : 0)),
  preds.map((p) => p.probabilities[1]!),
);
const s = model.summary;
process.stdout.write(
  `${recipe.name} D=${D} n=${n} threads=${threadsArg}: wall ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
    `cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, steps ${s.steps}, epochs ${s.models.map((m) => m.epochs).join("/")}, ` +
    `held-out AUROC@3.0 ${auc.toFixed(3)}\n`,
);
console.log(
  JSON.stringify({
    bench: "heads",
    recipe: recipe.name,
    feature_dim: D,
    train_exams: n,
    threads: Number(threadsArg),
    cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
    steps: s.steps,
    auroc_3_0: +auc.toFixed(4),
  }),
);
model.dispose();
