// Fine-tuning (recipe encoder.finetune): the encoder is trained together with the liverstiff head, on the
// prepared slices of each fold's training part instead of on cached features. Each ensemble member owns a
// copy of the encoder, created from the registry (the pretrained weights) at the start of the fold. The
// head's standardisation and PCA are fitted on the starting encoder's features of the training part and
// then kept fixed, so the head sees the same token space as with a frozen encoder at step 0. The encoder
// trains with its own (lower) learning rate; BatchNorm layers stay in evaluation mode (running statistics
// frozen, affine weights trained) unless encoder.batchNorm is "train". Runs on CUDA when the linked
// libtorch has it, else on the CPU. A saved model is one safetensors file: head tensors under `m<k>.`,
// encoder tensors under `encoder.<k>.`.
import { describeError, LiverstiffError, Rng } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import {
  createEncoder,
  DEFAULT_ENCODER_NAME,
  type Encoder,
  type EncoderIdentity,
  type ExamFeatures,
  ModuleEncoder,
  resizeSlices,
} from "../features/index.ts";
import {
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  DataParallel,
  type Module,
  ScriptModule,
  type StateDict,
} from "../nn/index.ts";
import {
  cat,
  type Device,
  defaultDevice,
  dispose,
  manualSeed,
  noGrad,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from "../torch/index.ts";
import { N_THRESHOLDS } from "./data.ts";
import {
  covariateTensor,
  evaluateVal,
  featureStats,
  fitPca,
  type HeadTargets,
  headLoss,
  headTargets,
  LiverstiffNet,
  type TargetTensors,
  targetTensors,
} from "./liverstiff.ts";
import type { LoopResult, Owner, ValScore } from "./loop.ts";
import { descend, kept, loopSettings, makeOptimizer, owning, runLoop, training } from "./loop.ts";
import { headOf, type LiverstiffHead, type Recipe } from "./recipe.ts";
import type { ExamPrediction, SliceLoader, TrainOptions, TrainSummary } from "./types.ts";

/** Exams encoded per forward pass when no gradient is needed (statistics, validation, prediction). */
const EVAL_CHUNK = 16;

/** The registry name of a recipe's encoder ("default" is the shipped CNN). */
export function finetuneEncoderName(recipe: Recipe): string {
  return recipe.encoder.name === "default" ? DEFAULT_ENCODER_NAME : recipe.encoder.name;
}

/**
 * Throws, naming the recipe and field, when the recipe cannot be fine-tuned: a head other than liverstiff,
 * or (when given) an encoder that is not an engine Module (TorchScript, or another Encoder). validate/
 * calls it before any fold runs.
 */
export function checkFinetunable(recipe: Recipe, encoder?: Encoder): void {
  if (recipe.head.kind !== "liverstiff") {
    throw new LiverstiffError(
      `recipe ${recipe.name}: field "encoder.finetune": fine-tuning supports the liverstiff head only, not head.kind "${recipe.head.kind}"; set encoder.finetune to false to train this head on cached features`,
      { recipe: recipe.name, field: "encoder.finetune" },
    );
  }
  if (recipe.head.ridge > 0) {
    throw new LiverstiffError(
      `recipe ${recipe.name}: field "head.ridge": the ridge member reads frozen features and cannot be fine-tuned; set head.ridge to 0 with encoder.finetune (liverstiff validate --finetune does)`,
      { recipe: recipe.name, field: "head.ridge" },
    );
  }
  if (encoder && (!(encoder instanceof ModuleEncoder) || encoder.module instanceof ScriptModule)) {
    const what = encoder instanceof ModuleEncoder ? "a TorchScript module" : "not an engine Module (src/nn/)";
    throw new LiverstiffError(
      `recipe ${recipe.name}: field "encoder.finetune": encoder "${encoder.identity.name}" is ${what} and cannot be fine-tuned; fine-tuning needs an engine Module encoder (liverstiff-cnn-v1, swin_*, resnet*). Set encoder.finetune to false`,
      { recipe: recipe.name, field: "encoder.finetune", encoder: encoder.identity.name },
    );
  }
}

/** A fresh, trainable copy of the recipe's encoder (pretrained weights); refuses TorchScript and non-Modules. */
function trainableEncoder(recipe: Recipe): ModuleEncoder {
  const name = finetuneEncoderName(recipe);
  let enc: Encoder;
  try {
    enc = createEncoder(name);
  } catch (err) {
    throw new LiverstiffError(
      `recipe ${recipe.name}: field "encoder.name": cannot create encoder "${name}" to fine-tune: ${describeError(err)}`,
      { recipe: recipe.name, field: "encoder.name" },
      { cause: err },
    );
  }
  try {
    checkFinetunable(recipe, enc);
  } catch (err) {
    enc.dispose();
    throw err;
  }
  return enc as ModuleEncoder;
}

/** Where fine-tuning runs: the engine's default device (`--device`, torch/device.ts). */
export function finetuneDevice(): Device {
  return defaultDevice();
}

/** Evaluation mode for BatchNorm layers only (frozen running statistics); other layers keep theirs. */
function freezeBatchNorm(m: Module): void {
  m.apply((c) => {
    if (c instanceof BatchNorm1d || c instanceof BatchNorm2d || c instanceof BatchNorm3d) c.eval();
  });
}

function toHost(t: Tensor): Float32Array {
  return (t.device === "cpu" ? t : t.cpu()).contiguous().toFloat32Array();
}

function onDevice(t: Tensor, device: Device): Tensor {
  return device === "cpu" ? t : t.to(device);
}

interface SliceBatch {
  /** [P * S, 1, s, s]: the slices of the P present (exam, role) pairs. */
  x: Tensor;
  /** [B * R] int64: 0 for a missing role, else 1 + the pair's index among the present ones. */
  slot: Tensor;
  /** [B, R] 1 = role present. */
  mask: Tensor;
}

/** Reads and stacks the prepared slices of the exams' roles (resized to the encoder's input size). */
function loadSlices(
  exams: readonly ExamFeatures[],
  loader: SliceLoader,
  roles: readonly SeriesRole[],
  slices: number,
  inputSize: number,
  device: Device,
): SliceBatch {
  const plane = inputSize * inputSize;
  const parts: Float32Array[] = [];
  const slot = new Array<number>(exams.length * roles.length).fill(0);
  const mask = new Float32Array(exams.length * roles.length);
  exams.forEach((e, i) => {
    let p: ReturnType<SliceLoader>;
    try {
      p = loader(e.examId);
    } catch (err) {
      throw new LiverstiffError(
        `exam ${e.examId}: cannot read its prepared slices for the fine-tuned encoder: ${describeError(err)}`,
        { exam: e.examId },
        { cause: err },
      );
    }
    if (p.slices !== slices || p.height !== p.width) {
      throw new LiverstiffError(
        `exam ${e.examId} has ${p.slices} prepared slices of ${p.height}x${p.width}; the fine-tuned model needs ${slices} square slices`,
        { exam: e.examId },
      );
    }
    let any = false;
    roles.forEach((role, r) => {
      const v = p.roles[role];
      if (!v) return;
      if (v.length !== slices * p.height * p.width) {
        throw new LiverstiffError(`exam ${e.examId} role ${role}: prepared slices have the wrong size`, {
          exam: e.examId,
          role,
        });
      }
      any = true;
      parts.push(resizeSlices(v, slices, p.height, inputSize));
      slot[i * roles.length + r] = parts.length;
      mask[i * roles.length + r] = 1;
    });
    if (!any) {
      throw new LiverstiffError(`exam ${e.examId} has none of the roles ${roles.join(", ")}`, {
        exam: e.examId,
      });
    }
  });
  const all = new Float32Array(parts.length * slices * plane);
  parts.forEach((a, k) => {
    all.set(a, k * slices * plane);
  });
  return {
    x: onDevice(tensor(all, { shape: [parts.length * slices, 1, inputSize, inputSize] }), device),
    slot: onDevice(tensor(slot, { dtype: "int64" }), device),
    mask: onDevice(tensor(mask, { shape: [exams.length, roles.length] }), device),
  };
}

/** Encoder features of a slice batch as head input [B, R, S, D] (zeros for missing roles). */
function tokens(enc: ModuleEncoder, b: SliceBatch, nExams: number, nRoles: number, slices: number): Tensor {
  const d = enc.identity.featureDim;
  const f = enc.forward(b.x);
  const pairs = f.view([-1, slices, d]);
  const padded = cat(
    [zeros([1, slices, d], pairs.device === "cpu" ? {} : { device: pairs.device }), pairs],
    0,
  );
  return padded.indexSelect(0, b.slot).view([nExams, nRoles, slices, d]);
}

/** Features of many exams under noGrad, in chunks: [n, R, S, D] (kept) and the role mask [n, R] (kept). */
function encodeAll(
  enc: ModuleEncoder,
  exams: readonly ExamFeatures[],
  loader: SliceLoader,
  head: LiverstiffHead,
  slices: number,
  device: Device,
): { x: Tensor; mask: Tensor } {
  const R = head.roles.length;
  const xs: Tensor[] = [];
  const ms: Tensor[] = [];
  for (let i = 0; i < exams.length; i += EVAL_CHUNK) {
    const part = exams.slice(i, i + EVAL_CHUNK);
    const [x, m] = tidy(() =>
      noGrad(() => {
        const b = loadSlices(part, loader, head.roles, slices, enc.identity.inputSize, device);
        return [tokens(enc, b, part.length, R, slices).keep(), b.mask.keep()];
      }),
    );
    xs.push(x!);
    ms.push(m!);
  }
  const out = tidy(() => ({ x: cat(xs, 0).keep(), mask: cat(ms, 0).keep() }));
  for (const t of [...xs, ...ms]) t.dispose();
  return out;
}

interface Member {
  enc: ModuleEncoder;
  net: LiverstiffNet;
}

/** The fine-tuned model: per ensemble member an encoder and a head, both needed by predict(). */
export class FinetunedModel {
  constructor(
    readonly recipe: Recipe,
    readonly summary: TrainSummary,
    readonly members: Member[],
    readonly slices: number,
    private loader: SliceLoader | undefined,
    readonly device: Device,
  ) {}

  useSlices(loader: SliceLoader): void {
    this.loader = loader;
  }

  predict(exams: readonly ExamFeatures[]): ExamPrediction[] {
    if (exams.length === 0) return [];
    const loader = this.loader;
    if (!loader) {
      throw new LiverstiffError(
        `recipe ${this.recipe.name}: the model fine-tuned its encoder and reads prepared slices, but no slice loader was given (TrainOptions.slices, loadTrainedModel's slices, or useSlices)`,
        { recipe: this.recipe.name },
      );
    }
    const head = headOf(this.recipe, "liverstiff");
    const n = exams.length;
    const R = head.roles.length;
    const S = this.slices;
    const M = this.members.length;
    const probs = new Float64Array(n * N_THRESHOLDS);
    const logk = new Float64Array(n);
    const attn = new Float64Array(n * R * S);
    const present = new Uint8Array(n * R);
    for (const { enc, net } of this.members) {
      enc.module.eval();
      net.eval();
      const age = net.ageStats();
      for (let i = 0; i < n; i += EVAL_CHUNK) {
        const part = exams.slice(i, i + EVAL_CHUNK);
        const out = tidy(() =>
          noGrad(() => {
            const b = loadSlices(part, loader, head.roles, S, enc.identity.inputSize, this.device);
            const x = tokens(enc, b, part.length, R, S);
            const clin = onDevice(covariateTensor(part, head, age, net.sites), this.device);
            const o = net.forward(x, b.mask, clin);
            return {
              p: toHost(o.logits.sigmoid()),
              k: toHost(o.logKpa),
              a: toHost(o.attention),
              m: toHost(b.mask),
            };
          }),
        );
        for (let j = 0; j < out.p.length; j++) probs[i * N_THRESHOLDS + j]! += out.p[j]! / M;
        for (let j = 0; j < out.k.length; j++) logk[i + j]! += out.k[j]! / M;
        for (let j = 0; j < out.a.length; j++) attn[i * R * S + j]! += out.a[j]! / M;
        for (let j = 0; j < out.m.length; j++) present[i * R + j] = out.m[j]! > 0 ? 1 : 0;
      }
    }
    return exams.map((e, i) => {
      const attention: Partial<Record<SeriesRole, number[]>> = {};
      head.roles.forEach((role, r) => {
        if (!present[i * R + r]) return;
        const o = (i * R + r) * S;
        attention[role] = Array.from(attn.subarray(o, o + S));
      });
      const p = Array.from(probs.subarray(i * N_THRESHOLDS, (i + 1) * N_THRESHOLDS));
      for (let k = 1; k < p.length; k++) p[k] = Math.min(p[k]!, p[k - 1]!);
      return { examId: e.examId, probabilities: p, kpaPred: Math.exp(logk[i]!), attention };
    });
  }

  /** The encoders' state dicts (aliases of their tensors), made once and freed by dispose(). */
  private encoderStates: StateDict[] | undefined;

  /** Head tensors under `m<k>.`, encoder tensors under `encoder.<k>.` (live tensors; do not dispose). */
  stateDict(): StateDict {
    this.encoderStates ??= this.members.map(({ enc }) => kept(() => enc.module.stateDict()));
    const out: StateDict = new Map();
    this.members.forEach(({ net }, m) => {
      for (const [k, v] of net.namedParameters()) out.set(`m${m}.${k}`, v);
      for (const [k, v] of net.namedBuffers()) out.set(`m${m}.${k}`, v);
      for (const [k, v] of this.encoderStates![m]!) out.set(`encoder.${m}.${k}`, v);
    });
    return out;
  }

  dispose(): void {
    dispose(this.encoderStates);
    this.encoderStates = undefined;
    for (const { enc, net } of this.members) {
      net.dispose();
      enc.dispose();
    }
  }
}

/** What a saved fine-tuned model records beside its tensors. */
export interface FinetunedShape {
  featureDim: number;
  slices: number;
  members: number;
  sites: string[];
  /** The starting encoder's identity (registry name, weights sha256 before fine-tuning). */
  encoder: EncoderIdentity;
}

export function finetunedShape(model: FinetunedModel): FinetunedShape {
  const first = model.members[0]!;
  return {
    featureDim: first.net.featureDim,
    slices: model.slices,
    members: model.members.length,
    sites: [...first.net.sites],
    encoder: first.enc.identity,
  };
}

/** Rebuilds a fine-tuned model from a saved file's parts (see model.ts loadTrainedModel). */
export function restoreFinetuned(
  recipe: Recipe,
  summary: TrainSummary,
  shape: FinetunedShape,
  pick: (prefix: string) => Map<string, Tensor>,
  source: string,
  loader: SliceLoader | undefined,
): FinetunedModel {
  checkFinetunable(recipe);
  const head = headOf(recipe, "liverstiff");
  const device = finetuneDevice();
  const members: Member[] = [];
  try {
    for (let m = 0; m < shape.members; m++) {
      const enc = trainableEncoder(recipe);
      const net = new LiverstiffNet(shape.featureDim, head.roles, shape.slices, head, shape.sites);
      members.push({ enc, net });
      enc.module.loadStateDict(pick(`encoder.${m}.`), { source });
      enc.module.requiresGrad_(false);
      enc.module.eval();
      net.loadStateDict(pick(`m${m}.`), { source });
      net.eval();
      if (device !== "cpu") {
        enc.module.to(device);
        net.to(device);
      }
    }
  } catch (err) {
    for (const { enc, net } of members) {
      net.dispose();
      enc.dispose();
    }
    throw err;
  }
  return new FinetunedModel(recipe, summary, members, shape.slices, loader, device);
}

/** The slice loader of a fine-tuning run and the slices per exam (read from the first training exam). */
function trainingSlices(recipe: Recipe, options: TrainOptions): { loader: SliceLoader; slices: number } {
  const loader = options.slices;
  if (!loader) {
    throw new LiverstiffError(
      `recipe ${recipe.name}: field "encoder.finetune": fine-tuning trains on prepared slices, but no slice loader was given (TrainOptions.slices)`,
      { recipe: recipe.name, field: "encoder.finetune" },
    );
  }
  const first = options.train[0];
  if (!first) throw new LiverstiffError("no training exams to train on", { recipe: recipe.name });
  try {
    return { loader, slices: loader(first.examId).slices };
  } catch (err) {
    throw new LiverstiffError(
      `exam ${first.examId}: cannot read its prepared slices for the fine-tuned encoder: ${describeError(err)}`,
      { exam: first.examId },
      { cause: err },
    );
  }
}

/**
 * Trains encoder + liverstiff head per ensemble member on the training part's prepared slices, with the
 * head's loss, early stopping and determinism (same recipe, exams, order, seed, thread count -> same
 * predictions).
 */
export function trainFinetuned(recipe: Recipe, options: TrainOptions): FinetunedModel {
  checkFinetunable(recipe);
  const { loader, slices } = trainingSlices(recipe, options);
  const head = headOf(recipe, "liverstiff");
  const device = finetuneDevice();
  const nVal = options.val.length;
  return training(recipe, options, ({ owner, t, seed, summary }) => {
    const targets = headTargets(options, head, t);
    const fold: FinetuneFold = {
      recipe,
      options,
      loader,
      seed,
      device,
      slices,
      targets,
      tensors: owner.own(targetTensors(options.train, head, targets, device)),
      valClinical:
        nVal > 0
          ? owner.own(
              tidy(() => onDevice(covariateTensor(options.val, head, targets.age, targets.sites), device)),
            )
          : null,
    };
    const { members, models, steps } = trainMembers(owner, fold);
    const shape = { featureDim: members[0]!.enc.identity.featureDim, slices };
    const trained: TrainSummary = {
      ...summary("liverstiff", shape, { models, steps }),
      finetune: {
        encoder: finetuneEncoderName(recipe),
        encoderLr: recipe.encoder.lr!,
        batchNorm: recipe.encoder.batchNorm ?? "frozen",
        device,
      },
    };
    return new FinetunedModel(recipe, trained, members, slices, loader, device);
  });
}

/** Creates and trains each ensemble member of a fold, in order (member m is seeded seed + m). */
function trainMembers(
  owner: Owner,
  fold: FinetuneFold,
): { members: Member[]; models: TrainSummary["models"]; steps: number } {
  const { recipe, device, seed, slices, targets } = fold;
  const head = recipe.head as LiverstiffHead;
  const members: Member[] = [];
  const models: TrainSummary["models"] = [];
  let steps = 0;
  let stats: StartingStats | null = null;
  for (let m = 0; m < head.ensemble; m++) {
    const enc = owner.result(trainableEncoder(recipe));
    if (device !== "cpu") enc.module.to(device);
    // Standardisation and PCA from the starting encoder's features of the training part (the same for
    // every member: each starts from the same weights).
    stats ??= owner.own(startingStats(enc, fold));
    manualSeed(seed + m);
    const net = owner.result(
      new LiverstiffNet(enc.identity.featureDim, head.roles, slices, head, targets.sites),
    );
    net.initFromData(stats.mean, stats.sd, stats.pca, targets.age, targets.logkStats, targets.prev);
    if (device !== "cpu") net.to(device);
    const member = { enc, net };
    members.push(member);
    const run = trainMember(member, m, fold);
    models.push(...run.models);
    steps += run.steps;
  }
  return { members, models, steps };
}

/** What every ensemble member of one fold trains on. */
interface FinetuneFold {
  recipe: Recipe;
  options: TrainOptions;
  loader: SliceLoader;
  seed: number;
  device: Device;
  slices: number;
  targets: HeadTargets;
  tensors: TargetTensors;
  /** [nVal, C] covariates of the validation part. */
  valClinical: Tensor | null;
}

/** The starting encoder's feature statistics and PCA basis (kept until dispose). */
interface StartingStats {
  mean: Float32Array;
  sd: Float32Array;
  pca: Tensor | null;
  dispose(): void;
}

function startingStats(enc: ModuleEncoder, fold: FinetuneFold): StartingStats {
  const head = headOf(fold.recipe, "liverstiff");
  const featureDim = enc.identity.featureDim;
  const init = encodeAll(enc, fold.options.train, fold.loader, head, fold.slices, fold.device);
  let x: Float32Array;
  let mask: Uint8Array;
  try {
    x = tidy(() => toHost(init.x));
    mask = Uint8Array.from(
      tidy(() => toHost(init.mask)),
      (v) => (v > 0 ? 1 : 0),
    );
  } finally {
    dispose(init);
  }
  const fs = featureStats(x, mask, fold.slices, featureDim);
  const pca = fitPca(x, mask, fold.slices, featureDim, fs, head.pca, head.pcaOn);
  return { ...fs, pca: pca ? pca.keep() : null, dispose: () => pca?.dispose() };
}

/** Trains one member's encoder and head together; both end in evaluation mode, the encoder frozen. */
function trainMember(member: Member, m: number, fold: FinetuneFold): LoopResult {
  const { enc, net } = member;
  const { recipe, options } = fold;
  const head = headOf(recipe, "liverstiff");
  const t = recipe.training;
  const nTrain = options.train.length;
  const dp = options.parallel ?? new DataParallel(undefined);
  const trainBatchNorm = (recipe.encoder.batchNorm ?? "frozen") === "train";
  return owning((owner) => {
    enc.module.requiresGrad_(true);
    const params = [...net.parameters(), ...enc.module.parameters()];
    // Every rank starts from rank 0's weights (they are equal already when every rank seeds alike).
    dp.broadcastFromRankZero([...params, ...net.buffers(), ...enc.module.buffers()]);
    const opt = owner.own(
      makeOptimizer(t, [
        { params: net.parameters() },
        { params: enc.module.parameters(), lr: recipe.encoder.lr! },
      ]),
    );
    let lossSum = 0;
    let firstLoss = Number.NaN;
    let lastLoss = Number.NaN;
    const run = runLoop({
      ...loopSettings(t, nTrain),
      rng: Rng.derive(fold.seed, "liverstiff-finetune", m),
      models: 1,
      improvement: "loss-tie-break",
      // The best state includes the encoder's.
      tensorsOf: () => [...net.stateDict().values(), ...enc.module.stateDict().values()],
      beginEpoch: () => {
        net.train();
        enc.module.train();
        if ((recipe.encoder.batchNorm ?? "frozen") === "frozen") freezeBatchNorm(enc.module);
        lossSum = 0;
      },
      step: (idx) => {
        if (dp.worldSize === 1) {
          const loss = memberLoss(member, fold, idx);
          descend(opt, loss);
          lossSum += loss.item() * idx.length;
          return;
        }
        // This rank's shard, its mean loss weighted by its share: the ranks' gradients sum to the batch's.
        opt.zeroGrad();
        const mine = dp.shard(idx);
        const loss = mine.length > 0 ? memberLoss(member, fold, mine) : undefined;
        loss?.mul(dp.lossScale(mine.length, idx.length)).backward();
        dp.reduceGradients(params);
        opt.step();
        if (trainBatchNorm) dp.broadcastFromRankZero(enc.module.buffers());
        lossSum += sumOverRanks(dp, loss ? loss.item() * mine.length : 0);
      },
      ...(fold.valClinical ? { validate: () => [validateMember(member, fold)] } : {}),
      endEpoch: (epoch, scores) => {
        lastLoss = lossSum / nTrain;
        if (epoch === 1) firstLoss = lastLoss;
        const val = scores ? `, ${t.earlyStopping} ${scores[0]!.metric.toFixed(3)}` : "";
        options.onProgress?.({
          stage: "train",
          done: m * t.maxEpochs + epoch,
          total: head.ensemble * t.maxEpochs,
          message: `liverstiff (fine-tuned encoder) model ${m + 1}/${head.ensemble} epoch ${epoch}: train loss ${lastLoss.toFixed(3)}${val}`,
        });
      },
    });
    enc.module.requiresGrad_(false);
    enc.module.eval();
    net.eval();
    return {
      steps: run.steps,
      models: run.models.map((s) => ({ ...s, trainLoss: { first: firstLoss, last: lastLoss } })),
    };
  });
}

/** A number summed over the ranks (for the reported training loss). */
function sumOverRanks(dp: DataParallel, x: number): number {
  if (!dp.group) return x;
  return tidy(() => {
    const t = tensor([x], { shape: [1], dtype: "float64" });
    dp.group!.allReduceSum([t]);
    return t.item();
  });
}

/** The head's loss on the training exams idx, through the encoder (slices read and encoded here). */
function memberLoss({ enc, net }: Member, fold: FinetuneFold, idx: number[]): Tensor {
  const head = headOf(fold.recipe, "liverstiff");
  const part = idx.map((k) => fold.options.train[k]!);
  const b = loadSlices(part, fold.loader, head.roles, fold.slices, enc.identity.inputSize, fold.device);
  const index = onDevice(tensor(idx, { dtype: "int64" }), fold.device);
  const x = tokens(enc, b, idx.length, head.roles.length, fold.slices);
  const o = net.forward(x, b.mask, fold.tensors.clinical.indexSelect(0, index));
  return headLoss(o, fold.tensors, index, fold.targets.logkStats, head.regressionWeight);
}

/** The early-stopping score of a member on the validation part (encoded by its current encoder). */
function validateMember({ enc, net }: Member, fold: FinetuneFold): ValScore {
  const head = headOf(fold.recipe, "liverstiff");
  const { options, recipe } = fold;
  enc.module.eval();
  const v = encodeAll(enc, options.val, fold.loader, head, fold.slices, fold.device);
  try {
    const reduced = noGrad(() => net.reduce(v.x));
    const b = { x: reduced, mask: v.mask, clinical: fold.valClinical! };
    return evaluateVal(net, b, fold.targets, options.val.length, recipe.training.earlyStopping);
  } finally {
    dispose(v);
  }
}
