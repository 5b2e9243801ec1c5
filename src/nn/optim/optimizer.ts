// Optimizers with parameter groups and per-parameter state, as torch.optim 1.13. The arithmetic of each
// step runs natively in one call per group (src/torch/optim.ts, PyTorch's single-tensor formulas); this
// file owns groups, lazily created state, and state dicts.
import { keep, noGrad, type Tensor, zerosLike } from "../../torch/index.ts";

/** Per-parameter state: tensors (moments, buffers) and numbers (the step count). */
export type ParamState = Record<string, Tensor | number>;

/** Options shared by every optimizer's groups. */
export interface BaseGroupOptions {
  lr: number;
  weightDecay: number;
}

/** A group: its parameters and its options (which may differ from the optimizer's defaults). */
export type ParamGroup<O extends BaseGroupOptions> = O & { params: Tensor[] };

/** How a caller specifies groups: parameters plus any options to override. */
export type ParamGroupSpec<O extends BaseGroupOptions> = Partial<O> & { params: Iterable<Tensor> };

/** A serializable optimizer state, shaped like torch's: state by parameter index, groups by index lists. */
export interface OptimizerStateDict {
  /** The optimizer class name (loading checks it). */
  type: string;
  state: Map<number, ParamState>;
  paramGroups: (Record<string, number | boolean | number[]> & { params: number[] })[];
}

export abstract class Optimizer<O extends BaseGroupOptions> {
  readonly paramGroups: ParamGroup<O>[] = [];
  protected readonly state = new Map<Tensor, ParamState>();
  /**
   * For parameters that stack independent models along dim 0 (deepliver2's threshold models): the models
   * still training. A model marked false is one the caller will never read again (stopped early, its
   * snapshot taken), so a step may leave its slices as they are; Adamax does, the others update them
   * anyway. The updated slices' arithmetic does not depend on it. null: every slice.
   */
  activeSlices: readonly boolean[] | null = null;

  constructor(
    params: Iterable<Tensor> | readonly ParamGroupSpec<O>[],
    readonly defaults: O,
  ) {
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<O>>)];
    if (list.length === 0) throw new Error("optimizer got an empty parameter list");
    const isGroups = list.every((p) => typeof p === "object" && p !== null && "params" in p && !("id" in p));
    if (isGroups) for (const g of list as ParamGroupSpec<O>[]) this.addParamGroup(g);
    else this.addParamGroup({ params: list as Tensor[] } as unknown as ParamGroupSpec<O>);
  }

  /** Adds a group; options not given take the optimizer's defaults. A parameter may be in one group only. */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    const params = [...spec.params];
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of params) {
      if (seen.has(p)) throw new Error("some parameters appear in more than one parameter group");
      seen.add(p);
    }
    const group = { ...this.defaults, ...spec, params } as ParamGroup<O>;
    this.validateGroup(group);
    this.paramGroups.push(group);
  }

  /** Throws on invalid hyper-parameters (negative learning rate, betas outside [0, 1), ...). */
  protected validateGroup(group: ParamGroup<O>): void {
    if (!(group.lr >= 0)) throw new Error(`invalid learning rate ${group.lr}`);
    if (!(group.weightDecay >= 0)) throw new Error(`invalid weight decay ${group.weightDecay}`);
  }

  /** Clears the gradients of every parameter (set to none, the cheapest; the step skips them). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.zeroGrad();
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        const withGrad: Tensor[] = [];
        for (const p of group.params) {
          const g = p.grad;
          if (g !== null) {
            withGrad.push(p);
            g.dispose(); // only the handle: the gradient itself stays on the parameter
          }
        }
        if (withGrad.length > 0) this.stepGroup(group, withGrad);
      }
    });
  }

  /** Updates the parameters of one group that have gradients. */
  protected abstract stepGroup(group: ParamGroup<O>, params: Tensor[]): void;

  /** The state of p, created by init on first use. */
  protected stateOf(p: Tensor, init: () => ParamState): ParamState {
    let s = this.state.get(p);
    if (s === undefined) {
      s = init();
      keep(s);
      this.state.set(p, s);
    }
    return s;
  }

  /** A zero tensor like p that no scope frees (optimizer state). */
  protected zerosLike(p: Tensor): Tensor {
    return zerosLike(p).keep();
  }

  /** The optimizer's class name, as stored in state dicts. */
  get type(): string {
    return this.constructor.name;
  }

  /**
   * State dict: tensors are the live state (not copies) and parameters are referred to by their index
   * over all groups in order, as torch does.
   */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...options } = g;
      const ids = params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      });
      return { ...(options as unknown as Record<string, number | boolean | number[]>), params: ids };
    });
    const state = new Map<number, ParamState>();
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i !== undefined) state.set(i, { ...s });
    }
    return { type: this.type, state, paramGroups };
  }

  /**
   * Restores a state dict from an optimizer of the same type over parameters of the same shapes, in the
   * same group layout. State tensors are copied (the state dict stays the caller's).
   */
  loadStateDict(sd: OptimizerStateDict): void {
    if (sd.type !== this.type) throw new Error(`optimizer state is for ${sd.type}, not ${this.type}`);
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(
        `optimizer state has ${sd.paramGroups.length} parameter groups, this optimizer has ${this.paramGroups.length}`,
      );
    }
    const byIndex: Tensor[] = [];
    sd.paramGroups.forEach((g, gi) => {
      const own = this.paramGroups[gi];
      if (g.params.length !== own.params.length) {
        throw new Error(
          `parameter group ${gi} has ${g.params.length} parameters in the state, ${own.params.length} here`,
        );
      }
      g.params.forEach((idx, k) => {
        byIndex[idx] = own.params[k];
      });
    });
    const restored = new Map<Tensor, ParamState>();
    for (const [idx, s] of sd.state) {
      const p = byIndex[idx];
      if (p === undefined)
        throw new Error(`optimizer state refers to parameter ${idx}, which no group holds`);
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (typeof v === "number") copy[k] = v;
        else {
          if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i])) {
            throw new Error(
              `optimizer state ${idx}.${k} has shape [${v.shape.join(", ")}], parameter has [${p.shape.join(", ")}]`,
            );
          }
          copy[k] = noGrad(() => v.detach().to({ dtype: p.dtype, device: p.device, copy: true })).keep();
        }
      }
      restored.set(p, copy);
    }
    for (const s of this.state.values())
      for (const v of Object.values(s)) if (typeof v !== "number") v.dispose();
    this.state.clear();
    for (const [p, s] of restored) this.state.set(p, s);
    sd.paramGroups.forEach((g, gi) => {
      const { params: _ignored, ...options } = g;
      Object.assign(this.paramGroups[gi], options);
    });
  }

  /** Frees the state tensors (parameters are the model's and stay). */
  dispose(): void {
    for (const s of this.state.values())
      for (const v of Object.values(s)) if (typeof v !== "number") v.dispose();
    this.state.clear();
  }
}
