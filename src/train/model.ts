// trainModel / TrainedModel / loadTrainedModel: the small face validate/ and bundles use. A saved model is
// one safetensors file: the weights, plus metadata holding the resolved recipe, the training summary and
// the input shape, so that loading needs nothing else.
import { LiverstiffError } from "../core/index.ts";
import type { ExamFeatures } from "../features/types.ts";
import { loadTensors, type StateDict } from "../nn/index.ts";
import { type Tensor, tensor } from "../torch/index.ts";
import {
  type BaselineClinicalState,
  type LogisticSet,
  predictBaselineClinical,
  trainBaselineClinical,
} from "./baseline-clinical.ts";
import { type BaselineRidgeState, predictBaselineRidge, trainBaselineRidge } from "./baseline-ridge.ts";
import { CLINICAL_DIM, N_THRESHOLDS } from "./data.ts";
import { Deepliver2Net, type Deepliver2State, predictDeepliver2, trainDeepliver2 } from "./deepliver2.ts";
import {
  type FinetunedModel,
  type FinetunedShape,
  finetunedShape,
  restoreFinetuned,
  trainFinetuned,
} from "./finetune.ts";
import { LiverstiffNet, type LiverstiffState, predictLiverstiff, trainLiverstiff } from "./liverstiff.ts";
import {
  type BaselineClinicalHead,
  type BaselineRidgeHead,
  headOf,
  parseRecipe,
  type Recipe,
} from "./recipe.ts";
import type { RidgeMember } from "./ridge.ts";
import {
  FINETUNED_FORMAT,
  META_FORMAT,
  META_RECIPE,
  META_SHAPE,
  META_SUMMARY,
  MODEL_FORMAT,
  saveModel,
} from "./saved.ts";
import type { ExamPrediction, SliceLoader, TrainedModel, TrainOptions, TrainSummary } from "./types.ts";

export { FINETUNED_FORMAT, MODEL_FORMAT };

interface ShapeInfo {
  featureDim: number;
  slices: number;
  inputDim?: number;
  members?: number;
  /** The liverstiff and baseline-clinical heads' site covariate order. */
  sites?: string[];
}

/** A head trained on frozen features: its state predicts, names its tensors and its shape, and saves. */
abstract class HeadModel<S> implements TrainedModel {
  constructor(
    readonly recipe: Recipe,
    readonly summary: TrainSummary,
    protected readonly state: S,
  ) {}

  abstract predict(exams: readonly ExamFeatures[]): ExamPrediction[];
  abstract stateDict(): StateDict;
  protected abstract shape(): ShapeInfo;
  abstract dispose(): void;

  save(path: string): void {
    saveModel(path, this.recipe, this.summary, this.shape(), this.stateDict());
  }
}

class Deepliver2Model extends HeadModel<Deepliver2State> {
  predict(exams: readonly ExamFeatures[]): ExamPrediction[] {
    return predictDeepliver2(this.state, exams);
  }

  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [k, v] of this.state.net.namedParameters()) out.set(`net.${k}`, v);
    return out;
  }

  protected shape(): ShapeInfo {
    return {
      featureDim: this.state.featureDim,
      slices: this.state.slices,
      inputDim: this.state.net.inputDim,
    };
  }

  dispose(): void {
    this.state.net.dispose();
  }
}

class LiverstiffModel extends HeadModel<LiverstiffState> {
  predict(exams: readonly ExamFeatures[]): ExamPrediction[] {
    return predictLiverstiff(this.state, exams);
  }

  stateDict(): StateDict {
    const out: StateDict = new Map();
    this.state.nets.forEach((net, m) => {
      for (const [k, v] of net.namedParameters()) out.set(`m${m}.${k}`, v);
      for (const [k, v] of net.namedBuffers()) out.set(`m${m}.${k}`, v);
    });
    if (this.state.ridge) {
      this.ridgeTensors ??= ridgeToTensors(this.state.ridge);
      for (const [k, v] of this.ridgeTensors) out.set(k, v);
    }
    if (this.state.organ) {
      this.organTensors ??= ridgeToTensors(this.state.organ, "organ");
      for (const [k, v] of this.organTensors) out.set(k, v);
    }
    return out;
  }

  private ridgeTensors: StateDict | undefined;
  private organTensors: StateDict | undefined;

  /** The site covariate's one-hot order (empty without it). */
  get sites(): readonly string[] {
    return this.state.nets[0]?.sites ?? [];
  }

  protected shape(): ShapeInfo {
    return {
      featureDim: this.state.featureDim,
      slices: this.state.slices,
      members: this.state.nets.length,
      sites: [...(this.state.nets[0]?.sites ?? [])],
    };
  }

  dispose(): void {
    for (const n of this.state.nets) n.dispose();
    for (const t of this.ridgeTensors?.values() ?? []) t.dispose();
    for (const t of this.organTensors?.values() ?? []) t.dispose();
  }
}

/** The ridge member as float64 tensors (kept exactly through safetensors). */
function ridgeToTensors(r: RidgeMember, prefix = "ridge"): StateDict {
  const m: StateDict = new Map();
  m.set(`${prefix}.mean`, tensor(r.mean).keep());
  m.set(`${prefix}.sd`, tensor(r.sd).keep());
  m.set(`${prefix}.weights`, tensor(r.weights).keep());
  m.set(`${prefix}.scalars`, tensor(Float64Array.from([r.bias, r.residualSd])).keep());
  return m;
}

function ridgeFromTensors(
  tensors: Map<string, Tensor>,
  path: string,
  prefix = "ridge",
): RidgeMember | undefined {
  const get = (k: string) => tensors.get(`${prefix}.${k}`)?.toFloat64Array();
  const mean = get("mean");
  const sd = get("sd");
  const weights = get("weights");
  const scalars = get("scalars");
  if (!mean && !sd && !weights && !scalars) return undefined;
  if (
    !mean ||
    !sd ||
    !weights ||
    !scalars ||
    scalars.length !== 2 ||
    sd.length !== mean.length ||
    weights.length !== mean.length
  )
    throw new LiverstiffError(`${path}: the ${prefix} member's tensors are incomplete`, { file: path });
  return { mean, sd, weights, bias: scalars[0]!, residualSd: scalars[1]! };
}

/** How a closed-form fit (its state plain numbers) predicts, becomes float64 tensors, and names its shape. */
interface ClosedFormFit<S> {
  predict(state: S, exams: readonly ExamFeatures[]): ExamPrediction[];
  toTensors(state: S): StateDict;
  shape(state: S): ShapeInfo;
}

/** A baseline's fit as a TrainedModel: its tensors are made once, when first saved or asked for. */
class ClosedFormModel<S> extends HeadModel<S> {
  private tensors: StateDict | undefined;

  constructor(
    recipe: Recipe,
    summary: TrainSummary,
    state: S,
    private readonly fit: ClosedFormFit<S>,
  ) {
    super(recipe, summary, state);
  }

  predict(exams: readonly ExamFeatures[]): ExamPrediction[] {
    return this.fit.predict(this.state, exams);
  }

  stateDict(): StateDict {
    this.tensors ??= this.fit.toTensors(this.state);
    return this.tensors;
  }

  protected shape(): ShapeInfo {
    return this.fit.shape(this.state);
  }

  dispose(): void {
    for (const t of this.tensors?.values() ?? []) t.dispose();
    this.tensors = undefined;
  }
}

/** The baseline-ridge probe: its ridge fit as float64 tensors (ridgeToTensors). */
const BASELINE_RIDGE_FIT: ClosedFormFit<BaselineRidgeState> = {
  predict: predictBaselineRidge,
  toTensors: (s) => ridgeToTensors(s.member),
  shape: (s) => ({ featureDim: s.featureDim, slices: s.slices }),
};

/** The baseline-clinical logistic fits as float64 tensors: clinical.age, clinical.site, clinical.nosite. */
const BASELINE_CLINICAL_FIT: ClosedFormFit<BaselineClinicalState> = {
  predict: predictBaselineClinical,
  toTensors: (s) => {
    const m: StateDict = new Map();
    m.set("clinical.age", tensor(Float64Array.of(s.age.mean, s.age.sd)).keep());
    const set = (l: LogisticSet) => tensor(l.coef, { shape: [N_THRESHOLDS, l.width + 1] }).keep();
    if (s.withSite) m.set("clinical.site", set(s.withSite));
    m.set("clinical.nosite", set(s.withoutSite));
    return m;
  },
  shape: (s) => ({ featureDim: s.featureDim, slices: s.slices, sites: [...s.sites] }),
};

function clinicalFromTensors(
  head: BaselineClinicalHead,
  shape: ShapeInfo,
  summary: TrainSummary,
  tensors: Map<string, Tensor>,
  path: string,
): BaselineClinicalState {
  const sites = shape.sites ?? [];
  const read = (key: string, width: number): LogisticSet | null => {
    const coef = tensors.get(key)?.toFloat64Array();
    if (!coef) return null;
    if (coef.length !== N_THRESHOLDS * (width + 1))
      throw new LiverstiffError(
        `${path}: tensor ${key} has ${coef.length} values, expected ${N_THRESHOLDS * (width + 1)}`,
        { file: path },
      );
    return { width, coef, iterations: [] };
  };
  const age = tensors.get("clinical.age")?.toFloat64Array();
  const withoutSite = read("clinical.nosite", CLINICAL_DIM);
  const withSite = head.site ? read("clinical.site", CLINICAL_DIM + sites.length) : null;
  if (age?.length !== 2 || !withoutSite || (head.site && !withSite))
    throw new LiverstiffError(`${path}: the baseline-clinical fits are incomplete`, { file: path });
  const fits = summary.models.map((m) => m.epochs);
  if (withSite) withSite.iterations = fits.slice(0, N_THRESHOLDS);
  withoutSite.iterations = fits.slice(withSite ? N_THRESHOLDS : 0);
  return {
    head,
    age: { mean: age[0]!, sd: age[1]! },
    sites,
    withSite,
    withoutSite,
    featureDim: shape.featureDim,
    slices: shape.slices,
  };
}

/** A fine-tuned encoder + head as a TrainedModel (predict reads prepared slices). */
class FinetunedTrainedModel implements TrainedModel {
  constructor(private readonly inner: FinetunedModel) {}

  get recipe(): Recipe {
    return this.inner.recipe;
  }

  get summary(): TrainSummary {
    return this.inner.summary;
  }

  predict(exams: readonly ExamFeatures[]): ExamPrediction[] {
    return this.inner.predict(exams);
  }

  stateDict(): StateDict {
    return this.inner.stateDict();
  }

  save(path: string): void {
    const shape = finetunedShape(this.inner);
    saveModel(path, this.recipe, this.summary, shape, this.stateDict(), FINETUNED_FORMAT);
  }

  useSlices(loader: SliceLoader): void {
    this.inner.useSlices(loader);
  }

  dispose(): void {
    this.inner.dispose();
  }
}

/**
 * The site covariate's one-hot order a liverstiff head was trained with (empty without it, and for other
 * heads): with the model's stateDict() and recipe, what explain/ needs to rebuild the head's covariates.
 */
export function headSites(model: TrainedModel): readonly string[] {
  return model instanceof LiverstiffModel ? model.sites : [];
}

/**
 * Trains the recipe's head on frozen features, or, when the recipe sets encoder.finetune, the encoder and
 * the head together on prepared slices (options.slices; see finetune.ts). Deterministic: the same recipe,
 * exams (in the same order) and seed give the same predictions.
 */
export function trainModel(recipe: Recipe, options: TrainOptions): TrainedModel {
  if (recipe.encoder.finetune) return new FinetunedTrainedModel(trainFinetuned(recipe, options));
  if (recipe.head.kind === "deepliver2") {
    const { state, summary } = trainDeepliver2(recipe, options);
    return new Deepliver2Model(recipe, summary, state);
  }
  if (recipe.head.kind === "baseline-ridge") {
    const { state, summary } = trainBaselineRidge(recipe, options);
    return new ClosedFormModel(recipe, summary, state, BASELINE_RIDGE_FIT);
  }
  if (recipe.head.kind === "baseline-clinical") {
    const { state, summary } = trainBaselineClinical(recipe, options);
    return new ClosedFormModel(recipe, summary, state, BASELINE_CLINICAL_FIT);
  }
  const { state, summary } = trainLiverstiff(recipe, options);
  return new LiverstiffModel(recipe, summary, state);
}

/**
 * Loads a model written by TrainedModel.save. A fine-tuned model reads prepared slices: pass `slices` here
 * or later through the model's useSlices().
 */
export function loadTrainedModel(path: string, options: { slices?: SliceLoader } = {}): TrainedModel {
  const { tensors, metadata } = loadTensors(path);
  try {
    const format = metadata[META_FORMAT];
    if (format !== MODEL_FORMAT && format !== FINETUNED_FORMAT) {
      throw new LiverstiffError(
        `${path} is not a liverstiff head (format ${metadata[META_FORMAT] ?? "none"})`,
        {
          file: path,
        },
      );
    }
    const recipe = parseRecipe(JSON.parse(metadata[META_RECIPE] ?? "null"), `${path} (embedded recipe)`);
    const summary = JSON.parse(metadata[META_SUMMARY] ?? "{}") as TrainSummary;
    const shape = JSON.parse(metadata[META_SHAPE] ?? "{}") as ShapeInfo;
    const pick = (prefix: string) => {
      const m = new Map<string, Tensor>();
      for (const [k, v] of tensors) if (k.startsWith(prefix)) m.set(k.slice(prefix.length), v);
      return m;
    };
    if (format === FINETUNED_FORMAT) {
      return new FinetunedTrainedModel(
        restoreFinetuned(recipe, summary, shape as unknown as FinetunedShape, pick, path, options.slices),
      );
    }
    if (recipe.head.kind === "deepliver2") {
      const head = headOf(recipe, "deepliver2");
      const net = new Deepliver2Net(shape.inputDim!, head.hidden, undefined, head.init);
      net.loadStateDict(pick("net."), { source: path });
      net.eval();
      return new Deepliver2Model(recipe, summary, {
        net,
        head,
        featureDim: shape.featureDim,
        slices: shape.slices,
      });
    }
    if (recipe.head.kind === "baseline-ridge") {
      const member = ridgeFromTensors(tensors, path);
      if (!member) throw new LiverstiffError(`${path}: the baseline-ridge fit is missing`, { file: path });
      const state: BaselineRidgeState = {
        head: recipe.head as BaselineRidgeHead,
        featureDim: shape.featureDim,
        slices: shape.slices,
        member,
      };
      return new ClosedFormModel(recipe, summary, state, BASELINE_RIDGE_FIT);
    }
    if (recipe.head.kind === "baseline-clinical") {
      const head = recipe.head as BaselineClinicalHead;
      const state = clinicalFromTensors(head, shape, summary, tensors, path);
      return new ClosedFormModel(recipe, summary, state, BASELINE_CLINICAL_FIT);
    }
    const head = headOf(recipe, "liverstiff");
    const nets: LiverstiffNet[] = [];
    for (let m = 0; m < (shape.members ?? head.ensemble); m++) {
      const net = new LiverstiffNet(shape.featureDim, head.roles, shape.slices, head, shape.sites ?? []);
      net.loadStateDict(pick(`m${m}.`), { source: path });
      net.eval();
      nets.push(net);
    }
    return new LiverstiffModel(recipe, summary, {
      nets,
      head,
      featureDim: shape.featureDim,
      slices: shape.slices,
      ridge: ridgeFromTensors(tensors, path),
      organ: ridgeFromTensors(tensors, path, "organ"),
    });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
