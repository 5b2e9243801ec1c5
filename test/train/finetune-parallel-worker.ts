// One rank of the data-parallel fine-tuning test (test/train/finetune.test.ts): fine-tunes the tiny
// encoder with the liverstiff head (no dropout, BatchNorm frozen), alone or as a rank of a group, and
// writes its held-out probabilities and training losses as JSON.
//   tsx finetune-parallel-worker.ts OUT.json WORLD RANK PORT
import { writeFileSync } from "node:fs";
import { DataParallel } from "../../src/nn/index.ts";
import { ProcessGroup, setNumThreads } from "../../src/torch/index.ts";
import { trainModel } from "../../src/train/index.ts";
import { held, loader, recipe, train, val } from "./finetune-fixture.ts";

setNumThreads(1);
const [out, world, rank, port] = [
  process.argv[2]!,
  Number(process.argv[3]),
  Number(process.argv[4]),
  process.argv[5],
];
const group =
  world > 1
    ? ProcessGroup.init({ initMethod: `tcp://127.0.0.1:${port}`, worldSize: world, rank, timeoutS: 120 })
    : undefined;
const model = trainModel(recipe({ training: { maxEpochs: 4 } }), {
  train,
  val,
  seed: 3,
  slices: loader,
  parallel: new DataParallel(group),
});
writeFileSync(
  out,
  JSON.stringify({
    probabilities: model.predict(held).map((p) => p.probabilities),
    trainLoss: model.summary.models[0]!.trainLoss,
  }),
);
model.dispose();
group?.close();
