// Process-level controls: threads, seeds, CUDA, memory statistics, and calling any ATen operator by name.
import { type CpuCacheStats, native, type TensorId } from "./native.ts";
import { resolveOp } from "./ops.ts";
import { Tensor } from "./tensor.ts";

/** Sets the number of intra-op threads libtorch uses (process-wide). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setNumThreads: expected a positive integer, got ${n}`);
  native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Seeds libtorch's global generators (CPU and CUDA): rand, randn, randint, dropout, normal_, ... */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

export const cuda = {
  /** True when the linked libtorch was built with CUDA and a GPU is visible. */
  isAvailable(): boolean {
    return native.cudaAvailable();
  },
  deviceCount(): number {
    return native.cudaDeviceCount();
  },
};

/** Live tensors in this thread's handle table and the native bytes reported to V8. */
export function memoryStats(): { liveTensors: number; externalBytes: number } {
  const s = native.stats();
  return { liveTensors: s.liveTensors, externalBytes: s.externalBytes };
}

/**
 * The caching CPU allocator (native/src/allocator.cpp): blocks of at least 1 MiB are kept after their
 * tensor is freed, up to capBytes (LIVERSTIFF_CPU_CACHE_MB, default 2048; 0 = off), and reused.
 */
export function cpuCacheStats(): CpuCacheStats {
  return native.cpuCacheStats();
}

/** Gives the kept blocks back to the system (the live tensors are untouched). */
export function emptyCpuCache(): void {
  native.emptyCpuCache();
}

/** libtorch's build and threading description (at::get_parallel_info). */
export function buildInfo(): { parallelInfo: string; cuda: boolean; mkldnn: boolean } {
  return native.version();
}

const resolved = new Map<string, { op: number; returns: string[] }>();

type OpArg =
  | Tensor
  | readonly (Tensor | null)[]
  | number
  | boolean
  | string
  | null
  | undefined
  | readonly number[];

/**
 * Calls any ATen operator by its schema name, e.g. callOp("aten::cumprod", x, 0). Arguments are
 * positional in schema order (undefined = the schema default); Tensor results come back as Tensors.
 * For operators this module has no method for yet.
 */
export function callOp(qualified: string, ...args: OpArg[]): unknown {
  let entry = resolved.get(qualified);
  if (!entry) {
    const op = resolveOp(qualified);
    if (op < 0) throw new Error(`the linked libtorch has no operator ${qualified}`);
    entry = { op, returns: native.opReturnTypes(op) };
    resolved.set(qualified, entry);
  }
  const raw = args.map((a) =>
    a instanceof Tensor
      ? a.id
      : Array.isArray(a)
        ? a.map((e: Tensor | number | null) => (e instanceof Tensor ? e.id : e))
        : a,
  );
  const result = native.call(entry.op, ...raw);
  const convert = (value: unknown, type: string): unknown => {
    if (value === null || value === undefined) return value;
    if (type === "Tensor" || type === "Tensor?") return new Tensor(value as TensorId);
    if (type === "Tensor[]") return (value as TensorId[]).map((id) => new Tensor(id));
    return value;
  };
  if (entry.returns.length === 1) return convert(result, entry.returns[0]!);
  if (entry.returns.length > 1) return (result as unknown[]).map((v, i) => convert(v, entry.returns[i]!));
  return undefined;
}

/** The schema of an operator, for error messages and exploration. */
export function opSchema(qualified: string): string {
  const op = resolveOp(qualified);
  if (op < 0) throw new Error(`the linked libtorch has no operator ${qualified}`);
  return native.opSchema(op);
}
