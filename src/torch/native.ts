// Loads the libtorch addon (native/, built by scripts/build-native.mjs). The addon is context-aware:
// every thread (main or worker) that imports this module gets its own handle table.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { projectPath } from "../core/paths.ts";

/** A tensor as the addon sees it: an index into the thread's handle table (with a generation). */
export type TensorId = number;

/** The caching CPU allocator's counters (bytes; hits and misses count large allocations). */
export interface CpuCacheStats {
  capBytes: number;
  cachedBytes: number;
  liveLargeBytes: number;
  hits: number;
  misses: number;
}

/** The per-parameter step counts and the hyperparameters the Adam-family kernels take, in their order. */
export type AdamScalars = [
  steps: number[],
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
];

export interface NativeBinding {
  opId(name: string, overload: string, wrappedScalarMask?: number): number;
  opSchema(op: number): string;
  opReturnTypes(op: number): string[];
  call(op: number, ...args: unknown[]): unknown;
  callVoid(op: number, ...args: unknown[]): undefined;
  fromTypedArray(view: ArrayBufferView, shape: readonly number[], dtype: number, zeroCopy: boolean): TensorId;
  toArrayBuffer(id: TensorId): ArrayBuffer;
  item(id: TensorId): number | boolean;
  shape(id: TensorId): number[];
  strides(id: TensorId): number[];
  dtype(id: TensorId): number;
  device(id: TensorId): string;
  numel(id: TensorId): number;
  dim(id: TensorId): number;
  isContiguous(id: TensorId): boolean;
  requiresGrad(id: TensorId): boolean;
  setRequiresGrad(id: TensorId, value: boolean): void;
  isLeaf(id: TensorId): boolean;
  grad(id: TensorId): TensorId | null;
  setGrad(id: TensorId, grad: TensorId | null): void;
  dispose(id: TensorId): boolean;
  disposeMany(ids: TensorId[]): void;
  isAlive(id: TensorId): boolean;
  stats(): { liveTensors: number; externalBytes: number; slots: number };
  cpuCacheStats(): CpuCacheStats;
  emptyCpuCache(): void;
  backward(id: TensorId, grad: TensorId | null, retainGraph: boolean, createGraph: boolean): void;
  autogradGrad(
    outputs: TensorId[],
    inputs: TensorId[],
    gradOutputs: TensorId[] | null,
    retainGraph: boolean | undefined,
    createGraph: boolean,
    allowUnused: boolean,
  ): (TensorId | null)[];
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  manualSeed(seed: number): void;
  pushInferenceMode(enabled: boolean): void;
  popInferenceMode(): void;
  isInferenceMode(): boolean;
  isInference(id: TensorId): boolean;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  adamStep(
    ...args: [
      params: TensorId[],
      expAvgs: TensorId[],
      expAvgSqs: TensorId[],
      maxExpAvgSqs: TensorId[] | null,
      ...AdamScalars,
      decoupled: boolean,
      maximize: boolean,
    ]
  ): void;
  adamaxStep(
    ...args: [
      params: TensorId[],
      expAvgs: TensorId[],
      expInfs: TensorId[],
      ...AdamScalars,
      activeSlices: boolean[] | null,
    ]
  ): void;
  sgdStep(
    params: TensorId[],
    momentumBuffers: (TensorId | null)[],
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    maximize: boolean,
  ): (TensorId | null)[];
  rmspropStep(
    params: TensorId[],
    squareAvgs: TensorId[],
    gradAvgs: TensorId[] | null,
    momentumBuffers: TensorId[] | null,
    lr: number,
    alpha: number,
    eps: number,
    weightDecay: number,
    momentum: number,
  ): void;
  clipGradNorm(params: TensorId[], maxNorm: number, normType: number): number;
  version(): { parallelInfo: string; cuda: boolean; mkldnn: boolean };
  moduleLoad(path: string, device?: string): number;
  moduleCall(module: number, method: string, inputs: unknown[]): unknown;
  moduleParameters(module: number): [string, TensorId][];
  moduleBuffers(module: number): [string, TensorId][];
  moduleTrain(module: number, on: boolean): void;
  moduleIsTraining(module: number): boolean;
  moduleTo(module: number, device: string): void;
  moduleSave(module: number, path: string): void;
  moduleDispose(module: number): void;
  distAvailable(): boolean;
  // Present when distAvailable() (the addon was built with Gloo's headers).
  distInit?(host: string, port: number, rank: number, worldSize: number, timeoutMs: number): number;
  distAllReduce?(group: number, tensors: TensorId[], bucketBytes: number): void;
  distBroadcast?(group: number, tensors: TensorId[], root: number): void;
  distBarrier?(group: number): void;
  distClose?(group: number): void;
}

// LIVERSTIFF_ADDON=/path/to/liverstiff_torch.node loads another build of the addon (the leaks bench's
// AddressSanitizer build, native/build-asan) instead of native/build's; a relative path is taken from the
// working directory.
const addonPath = process.env.LIVERSTIFF_ADDON
  ? resolve(process.env.LIVERSTIFF_ADDON)
  : projectPath("native", "build", "Release", "liverstiff_torch.node");

function load(): NativeBinding {
  // OpenMP threads that spin between parallel regions (libgomp's default) collapse when other processes
  // hold the cores: a conv-net step took 290-377 ms with 2 spinning threads against 33-46 ms with passive
  // waiting (2-core x86-64 VM with other processes running, 2026-11-26). libgomp reads this once, when
  // libtorch is loaded, so it is set before that; OMP_WAIT_POLICY=ACTIVE in the environment restores
  // spinning.
  process.env.OMP_WAIT_POLICY ??= "PASSIVE";
  // Read by the addon when it loads (native/src/allocator.cpp), where a bad value could only be ignored.
  const cacheMb = process.env.LIVERSTIFF_CPU_CACHE_MB;
  if (cacheMb !== undefined && cacheMb !== "" && !/^\d+$/.test(cacheMb)) {
    throw new Error(`LIVERSTIFF_CPU_CACHE_MB must be a whole number of MiB (0 = no cache), not "${cacheMb}"`);
  }
  if (!existsSync(addonPath)) {
    if (process.env.LIVERSTIFF_ADDON) throw new Error(`LIVERSTIFF_ADDON names no file: ${addonPath}`);
    throw new Error(
      `the libtorch addon is not built (${addonPath} is missing): run \`node scripts/build-native.mjs\` ` +
        "(needs libtorch: apt-get install libtorch-dev, or LIBTORCH=/path/to/libtorch)",
    );
  }
  return createRequire(import.meta.url)(addonPath) as NativeBinding;
}

export const native: NativeBinding = load();

// Default: all available cores (libtorch may start with fewer, e.g. 1 under Debian's OpenMP build).
// LIVERSTIFF_TORCH_THREADS overrides; setNumThreads() changes it later.
const requestedThreads = Number(process.env.LIVERSTIFF_TORCH_THREADS ?? "");
native.setNumThreads(
  Number.isInteger(requestedThreads) && requestedThreads > 0 ? requestedThreads : availableParallelism(),
);
