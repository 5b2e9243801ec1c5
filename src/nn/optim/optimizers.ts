// SGD, Adam, AdamW, Adamax and RMSprop with torch.optim 1.13's defaults, state names and update formulas
// (single-tensor path; the arithmetic runs natively, see src/torch/optim.ts).
import { optim as kernels, Tensor } from "../../torch/index.ts";
import { type BaseGroupOptions, Optimizer, type ParamGroup, type ParamGroupSpec } from "./optimizer.ts";

type Params<O extends BaseGroupOptions> = Iterable<Tensor> | readonly ParamGroupSpec<O>[];

function checkBetas(betas: readonly [number, number]): void {
  if (!(betas[0] >= 0 && betas[0] < 1)) throw new Error(`invalid beta parameter at index 0: ${betas[0]}`);
  if (!(betas[1] >= 0 && betas[1] < 1)) throw new Error(`invalid beta parameter at index 1: ${betas[1]}`);
}

// ---- SGD --------------------------------------------------------------------------------------------

export interface SGDOptions extends BaseGroupOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  maximize: boolean;
}

/** torch.optim.SGD: momentum (with dampening), Nesterov momentum, L2 weight decay. */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Params<SGDOptions>, o: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...o });
  }

  protected override validateGroup(g: ParamGroup<SGDOptions>): void {
    super.validateGroup(g);
    if (!(g.momentum >= 0)) throw new Error(`invalid momentum value ${g.momentum}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new Error("Nesterov momentum requires a momentum and zero dampening");
    }
  }

  protected stepGroup(g: ParamGroup<SGDOptions>, params: Tensor[]): void {
    const bufs = params.map((p) => {
      const b = this.state.get(p)?.momentum_buffer;
      return b instanceof Tensor ? b : null;
    });
    const out = kernels.sgdStep(params, bufs, g, (id) => new Tensor(id).keep());
    if (g.momentum === 0) return;
    out.forEach((b, i) => {
      if (b !== null) this.state.set(params[i], { momentum_buffer: b });
    });
  }
}

// ---- Adam / AdamW -----------------------------------------------------------------------------------

export interface AdamOptions extends BaseGroupOptions {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
  maximize: boolean;
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected override validateGroup(g: ParamGroup<AdamOptions>): void {
    super.validateGroup(g);
    checkBetas(g.betas);
    if (!(g.eps >= 0)) throw new Error(`invalid epsilon value ${g.eps}`);
  }

  protected stepGroup(g: ParamGroup<AdamOptions>, params: Tensor[]): void {
    const expAvgs: Tensor[] = [];
    const expAvgSqs: Tensor[] = [];
    const maxSqs: Tensor[] = [];
    const steps: number[] = [];
    for (const p of params) {
      const s = this.stateOf(p, () => ({
        step: 0,
        exp_avg: this.zerosLike(p),
        exp_avg_sq: this.zerosLike(p),
        ...(g.amsgrad ? { max_exp_avg_sq: this.zerosLike(p) } : {}),
      }));
      s.step = (s.step as number) + 1;
      steps.push(s.step);
      expAvgs.push(s.exp_avg as Tensor);
      expAvgSqs.push(s.exp_avg_sq as Tensor);
      if (g.amsgrad) {
        if (!(s.max_exp_avg_sq instanceof Tensor)) s.max_exp_avg_sq = this.zerosLike(p);
        maxSqs.push(s.max_exp_avg_sq);
      }
    }
    kernels.adamStep(params, expAvgs, expAvgSqs, g.amsgrad ? maxSqs : null, steps, {
      lr: g.lr,
      beta1: g.betas[0],
      beta2: g.betas[1],
      eps: g.eps,
      weightDecay: g.weightDecay,
      decoupled: this.decoupled,
      maximize: g.maximize,
    });
  }
}

/** PyTorch's defaults for Adam and AdamW, which differ only in their weight decay. */
function adamDefaults(weightDecay: number): AdamOptions {
  return { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay, amsgrad: false, maximize: false };
}

/** torch.optim.Adam (L2 weight decay added to the gradient; AMSGrad optional). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;

  constructor(params: Params<AdamOptions>, o: Partial<AdamOptions> = {}) {
    super(params, { ...adamDefaults(0), ...o });
  }
}

/** torch.optim.AdamW (decoupled weight decay, default 1e-2). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;

  constructor(params: Params<AdamOptions>, o: Partial<AdamOptions> = {}) {
    super(params, { ...adamDefaults(1e-2), ...o });
  }
}

// ---- Adamax -----------------------------------------------------------------------------------------

export interface AdamaxOptions extends BaseGroupOptions {
  betas: [number, number];
  eps: number;
}

/** torch.optim.Adamax (infinity-norm Adam). */
export class Adamax extends Optimizer<AdamaxOptions> {
  constructor(params: Params<AdamaxOptions>, o: Partial<AdamaxOptions> = {}) {
    super(params, { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...o });
  }

  protected override validateGroup(g: ParamGroup<AdamaxOptions>): void {
    super.validateGroup(g);
    checkBetas(g.betas);
  }

  protected stepGroup(g: ParamGroup<AdamaxOptions>, params: Tensor[]): void {
    const expAvgs: Tensor[] = [];
    const expInfs: Tensor[] = [];
    const steps: number[] = [];
    for (const p of params) {
      const s = this.stateOf(p, () => ({ step: 0, exp_avg: this.zerosLike(p), exp_inf: this.zerosLike(p) }));
      s.step = (s.step as number) + 1;
      steps.push(s.step);
      expAvgs.push(s.exp_avg as Tensor);
      expInfs.push(s.exp_inf as Tensor);
    }
    kernels.adamaxStep(
      params,
      expAvgs,
      expInfs,
      steps,
      {
        lr: g.lr,
        beta1: g.betas[0],
        beta2: g.betas[1],
        eps: g.eps,
        weightDecay: g.weightDecay,
      },
      this.activeSlices,
    );
  }
}

// ---- RMSprop ----------------------------------------------------------------------------------------

export interface RMSpropOptions extends BaseGroupOptions {
  alpha: number;
  eps: number;
  momentum: number;
  centered: boolean;
}

/** torch.optim.RMSprop (optionally centered, with momentum). */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: Params<RMSpropOptions>, o: Partial<RMSpropOptions> = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...o });
  }

  protected override validateGroup(g: ParamGroup<RMSpropOptions>): void {
    super.validateGroup(g);
    if (!(g.alpha >= 0)) throw new Error(`invalid alpha value ${g.alpha}`);
    if (!(g.momentum >= 0)) throw new Error(`invalid momentum value ${g.momentum}`);
  }

  protected stepGroup(g: ParamGroup<RMSpropOptions>, params: Tensor[]): void {
    const squareAvgs: Tensor[] = [];
    const gradAvgs: Tensor[] = [];
    const bufs: Tensor[] = [];
    for (const p of params) {
      const s = this.stateOf(p, () => ({
        step: 0,
        square_avg: this.zerosLike(p),
        ...(g.momentum > 0 ? { momentum_buffer: this.zerosLike(p) } : {}),
        ...(g.centered ? { grad_avg: this.zerosLike(p) } : {}),
      }));
      s.step = (s.step as number) + 1;
      squareAvgs.push(s.square_avg as Tensor);
      if (g.centered) {
        if (!(s.grad_avg instanceof Tensor)) s.grad_avg = this.zerosLike(p);
        gradAvgs.push(s.grad_avg);
      }
      if (g.momentum > 0) {
        if (!(s.momentum_buffer instanceof Tensor)) s.momentum_buffer = this.zerosLike(p);
        bufs.push(s.momentum_buffer);
      }
    }
    kernels.rmspropStep(params, squareAvgs, g.centered ? gradAvgs : null, g.momentum > 0 ? bufs : null, {
      lr: g.lr,
      alpha: g.alpha,
      eps: g.eps,
      weightDecay: g.weightDecay,
      momentum: g.momentum,
    });
  }
}
