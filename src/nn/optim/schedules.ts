// Learning-rate schedules as pure functions of the epoch (or step) index, plus a small driver that writes
// the scheduled value into every parameter group of an optimizer. Closed forms, so that resuming from a
// checkpoint at epoch k gives exactly the learning rate an uninterrupted run would have used.

/** A schedule maps a 0-based epoch/step index to a multiplier of each group's base learning rate. */
export type LrSchedule = (index: number) => number;

/** torch.optim.lr_scheduler.StepLR: multiply by `gamma` every `stepSize` epochs. */
export function stepSchedule(stepSize: number, gamma = 0.1): LrSchedule {
  if (!(Number.isInteger(stepSize) && stepSize > 0))
    throw new Error(`stepSize must be a positive integer, got ${stepSize}`);
  return (index) => gamma ** Math.floor(index / stepSize);
}

/**
 * torch.optim.lr_scheduler.CosineAnnealingLR (closed form, single cycle): from 1 at index 0 down to
 * `minRatio` at `tMax`, as a multiplier (PyTorch's eta_min = minRatio * base_lr).
 */
export function cosineSchedule(tMax: number, minRatio = 0): LrSchedule {
  if (!(tMax > 0)) throw new Error(`tMax must be positive, got ${tMax}`);
  return (index) => minRatio + ((1 - minRatio) * (1 + Math.cos((Math.PI * index) / tMax))) / 2;
}

/**
 * Linear warm-up from 0 over `warmupSteps`, then cosine decay to `minRatio` at `totalSteps` (and held
 * there after). The convention of transformers' get_cosine_schedule_with_warmup, with a floor.
 */
export function cosineWithWarmupSchedule(warmupSteps: number, totalSteps: number, minRatio = 0): LrSchedule {
  if (!(warmupSteps >= 0 && totalSteps > warmupSteps)) {
    throw new Error(`need 0 <= warmupSteps < totalSteps, got ${warmupSteps} and ${totalSteps}`);
  }
  return (index) => {
    if (index < warmupSteps) return index / warmupSteps;
    const progress = Math.min(1, (index - warmupSteps) / (totalSteps - warmupSteps));
    return minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/** What a scheduler needs of an optimizer: groups with a mutable learning rate. */
export interface HasParamGroups {
  readonly paramGroups: readonly { lr: number }[];
}

/**
 * Drives an optimizer's learning rates: the lr of group g at index i is baseLr[g] * schedule(i). Like
 * PyTorch, construction applies index 0 and each step() advances by one.
 */
export class LrScheduler {
  readonly baseLrs: readonly number[];
  private index = 0;

  constructor(
    readonly optimizer: HasParamGroups,
    readonly schedule: LrSchedule,
    startIndex = 0,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.index = startIndex;
    this.apply();
  }

  /** The index whose learning rate is in effect now. */
  get lastIndex(): number {
    return this.index;
  }

  step(): void {
    this.index++;
    this.apply();
  }

  currentLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): { index: number; baseLrs: number[] } {
    return { index: this.index, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(state: { index: number; baseLrs: number[] }): void {
    if (state.baseLrs.length !== this.baseLrs.length) {
      throw new Error(
        `scheduler state has ${state.baseLrs.length} groups, optimizer has ${this.baseLrs.length}`,
      );
    }
    (this as { baseLrs: readonly number[] }).baseLrs = [...state.baseLrs];
    this.index = state.index;
    this.apply();
  }

  private apply(): void {
    const f = this.schedule(this.index);
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.baseLrs[i] * f;
    });
  }
}
