// The one training loop of the heads (deepliver2, liverstiff, fine-tuning): epochs over a shuffled batch
// order, one scope per step, early stopping per model, a snapshot of each model's best (or stopping) state
// written back at the end, and an end-of-epoch hook for progress. Several models may train at once in one
// module (deepliver2's five threshold models): each has its own stopping and its own snapshot, and the
// loop ends when every one has stopped. Also: the optimizer factory, and the owner of what a trainer
// allocates, so that an exception in training frees it.
import type { Rng } from "../core/index.ts";
import { Adam, Adamax, AdamW } from "../nn/index.ts";
import { keep, noGrad, type Tensor, tidy } from "../torch/index.ts";
import type { Recipe, TrainingConfig } from "./recipe.ts";
import type { TrainOptions, TrainSummary } from "./types.ts";

/** One model's validation score after an epoch: the monitored metric (larger is better) and its loss. */
export interface ValScore {
  metric: number;
  /** The tie-breaker of "loss-tie-break" stopping (unread by "strict"). */
  loss: number;
}

/**
 * When a validation score counts as an improvement: "strict" is Keras' EarlyStopping(min_delta=0), a
 * strictly larger metric; "loss-tie-break" also takes an equal metric (within 1e-9) with a lower loss.
 */
export type Improvement = "strict" | "loss-tie-break";

/** Early stopping of one model: `patience` epochs without improvement stop it. */
export class EarlyStopping {
  best = Number.NEGATIVE_INFINITY;
  bestLoss = Number.POSITIVE_INFINITY;
  bestEpoch = 0;
  /** The epoch it stopped at (0 while it trains). */
  stoppedAt = 0;
  private wait = 0;

  constructor(
    private readonly patience: number,
    private readonly improvement: Improvement = "loss-tie-break",
  ) {}

  get stopped(): boolean {
    return this.stoppedAt > 0;
  }

  /** "improved" (snapshot the weights), "waiting", or "stop". */
  update(score: ValScore, epoch: number): "improved" | "waiting" | "stop" {
    if (this.improves(score)) {
      this.best = score.metric;
      this.bestLoss = score.loss;
      this.bestEpoch = epoch;
      this.wait = 0;
      return "improved";
    }
    if (++this.wait >= this.patience) {
      this.stoppedAt = epoch;
      return "stop";
    }
    return "waiting";
  }

  private improves({ metric, loss }: ValScore): boolean {
    if (this.improvement === "strict") return metric > this.best;
    return metric > this.best + 1e-9 || (metric >= this.best - 1e-9 && loss < this.bestLoss);
  }

  /** The summary fields of a trained model whose training ran `lastEpoch` epochs. */
  summary(lastEpoch: number): TrainSummary["models"][number] {
    return {
      epochs: this.stoppedAt || lastEpoch,
      bestEpoch: this.bestEpoch,
      bestValMetric: Number.isFinite(this.best) ? this.best : null,
      stoppedEarly: this.stopped,
    };
  }
}

/** Per model, a copy of its tensors (its best epoch's, or those at its stop), written back by restore(). */
export class Snapshots {
  private readonly copies: (Tensor[] | null)[];

  /** `tensorsOf(k)`: model k's live tensors (views are fine: they are made and dropped in a scope). */
  constructor(
    private readonly tensorsOf: (k: number) => Tensor[],
    models: number,
  ) {
    this.copies = new Array(models).fill(null);
  }

  take(k: number): void {
    this.drop(k);
    this.copies[k] = kept(() => noGrad(() => this.tensorsOf(k).map((t) => t.clone())));
  }

  /** Writes every snapshot back into its model; a model without one keeps its current state. */
  restore(): void {
    tidy(() =>
      noGrad(() => {
        this.copies.forEach((copy, k) => {
          if (!copy) return;
          this.tensorsOf(k).forEach((t, i) => {
            t.copy_(copy[i]!);
          });
        });
      }),
    );
  }

  dispose(): void {
    for (let k = 0; k < this.copies.length; k++) this.drop(k);
  }

  private drop(k: number): void {
    for (const t of this.copies[k] ?? []) t.dispose();
    this.copies[k] = null;
  }
}

/** What the loop needs from a trainer. Its hooks run synchronously; step() runs in its own scope. */
export interface TrainLoop {
  /** Training exams: each epoch visits a new shuffle of 0 .. n-1, in batches of batchSize. */
  n: number;
  batchSize: number;
  maxEpochs: number;
  /** The batch order's generator (shuffled once per epoch). */
  rng: Rng;
  /** Models trained at once (one early stopping and one snapshot each). */
  models: number;
  patience: number;
  improvement: Improvement;
  /** Restore each model's best epoch at the end (true), or keep its state at its stop (Keras' default). */
  restoreBest: boolean;
  /** Model k's live tensors: what a snapshot copies and the restore writes back. */
  tensorsOf(k: number): Tensor[];
  /** Before each epoch's batches (training mode, frozen BatchNorm, ...). */
  beginEpoch?(): void;
  /**
   * One optimisation step on the training exams `idx`. active[k]: model k is still training (a stopped
   * model's state is never read again, so the step may leave it as it is).
   */
  step(idx: number[], active: readonly boolean[]): void;
  /** Per model, the epoch's validation score (in a scope); absent without a validation part (no stopping). */
  validate?(): ValScore[];
  /** After each epoch, with its scores (null without validation): progress. */
  endEpoch?(epoch: number, scores: ValScore[] | null): void;
}

export interface LoopResult {
  /** Optimisation steps taken. */
  steps: number;
  /** Per model, its summary fields (epochs, best epoch and metric, stopped early). */
  models: TrainSummary["models"];
}

/** Runs the epochs; every model ends in its restored state (see TrainLoop.restoreBest). */
export function runLoop(loop: TrainLoop): LoopResult {
  const stopping = Array.from(
    { length: loop.models },
    () => new EarlyStopping(loop.patience, loop.improvement),
  );
  const snapshots = new Snapshots((k) => loop.tensorsOf(k), loop.models);
  try {
    const order = Array.from({ length: loop.n }, (_, i) => i);
    let steps = 0;
    let epoch: number;
    for (epoch = 1; epoch <= loop.maxEpochs; epoch++) {
      loop.beginEpoch?.();
      loop.rng.shuffle(order);
      steps += runBatches(
        loop,
        order,
        stopping.map((s) => !s.stopped),
      );
      const scores = loop.validate ? tidy(() => loop.validate!()) : null;
      if (scores) updateStopping(stopping, snapshots, scores, epoch, loop.restoreBest);
      loop.endEpoch?.(epoch, scores);
      if (scores && stopping.every((s) => s.stopped)) break;
    }
    snapshots.restore();
    const lastEpoch = Math.min(epoch, loop.maxEpochs);
    return { steps, models: stopping.map((s) => s.summary(lastEpoch)) };
  } finally {
    snapshots.dispose();
  }
}

/** One epoch's steps, each in its own scope; returns how many. */
function runBatches(loop: TrainLoop, order: readonly number[], active: readonly boolean[]): number {
  let steps = 0;
  for (let i = 0; i < loop.n; i += loop.batchSize) {
    const idx = order.slice(i, i + loop.batchSize);
    tidy(() => loop.step(idx, active));
    steps++;
  }
  return steps;
}

/** Early stopping of the models still training; snapshots on improvement (restoreBest) or at the stop. */
function updateStopping(
  stopping: EarlyStopping[],
  snapshots: Snapshots,
  scores: readonly ValScore[],
  epoch: number,
  restoreBest: boolean,
): void {
  stopping.forEach((s, k) => {
    if (s.stopped) return;
    const result = s.update(scores[k]!, epoch);
    // The models of one module keep training after one stops: its state at the stop is what it keeps.
    if (result === (restoreBest ? "improved" : "stop")) snapshots.take(k);
  });
}

/** The loop's settings that the recipe's training section gives, for a training part of n exams. */
export function loopSettings(
  t: TrainingConfig,
  n: number,
): Pick<TrainLoop, "n" | "batchSize" | "maxEpochs" | "patience" | "restoreBest"> {
  return {
    n,
    // "full": the whole training part is one batch.
    batchSize: t.batchSize === "full" ? n : Math.min(t.batchSize, n),
    maxEpochs: t.maxEpochs,
    patience: t.patience,
    restoreBest: t.restoreBest,
  };
}

/** A parameter group: its parameters, and the options that differ from the recipe's. */
export interface OptimizerGroup {
  params: Tensor[];
  lr?: number;
  weightDecay?: number;
}

/** The recipe's optimizer (adamax, adam, adamw) over the groups, with its lr, betas, eps and weight decay. */
export function makeOptimizer(t: TrainingConfig, groups: OptimizerGroup[]): Adamax | Adam | AdamW {
  const o = { lr: t.lr, betas: t.betas, eps: t.eps, weightDecay: t.weightDecay };
  if (t.optimizer === "adamw") return new AdamW(groups, o);
  if (t.optimizer === "adam") return new Adam(groups, o);
  return new Adamax(groups, o);
}

/** One optimizer step down the loss' gradient. */
export function descend(opt: ReturnType<typeof makeOptimizer>, loss: Tensor): void {
  opt.zeroGrad();
  loss.backward();
  opt.step();
}

/** Runs make in a scope (its temporaries freed) and keeps what it returns from every scope. */
export function kept<T>(make: () => T): T {
  return keep(tidy(make));
}

interface Disposable {
  dispose(): void;
}

/**
 * What a trainer allocates: `own` (freed when training ends, however it ends: data tensors, optimizers)
 * and `result` (the trained modules, freed only when training throws).
 */
export class Owner {
  private readonly owned: Disposable[] = [];
  private readonly results: Disposable[] = [];

  /** Keeps x from every scope until training ends; returns it. */
  own<T extends Disposable | null>(x: T): T {
    if (x) this.owned.push(keep(x));
    return x;
  }

  /** x becomes the caller's when training returns; freed if it throws. */
  result<T extends Disposable>(x: T): T {
    this.results.push(x);
    return x;
  }

  close(failed: boolean): void {
    const all = failed ? [...this.owned, ...this.results] : this.owned;
    for (const x of all.reverse()) x.dispose();
    this.owned.length = 0;
    this.results.length = 0;
  }
}

/** What a trainer starts from: the recipe's training section, the seed, its Owner, and its summary. */
export interface TrainingStart {
  owner: Owner;
  t: TrainingConfig;
  /** options.seed, else the recipe's. */
  seed: number;
  /**
   * The summary of the trained head (fields in the order saved models have them): sizes, per-model
   * stopping, steps, and the seconds since training started.
   */
  summary(
    head: TrainSummary["head"],
    shape: { featureDim: number; slices: number },
    run: LoopResult,
  ): TrainSummary;
}

/** Runs a trainer from its start; what it owns is freed when it returns or throws. */
export function training<T>(recipe: Recipe, options: TrainOptions, train: (start: TrainingStart) => T): T {
  const t = recipe.training;
  const seed = options.seed ?? t.seed;
  const started = performance.now();
  const summary: TrainingStart["summary"] = (head, shape, run) => ({
    head,
    seed,
    nTrain: options.train.length,
    nVal: options.val.length,
    featureDim: shape.featureDim,
    slices: shape.slices,
    models: run.models,
    metric: t.earlyStopping,
    seconds: (performance.now() - started) / 1000,
    steps: run.steps,
  });
  return owning((owner) => train({ owner, t, seed, summary }));
}

/** Runs a trainer with an Owner and closes it on return or throw. */
export function owning<T>(train: (owner: Owner) => T): T {
  const owner = new Owner();
  let failed = true;
  try {
    const out = train(owner);
    failed = false;
    return out;
  } finally {
    owner.close(failed);
  }
}
