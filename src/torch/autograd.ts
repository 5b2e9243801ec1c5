// Autograd controls: no-grad scopes and functional gradients.
import { native } from "./native.ts";
import { ids, Tensor } from "./tensor.ts";

/** Runs fn with gradient recording set to `enabled`, then restores what it was. */
function withGradEnabled<T>(enabled: boolean, fn: () => T): T {
  const previous = native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Runs fn with gradient recording off (torch.no_grad()); fn must be synchronous. */
export function noGrad<T>(fn: () => T): T {
  return withGradEnabled(false, fn);
}

/** Runs fn with gradient recording on (inside a noGrad block). */
export function enableGrad<T>(fn: () => T): T {
  return withGradEnabled(true, fn);
}

/**
 * Runs fn in inference mode (torch.inference_mode()): like noGrad but faster, for feature extraction and
 * evaluation. Tensors created inside are inference tensors: they cannot later take part in autograd
 * (clone() them outside to get normal tensors). fn must be synchronous.
 */
export function inferenceMode<T>(fn: () => T): T {
  native.pushInferenceMode(true);
  try {
    return fn();
  } finally {
    native.popInferenceMode();
  }
}

export function isInferenceModeEnabled(): boolean {
  return native.isInferenceMode();
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

/**
 * Gradients of outputs with respect to inputs (torch.autograd.grad), without touching .grad.
 * An input that outputs do not depend on gives null when allowUnused, else an Error.
 */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: readonly Tensor[],
  o: {
    gradOutputs?: readonly Tensor[];
    retainGraph?: boolean;
    createGraph?: boolean;
    allowUnused?: boolean;
  } = {},
): (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const result = native.autogradGrad(
    ids(outs),
    ids(inputs),
    o.gradOutputs ? ids(o.gradOutputs) : null,
    o.retainGraph,
    o.createGraph ?? false,
    o.allowUnused ?? false,
  );
  return result.map((id) => (id === null ? null : new Tensor(id)));
}
