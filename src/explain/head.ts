// A trained model's threshold probability as a differentiable function of one exam's per-slice features:
// the path predict() takes, rebuilt from the model's public state (recipe, summary, stateDict, headSites)
// on engine modules, so that autograd can carry a logit back into the encoder. liverstiff: the attention
// members (LiverstiffNet), the ridge member through its linear map and Gaussian predictive distribution,
// and the organ member (no image input) as the constant it is for one exam; deepliver2: its five MLPs.
// Every call checks its value against model.predict(), so that a change in train/ that this file does not
// follow is an error, never a silently wrong map.
import { LiverstiffError } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../features/index.ts";
import type { Module, StateDict } from "../nn/index.ts";
import { callOp, cat, manualSeed, noGrad, stack, type Tensor, tensor, zeros } from "../torch/index.ts";
import {
  centralStart,
  covariates,
  type Deepliver2Head,
  Deepliver2Net,
  headSites,
  type LiverstiffHead,
  LiverstiffNet,
  N_THRESHOLDS,
  type TrainedModel,
} from "../train/index.ts";

/** Per role, one exam's features as a [slices, featureDim] tensor (in the autograd graph). */
export type RoleFeatures = Partial<Record<SeriesRole, Tensor>>;

/** Largest difference allowed between the rebuilt head's probability and model.predict()'s. */
export const PREDICT_TOLERANCE = 1e-4;

export interface DifferentiableHead {
  /** The roles whose features the head reads for this exam. */
  rolesUsed(exam: ExamFeatures): SeriesRole[];
  /**
   * P(kPa >= THRESHOLDS_KPA[k]) for the exam as predict() gives it, a 0-d float64 tensor differentiable
   * with respect to `features`; `exam` gives the covariates (age, sex, site, organ measures).
   */
  probability(exam: ExamFeatures, features: RoleFeatures, k: number): Tensor;
  /**
   * Sanity checks (Adebayo et al. 2018): redraws every weight of the head (attention members, ridge
   * weights, MLPs) from a normal distribution with each tensor's own mean and SD. The head then no longer
   * matches predict(), which is no longer checked.
   */
  randomise(seed: number): void;
  dispose(): void;
}

/** Redraws each tensor as normal(mean, sd) of its own values (in place, seeded). */
export function redrawTensors(tensors: readonly Tensor[]): void {
  noGrad(() => {
    for (const t of tensors) {
      const mean = t.mean().item();
      const sd = t.numel() > 1 ? t.std().item() : Math.abs(mean) || 1;
      t.normal_(mean, sd || 1e-3);
    }
  });
}

/** Redraws a module's parameters (see redrawTensors); buffers (statistics) are kept. */
export function redrawParameters(module: Module): void {
  redrawTensors(module.parameters());
}

function pick(state: StateDict, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, v] of state) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/** The standard normal CDF on tensors (exact erf; ridge.ts uses a 1.5e-7 approximation). */
function normalCdf(z: Tensor): Tensor {
  return (callOp("aten::erf", z.div(Math.SQRT2)) as Tensor).add(1).mul(0.5);
}

interface RidgeTensors {
  mean: Tensor;
  sd: Tensor;
  weights: Tensor;
  bias: number;
  residualSd: number;
}

/** The ridge member's tensors, copied (randomise() must not touch the model's own). */
function ridgeTensors(state: StateDict, prefix: string): RidgeTensors | undefined {
  const scalars = state.get(`${prefix}.scalars`)?.toFloat64Array();
  const [mean, sd, weights] = ["mean", "sd", "weights"].map((k) => state.get(`${prefix}.${k}`));
  if (!scalars || !mean || !sd || !weights) return undefined;
  const copy = (t: Tensor) => noGrad(() => t.clone()).keep();
  return {
    mean: copy(mean),
    sd: copy(sd),
    weights: copy(weights),
    bias: scalars[0]!,
    residualSd: scalars[1]!,
  };
}

class LiverstiffGradientHead implements DifferentiableHead {
  private readonly nets: LiverstiffNet[] = [];
  private readonly ridge: RidgeTensors | undefined;
  private readonly hasOrganMember: boolean;
  private readonly head: LiverstiffHead;
  private readonly sites: readonly string[];
  private randomised = false;

  constructor(private readonly model: TrainedModel) {
    this.head = model.recipe.head as LiverstiffHead;
    this.sites = headSites(model);
    const state = model.stateDict();
    const { featureDim, slices } = model.summary;
    for (let m = 0; state.has(`m${m}.cut_first`); m++) {
      const net = new LiverstiffNet(featureDim, this.head.roles, slices, this.head, this.sites);
      net.loadStateDict(pick(state, `m${m}.`), { source: `${model.recipe.name} member ${m}` });
      net.eval();
      net.requiresGrad_(false);
      this.nets.push(net);
    }
    if (this.nets.length === 0) throw new LiverstiffError("the liverstiff model has no attention member");
    this.ridge = this.head.ridge > 0 ? ridgeTensors(state, "ridge") : undefined;
    this.hasOrganMember = this.head.organs > 0 && state.has("organ.weights");
  }

  rolesUsed(exam: ExamFeatures): SeriesRole[] {
    return this.head.roles.filter((r) => exam.roles[r] !== undefined);
  }

  probability(exam: ExamFeatures, features: RoleFeatures, k: number): Tensor {
    const { featureDim, slices } = this.model.summary;
    const roles = this.head.roles;
    const present = roles.map((r) => features[r] !== undefined && exam.roles[r] !== undefined);
    const tokens = stack(
      roles.map((r, i) => (present[i] ? features[r]! : zeros([slices, featureDim]))),
      0,
    ).unsqueeze(0);
    const mask = tensor(
      Float32Array.from(present, (p) => (p ? 1 : 0)),
      { shape: [1, roles.length] },
    );
    let attention: Tensor | null = null;
    for (const net of this.nets) {
      const values = covariates([exam], this.head.clinical, net.ageStats(), this.sites);
      const clinical = tensor(values, { shape: [1, values.length] });
      const p = net.forward(tokens, mask, clinical).logits.select(1, k).sigmoid().double();
      attention = attention ? attention.add(p) : p;
    }
    let p = attention!.div(this.nets.length).squeeze(0);
    if (this.ridge) {
      const w = this.head.ridge;
      p = p.mul(1 - w).add(this.ridgeProbability(exam, features, present, k).mul(w));
    }
    return this.withOrganMember(exam, p, k);
  }

  /** The ridge member: log kPa = bias + w . standardised (role slice means, clinical), then Gaussian. */
  private ridgeProbability(
    exam: ExamFeatures,
    features: RoleFeatures,
    present: boolean[],
    k: number,
  ): Tensor {
    const r = this.ridge!;
    const d = this.model.summary.featureDim;
    const roles = this.head.roles;
    const clinical = tensor(Float64Array.from(covariates([exam], true, this.nets[0]!.ageStats(), [])));
    const parts: Tensor[] = [];
    const columns: number[] = [];
    roles.forEach((role, i) => {
      if (!present[i]) return;
      parts.push(features[role]!.double().mean(0));
      columns.push(i * d);
    });
    const index = (start: number, n: number) =>
      tensor(
        Array.from({ length: n }, (_, j) => start + j),
        { dtype: "int64" },
      );
    const idx = cat([...columns.map((c) => index(c, d)), index(roles.length * d, clinical.size(0))], 0);
    const x = cat([...parts, clinical], 0);
    const z = x.sub(r.mean.indexSelect(0, idx)).div(r.sd.indexSelect(0, idx));
    const mu = z.mul(r.weights.indexSelect(0, idx)).sum().add(r.bias);
    const u = mu.rsub(Math.log(THRESHOLDS_KPA[k]!)).div(r.residualSd);
    return normalCdf(u).rsub(1);
  }

  /**
   * The organ member reads no image: for one exam it is the constant that predict() mixes in. Its value is
   * what predict() gives minus the image members' share; an exam without organ measures carries a note
   * and no organ share. Without an organ share the rebuilt probability must equal predict()'s; with one,
   * the organ probability it implies must be a probability.
   */
  private withOrganMember(exam: ExamFeatures, p: Tensor, k: number): Tensor {
    if (this.randomised) return p;
    const predicted = this.model.predict([exam])[0]!;
    const target = predicted.probabilities[k]!;
    const value = p.item();
    const w = this.head.organs;
    const organUsed = this.hasOrganMember && (predicted.notes ?? []).length === 0;
    if (!organUsed) {
      checkAgainstPredict(value, target, this.model);
      return p;
    }
    const organ = (target - (1 - w) * value) / w;
    if (!(organ >= -PREDICT_TOLERANCE && organ <= 1 + PREDICT_TOLERANCE))
      throw new LiverstiffError(
        `the rebuilt ${this.model.recipe.name} head disagrees with predict(): its organ member would be ${organ}`,
      );
    return p.mul(1 - w).add(w * organ);
  }

  randomise(seed: number): void {
    manualSeed(seed);
    for (const n of this.nets) redrawParameters(n);
    if (this.ridge) redrawTensors([this.ridge.weights]);
    this.randomised = true;
  }

  dispose(): void {
    for (const n of this.nets) n.dispose();
    if (this.ridge) for (const t of [this.ridge.mean, this.ridge.sd, this.ridge.weights]) t.dispose();
  }
}

function checkAgainstPredict(value: number, target: number, model: TrainedModel): void {
  if (Math.abs(value - target) > PREDICT_TOLERANCE)
    throw new LiverstiffError(
      `the rebuilt ${model.recipe.name} head gives P = ${value}, predict() gives ${target}: explain/ does not follow train/`,
    );
}

/** "t1" is t1_in when the exam has it, else t1_opp (train/'s resolveRole). */
function resolveInput(exam: ExamFeatures, input: Deepliver2Head["inputs"][number]): SeriesRole {
  if (input !== "t1") return input;
  return exam.roles.t1_in ? "t1_in" : "t1_opp";
}

class Deepliver2GradientHead implements DifferentiableHead {
  private readonly net: Deepliver2Net;
  private readonly head: Deepliver2Head;
  private randomised = false;

  constructor(private readonly model: TrainedModel) {
    this.head = model.recipe.head as Deepliver2Head;
    const state = pick(model.stateDict(), "net.");
    const first = state.get("fc1_weight");
    if (!first) throw new LiverstiffError("the deepliver2 model has no first layer");
    this.net = new Deepliver2Net(first.size(2), this.head.hidden, N_THRESHOLDS, this.head.init);
    this.net.loadStateDict(state, { source: model.recipe.name });
    this.net.eval();
    this.net.requiresGrad_(false);
  }

  rolesUsed(exam: ExamFeatures): SeriesRole[] {
    return [...new Set(this.head.inputs.map((i) => resolveInput(exam, i)))];
  }

  probability(exam: ExamFeatures, features: RoleFeatures, k: number): Tensor {
    const start = centralStart(this.model.summary.slices, this.head.slices);
    const parts = this.head.inputs.map((input) => {
      const f = features[resolveInput(exam, input)];
      if (!f) throw new LiverstiffError(`exam ${exam.examId} has no ${input} features`);
      return f.narrow(0, start, this.head.slices).reshape([-1]);
    });
    const x = cat(parts, 0).unsqueeze(0);
    const p = this.net.forward(x).select(0, k).squeeze(0).sigmoid().double();
    if (!this.randomised)
      checkAgainstPredict(p.item(), this.model.predict([exam])[0]!.probabilities[k]!, this.model);
    return p;
  }

  randomise(seed: number): void {
    manualSeed(seed);
    redrawParameters(this.net);
    this.randomised = true;
  }

  dispose(): void {
    this.net.dispose();
  }
}

/** Why Grad-CAM cannot explain a model (undefined: it can): liverstiff and deepliver2 heads on frozen features. */
export function unexplainableReason(model: TrainedModel): string | undefined {
  if (model.recipe.encoder.finetune) return "Grad-CAM through a fine-tuned encoder is not supported yet";
  const kind = model.recipe.head.kind;
  if (kind !== "liverstiff" && kind !== "deepliver2")
    return `Grad-CAM explains the liverstiff and deepliver2 heads, not ${kind}`;
  return undefined;
}

/** The differentiable head of a trained model (see unexplainableReason). */
export function differentiableHead(model: TrainedModel): DifferentiableHead {
  const reason = unexplainableReason(model);
  if (reason) throw new LiverstiffError(reason, { recipe: model.recipe.name });
  if (model.recipe.head.kind === "liverstiff") return new LiverstiffGradientHead(model);
  return new Deepliver2GradientHead(model);
}
