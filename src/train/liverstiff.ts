// The liverstiff head (ours): per-slice feature tokens of every role present -> standardise, LayerNorm,
// Linear projection + role and slice-position embeddings -> gated attention pooling over all tokens (a mask
// removes missing roles exactly: their weight is 0) -> fused with age and sex -> one ordinal score s and
// ordered cut-points b1 < ... < b5 (cumulative softplus increments): P(kPa >= t_k) = sigmoid(s - b_k),
// monotone in k by construction; plus a regression of log kPa. Loss: the five class-balanced BCEs + a
// weighted MSE on standardised log kPa. Early stopping on validation AUROC at 3.0 kPa; a few seeds averaged.
import { Rng } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import { type ExamFeatures, THRESHOLDS_KPA } from "../features/types.ts";
import { Embedding, LayerNorm, Linear, Module } from "../nn/index.ts";
import {
  arange,
  callOp,
  cat,
  type Device,
  dispose,
  functional as F,
  manualSeed,
  noGrad,
  ones,
  rand,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from "../torch/index.ts";
import {
  type AgeStats,
  ageStats,
  auroc,
  CLINICAL_DIM,
  classWeights,
  covariates,
  meanSd,
  N_THRESHOLDS,
  PRIMARY_THRESHOLD_INDEX,
  predictShape,
  requireLabels,
  thresholdLabels,
  tokenFeatures,
  trainingSites,
  trainValShape,
} from "./data.ts";
import type { LoopResult, ValScore } from "./loop.ts";
import { descend, kept, loopSettings, makeOptimizer, owning, runLoop, training } from "./loop.ts";
import { fitOrganMember, predictOrganMember } from "./organ-member.ts";
import { headOf, type LiverstiffHead, type Recipe } from "./recipe.ts";
import { fitRidge, type RidgeMember, ridgeDesign, ridgePredict, ridgeProbabilities } from "./ridge.ts";
import type { ExamPrediction, Trained, TrainOptions, TrainSummary } from "./types.ts";

const MASK_OFF = -1e9;

export interface LiverstiffOutput {
  /** [B, 5] logits s - b_k. */
  logits: Tensor;
  /** [B] predicted log kPa. */
  logKpa: Tensor;
  /** [B, R, S] attention (mean over heads). */
  attention: Tensor;
}

export class LiverstiffNet extends Module {
  readonly norm: LayerNorm;
  readonly proj: Linear;
  readonly roleEmb: Embedding;
  readonly posEmb: Embedding;
  readonly attnV: Linear;
  readonly attnU: Linear;
  readonly attnW: Linear;
  readonly fc: Linear;
  readonly score: Linear;
  readonly kpa: Linear;
  readonly skip: Linear | null;
  readonly clinicalDim: number;
  /** Width of a token after the (optional) PCA reduction. */
  readonly tokenDim: number;
  readonly usePca: boolean;

  constructor(
    readonly featureDim: number,
    readonly roles: readonly SeriesRole[],
    readonly slices: number,
    readonly cfg: LiverstiffHead,
    /** The training part's sites (the site covariate's one-hot order); empty without it. */
    readonly sites: readonly string[] = [],
  ) {
    super();
    const d = cfg.dim;
    this.clinicalDim = (cfg.clinical ? CLINICAL_DIM : 0) + sites.length;
    this.registerBuffer("feat_mean", zeros([featureDim]));
    this.registerBuffer("feat_sd", ones([featureDim]));
    this.usePca = cfg.pca > 0 && cfg.pca < featureDim;
    this.tokenDim = this.usePca ? cfg.pca : featureDim;
    if (this.usePca) this.registerBuffer("pca", zeros([featureDim, this.tokenDim]));
    this.registerBuffer("age_stats", tensor([0, 1]));
    this.registerBuffer("logkpa_stats", tensor([0, 1]));
    this.norm = this.registerModule("norm", new LayerNorm(this.tokenDim));
    this.proj = this.registerModule("proj", new Linear(this.tokenDim, d));
    this.roleEmb = this.registerModule("role_emb", new Embedding(roles.length, d));
    this.posEmb = this.registerModule("pos_emb", new Embedding(slices, d));
    noGrad(() => {
      this.roleEmb.weight.mul_(0.02);
      this.posEmb.weight.mul_(0.02);
    });
    this.attnV = this.registerModule("attn_v", new Linear(d, cfg.attnDim));
    this.attnU = this.registerModule("attn_u", new Linear(d, cfg.attnDim));
    this.attnW = this.registerModule("attn_w", new Linear(cfg.attnDim, cfg.heads));
    this.fc = this.registerModule("fc", new Linear(cfg.heads * d + this.clinicalDim, cfg.hidden));
    this.score = this.registerModule("score", new Linear(cfg.hidden, 1));
    this.kpa = this.registerModule("kpa", new Linear(cfg.hidden, 1));
    this.skip = cfg.linearSkip
      ? this.registerModule("skip", new Linear(this.tokenDim * roles.length, 2))
      : null;
    this.registerParameter("cut_first", zeros([1]));
    this.registerParameter("cut_deltas", zeros([N_THRESHOLDS - 1]));
  }

  /** Ordered cut-points b1 < b2 < ... < b5: b1 + cumulative softplus increments. */
  cutPoints(): Tensor {
    const inc = F.softplus(this.tensor("cut_deltas")!);
    return cat([this.tensor("cut_first")!, this.tensor("cut_first")!.add(inc.cumsum(0))], 0);
  }

  /** Sets the standardisation statistics, PCA basis and initial cut-points from the training part. */
  initFromData(
    featMean: Float32Array,
    featSd: Float32Array,
    pca: Tensor | null,
    age: AgeStats,
    logk: AgeStats,
    prev: number[],
  ) {
    tidy(() =>
      noGrad(() => {
        this.tensor("feat_mean")!.copy_(tensor(featMean));
        this.tensor("feat_sd")!.copy_(tensor(featSd));
        if (this.usePca) {
          if (!pca) throw new Error("LiverstiffNet: a PCA basis is required");
          this.tensor("pca")!.copy_(pca);
        }
        this.tensor("age_stats")!.copy_(tensor([age.mean, age.sd]));
        this.tensor("logkpa_stats")!.copy_(tensor([logk.mean, logk.sd]));
        // With s ~ 0 at the start, b_k = -logit(prevalence_k) gives the training prevalences.
        const clampP = (p: number) => Math.min(0.98, Math.max(0.02, p));
        const b: number[] = [];
        for (const p of prev) {
          const cp = clampP(p);
          const v = -Math.log(cp / (1 - cp));
          b.push(b.length === 0 ? v : Math.max(v, b[b.length - 1]! + 0.05));
        }
        this.tensor("cut_first")!.fill_(b[0]!);
        const deltas = b.slice(1).map((v, i) => {
          const inc = v - b[i]!;
          return Math.log(Math.expm1(inc)); // softplus^-1
        });
        this.tensor("cut_deltas")!.copy_(tensor(deltas));
      }),
    );
  }

  ageStats(): AgeStats {
    const [mean, sd] = this.tensor("age_stats")!.toArray();
    return { mean: mean!, sd: sd! };
  }

  /** Raw features [..., D] -> standardised (and PCA-reduced) tokens [..., tokenDim]; no parameters. */
  reduce(x: Tensor): Tensor {
    const xs = x.sub(this.tensor("feat_mean")!).div(this.tensor("feat_sd")!);
    return this.usePca ? xs.matmul(this.tensor("pca")!) : xs;
  }

  /**
   * x [B, R, S, D] (zeros where a role is missing), mask [B, R] (1 = present), clinical [B, C].
   */
  forward(x: Tensor, mask: Tensor, clinical: Tensor | null): LiverstiffOutput {
    return this.forwardReduced(this.reduce(x), mask, clinical);
  }

  /** forward() on tokens already passed through reduce() (training precomputes them once). */
  forwardReduced(xr: Tensor, mask: Tensor, clinical: Tensor | null): LiverstiffOutput {
    const B = xr.size(0);
    const R = this.roles.length;
    const S = this.slices;
    const d = this.cfg.dim;
    const T = R * S;
    // Index and noise tensors follow the input's device (fine-tuning may run on CUDA).
    const dev = xr.device === "cpu" ? {} : { device: xr.device };
    let h = this.proj.forward(this.norm.forward(xr));
    h = h
      .add(this.roleEmb.forward(arange(R, undefined, 1, { dtype: "int64", ...dev })).view([1, R, 1, d]))
      .add(this.posEmb.forward(arange(S, undefined, 1, { dtype: "int64", ...dev })).view([1, 1, S, d]));
    let tokens = h.view([B, T, d]);
    tokens = F.dropout(tokens, this.cfg.dropout, this.training);
    const gate = this.attnV.forward(tokens).tanh().mul(this.attnU.forward(tokens).sigmoid());
    let scores = this.attnW.forward(gate); // [B, T, H]
    let keep = mask.view([B, R, 1]).expand([B, R, S]).reshape([B, T]);
    if (this.training && this.cfg.tokenDropout > 0) {
      keep = keep.mul(rand([B, T], dev).ge(this.cfg.tokenDropout).float());
    }
    scores = scores.add(keep.rsub(1).mul(MASK_OFF).unsqueeze(2));
    const attn = F.softmax(scores, 1); // over tokens
    const pooled = attn
      .transpose(1, 2)
      .bmm(tokens)
      .reshape([B, this.cfg.heads * d]);
    let cov = clinical;
    if (cov && this.training && this.sites.length > 0 && this.cfg.siteDropout > 0) {
      // Show a share of the training exams as "unknown site" (all-zero one-hot), as an unseen site is.
      const c0 = this.clinicalDim - this.sites.length;
      const known = rand([B, 1], dev).ge(this.cfg.siteDropout).float();
      const site = cov.narrow(1, c0, this.sites.length).mul(known);
      cov = c0 > 0 ? cat([cov.narrow(1, 0, c0), site], 1) : site;
    }
    let z = cov && this.clinicalDim > 0 ? cat([pooled, cov], 1) : pooled;
    z = F.dropout(z, this.cfg.dropout, this.training);
    z = F.gelu(this.fc.forward(z));
    z = F.dropout(z, this.cfg.dropout, this.training);
    let s = this.score.forward(z); // [B, 1]
    let k = this.kpa.forward(z); // [B, 1]
    if (this.skip) {
      // A linear path from each role's slice-mean token (zero for a missing role) to score and log kPa.
      const m = xr
        .mean(2)
        .mul(mask.unsqueeze(2))
        .reshape([B, R * this.tokenDim]);
      const lin = this.skip!.forward(F.dropout(m, this.cfg.dropout, this.training));
      s = s.add(lin.narrow(1, 0, 1));
      k = k.add(lin.narrow(1, 1, 1));
    }
    const logits = s.sub(this.cutPoints().view([1, N_THRESHOLDS]));
    const [mu, sd] = this.tensor("logkpa_stats")!.toArray();
    const logKpa = k.squeeze(1).mul(sd!).add(mu!);
    return { logits, logKpa, attention: attn.mean(2).view([B, R, S]) };
  }
}

export interface LiverstiffState {
  nets: LiverstiffNet[];
  head: LiverstiffHead;
  featureDim: number;
  slices: number;
  /** The ridge member (head.ridge > 0). */
  ridge?: RidgeMember;
  /** The organ member (head.organs > 0 and enough training exams with organ measures). */
  organ?: RidgeMember;
}

export interface Batch {
  x: Tensor;
  mask: Tensor;
  clinical: Tensor;
}

function toTensors(
  exams: readonly ExamFeatures[],
  head: LiverstiffHead,
  slices: number,
  featureDim: number,
  age: AgeStats,
  sites: readonly string[],
): Batch {
  const { x, mask } = tokenFeatures(exams, head.roles, slices, featureDim);
  const R = head.roles.length;
  return {
    x: tensor(x, { shape: [exams.length, R, slices, featureDim] }),
    mask: tensor(Float32Array.from(mask), { shape: [exams.length, R] }),
    clinical: covariateTensor(exams, head, age, sites),
  };
}

export function covariateTensor(
  exams: readonly ExamFeatures[],
  head: LiverstiffHead,
  age: AgeStats,
  sites: readonly string[],
): Tensor {
  const width = (head.clinical ? CLINICAL_DIM : 0) + sites.length;
  return tensor(covariates(exams, head.clinical, age, sites), { shape: [exams.length, width] });
}

export function predictLiverstiff(s: LiverstiffState, exams: readonly ExamFeatures[]): ExamPrediction[] {
  if (exams.length === 0) return [];
  const { featureDim, slices } = predictShape(exams, s);
  const n = exams.length;
  const R = s.head.roles.length;
  const probs = new Float64Array(n * N_THRESHOLDS);
  const logk = new Float64Array(n);
  const attn = new Float64Array(n * R * slices);
  for (const net of s.nets) {
    net.eval();
    const out = tidy(() =>
      noGrad(() => {
        const b = toTensors(exams, s.head, slices, featureDim, net.ageStats(), net.sites);
        const o = net.forward(b.x, b.mask, b.clinical);
        return {
          p: o.logits.sigmoid().contiguous().toFloat32Array(),
          k: o.logKpa.contiguous().toFloat32Array(),
          a: o.attention.contiguous().toFloat32Array(),
        };
      }),
    );
    for (let i = 0; i < probs.length; i++) probs[i]! += out.p[i]! / s.nets.length;
    for (let i = 0; i < n; i++) logk[i]! += out.k[i]! / s.nets.length;
    for (let i = 0; i < attn.length; i++) attn[i]! += out.a[i]! / s.nets.length;
  }
  const w = s.ridge ? s.head.ridge : 0;
  if (s.ridge && w > 0) {
    // Average with the ridge member (the attention members' age statistics standardise its age too).
    const { x, width } = ridgeDesign(exams, s.head.roles, featureDim, slices, s.nets[0]!.ageStats());
    const mu = ridgePredict(s.ridge, x, n, width);
    for (let i = 0; i < n; i++) {
      const pr = ridgeProbabilities(mu[i]!, s.ridge.residualSd, THRESHOLDS_KPA);
      for (let k = 0; k < N_THRESHOLDS; k++) {
        const o = i * N_THRESHOLDS + k;
        probs[o] = (1 - w) * probs[o]! + w * pr[k]!;
      }
      logk[i] = (1 - w) * logk[i]! + w * mu[i]!;
    }
  }
  const notes = mixOrganMember(s, exams, probs, logk);
  return exams.map((e, i) => {
    const attention: Partial<Record<SeriesRole, number[]>> = {};
    s.head.roles.forEach((role, r) => {
      if (!e.roles[role]) return;
      const o = (i * R + r) * slices;
      attention[role] = Array.from(attn.subarray(o, o + slices));
    });
    const p = Array.from(probs.subarray(i * N_THRESHOLDS, (i + 1) * N_THRESHOLDS));
    // Averaging monotone members keeps monotonicity; guard the last ulp anyway.
    for (let k = 1; k < p.length; k++) p[k] = Math.min(p[k]!, p[k - 1]!);
    const note = notes[i];
    return {
      examId: e.examId,
      probabilities: p,
      kpaPred: Math.exp(logk[i]!),
      attention,
      ...(note ? { notes: [note] } : {}),
    };
  });
}

/**
 * Averages the organ member into `probs` and `logk` (weight head.organs) for the exams with organ
 * measures; returns, per exam, a note when the member was meant to be used and could not be.
 */
function mixOrganMember(
  s: LiverstiffState,
  exams: readonly ExamFeatures[],
  probs: Float64Array,
  logk: Float64Array,
): (string | undefined)[] {
  const w = s.head.organs;
  if (w <= 0) return [];
  if (!s.organ)
    return exams.map(() => "organ member not trained (too few training exams with organ measures)");
  const mu = predictOrganMember(s.organ, exams, s.nets[0]!.ageStats());
  return exams.map((_, i) => {
    if (Number.isNaN(mu[i]!))
      return "no liver/spleen measures for this exam: predicted without the organ member";
    const pr = ridgeProbabilities(mu[i]!, s.organ!.residualSd, THRESHOLDS_KPA);
    for (let k = 0; k < N_THRESHOLDS; k++) {
      const o = i * N_THRESHOLDS + k;
      probs[o] = (1 - w) * probs[o]! + w * pr[k]!;
    }
    logk[i] = (1 - w) * logk[i]! + w * mu[i]!;
    return undefined;
  });
}

export function featureStats(x: Float32Array, mask: Uint8Array, slices: number, featureDim: number) {
  const mean = new Float64Array(featureDim);
  const sq = new Float64Array(featureDim);
  let count = 0;
  for (let t = 0; t < mask.length; t++) {
    if (!mask[t]) continue;
    for (let s = 0; s < slices; s++) {
      const o = (t * slices + s) * featureDim;
      for (let f = 0; f < featureDim; f++) {
        const v = x[o + f]!;
        mean[f]! += v;
        sq[f]! += v * v;
      }
      count++;
    }
  }
  const m = new Float32Array(featureDim);
  const sd = new Float32Array(featureDim);
  for (let f = 0; f < featureDim; f++) {
    const mu = mean[f]! / count;
    m[f] = mu;
    sd[f] = Math.sqrt(Math.max(sq[f]! / count - mu * mu, 0)) + 1e-4;
  }
  return { mean: m, sd };
}

/**
 * The top-k principal axes of the standardised tokens of the training part (present roles only),
 * scaled to whiten: [D, k] (k < D), or null when no reduction is asked for.
 */
export function fitPca(
  x: Float32Array,
  mask: Uint8Array,
  slices: number,
  featureDim: number,
  stats: { mean: Float32Array; sd: Float32Array },
  k: number,
  on: "tokens" | "slice-means",
): Tensor | null {
  if (!(k > 0 && k < featureDim)) return null;
  return tidy(() =>
    noGrad(() => {
      const present: number[] = [];
      for (let t = 0; t < mask.length; t++) if (mask[t]) present.push(t);
      // [exam*role, slices, D] of the present roles, standardised.
      let z = tensor(x, { shape: [mask.length, slices, featureDim] })
        .indexSelect(0, tensor(present, { dtype: "int64" }))
        .sub(tensor(stats.mean))
        .div(tensor(stats.sd))
        .double();
      // Axes of exam-level variation (a role's slice mean) or of slice-level variation (every token).
      z = on === "slice-means" ? z.mean(1) : z.reshape([present.length * slices, featureDim]);
      const rows = z.size(0);
      const cov = z
        .t()
        .matmul(z)
        .div(Math.max(rows - 1, 1));
      const [values, vectors] = callOp("aten::linalg_eigh", cov, "L") as [Tensor, Tensor];
      // eigh returns ascending eigenvalues: take the last k, largest first.
      const idx = tensor(
        Array.from({ length: k }, (_, i) => featureDim - 1 - i),
        { dtype: "int64" },
      );
      const top = vectors.indexSelect(1, idx);
      // Whitening; eigenvalues floored at 1e-4 of the largest so that near-null axes (fewer rows than
      // axes) are not blown up.
      const floor = Math.max(1e-8, 1e-4 * values.select(0, featureDim - 1).item());
      const scale = values.indexSelect(0, idx).clampMin(floor).rsqrt();
      // Fix each axis' sign (largest |loading| positive) so the basis does not depend on LAPACK's choice.
      const sign = top.gather(0, top.abs().argmax(0, true)).sign();
      return top.mul(scale.unsqueeze(0)).mul(sign).float().contiguous();
    }),
  );
}

/** What both liverstiff training paths (frozen features, fine-tuned encoder) derive from the labels. */
export interface HeadTargets {
  yTrain: Float32Array;
  wTrain: Float32Array;
  /** log kPa of the training exams and its mean/SD (the regression target is standardised). */
  logk: number[];
  logkStats: AgeStats;
  age: AgeStats;
  /** Training prevalence per threshold (initial cut-points). */
  prev: number[];
  yVal: Float32Array | null;
  /** Both classes at 3.0 kPa in the validation part (else AUROC early stopping falls back to the loss). */
  valHasBoth: boolean;
  /** The site covariate's order (empty without it). */
  sites: string[];
}

export function headTargets(options: TrainOptions, head: LiverstiffHead, t: Recipe["training"]): HeadTargets {
  const nTrain = options.train.length;
  const nVal = options.val.length;
  const kpaTrain = requireLabels(options.train, "training");
  const yTrain = thresholdLabels(kpaTrain);
  const wTrain = classWeights(yTrain, nTrain, t.classWeighting, t.negativeWeightOffset);
  const logk = kpaTrain.map(Math.log);
  const prev = Array.from({ length: N_THRESHOLDS }, (_, k) => {
    let p = 0;
    for (let i = 0; i < nTrain; i++) p += yTrain[i * N_THRESHOLDS + k]!;
    return p / nTrain;
  });
  const yVal = nVal > 0 ? thresholdLabels(requireLabels(options.val, "validation")) : null;
  const yVal3 = yVal
    ? Array.from({ length: nVal }, (_, i) => yVal[i * N_THRESHOLDS + PRIMARY_THRESHOLD_INDEX]!)
    : [];
  return {
    yTrain,
    wTrain,
    logk,
    logkStats: meanSd(logk),
    age: ageStats(options.train),
    prev,
    yVal,
    valHasBoth: yVal3.some((y) => y === 1) && yVal3.some((y) => y === 0),
    sites: head.site ? trainingSites(options.train) : [],
  };
}

/** The training part's targets and covariates as tensors on the training device (kept; see dispose). */
export interface TargetTensors {
  /** [N, C] covariates. */
  clinical: Tensor;
  /** [N, 5] threshold labels and their class weights. */
  y: Tensor;
  w: Tensor;
  /** [N] standardised log kPa. */
  logk: Tensor;
  dispose(): void;
}

export function targetTensors(
  exams: readonly ExamFeatures[],
  head: LiverstiffHead,
  h: HeadTargets,
  device: Device,
): TargetTensors {
  const n = exams.length;
  const on = (t: Tensor) => (device === "cpu" ? t : t.to(device));
  const out = kept(() => ({
    clinical: on(covariateTensor(exams, head, h.age, h.sites)),
    y: on(tensor(h.yTrain, { shape: [n, N_THRESHOLDS] })),
    w: on(tensor(h.wTrain, { shape: [n, N_THRESHOLDS] })),
    logk: on(tensor(Float32Array.from(h.logk, (v) => (v - h.logkStats.mean) / h.logkStats.sd))),
  }));
  return { ...out, dispose: () => dispose(out) };
}

/**
 * The head's loss on the training exams `index`: the five class-balanced BCEs (batch mean, summed) plus
 * regressionWeight x the MSE of the standardised log kPa.
 */
export function headLoss(
  o: LiverstiffOutput,
  targets: TargetTensors,
  index: Tensor,
  logkStats: AgeStats,
  regressionWeight: number,
): Tensor {
  const bce = F.binaryCrossEntropyWithLogits(o.logits, targets.y.indexSelect(0, index), {
    weight: targets.w.indexSelect(0, index),
    reduction: "none",
  })
    .mean(0)
    .sum();
  const target = targets.logk.indexSelect(0, index);
  const reg = F.mseLoss(o.logKpa.sub(logkStats.mean).div(logkStats.sd), target);
  return bce.add(reg.mul(regressionWeight));
}

/** What every ensemble member of one fold trains on (frozen features). */
interface FoldData {
  recipe: Recipe;
  options: TrainOptions;
  seed: number;
  targets: HeadTargets;
  tensors: TargetTensors;
  /** [N, R, S, D] raw training tokens, [N, R] role mask. */
  x: Tensor;
  mask: Tensor;
  val: Batch | null;
}

export function trainLiverstiff(recipe: Recipe, options: TrainOptions): Trained<LiverstiffState> {
  return training(recipe, options, ({ owner, t, seed, summary }) => {
    const head = headOf(recipe, "liverstiff");
    const { featureDim, slices } = trainValShape(options.train, options.val);
    const nTrain = options.train.length;
    const targets = headTargets(options, head, t);
    const tok = tokenFeatures(options.train, head.roles, slices, featureDim);
    const fstats = featureStats(tok.x, tok.mask, slices, featureDim);
    const pca = owner.own(fitPca(tok.x, tok.mask, slices, featureDim, fstats, head.pca, head.pcaOn));
    const R = head.roles.length;
    const fold: FoldData = {
      recipe,
      options,
      seed,
      targets,
      tensors: owner.own(targetTensors(options.train, head, targets, "cpu")),
      x: owner.own(tensor(tok.x, { shape: [nTrain, R, slices, featureDim] })),
      mask: owner.own(tensor(Float32Array.from(tok.mask), { shape: [nTrain, R] })),
      val:
        options.val.length > 0
          ? owner.own(batchTensors(options.val, head, slices, featureDim, targets))
          : null,
    };
    const nets: LiverstiffNet[] = [];
    const models: TrainSummary["models"] = [];
    let steps = 0;
    for (let m = 0; m < head.ensemble; m++) {
      manualSeed(seed + m);
      const net = owner.result(new LiverstiffNet(featureDim, head.roles, slices, head, targets.sites));
      net.initFromData(fstats.mean, fstats.sd, pca, targets.age, targets.logkStats, targets.prev);
      const run = trainMember(net, m, fold);
      nets.push(net);
      models.push(...run.models);
      steps += run.steps;
    }
    const { ridge, organ } = fitRidgeMembers(options.train, head, targets, featureDim, slices);
    const state = { nets, head, featureDim, slices, ridge, ...(organ ? { organ } : {}) };
    return { state, summary: summary("liverstiff", { featureDim, slices }, { models, steps }) };
  });
}

/** Trains ensemble member m (its network built and initialised) on the fold's frozen features. */
function trainMember(net: LiverstiffNet, m: number, fold: FoldData): LoopResult {
  const { recipe, options, targets } = fold;
  const head = headOf(recipe, "liverstiff");
  const t = recipe.training;
  return owning((owner) => {
    // Standardisation and PCA have no parameters: reduce the training tokens once per member.
    const x = owner.own(tidy(() => noGrad(() => net.reduce(fold.x))));
    const val = fold.val;
    const valX = val ? owner.own(tidy(() => noGrad(() => net.reduce(val.x)))) : null;
    const opt = owner.own(makeOptimizer(t, [{ params: net.parameters() }]));
    return runLoop({
      ...loopSettings(t, options.train.length),
      rng: Rng.derive(fold.seed, "liverstiff", m),
      models: 1,
      improvement: "loss-tie-break",
      tensorsOf: () => [...net.stateDict().values()],
      beginEpoch: () => net.train(),
      step: (idx) => {
        const index = tensor(idx, { dtype: "int64" });
        const o = net.forwardReduced(
          x.indexSelect(0, index),
          fold.mask.indexSelect(0, index),
          fold.tensors.clinical.indexSelect(0, index),
        );
        descend(opt, headLoss(o, fold.tensors, index, targets.logkStats, head.regressionWeight));
      },
      ...(val && valX
        ? {
            validate: () => [
              evaluateVal(net, { ...val, x: valX }, targets, options.val.length, t.earlyStopping),
            ],
          }
        : {}),
      endEpoch: (epoch, scores) =>
        options.onProgress?.({
          stage: "train",
          done: m * t.maxEpochs + epoch,
          total: head.ensemble * t.maxEpochs,
          message: `liverstiff model ${m + 1}/${head.ensemble} epoch ${epoch}${scores ? `: ${t.earlyStopping} ${scores[0]!.metric.toFixed(3)}` : ""}`,
        }),
    });
  });
}

/** The ridge member (head.ridge > 0) and the organ member (head.organs > 0), fitted on the training part. */
function fitRidgeMembers(
  train: readonly ExamFeatures[],
  head: LiverstiffHead,
  targets: HeadTargets,
  featureDim: number,
  slices: number,
): { ridge?: RidgeMember; organ?: RidgeMember } {
  let ridge: RidgeMember | undefined;
  if (head.ridge > 0) {
    const { x, width } = ridgeDesign(train, head.roles, featureDim, slices, targets.age);
    ridge = fitRidge(x, train.length, width, targets.logk, head.ridgeLambda);
  }
  const organ =
    head.organs > 0 ? fitOrganMember(train, targets.logk, targets.age, head.organLambda) : undefined;
  return { ridge, organ };
}

/** The validation part as a kept batch (see dispose). */
function batchTensors(
  exams: readonly ExamFeatures[],
  head: LiverstiffHead,
  slices: number,
  featureDim: number,
  targets: HeadTargets,
): Batch & { dispose(): void } {
  const b = kept(() => toTensors(exams, head, slices, featureDim, targets.age, targets.sites));
  return { ...b, dispose: () => dispose(b) };
}

/**
 * Validation: the early-stopping metric (AUROC at 3.0 kPa, accuracy at 3.0 kPa, or minus the BCE sum;
 * larger is better) and the unweighted loss (tie-breaker).
 */
export function evaluateVal(
  net: LiverstiffNet,
  b: Batch,
  targets: HeadTargets,
  nVal: number,
  metric: Recipe["training"]["earlyStopping"],
): ValScore {
  const yVal = targets.yVal!;
  net.eval();
  const logits = tidy(() =>
    noGrad(() => {
      const l = net.forwardReduced(b.x, b.mask, b.clinical).logits;
      return (l.device === "cpu" ? l : l.cpu()).contiguous().toFloat32Array();
    }),
  );
  let loss = 0;
  for (let i = 0; i < logits.length; i++) {
    const z = logits[i]!;
    loss += Math.max(z, 0) - z * yVal[i]! + Math.log1p(Math.exp(-Math.abs(z)));
  }
  loss /= nVal;
  const k = PRIMARY_THRESHOLD_INDEX;
  const z3 = Array.from({ length: nVal }, (_, i) => logits[i * N_THRESHOLDS + k]!);
  const y3 = Array.from({ length: nVal }, (_, i) => yVal[i * N_THRESHOLDS + k]!);
  let value: number;
  if (metric === "val_auroc_3_0" && targets.valHasBoth) value = auroc(y3, z3);
  else if (metric === "val_accuracy") value = z3.filter((z, i) => (z > 0 ? 1 : 0) === y3[i]).length / nVal;
  else value = -loss;
  return { metric: value, loss };
}
