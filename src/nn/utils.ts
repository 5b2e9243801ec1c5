// torch.nn.utils counterparts.
import { optim, type Tensor } from "../torch/index.ts";

/**
 * Scales the gradients of params in place so that their joint norm is at most maxNorm
 * (torch.nn.utils.clip_grad_norm_); returns the norm before clipping. Parameters without a gradient are
 * ignored.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType = 2): number {
  return optim.clipGradNorm([...params], maxNorm, normType);
}
