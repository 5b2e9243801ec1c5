// Tensors <-> safetensors: state dicts of modules (PyTorch's names, so files written by PyTorch load by
// name) and optimizer state. Every file is written atomically; every read error names the file.
import { bfloat16ToFloat, floatToBfloat16, LiverstiffError } from "../core/index.ts";
import { type DType, type Tensor, tensor, tidy } from "../torch/index.ts";
import type { Module, StateDict } from "./module.ts";
import type { Optimizer, OptimizerStateDict, ParamState } from "./optim/optimizer.ts";
import {
  type RawTensor,
  rawTensor,
  rawTensorValues,
  readSafetensors,
  type SafetensorsDtype,
  writeSafetensors,
} from "./safetensors.ts";

const toDtype: Record<SafetensorsDtype, DType> = {
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  U8: "uint8",
  BOOL: "bool",
};

const fromDtype: Partial<Record<DType, SafetensorsDtype>> = {
  float64: "F64",
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  int64: "I64",
  int32: "I32",
  uint8: "U8",
  bool: "BOOL",
};

/** A stored tensor as a new CPU tensor (a copy: the file's bytes can be dropped afterwards). */
export function rawToTensor(raw: RawTensor): Tensor {
  const shape = raw.shape;
  const values = rawTensorValues(raw);
  switch (raw.dtype) {
    case "BF16": {
      // Decoded exactly to float32, then narrowed back: every value is representable, so nothing rounds.
      const bits = values as Uint16Array;
      const f = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) f[i] = bfloat16ToFloat(bits[i]);
      return tidy(() => tensor(f, { shape }).to("bfloat16"));
    }
    case "BOOL":
      return tensor(values as Uint8Array, { shape, dtype: "bool" });
    default:
      return tensor(values, { shape, dtype: toDtype[raw.dtype] });
  }
}

/** A tensor's values as a stored tensor (copied to the CPU). */
export function tensorToRaw(t: Tensor): RawTensor {
  const dtype = fromDtype[t.dtype];
  if (dtype === undefined) throw new Error(`dtype ${t.dtype} cannot be stored in safetensors here`);
  const shape = t.shape;
  switch (dtype) {
    case "BF16": {
      const f = t.toFloat32Array();
      const bits = new Uint16Array(f.length);
      for (let i = 0; i < f.length; i++) bits[i] = floatToBfloat16(f[i]);
      return rawTensor(dtype, shape, bits);
    }
    case "F16":
      return rawTensor(dtype, shape, t.toUint16Array());
    case "BOOL":
    case "U8":
      return rawTensor(dtype, shape, t.toUint8Array());
    case "I64":
      return rawTensor(dtype, shape, t.toBigInt64Array());
    case "I32":
      return rawTensor(dtype, shape, t.toInt32Array());
    case "F64":
      return rawTensor(dtype, shape, t.toFloat64Array());
    case "F32":
      return rawTensor(dtype, shape, t.toFloat32Array());
  }
}

/** Writes named tensors (a state dict) as one safetensors file, atomically. */
export function saveTensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  metadata?: Record<string, string>,
): void {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  writeSafetensors(
    path,
    entries.map(([name, t]) => [name, tensorToRaw(t)] as [string, RawTensor]),
    metadata,
  );
}

/**
 * Reads every tensor of a safetensors file as new CPU tensors (tracked by the current scope, if any).
 * A truncated or corrupt file gives a LiverstiffError naming the file and the first bad tensor.
 */
export function loadTensors(path: string): { tensors: StateDict; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(path);
  const out: StateDict = new Map();
  for (const [name, raw] of tensors) {
    try {
      out.set(name, rawToTensor(raw));
    } catch (err) {
      for (const t of out.values()) t.dispose();
      throw new LiverstiffError(
        `cannot load tensor "${name}" of ${path}: ${(err as Error).message}`,
        { file: path, tensor: name },
        { cause: err },
      );
    }
  }
  return { tensors: out, metadata };
}

/** Saves a module's state dict (parameters and persistent buffers) as safetensors. */
export function saveModule(module: Module, path: string, metadata?: Record<string, string>): void {
  tidy(() => saveTensors(path, module.stateDict(), { format: "pt", ...metadata }));
}

/**
 * Loads a safetensors state dict (for instance written by PyTorch) into a module, by name. Strict by
 * default: missing, unexpected and shape-mismatched keys are all listed in one StateDictMismatchError,
 * and the module is left unchanged.
 */
export function loadModule(
  module: Module,
  path: string,
  options: {
    strict?: boolean;
    /** Maps a file's key to the module's name (e.g. strips timm's "module." prefix); null drops the key. */
    rename?: (key: string) => string | null;
  } = {},
): { missingKeys: string[]; unexpectedKeys: string[] } {
  return tidy(() => {
    let { tensors } = loadTensors(path);
    const rename = options.rename;
    if (rename) {
      const renamed: StateDict = new Map();
      for (const [key, t] of tensors) {
        const to = rename(key);
        if (to === null) continue;
        if (renamed.has(to)) {
          throw new LiverstiffError(`${path}: keys map to the same name "${to}"`, {
            file: path,
            tensor: key,
          });
        }
        renamed.set(to, t);
      }
      tensors = renamed;
    }
    return module.loadStateDict(tensors, { strict: options.strict, source: path });
  });
}

const OPTIMIZER_KEY = "liverstiff.optimizer";

/**
 * Saves an optimizer's state: tensors as "state.<param index>.<name>", the groups' options and the
 * numeric state (step counts) as JSON in the metadata.
 */
export function saveOptimizer<O extends { lr: number; weightDecay: number }>(
  optimizer: Optimizer<O>,
  path: string,
): void {
  const sd = optimizer.stateDict();
  const tensors = new Map<string, Tensor>();
  const scalars: Record<string, Record<string, number>> = {};
  for (const [idx, s] of sd.state) {
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === "number") (scalars[idx] ??= {})[k] = v;
      else tensors.set(`state.${idx}.${k}`, v);
    }
  }
  saveTensors(path, tensors, {
    [OPTIMIZER_KEY]: JSON.stringify({ type: sd.type, paramGroups: sd.paramGroups, scalars }),
  });
}

/** Restores an optimizer's state written by saveOptimizer (same type, same group layout). */
export function loadOptimizer<O extends { lr: number; weightDecay: number }>(
  optimizer: Optimizer<O>,
  path: string,
): void {
  tidy(() => {
    const { tensors, metadata } = loadTensors(path);
    const text = metadata[OPTIMIZER_KEY];
    if (text === undefined) throw new LiverstiffError(`${path} holds no optimizer state`, { file: path });
    let info: {
      type: string;
      paramGroups: OptimizerStateDict["paramGroups"];
      scalars: Record<string, Record<string, number>>;
    };
    try {
      info = JSON.parse(text);
    } catch (err) {
      throw new LiverstiffError(
        `${path}: optimizer metadata is not valid JSON`,
        { file: path },
        { cause: err },
      );
    }
    const state = new Map<number, ParamState>();
    for (const [idx, s] of Object.entries(info.scalars ?? {})) state.set(Number(idx), { ...s });
    for (const [name, t] of tensors) {
      const m = /^state\.(\d+)\.(.+)$/.exec(name);
      if (!m)
        throw new LiverstiffError(`${path}: unexpected tensor "${name}" in optimizer state`, {
          file: path,
          tensor: name,
        });
      const idx = Number(m[1]);
      const s = state.get(idx) ?? {};
      s[m[2]] = t;
      state.set(idx, s);
    }
    try {
      optimizer.loadStateDict({ type: info.type, paramGroups: info.paramGroups, state });
    } catch (err) {
      throw new LiverstiffError(`${path}: ${(err as Error).message}`, { file: path }, { cause: err });
    }
  });
}
