// nn/: modules, layers, initialisation, optimizers, schedules and weight files on top of torch/ (the
// engine's tensor API). Knows nothing of livers. See docs/engine-nn.md.
export * as init from "./init.ts";
export { ScriptModule } from "./jit.ts";
export {
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  AvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  type BatchNormOptions,
  Conv2d,
  type Conv2dOptions,
  Conv3d,
  type Conv3dOptions,
  Dropout,
  DropPath,
  Embedding,
  Flatten,
  GELU,
  GroupNorm,
  Identity,
  Lambda,
  LayerNorm,
  LeakyReLU,
  Linear,
  MaxPool2d,
  MaxPool3d,
  ModuleList,
  MultiheadAttention,
  type MultiheadAttentionOptions,
  ReLU,
  Sequential,
  Sigmoid,
  SiLU,
  Tanh,
} from "./layers.ts";
export {
  type LoadStateDictResult,
  Module,
  type ShapeMismatch,
  type StateDict,
  StateDictMismatchError,
} from "./module.ts";
export {
  type BaseGroupOptions,
  Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupSpec,
  type ParamState,
} from "./optim/optimizer.ts";
export {
  Adam,
  Adamax,
  type AdamaxOptions,
  type AdamOptions,
  AdamW,
  RMSprop,
  type RMSpropOptions,
  SGD,
  type SGDOptions,
} from "./optim/optimizers.ts";
export {
  cosineSchedule,
  cosineWithWarmupSchedule,
  type LrSchedule,
  LrScheduler,
  stepSchedule,
} from "./optim/schedules.ts";
export { DataParallel } from "./parallel.ts";
export {
  parseSafetensors,
  type RawTensor,
  readSafetensors,
  type SafetensorsContents,
  type SafetensorsDtype,
  serializeSafetensors,
  writeSafetensors,
} from "./safetensors.ts";
export { clipGradNorm } from "./utils.ts";
export {
  loadModule,
  loadOptimizer,
  loadTensors,
  rawToTensor,
  saveModule,
  saveOptimizer,
  saveTensors,
  tensorToRaw,
} from "./weights.ts";
