// The Tensor class: a handle on a libtorch tensor living in native memory. Every method returns a new
// Tensor (tracked by the innermost scope), except in-place methods (name ending in `_`), which return
// `this`. Numbers are accepted wherever PyTorch accepts a Python scalar.
import { inspect } from "node:util";
import { type Device, type DType, dtypeCode, dtypeFromCode, type TypedArray } from "./dtype.ts";
import { native, type TensorId } from "./native.ts";
import { OP } from "./ops.ts";
import { markResource, type ScopedResource, track } from "./scope.ts";

const call = native.call;
const callVoid = native.callVoid;

// Safety net for tensors that leave every scope and are never disposed.
const finalizer = new FinalizationRegistry<TensorId>((id) => {
  native.dispose(id);
});

function disposedError(): Error {
  return new Error("Tensor used after dispose() (it was freed explicitly or by the scope that created it)");
}

/** Dimensions as a single index or a list of them. */
export type Dims = number | readonly number[];

export class Tensor implements ScopedResource {
  /** Handle-table id; -1 once disposed. */
  private _id: TensorId;
  kept = false;
  private _shape: number[] | undefined;
  private _dtype: DType | undefined;

  /** Wraps a native handle (the addon's id). Use the creation functions rather than this. */
  constructor(id: TensorId) {
    this._id = id;
    if (!track(this)) finalizer.register(this, id);
  }

  /** The native id; throws once the tensor is disposed. */
  get id(): TensorId {
    const id = this._id;
    if (id < 0) throw disposedError();
    return id;
  }

  get isDisposed(): boolean {
    return this._id < 0;
  }

  /** Frees the native tensor now (idempotent). Views and autograd graphs keep their data alive. */
  dispose(): void {
    const id = this._id;
    if (id < 0) return;
    this._id = -1;
    // No unregister: a later finalizer call with this id is a no-op, because freeing bumped the slot's
    // generation (and registering without an unregister token is about twice as cheap).
    native.dispose(id);
  }

  takeId(): TensorId {
    const id = this._id;
    this._id = -1;
    return id;
  }

  /** `using t = ...`: the tensor is freed when the block it was declared in ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  escapeScopes(): void {
    if (this._id >= 0) finalizer.register(this, this._id);
  }

  /** Protects this tensor from every scope (parameters, optimizer state); returns this. */
  keep(): this {
    if (!this.kept) {
      this.kept = true;
      this.escapeScopes();
    }
    return this;
  }

  // ---- metadata -------------------------------------------------------------------------------------

  get shape(): readonly number[] {
    if (this._shape === undefined) this._shape = native.shape(this.id);
    return this._shape;
  }

  get dtype(): DType {
    if (this._dtype === undefined) this._dtype = dtypeFromCode(native.dtype(this.id));
    return this._dtype;
  }

  get device(): Device {
    return native.device(this.id) as Device;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Size of one dimension (negative counts from the end). */
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new Error(`dimension ${dim} out of range for a ${s.length}-d tensor`);
    return s[d]!;
  }

  numel(): number {
    return native.numel(this.id);
  }

  get strides(): number[] {
    return native.strides(this.id);
  }

  isContiguous(): boolean {
    return native.isContiguous(this.id);
  }

  get requiresGrad(): boolean {
    return native.requiresGrad(this.id);
  }

  set requiresGrad(value: boolean) {
    native.setRequiresGrad(this.id, value);
  }

  /** Sets requiresGrad and returns this (PyTorch's requires_grad_). */
  requiresGrad_(value = true): this {
    native.setRequiresGrad(this.id, value);
    return this;
  }

  /** True for tensors created in inferenceMode(). */
  get isInference(): boolean {
    return native.isInference(this.id);
  }

  get isLeaf(): boolean {
    return native.isLeaf(this.id);
  }

  /** The accumulated gradient (a new handle sharing its storage, tracked by the current scope), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.id);
    return g === null ? null : new Tensor(g);
  }

  set grad(value: Tensor | null) {
    native.setGrad(this.id, value === null ? null : value.id);
  }

  toString(): string {
    if (this._id < 0) return "Tensor(disposed)";
    return `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}, device=${this.device})`;
  }

  /** console.log shows shape, dtype and the first values instead of the handle's fields. */
  [inspect.custom](): string {
    if (this._id < 0) return "Tensor(disposed)";
    const n = this.numel();
    const head = n === 0 ? [] : this.flatten().narrow(0, 0, Math.min(n, 8));
    let values = "";
    if (!Array.isArray(head)) {
      values = Array.from(head.toFloat64Array(), (v) => Number(v.toPrecision(6))).join(", ");
      head.dispose();
    }
    const grad = this.requiresGrad ? ", requiresGrad" : "";
    return `Tensor([${values}${n > 8 ? ", ..." : ""}], shape=[${this.shape.join(", ")}], dtype=${this.dtype}, device=${this.device}${grad})`;
  }

  // ---- data out -----------------------------------------------------------------------------------

  private bufferAs(dtype: DType): ArrayBuffer {
    if (this.dtype === dtype) return native.toArrayBuffer(this.id);
    const converted = this.to(dtype);
    try {
      return native.toArrayBuffer(converted.id);
    } finally {
      converted.dispose();
    }
  }

  /** Copies the elements (row-major) into a new Float32Array, converting the dtype if needed. */
  toFloat32Array(): Float32Array {
    return new Float32Array(this.bufferAs("float32"));
  }

  toFloat64Array(): Float64Array {
    return new Float64Array(this.bufferAs("float64"));
  }

  toInt32Array(): Int32Array {
    return new Int32Array(this.bufferAs("int32"));
  }

  toBigInt64Array(): BigInt64Array {
    return new BigInt64Array(this.bufferAs("int64"));
  }

  toUint8Array(): Uint8Array {
    return new Uint8Array(this.bufferAs(this.dtype === "bool" ? "bool" : "uint8"));
  }

  /** float16 storage as raw IEEE half bits. */
  toUint16Array(): Uint16Array {
    return new Uint16Array(this.bufferAs("float16"));
  }

  /** The elements as a flat array of numbers (float64 precision). */
  toArray(): number[] {
    return Array.from(this.toFloat64Array());
  }

  /** The typed array matching this tensor's dtype (bool as Uint8Array, float16 as Uint16Array bits). */
  toTypedArray(): TypedArray {
    switch (this.dtype) {
      case "float64":
        return this.toFloat64Array();
      case "int64":
        return this.toBigInt64Array();
      case "int32":
        return this.toInt32Array();
      case "int16":
        return new Int16Array(native.toArrayBuffer(this.id));
      case "int8":
        return new Int8Array(native.toArrayBuffer(this.id));
      case "uint8":
      case "bool":
        return new Uint8Array(native.toArrayBuffer(this.id));
      case "float16":
        return this.toUint16Array();
      default:
        return this.toFloat32Array();
    }
  }

  /** The value of a one-element tensor. */
  item(): number {
    return Number(native.item(this.id));
  }

  // ---- conversion -----------------------------------------------------------------------------------

  /** Converts dtype and/or device (returns a new tensor even when nothing changes, like .to(copy=True)). */
  to(target: DType | Device | { dtype?: DType; device?: Device; copy?: boolean }): Tensor {
    let dtype: DType | undefined;
    let device: Device | undefined;
    let copy = false;
    if (typeof target === "string") {
      if (target in dtypeCode) dtype = target as DType;
      else device = target as Device;
    } else {
      dtype = target.dtype;
      device = target.device;
      copy = target.copy ?? false;
    }
    return new Tensor(
      call(
        OP.toOptions,
        this.id,
        dtype === undefined ? undefined : dtypeCode[dtype],
        undefined,
        device,
        undefined,
        false,
        copy,
      ) as TensorId,
    );
  }

  float(): Tensor {
    return this.to("float32");
  }
  double(): Tensor {
    return this.to("float64");
  }
  half(): Tensor {
    return this.to("float16");
  }
  long(): Tensor {
    return this.to("int64");
  }
  int(): Tensor {
    return this.to("int32");
  }
  bool(): Tensor {
    return this.to("bool");
  }
  cpu(): Tensor {
    return this.to("cpu");
  }
  cuda(index = 0): Tensor {
    return this.to(`cuda:${index}`);
  }

  clone(): Tensor {
    return new Tensor(call(OP.clone, this.id) as TensorId);
  }

  /** A new tensor sharing storage, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(call(OP.detach, this.id) as TensorId);
  }

  detach_(): this {
    return this.inPlace(OP.detach_);
  }

  contiguous(): Tensor {
    return new Tensor(call(OP.contiguous, this.id) as TensorId);
  }

  // ---- element-wise ---------------------------------------------------------------------------------

  add(other: Tensor | number, alpha = 1): Tensor {
    if (typeof other === "number") return new Tensor(call(OP.addScalar, this.id, other, alpha) as TensorId);
    return new Tensor(call(OP.add, this.id, other.id, alpha) as TensorId);
  }

  sub(other: Tensor | number, alpha = 1): Tensor {
    if (typeof other === "number") return new Tensor(call(OP.subScalar, this.id, other, alpha) as TensorId);
    return new Tensor(call(OP.sub, this.id, other.id, alpha) as TensorId);
  }

  /** other - this (for a scalar on the left). */
  rsub(other: number): Tensor {
    return new Tensor(call(OP.rsubScalar, this.id, other) as TensorId);
  }

  mul(other: Tensor | number): Tensor {
    if (typeof other === "number") return new Tensor(call(OP.mulScalar, this.id, other) as TensorId);
    return new Tensor(call(OP.mul, this.id, other.id) as TensorId);
  }

  /** True division; roundingMode "trunc" or "floor" as in torch.div. */
  div(other: Tensor | number, roundingMode?: "trunc" | "floor"): Tensor {
    if (roundingMode !== undefined) {
      const o = typeof other === "number" ? scalarLike(this, other) : other;
      try {
        return new Tensor(call(OP.divMode, this.id, o.id, roundingMode) as TensorId);
      } finally {
        if (o !== other) o.dispose();
      }
    }
    if (typeof other === "number") return new Tensor(call(OP.divScalar, this.id, other) as TensorId);
    return new Tensor(call(OP.div, this.id, other.id) as TensorId);
  }

  remainder(other: Tensor | number): Tensor {
    if (typeof other === "number") return new Tensor(call(OP.remainderScalar, this.id, other) as TensorId);
    return new Tensor(call(OP.remainder, this.id, other.id) as TensorId);
  }

  neg(): Tensor {
    return new Tensor(call(OP.neg, this.id) as TensorId);
  }

  pow(exponent: Tensor | number): Tensor {
    if (typeof exponent === "number") return new Tensor(call(OP.powScalar, this.id, exponent) as TensorId);
    return new Tensor(call(OP.pow, this.id, exponent.id) as TensorId);
  }

  exp(): Tensor {
    return new Tensor(call(OP.exp, this.id) as TensorId);
  }
  expm1(): Tensor {
    return new Tensor(call(OP.expm1, this.id) as TensorId);
  }
  log(): Tensor {
    return new Tensor(call(OP.log, this.id) as TensorId);
  }
  log1p(): Tensor {
    return new Tensor(call(OP.log1p, this.id) as TensorId);
  }
  log2(): Tensor {
    return new Tensor(call(OP.log2, this.id) as TensorId);
  }
  sqrt(): Tensor {
    return new Tensor(call(OP.sqrt, this.id) as TensorId);
  }
  rsqrt(): Tensor {
    return new Tensor(call(OP.rsqrt, this.id) as TensorId);
  }
  abs(): Tensor {
    return new Tensor(call(OP.abs, this.id) as TensorId);
  }
  sign(): Tensor {
    return new Tensor(call(OP.sign, this.id) as TensorId);
  }
  square(): Tensor {
    return new Tensor(call(OP.square, this.id) as TensorId);
  }
  reciprocal(): Tensor {
    return new Tensor(call(OP.reciprocal, this.id) as TensorId);
  }
  sin(): Tensor {
    return new Tensor(call(OP.sin, this.id) as TensorId);
  }
  cos(): Tensor {
    return new Tensor(call(OP.cos, this.id) as TensorId);
  }
  floor(): Tensor {
    return new Tensor(call(OP.floor, this.id) as TensorId);
  }
  ceil(): Tensor {
    return new Tensor(call(OP.ceil, this.id) as TensorId);
  }
  round(): Tensor {
    return new Tensor(call(OP.round, this.id) as TensorId);
  }
  relu(): Tensor {
    return new Tensor(call(OP.relu, this.id) as TensorId);
  }
  sigmoid(): Tensor {
    return new Tensor(call(OP.sigmoid, this.id) as TensorId);
  }
  tanh(): Tensor {
    return new Tensor(call(OP.tanh, this.id) as TensorId);
  }

  /** Clamps to [min, max]; either bound may be omitted (null/undefined), or be a tensor. */
  clamp(min?: number | Tensor | null, max?: number | Tensor | null): Tensor {
    if (min instanceof Tensor || max instanceof Tensor) {
      const lo = min instanceof Tensor ? min.id : min == null ? null : undefined;
      const hi = max instanceof Tensor ? max.id : max == null ? null : undefined;
      if (lo === undefined || hi === undefined) throw new Error("clamp: mix of tensor and number bounds");
      return new Tensor(call(OP.clampTensor, this.id, lo, hi) as TensorId);
    }
    return new Tensor(call(OP.clamp, this.id, min ?? null, max ?? null) as TensorId);
  }

  clampMin(min: number): Tensor {
    return this.clamp(min, null);
  }

  clampMax(max: number): Tensor {
    return this.clamp(null, max);
  }

  maximum(other: Tensor): Tensor {
    return new Tensor(call(OP.maximum, this.id, other.id) as TensorId);
  }

  minimum(other: Tensor): Tensor {
    return new Tensor(call(OP.minimum, this.id, other.id) as TensorId);
  }

  /** this + weight * (end - this). */
  lerp(end: Tensor, weight: number): Tensor {
    return new Tensor(call(OP.lerp, this.id, end.id, weight) as TensorId);
  }

  eq(other: Tensor | number): Tensor {
    return compare(this, other, OP.eq, OP.eqScalar);
  }
  ne(other: Tensor | number): Tensor {
    return compare(this, other, OP.ne, OP.neScalar);
  }
  lt(other: Tensor | number): Tensor {
    return compare(this, other, OP.lt, OP.ltScalar);
  }
  le(other: Tensor | number): Tensor {
    return compare(this, other, OP.le, OP.leScalar);
  }
  gt(other: Tensor | number): Tensor {
    return compare(this, other, OP.gt, OP.gtScalar);
  }
  ge(other: Tensor | number): Tensor {
    return compare(this, other, OP.ge, OP.geScalar);
  }
  logicalNot(): Tensor {
    return new Tensor(call(OP.logicalNot, this.id) as TensorId);
  }
  logicalAnd(other: Tensor): Tensor {
    return new Tensor(call(OP.logicalAnd, this.id, other.id) as TensorId);
  }
  logicalOr(other: Tensor): Tensor {
    return new Tensor(call(OP.logicalOr, this.id, other.id) as TensorId);
  }
  isnan(): Tensor {
    return new Tensor(call(OP.isnan, this.id) as TensorId);
  }
  isfinite(): Tensor {
    return new Tensor(call(OP.isfinite, this.id) as TensorId);
  }
  nanToNum(nan = 0, posinf?: number, neginf?: number): Tensor {
    return new Tensor(call(OP.nanToNum, this.id, nan, posinf ?? null, neginf ?? null) as TensorId);
  }

  /** Elements where mask is true replaced by value. */
  maskedFill(mask: Tensor, value: number): Tensor {
    return new Tensor(call(OP.maskedFill, this.id, mask.id, value) as TensorId);
  }

  /** this + value * t1 * t2. */
  addcmul(t1: Tensor, t2: Tensor, value = 1): Tensor {
    return new Tensor(call(OP.addcmul, this.id, t1.id, t2.id, value) as TensorId);
  }

  /** this + value * t1 / t2. */
  addcdiv(t1: Tensor, t2: Tensor, value = 1): Tensor {
    return new Tensor(call(OP.addcdiv, this.id, t1.id, t2.id, value) as TensorId);
  }

  // ---- reductions -----------------------------------------------------------------------------------

  /** Sum of all elements, or over dims. */
  sum(dim?: Dims, keepdim = false, dtype?: DType): Tensor {
    const code = dtype === undefined ? undefined : dtypeCode[dtype];
    if (dim === undefined) return new Tensor(call(OP.sumAll, this.id, code) as TensorId);
    return new Tensor(call(OP.sumDim, this.id, dimList(dim), keepdim, code) as TensorId);
  }

  mean(dim?: Dims, keepdim = false): Tensor {
    if (dim === undefined) return new Tensor(call(OP.meanAll, this.id) as TensorId);
    return new Tensor(call(OP.meanDim, this.id, dimList(dim), keepdim) as TensorId);
  }

  /** Maximum of all elements, or over dims (values only: see maxDim for indices). */
  max(dim?: Dims, keepdim = false): Tensor {
    if (dim === undefined) return new Tensor(call(OP.maxAll, this.id) as TensorId);
    return new Tensor(call(OP.amax, this.id, dimList(dim), keepdim) as TensorId);
  }

  min(dim?: Dims, keepdim = false): Tensor {
    if (dim === undefined) return new Tensor(call(OP.minAll, this.id) as TensorId);
    return new Tensor(call(OP.amin, this.id, dimList(dim), keepdim) as TensorId);
  }

  /** Maximum along one dim with its indices (torch.max(x, dim)). */
  maxDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = call(OP.maxDim, this.id, dim, keepdim) as [TensorId, TensorId];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }

  minDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = call(OP.minDim, this.id, dim, keepdim) as [TensorId, TensorId];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }

  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(call(OP.argmax, this.id, dim ?? null, keepdim) as TensorId);
  }

  argmin(dim?: number, keepdim = false): Tensor {
    return new Tensor(call(OP.argmin, this.id, dim ?? null, keepdim) as TensorId);
  }

  /** Standard deviation (unbiased by default, as in PyTorch), of all elements or over dims. */
  std(dim?: Dims, keepdim = false, unbiased = true): Tensor {
    return new Tensor(
      call(OP.stdDim, this.id, dim === undefined ? null : dimList(dim), unbiased, keepdim) as TensorId,
    );
  }

  var(dim?: Dims, keepdim = false, unbiased = true): Tensor {
    return new Tensor(
      call(OP.varDim, this.id, dim === undefined ? null : dimList(dim), unbiased, keepdim) as TensorId,
    );
  }

  prod(dim?: number, keepdim = false): Tensor {
    if (dim === undefined) return new Tensor(call(OP.prod, this.id) as TensorId);
    return new Tensor(call(OP.prodDim, this.id, dim, keepdim) as TensorId);
  }

  /** p-norm of all elements or over dims. */
  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return new Tensor(call(OP.norm, this.id, p, dim === undefined ? [] : dimList(dim), keepdim) as TensorId);
  }

  logsumexp(dim: Dims, keepdim = false): Tensor {
    return new Tensor(call(OP.logsumexp, this.id, dimList(dim), keepdim) as TensorId);
  }

  all(): Tensor {
    return new Tensor(call(OP.all, this.id) as TensorId);
  }

  any(): Tensor {
    return new Tensor(call(OP.any, this.id) as TensorId);
  }

  cumsum(dim: number): Tensor {
    return new Tensor(call(OP.cumsum, this.id, dim) as TensorId);
  }

  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [v, i] = call(OP.topk, this.id, k, dim, largest, sorted) as [TensorId, TensorId];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }

  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = call(OP.sort, this.id, dim, descending) as [TensorId, TensorId];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }

  /** Indices that sort along dim (int64). */
  argsort(dim = -1, descending = false): Tensor {
    return new Tensor(call(OP.argsort, this.id, dim, descending) as TensorId);
  }

  /** Indices of non-zero elements, [count, ndim] (int64). */
  nonzero(): Tensor {
    return new Tensor(call(OP.nonzero, this.id) as TensorId);
  }

  /** The elements where mask is true, as a 1-d tensor. */
  maskedSelect(mask: Tensor): Tensor {
    return new Tensor(call(OP.maskedSelect, this.id, mask.id) as TensorId);
  }

  // ---- linear algebra -------------------------------------------------------------------------------

  matmul(other: Tensor): Tensor {
    return new Tensor(call(OP.matmul, this.id, other.id) as TensorId);
  }

  mm(other: Tensor): Tensor {
    return new Tensor(call(OP.mm, this.id, other.id) as TensorId);
  }

  bmm(other: Tensor): Tensor {
    return new Tensor(call(OP.bmm, this.id, other.id) as TensorId);
  }

  // ---- shape ----------------------------------------------------------------------------------------

  reshape(shape: readonly number[]): Tensor {
    return new Tensor(call(OP.reshape, this.id, shape) as TensorId);
  }

  /** Like reshape, but never copies (fails on incompatible strides). */
  view(shape: readonly number[]): Tensor {
    return new Tensor(call(OP.view, this.id, shape) as TensorId);
  }

  permute(dims: readonly number[]): Tensor {
    return new Tensor(call(OP.permute, this.id, dims) as TensorId);
  }

  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(call(OP.transpose, this.id, dim0, dim1) as TensorId);
  }

  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    return new Tensor(call(OP.t, this.id) as TensorId);
  }

  /** Splits into chunks of splitSize (the last may be smaller), or into the given sizes. */
  split(splitSize: number | readonly number[], dim = 0): Tensor[] {
    const ids =
      typeof splitSize === "number"
        ? (call(OP.split, this.id, splitSize, dim) as TensorId[])
        : (call(OP.splitWithSizes, this.id, splitSize, dim) as TensorId[]);
    return ids.map((id) => new Tensor(id));
  }

  chunk(chunks: number, dim = 0): Tensor[] {
    return (call(OP.chunk, this.id, chunks, dim) as TensorId[]).map((id) => new Tensor(id));
  }

  unbind(dim = 0): Tensor[] {
    return (call(OP.unbind, this.id, dim) as TensorId[]).map((id) => new Tensor(id));
  }

  /** length elements of dim starting at start (a view). */
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(call(OP.narrow, this.id, dim, start, length) as TensorId);
  }

  /** Python's x[..., start:end:step] along dim (a view); omitted bounds mean the whole range. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return new Tensor(call(OP.slice, this.id, dim, start ?? null, end ?? null, step) as TensorId);
  }

  /** Index `index` of dim, removing that dim (a view). */
  select(dim: number, index: number): Tensor {
    return new Tensor(call(OP.select, this.id, dim, index) as TensorId);
  }

  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(call(OP.indexSelect, this.id, dim, index.id) as TensorId);
  }

  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(call(OP.gather, this.id, dim, index.id) as TensorId);
  }

  scatter(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(call(OP.scatter, this.id, dim, index.id, src.id) as TensorId);
  }

  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(call(OP.scatterAdd, this.id, dim, index.id, src.id) as TensorId);
  }

  /** Advanced indexing x[i0, i1, ...] with index tensors (null = the whole dim). */
  index(indices: readonly (Tensor | null)[]): Tensor {
    return new Tensor(
      call(
        OP.index,
        this.id,
        indices.map((t) => (t === null ? null : t.id)),
      ) as TensorId,
    );
  }

  squeeze(dim?: number): Tensor {
    if (dim === undefined) return new Tensor(call(OP.squeezeAll, this.id) as TensorId);
    return new Tensor(call(OP.squeezeDim, this.id, dim) as TensorId);
  }

  unsqueeze(dim: number): Tensor {
    return new Tensor(call(OP.unsqueeze, this.id, dim) as TensorId);
  }

  /** Broadcasts to shape without copying (-1 keeps a dim). */
  expand(shape: readonly number[]): Tensor {
    return new Tensor(call(OP.expand, this.id, shape, false) as TensorId);
  }

  expandAs(other: Tensor): Tensor {
    return new Tensor(call(OP.expandAs, this.id, other.id) as TensorId);
  }

  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(call(OP.flatten, this.id, startDim, endDim) as TensorId);
  }

  unflatten(dim: number, sizes: readonly number[]): Tensor {
    return new Tensor(call(OP.unflatten, this.id, dim, sizes) as TensorId);
  }

  roll(shifts: Dims, dims?: Dims): Tensor {
    return new Tensor(
      call(OP.roll, this.id, dimList(shifts), dims === undefined ? [] : dimList(dims)) as TensorId,
    );
  }

  flip(dims: Dims): Tensor {
    return new Tensor(call(OP.flip, this.id, dimList(dims)) as TensorId);
  }

  repeat(repeats: readonly number[]): Tensor {
    return new Tensor(call(OP.repeat, this.id, repeats) as TensorId);
  }

  tril(diagonal = 0): Tensor {
    return new Tensor(call(OP.tril, this.id, diagonal) as TensorId);
  }

  triu(diagonal = 0): Tensor {
    return new Tensor(call(OP.triu, this.id, diagonal) as TensorId);
  }

  // ---- in-place (return this) ---------------------------------------------------------------------

  /** Runs an in-place op on this tensor and returns the tensor, for chaining. */
  private inPlace(op: number, ...args: unknown[]): this {
    callVoid(op, this.id, ...args);
    return this;
  }

  add_(other: Tensor | number, alpha = 1): this {
    if (typeof other === "number") callVoid(OP.addScalar_, this.id, other, alpha);
    else callVoid(OP.add_, this.id, other.id, alpha);
    return this;
  }

  sub_(other: Tensor | number, alpha = 1): this {
    if (typeof other === "number") callVoid(OP.subScalar_, this.id, other, alpha);
    else callVoid(OP.sub_, this.id, other.id, alpha);
    return this;
  }

  mul_(other: Tensor | number): this {
    if (typeof other === "number") callVoid(OP.mulScalar_, this.id, other);
    else callVoid(OP.mul_, this.id, other.id);
    return this;
  }

  div_(other: Tensor | number): this {
    if (typeof other === "number") callVoid(OP.divScalar_, this.id, other);
    else callVoid(OP.div_, this.id, other.id);
    return this;
  }

  /** this += value * t1 * t2. */
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    return this.inPlace(OP.addcmul_, t1.id, t2.id, value);
  }

  /** this += value * t1 / t2. */
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    return this.inPlace(OP.addcdiv_, t1.id, t2.id, value);
  }

  copy_(src: Tensor): this {
    return this.inPlace(OP.copy_, src.id);
  }

  zero_(): this {
    return this.inPlace(OP.zero_);
  }

  fill_(value: number): this {
    return this.inPlace(OP.fill_, value);
  }

  clamp_(min?: number | null, max?: number | null): this {
    return this.inPlace(OP.clamp_, min ?? null, max ?? null);
  }

  lerp_(end: Tensor, weight: number): this {
    return this.inPlace(OP.lerp_, end.id, weight);
  }

  sqrt_(): this {
    return this.inPlace(OP.sqrt_);
  }

  neg_(): this {
    return this.inPlace(OP.neg_);
  }

  exp_(): this {
    return this.inPlace(OP.exp_);
  }

  abs_(): this {
    return this.inPlace(OP.abs_);
  }

  relu_(): this {
    return this.inPlace(OP.relu_);
  }

  /** this = max(this, other) element-wise. */
  maximum_(other: Tensor): this {
    return this.inPlace(OP.maximumOut, other.id, this.id);
  }

  maskedFill_(mask: Tensor, value: number): this {
    return this.inPlace(OP.maskedFill_, mask.id, value);
  }

  indexPut_(indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): this {
    callVoid(
      OP.indexPut_,
      this.id,
      indices.map((t) => (t === null ? null : t.id)),
      values.id,
      accumulate,
    );
    return this;
  }

  /** Fills with N(mean, std) samples from the global generator (see manualSeed). */
  normal_(mean = 0, std = 1): this {
    return this.inPlace(OP.normal_, mean, std);
  }

  /** Fills with U(from, to) samples from the global generator. */
  uniform_(from = 0, to = 1): this {
    return this.inPlace(OP.uniform_, from, to);
  }

  bernoulli_(p = 0.5): this {
    return this.inPlace(OP.bernoulli_, p);
  }

  // ---- autograd -------------------------------------------------------------------------------------

  /** Accumulates gradients of this tensor into the leaves (grad defaults to 1 for a scalar). */
  backward(grad?: Tensor | null, options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward(
      this.id,
      grad ? grad.id : null,
      options.retainGraph ?? false,
      options.createGraph ?? false,
    );
  }

  /** Drops the accumulated gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    native.setGrad(this.id, null);
  }
}
markResource(Tensor.prototype);

function dimList(d: Dims): readonly number[] {
  return typeof d === "number" ? [d] : d;
}

function compare(a: Tensor, b: Tensor | number, tensorOp: number, scalarOp: number): Tensor {
  if (typeof b === "number") return new Tensor(call(scalarOp, a.id, b) as TensorId);
  return new Tensor(call(tensorOp, a.id, b.id) as TensorId);
}

/** A 0-d tensor holding value with a's dtype and device. */
function scalarLike(a: Tensor, value: number): Tensor {
  return new Tensor(call(OP.full, [], value, dtypeCode[a.dtype], undefined, a.device) as TensorId);
}

/** Wraps an id the addon returned. */
export function wrap(id: TensorId): Tensor {
  return new Tensor(id);
}

export function ids(tensors: readonly Tensor[]): TensorId[] {
  const out = new Array<TensorId>(tensors.length);
  for (let i = 0; i < tensors.length; i++) out[i] = tensors[i]!.id;
  return out;
}
