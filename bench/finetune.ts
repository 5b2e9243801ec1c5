// Cost of fine-tuning: one fold of the shipped liverstiff recipe with encoder.finetune (the default CNN,
// 9 slices x 3 roles at 128 px) on N exams of random slices, for E epochs, no validation part, ensemble 1.
// Prints wall and process CPU seconds; per-epoch cost is linear in N (docs/train.md, "Fine-tuning").
//   npm run bench -- finetune [N=64] [epochs=1] [threads=1]
// No peer: the figure is the cost per epoch (docs/train.md). Last line: one JSON object.
import type { ExamFeatures } from "../src/features/types.ts";
import { setNumThreads } from "../src/torch/index.ts";
import { loadRecipe, type PreparedSlices, parseRecipe, trainModel } from "../src/train/index.ts";

const n = Number(process.argv[2] ?? 64);
const epochs = Number(process.argv[3] ?? 1);
setNumThreads(Number(process.argv[4] ?? 1));
const base = loadRecipe("liverstiff");
const recipe = parseRecipe({
  ...base,
  encoder: { ...base.encoder, finetune: true },
  head: { ...base.head, ensemble: 1, ridge: 0 },
  training: { ...base.training, maxEpochs: epochs },
});
const S = recipe.preparation.slices;
const size = 128;
let seed = 1;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648 - 0.5;
};
const slices = new Map<string, PreparedSlices>();
const exams: ExamFeatures[] = Array.from({ length: n }, (_, i) => {
  const roles: PreparedSlices["roles"] = {};
  for (const r of ["t1_in", "t1_opp", "t2"] as const)
    roles[r] = Float32Array.from({ length: S * size * size }, rand);
  slices.set(`e${i}`, { slices: S, height: size, width: size, roles });
  return {
    examId: `e${i}`,
    patientKey: `p${i}`,
    site: "A",
    kpa: 2 + (i % 5),
    slices: S,
    featureDim: 1,
    roles: {},
  };
});
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const model = trainModel(recipe, { train: exams, val: [], seed: 1, slices: (id) => slices.get(id)! });
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    bench: "finetune",
    exams: n,
    epochs,
    slicesPerEpoch: n * 3 * S,
    steps: model.summary.steps,
    wallSeconds: +wall.toFixed(1),
    cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1),
    trainLoss: model.summary.models[0]!.trainLoss,
    device: model.summary.finetune?.device,
  }),
);
model.dispose();
