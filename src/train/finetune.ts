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
  AdamW,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  type Module,
  ScriptModule,
  type StateDict,
} from "../nn/index.ts";
import { Adam, Adamax } from "../nn/optim/optimizers.ts";
import {
  cat,
  cuda,
  type Device,
  functional as F,
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
  EarlyStopping,
  evaluateVal,
  featureStats,
  fitPca,
  headTargets,
  LiverstiffNet,
} from "./liverstiff.ts";
import type { LiverstiffHead, Recipe } from "./recipe.ts";
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

/** The engine's device: CUDA when the linked libtorch has it, else the CPU. */
export function finetuneDevice(): Device {
  try {
    return cuda.isAvailable() ? "cuda" : "cpu";
  } catch {
    return "cpu";
  }
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

function makeOptimizer(net: Module, enc: ModuleEncoder, recipe: Recipe) {
  const t = recipe.training;
  const o = { lr: t.lr, betas: t.betas, eps: t.eps, weightDecay: t.weightDecay };
  const groups = [{ params: net.parameters() }, { params: enc.module.parameters(), lr: recipe.encoder.lr! }];
  if (t.optimizer === "adamw") return new AdamW(groups, o);
  if (t.optimizer === "adam") return new Adam(groups, o);
  return new Adamax(groups, o);
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
    const head = this.recipe.head as LiverstiffHead;
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

  /** Head tensors under `m<k>.`, encoder tensors under `encoder.<k>.` (live tensors; do not dispose). */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    this.members.forEach(({ enc, net }, m) => {
      for (const [k, v] of net.namedParameters()) out.set(`m${m}.${k}`, v);
      for (const [k, v] of net.namedBuffers()) out.set(`m${m}.${k}`, v);
      for (const [k, v] of enc.module.stateDict()) out.set(`encoder.${m}.${k}`, v);
    });
    return out;
  }

  dispose(): void {
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
  const head = recipe.head as LiverstiffHead;
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

/**
 * Trains encoder + liverstiff head per ensemble member on the training part's prepared slices, with the
 * head's loss, early stopping and determinism (same recipe, exams, order, seed, thread count -> same
 * predictions).
 */
export function trainFinetuned(recipe: Recipe, options: TrainOptions): FinetunedModel {
  checkFinetunable(recipe);
  const loader = options.slices;
  if (!loader) {
    throw new LiverstiffError(
      `recipe ${recipe.name}: field "encoder.finetune": fine-tuning trains on prepared slices, but no slice loader was given (TrainOptions.slices)`,
      { recipe: recipe.name, field: "encoder.finetune" },
    );
  }
  const head = recipe.head as LiverstiffHead;
  const t = recipe.training;
  const seed = options.seed ?? t.seed;
  const started = performance.now();
  const device = finetuneDevice();
  const nTrain = options.train.length;
  const nVal = options.val.length;
  if (nTrain === 0) throw new LiverstiffError("no training exams to train on", { recipe: recipe.name });
  const R = head.roles.length;
  let slices: number;
  try {
    slices = loader(options.train[0]!.examId).slices;
  } catch (err) {
    throw new LiverstiffError(
      `exam ${options.train[0]!.examId}: cannot read its prepared slices for the fine-tuned encoder: ${describeError(err)}`,
      { exam: options.train[0]!.examId },
      { cause: err },
    );
  }
  const { yTrain, wTrain, logk, logkStats, age, prev, yVal, valHasBoth, sites } = headTargets(
    options,
    head,
    t,
  );
  const CLIN = onDevice(covariateTensor(options.train, head, age, sites), device).keep();
  const Y = onDevice(tensor(yTrain, { shape: [nTrain, N_THRESHOLDS] }), device).keep();
  const W = onDevice(tensor(wTrain, { shape: [nTrain, N_THRESHOLDS] }), device).keep();
  const LOGK = onDevice(
    tensor(Float32Array.from(logk, (v) => (v - logkStats.mean) / logkStats.sd)),
    device,
  ).keep();
  const valClin = nVal > 0 ? onDevice(covariateTensor(options.val, head, age, sites), device).keep() : null;
  const batch = t.batchSize === "full" ? nTrain : Math.min(t.batchSize, nTrain);
  const bnMode = recipe.encoder.batchNorm ?? "frozen";

  const members: Member[] = [];
  const models: TrainSummary["models"] = [];
  let steps = 0;
  let stats: { mean: Float32Array; sd: Float32Array; pca: Tensor | null } | null = null;
  /** The encoder being set up, until a member owns it (disposed on error). */
  let pending: ModuleEncoder | undefined;
  try {
    for (let m = 0; m < head.ensemble; m++) {
      const enc = trainableEncoder(recipe);
      pending = enc;
      if (device !== "cpu") enc.module.to(device);
      const featureDim = enc.identity.featureDim;
      if (!stats) {
        // Standardisation and PCA from the starting encoder's features of the training part (the same
        // for every member: each starts from the same weights).
        const init = encodeAll(enc, options.train, loader, head, slices, device);
        const x = toHost(init.x);
        const mask = Uint8Array.from(toHost(init.mask), (v) => (v > 0 ? 1 : 0));
        init.x.dispose();
        init.mask.dispose();
        const fs = featureStats(x, mask, slices, featureDim);
        const pca = fitPca(x, mask, slices, featureDim, fs, head.pca, head.pcaOn);
        stats = { ...fs, pca: pca ? pca.keep() : null };
      }
      manualSeed(seed + m);
      const rng = Rng.derive(seed, "liverstiff-finetune", m);
      const net = new LiverstiffNet(featureDim, head.roles, slices, head, sites);
      net.initFromData(stats.mean, stats.sd, stats.pca, age, logkStats, prev);
      if (device !== "cpu") net.to(device);
      members.push({ enc, net });
      pending = undefined;
      enc.module.requiresGrad_(true);
      const opt = makeOptimizer(net, enc, recipe);
      const stopping = new EarlyStopping(t.patience);
      let bestState: Tensor[] | null = null;
      let epoch = 0;
      let firstLoss = Number.NaN;
      let lastLoss = Number.NaN;
      const snapshot = () =>
        noGrad(() =>
          [...net.stateDict().values(), ...enc.module.stateDict().values()].map((p) => p.clone().keep()),
        );
      const order = Array.from({ length: nTrain }, (_, i) => i);
      for (epoch = 1; epoch <= t.maxEpochs; epoch++) {
        net.train();
        enc.module.train();
        if (bnMode === "frozen") freezeBatchNorm(enc.module);
        rng.shuffle(order);
        let lossSum = 0;
        for (let i = 0; i < nTrain; i += batch) {
          const idx = order.slice(i, i + batch);
          lossSum +=
            tidy(() => {
              const part = idx.map((k) => options.train[k]!);
              const b = loadSlices(part, loader, head.roles, slices, enc.identity.inputSize, device);
              const index = onDevice(tensor(idx, { dtype: "int64" }), device);
              const x = tokens(enc, b, idx.length, R, slices);
              const o = net.forward(x, b.mask, CLIN.indexSelect(0, index));
              const bce = F.binaryCrossEntropyWithLogits(o.logits, Y.indexSelect(0, index), {
                weight: W.indexSelect(0, index),
                reduction: "none",
              })
                .mean(0)
                .sum();
              const reg = F.mseLoss(
                o.logKpa.sub(logkStats.mean).div(logkStats.sd),
                LOGK.indexSelect(0, index),
              );
              const loss = bce.add(reg.mul(head.regressionWeight));
              opt.zeroGrad();
              loss.backward();
              opt.step();
              return loss.item();
            }) * idx.length;
          steps++;
        }
        lastLoss = lossSum / nTrain;
        if (epoch === 1) firstLoss = lastLoss;
        if (nVal === 0) continue;
        enc.module.eval();
        const v = encodeAll(enc, options.val, loader, head, slices, device);
        const reduced = tidy(() => noGrad(() => net.reduce(v.x)).keep());
        const { auc, loss } = evaluateVal(
          net,
          { x: reduced, mask: v.mask, clinical: valClin! },
          yVal!,
          nVal,
          t.earlyStopping,
          valHasBoth,
        );
        for (const tt of [v.x, v.mask, reduced]) tt.dispose();
        const step = stopping.update(auc, loss, epoch);
        if (step === "improved" && t.restoreBest) {
          for (const p of bestState ?? []) p.dispose();
          bestState = snapshot();
        } else if (step === "stop") break;
        options.onProgress?.({
          stage: "train",
          done: m * t.maxEpochs + epoch,
          total: head.ensemble * t.maxEpochs,
          message: `liverstiff (fine-tuned encoder) model ${m + 1}/${head.ensemble} epoch ${epoch}: train loss ${lastLoss.toFixed(3)}, ${t.earlyStopping} ${auc.toFixed(3)}`,
        });
      }
      if (bestState) {
        const names = [
          ...[...net.stateDict().keys()].map((k) => ({ mod: net as Module, k })),
          ...[...enc.module.stateDict().keys()].map((k) => ({ mod: enc.module, k })),
        ];
        const nNet = net.stateDict().size;
        net.loadStateDict(new Map(names.slice(0, nNet).map((n, i) => [n.k, bestState![i]!])));
        enc.module.loadStateDict(new Map(names.slice(nNet).map((n, i) => [n.k, bestState![nNet + i]!])));
        for (const p of bestState) p.dispose();
      }
      opt.dispose();
      enc.module.requiresGrad_(false);
      enc.module.eval();
      net.eval();
      models.push({
        ...stopping.summary(Math.min(epoch, t.maxEpochs)),
        trainLoss: { first: firstLoss, last: lastLoss },
      });
    }
  } catch (err) {
    pending?.dispose();
    for (const { enc, net } of members) {
      net.dispose();
      enc.dispose();
    }
    throw err;
  } finally {
    for (const tt of [CLIN, Y, W, LOGK]) tt.dispose();
    valClin?.dispose();
    stats?.pca?.dispose();
  }
  const summary: TrainSummary = {
    head: "liverstiff",
    seed,
    nTrain,
    nVal,
    featureDim: members[0]!.enc.identity.featureDim,
    slices,
    models,
    metric: t.earlyStopping,
    seconds: (performance.now() - started) / 1000,
    steps,
    finetune: {
      encoder: finetuneEncoderName(recipe),
      encoderLr: recipe.encoder.lr!,
      batchNorm: bnMode,
      device,
    },
  };
  return new FinetunedModel(recipe, summary, members, slices, loader, device);
}
