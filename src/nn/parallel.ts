// Data parallelism as torch.nn.parallel.DistributedDataParallel does it, over libtorch's c10d: every rank
// holds the whole model, starts from rank 0's parameters, computes the loss of its shard of each batch,
// and the gradients are summed over the ranks (in buckets) before the optimizer steps. With the loss of a
// shard scaled by (shard size / batch size), the summed gradient is the whole batch's mean-loss gradient,
// so W ranks take the same steps as one process with the same global batch (to float summation order),
// as long as nothing in the step depends on the batch's split: BatchNorm's batch statistics (no
// SyncBatchNorm here) and dropout masks (drawn per rank) do.
import { DEFAULT_BUCKET_BYTES, type ProcessGroup, type Tensor, tidy, zerosLike } from "../torch/index.ts";

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;

  /** `group` undefined: one process, every method is the identity. */
  constructor(
    readonly group: ProcessGroup | undefined,
    private readonly bucketBytes = DEFAULT_BUCKET_BYTES,
  ) {
    this.rank = group?.rank ?? 0;
    this.worldSize = group?.worldSize ?? 1;
  }

  /** Every rank's tensors (parameters, buffers) become rank 0's, as DDP does when it wraps a model. */
  broadcastFromRankZero(tensors: readonly Tensor[]): void {
    this.group?.broadcast(tensors, 0);
  }

  /** This rank's contiguous share of a batch: [floor(r n / W), floor((r + 1) n / W)). */
  shard<T>(batch: readonly T[]): T[] {
    const n = batch.length;
    return batch.slice(
      Math.floor((this.rank * n) / this.worldSize),
      Math.floor(((this.rank + 1) * n) / this.worldSize),
    );
  }

  /** The factor for a shard's mean loss that makes the summed gradients the whole batch's mean-loss ones. */
  lossScale(shardSize: number, batchSize: number): number {
    return batchSize === 0 ? 0 : shardSize / batchSize;
  }

  /** Sums the parameters' gradients over the ranks, in place (after backward, before the step). */
  reduceGradients(params: readonly Tensor[]): void {
    if (!this.group) return;
    tidy(() => {
      // A rank whose shard was empty (a batch smaller than the world) has no gradients: it adds zeros, so
      // that every rank packs the same buckets.
      const grads = params
        .filter((p) => p.requiresGrad)
        .map((p) => {
          if (!p.grad) p.grad = zerosLike(p);
          return p.grad!;
        });
      this.group!.allReduceSum(grads, this.bucketBytes);
    });
  }
}
