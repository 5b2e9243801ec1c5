// Data-parallel collectives through libtorch's own c10d (native/src/dist.cpp): a TCPStore rendezvous and
// Gloo's all-reduce, the engine torch.distributed runs on CPUs. Ranks find each other as torchrun's do:
// `tcp://HOST:PORT` with a world size and a rank, or MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK.
import { native } from "./native.ts";
import type { Tensor } from "./tensor.ts";

/** How one rank joins its group. */
export interface ProcessGroupOptions {
  /** `tcp://HOST:PORT`: where rank 0 serves the store and the others connect. */
  initMethod: string;
  worldSize: number;
  rank: number;
  /** How long a collective (and the rendezvous) may wait for the other ranks (default 300 s). */
  timeoutS?: number;
}

/** DistributedDataParallel's default bucket: gradients are summed 25 MiB at a time. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/** A group of ranks (one process each) that sum tensors together; rank 0 serves the rendezvous. */
export class ProcessGroup {
  #id: number | undefined;

  private constructor(
    id: number,
    readonly rank: number,
    readonly worldSize: number,
  ) {
    this.#id = id;
  }

  /** Joins the group; returns once every rank has joined (or throws after the timeout). */
  static init(options: ProcessGroupOptions): ProcessGroup {
    const { host, port } = parseInitMethod(options.initMethod);
    const { worldSize, rank } = options;
    if (!Number.isInteger(worldSize) || worldSize < 1)
      throw new Error(`distributed: the world size must be a whole number >= 1, not ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
      throw new Error(`distributed: the rank must be a whole number in [0, ${worldSize - 1}], not ${rank}`);
    const bind = binding();
    const timeoutMs = Math.round((options.timeoutS ?? 300) * 1000);
    return new ProcessGroup(bind.distInit!(host, port, rank, worldSize, timeoutMs), rank, worldSize);
  }

  /** Sums each tensor over the ranks, in place (packed into buckets of at most bucketBytes). */
  allReduceSum(tensors: readonly Tensor[], bucketBytes = DEFAULT_BUCKET_BYTES): void {
    if (tensors.length === 0) return;
    binding().distAllReduce!(
      this.id,
      tensors.map((t) => t.id),
      bucketBytes,
    );
  }

  /** Every rank's tensors become those of `root`, in place. */
  broadcast(tensors: readonly Tensor[], root = 0): void {
    if (tensors.length === 0) return;
    binding().distBroadcast!(
      this.id,
      tensors.map((t) => t.id),
      root,
    );
  }

  /** Returns when every rank has reached it. */
  barrier(): void {
    binding().distBarrier!(this.id);
  }

  /** Leaves the group (its connections are closed). */
  close(): void {
    if (this.#id === undefined) return;
    binding().distClose!(this.#id);
    this.#id = undefined;
  }

  private get id(): number {
    if (this.#id === undefined) throw new Error("distributed: the process group is closed");
    return this.#id;
  }
}

/** True when the addon was built with Gloo (Debian: libgloo-dev, then scripts/build-native.mjs). */
export function distributedAvailable(): boolean {
  return native.distAvailable();
}

function binding() {
  if (!native.distAvailable()) {
    throw new Error(
      "distributed: this build of the addon has no c10d collectives (Gloo's headers were missing when it " +
        "was built): install libgloo-dev and run bash scripts/setup.sh",
    );
  }
  return native;
}

/** `tcp://HOST:PORT` as host and port; anything else is refused with what was given. */
export function parseInitMethod(initMethod: string): { host: string; port: number } {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(initMethod);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 1 && port <= 65535))
    throw new Error(`distributed: the init method must be tcp://HOST:PORT, not "${initMethod}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/**
 * The group the environment describes, torchrun's and Slurm-with-srun users' variables: MASTER_ADDR,
 * MASTER_PORT, WORLD_SIZE and RANK (all four, or none: undefined). A world of one is no group.
 */
export function processGroupOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): ProcessGroupOptions | undefined {
  const names = ["MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"] as const;
  const given = names.filter((n) => env[n] !== undefined && env[n] !== "");
  if (given.length === 0) return undefined;
  if (given.length < names.length) {
    const missing = names.filter((n) => !given.includes(n));
    throw new Error(`distributed: ${given.join(", ")} set but ${missing.join(", ")} not`);
  }
  const whole = (name: (typeof names)[number]) => {
    const v = env[name]!;
    if (!/^\d+$/.test(v)) throw new Error(`distributed: ${name} must be a whole number, not "${v}"`);
    return Number(v);
  };
  return {
    initMethod: `tcp://${env.MASTER_ADDR}:${whole("MASTER_PORT")}`,
    worldSize: whole("WORLD_SIZE"),
    rank: whole("RANK"),
  };
}
