// Creating tensors: from JS data (copied, or zero-copy with fromBuffer) and by factories.
import { defaultDevice } from "./device.ts";
import { type Device, type DType, dtypeCode, dtypeOfArray, type TypedArray } from "./dtype.ts";
import { native, type TensorId } from "./native.ts";
import { OP } from "./ops.ts";
import { ids, Tensor } from "./tensor.ts";

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

/** Nested arrays of numbers or booleans (rectangular). */
export type NestedArray = number | boolean | readonly NestedArray[];

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** The device a creation call means: its own, else the default unless that is the CPU (libtorch's own). */
function deviceOf(options: TensorOptions): Device | undefined {
  if (options.device !== undefined) return options.device;
  const d = defaultDevice();
  return d === "cpu" ? undefined : d;
}

function factoryArgs(
  options: TensorOptions,
  fallback: DType | undefined,
): [number | undefined, undefined, Device | undefined] {
  const dtype = options.dtype ?? fallback;
  return [dtype === undefined ? undefined : dtypeCode[dtype], undefined, deviceOf(options)];
}

/** A creation op's tensor: its own arguments, then the dtype (`fallback` when options name none) and device. */
function create(op: number, args: unknown[], options: TensorOptions, fallback: DType | undefined): Tensor {
  return finish(new Tensor(native.call(op, ...args, ...factoryArgs(options, fallback)) as TensorId), options);
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0] as NestedArray;
  }
  return shape;
}

function flatten(data: NestedArray, shape: readonly number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (Array.isArray(data)) throw new Error("tensor(): ragged nested array");
    out.push(typeof data === "boolean" ? (data ? 1 : 0) : (data as number));
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth])
    throw new Error(`tensor(): ragged nested array (expected length ${shape[depth]} at depth ${depth})`);
  for (const d of data) flatten(d as NestedArray, shape, depth + 1, out);
}

function fromView(view: TypedArray, shape: readonly number[], zeroCopy: boolean): Tensor {
  return new Tensor(native.fromTypedArray(view, shape, dtypeCode[dtypeOfArray(view)], zeroCopy));
}

/**
 * A tensor holding a COPY of data (the JS array may be reused or changed afterwards).
 * data: a typed array (its element type gives the dtype unless options.dtype says otherwise; Uint16Array
 * is read as float16 bits), a flat number[] with options.shape, or nested arrays (shape inferred).
 * Default dtype for number arrays: float32 (bool for boolean arrays).
 */
export function tensor(
  data: TypedArray | NestedArray,
  options: TensorOptions & { shape?: readonly number[] } = {},
): Tensor {
  let t: Tensor;
  let wanted = options.dtype;
  if (ArrayBuffer.isView(data)) {
    const shape = options.shape ?? [data.length];
    t = fromView(data, shape, false);
  } else {
    const inferred = inferShape(data);
    const flat: number[] = [];
    flatten(data, inferred, 0, flat);
    const shape = options.shape ?? inferred;
    let leaf: NestedArray = data;
    while (Array.isArray(leaf) && leaf.length > 0) leaf = leaf[0] as NestedArray;
    const isBool = typeof leaf === "boolean";
    const target = options.dtype ?? (isBool ? "bool" : "float32");
    wanted = target;
    const view =
      target === "float64" || target.startsWith("int") || target === "uint8" || target === "bool"
        ? Float64Array.from(flat)
        : Float32Array.from(flat);
    t = fromView(view, shape, false);
  }
  const target = wanted ?? t.dtype;
  const device = deviceOf(options);
  if (target !== t.dtype || (device !== undefined && device !== "cpu")) {
    const converted = t.to({ dtype: target, device: device ?? "cpu" });
    t.dispose();
    t = converted;
  }
  return finish(t, options);
}

/**
 * A tensor that SHARES the typed array's memory (zero-copy, CPU): writes on either side are seen by the
 * other. The tensor keeps the JS buffer alive for as long as its storage lives (views and autograd
 * graphs included); do not transfer or detach the ArrayBuffer while the tensor lives.
 */
export function fromBuffer(data: TypedArray, shape: readonly number[] = [data.length]): Tensor {
  return fromView(data, shape, true);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return create(OP.zeros, [shape], options, "float32");
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return create(OP.ones, [shape], options, "float32");
}

/** Uninitialised memory (fast; every element must be written before it is read). */
export function empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return create(OP.empty, [shape], options, "float32");
}

export function full(shape: readonly number[], value: number | boolean, options: TensorOptions = {}): Tensor {
  const fallback = typeof value === "boolean" ? "bool" : "float32";
  return create(OP.full, [shape, value], options, fallback);
}

/**
 * Values from start (inclusive) to end (exclusive) by step; arange(n) counts 0..n-1. As in PyTorch, the
 * dtype is int64 when all of start, end and step are integers, else float32.
 */
export function arange(startOrEnd: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const start = end === undefined ? 0 : startOrEnd;
  const stop = end === undefined ? startOrEnd : end;
  const integral = Number.isInteger(start) && Number.isInteger(stop) && Number.isInteger(step);
  return create(OP.arange, [start, stop, step], options, integral ? "int64" : "float32");
}

export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  return create(OP.linspace, [start, end, steps], options, "float32");
}

/** U[0, 1) samples from the global generator (manualSeed). */
export function rand(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return create(OP.rand, [shape], options, "float32");
}

/** N(0, 1) samples from the global generator (manualSeed). */
export function randn(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return create(OP.randn, [shape], options, "float32");
}

/** Integers in [low, high) (int64 by default). */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  options: TensorOptions = {},
): Tensor {
  return create(OP.randint, [low, high, shape], options, "int64");
}

/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, options: TensorOptions = {}): Tensor {
  return create(OP.randperm, [n], options, "int64");
}

export function eye(n: number, options: TensorOptions = {}): Tensor {
  return create(OP.eye, [n], options, "float32");
}

export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return create(OP.zerosLike, [t.id], options, undefined);
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return create(OP.onesLike, [t.id], options, undefined);
}

export function fullLike(t: Tensor, value: number, options: TensorOptions = {}): Tensor {
  return create(OP.fullLike, [t.id, value], options, undefined);
}

export function randLike(t: Tensor): Tensor {
  return new Tensor(native.call(OP.randLike, t.id) as TensorId);
}

export function randnLike(t: Tensor): Tensor {
  return new Tensor(native.call(OP.randnLike, t.id) as TensorId);
}

/** Joins tensors along an existing dim. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.call(OP.cat, ids(tensors), dim) as TensorId);
}

/** Joins tensors along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.call(OP.stack, ids(tensors), dim) as TensorId);
}

/** Element-wise condition ? a : b (numbers broadcast as 0-d tensors of the other operand's dtype). */
export function where(condition: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : undefined;
  const ta = a instanceof Tensor ? a : scalar(a, like);
  const tb = b instanceof Tensor ? b : scalar(b, like);
  try {
    return new Tensor(native.call(OP.where, condition.id, ta.id, tb.id) as TensorId);
  } finally {
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
  }
}

/** A 0-d tensor (float32 unless like's dtype/device or options say otherwise). */
export function scalar(value: number, like?: Tensor, options: TensorOptions = {}): Tensor {
  const dtype = options.dtype ?? like?.dtype ?? "float32";
  const device = options.device ?? like?.device ?? deviceOf(options);
  return new Tensor(native.call(OP.full, [], value, dtypeCode[dtype], undefined, device) as TensorId);
}

export function einsum(equation: string, operands: readonly Tensor[]): Tensor {
  return new Tensor(native.call(OP.einsum, equation, ids(operands)) as TensorId);
}

export function outer(a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.call(OP.outer, a.id, b.id) as TensorId);
}

/** beta * input + alpha * (a @ b), batched. */
export function baddbmm(input: Tensor, a: Tensor, b: Tensor, beta = 1, alpha = 1): Tensor {
  return new Tensor(native.call(OP.baddbmm, input.id, a.id, b.id, beta, alpha) as TensorId);
}

export function addmm(input: Tensor, a: Tensor, b: Tensor, beta = 1, alpha = 1): Tensor {
  return new Tensor(native.call(OP.addmm, input.id, a.id, b.id, beta, alpha) as TensorId);
}
