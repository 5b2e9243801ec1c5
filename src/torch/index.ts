// torch/: the typed TypeScript face of libtorch (tensors, autograd, functional nn, scopes). src/nn/ builds
// modules and optimizers on it. See docs/engine.md for ownership and scope rules.
export {
  enableGrad,
  grad,
  inferenceMode,
  isGradEnabled,
  isInferenceModeEnabled,
  noGrad,
} from "./autograd.ts";
export {
  addmm,
  arange,
  baddbmm,
  cat,
  einsum,
  empty,
  eye,
  fromBuffer,
  full,
  fullLike,
  linspace,
  type NestedArray,
  ones,
  onesLike,
  outer,
  rand,
  randint,
  randLike,
  randn,
  randnLike,
  randperm,
  scalar,
  stack,
  type TensorOptions,
  tensor,
  where,
  zeros,
  zerosLike,
} from "./creation.ts";
export { type DeviceRequest, defaultDevice, resolveDevice, setDefaultDevice } from "./device.ts";
export {
  DEFAULT_BUCKET_BYTES,
  distributedAvailable,
  ProcessGroup,
  type ProcessGroupOptions,
  parseInitMethod,
  processGroupOptionsFromEnv,
} from "./distributed.ts";
export { bytesPerElement, type Device, type DType, isFloatingDType, type TypedArray } from "./dtype.ts";
export * as functional from "./functional.ts";
export { ScriptModuleHandle, type ScriptValue } from "./jit.ts";
export type { CpuCacheStats } from "./native.ts";
export * as optim from "./optim.ts";
export {
  buildInfo,
  callOp,
  cpuCacheStats,
  cuda,
  emptyCpuCache,
  getNumThreads,
  manualSeed,
  memoryStats,
  opSchema,
  setNumThreads,
} from "./runtime.ts";
export { dispose, keep, MAX_RESULT_DEPTH, scopeDepth, scopeResources, tidy } from "./scope.ts";
export { type Dims, Tensor } from "./tensor.ts";
