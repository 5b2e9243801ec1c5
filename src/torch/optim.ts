// Fused optimizer steps: one native call updates every parameter, with the arithmetic of PyTorch 1.13's
// torch.optim (single-tensor path). Parameters without a gradient are skipped. The optimizer classes with
// parameter groups, state and schedules live in src/nn/; these are their kernels.
import { type AdamScalars, native } from "./native.ts";
import { ids, type Tensor } from "./tensor.ts";

/** The hyperparameters Adam, AdamW and Adamax share. */
export interface AdamHyperparameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamKernelOptions extends AdamHyperparameters {
  /** AdamW: decoupled weight decay (param *= 1 - lr * weightDecay). */
  decoupled: boolean;
  maximize?: boolean;
}

function adamScalars(steps: readonly number[], o: AdamHyperparameters): AdamScalars {
  return [steps as number[], o.lr, o.beta1, o.beta2, o.eps, o.weightDecay];
}

/**
 * Adam/AdamW step. steps[i] is parameter i's step count AFTER incrementing (1 on the first step).
 * maxExpAvgSqs given = AMSGrad.
 */
export function adamStep(
  params: readonly Tensor[],
  expAvgs: readonly Tensor[],
  expAvgSqs: readonly Tensor[],
  maxExpAvgSqs: readonly Tensor[] | null,
  steps: readonly number[],
  o: AdamKernelOptions,
): void {
  native.adamStep(
    ids(params),
    ids(expAvgs),
    ids(expAvgSqs),
    maxExpAvgSqs ? ids(maxExpAvgSqs) : null,
    ...adamScalars(steps, o),
    o.decoupled,
    o.maximize ?? false,
  );
}

/**
 * Adamax step. activeSlices: for parameters that stack independent models along dim 0 (every parameter
 * given must then have that many slices), only the slices marked true are updated; the others stay as
 * they are. An updated slice's arithmetic is the same as without it.
 */
export function adamaxStep(
  params: readonly Tensor[],
  expAvgs: readonly Tensor[],
  expInfs: readonly Tensor[],
  steps: readonly number[],
  o: AdamHyperparameters,
  activeSlices: readonly boolean[] | null = null,
): void {
  native.adamaxStep(
    ids(params),
    ids(expAvgs),
    ids(expInfs),
    ...adamScalars(steps, o),
    activeSlices ? [...activeSlices] : null,
  );
}

/**
 * SGD step (momentum, dampening, nesterov, weight decay). momentumBuffers[i] null = not created yet: the
 * returned array holds the buffers to keep (new Tensors where created, tracked by the current scope).
 */
export function sgdStep(
  params: readonly Tensor[],
  momentumBuffers: readonly (Tensor | null)[],
  o: {
    lr: number;
    momentum: number;
    dampening: number;
    weightDecay: number;
    nesterov: boolean;
    maximize?: boolean;
  },
  wrapNew: (id: number) => Tensor,
): (Tensor | null)[] {
  const result = native.sgdStep(
    ids(params),
    momentumBuffers.map((b) => (b === null ? null : b.id)),
    o.lr,
    o.momentum,
    o.dampening,
    o.weightDecay,
    o.nesterov,
    o.maximize ?? false,
  );
  return result.map((id, i) => {
    const old = momentumBuffers[i] ?? null;
    if (id === null) return null;
    if (old !== null && old.id === id) return old;
    return wrapNew(id);
  });
}

/** RMSprop step; gradAvgs given = centered, momentumBuffers given = momentum > 0. */
export function rmspropStep(
  params: readonly Tensor[],
  squareAvgs: readonly Tensor[],
  gradAvgs: readonly Tensor[] | null,
  momentumBuffers: readonly Tensor[] | null,
  o: { lr: number; alpha: number; eps: number; weightDecay: number; momentum: number },
): void {
  native.rmspropStep(
    ids(params),
    ids(squareAvgs),
    gradAvgs ? ids(gradAvgs) : null,
    momentumBuffers ? ids(momentumBuffers) : null,
    o.lr,
    o.alpha,
    o.eps,
    o.weightDecay,
    o.momentum,
  );
}

/** Scales gradients in place so that their total norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, normType = 2): number {
  return native.clipGradNorm(ids(params), maxNorm, normType);
}
