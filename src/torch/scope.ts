// Deterministic freeing of native memory. A scope records every tensor created while it is open; when it
// ends, it frees them all except those it returns (which move to the enclosing scope, or become owned by
// the caller when there is none) and those marked with keep(). Tensors made outside any scope live until
// dispose() or, as a safety net, until the garbage collector finalizes them.
import { native } from "./native.ts";

/** What the scope machinery needs from a tensor (implemented by Tensor). */
export interface ScopedResource {
  readonly isDisposed: boolean;
  /** Set by keep(): never freed by a scope. */
  kept: boolean;
  dispose(): void;
  /** Marks the resource disposed and returns its native id, for freeing many in one native call. */
  takeId(): number;
  /** Called when the resource leaves the last scope: from now on the GC finalizer is its safety net. */
  escapeScopes(): void;
}

const isResource = Symbol.for("liverstiff.torch.resource");

export function markResource(proto: object): void {
  Object.defineProperty(proto, isResource, { value: true });
}

function isScopedResource(v: unknown): v is ScopedResource {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[isResource] === true;
}

const stack: ScopedResource[][] = [];

/** Records a newly created resource in the innermost scope; false when no scope is open. */
export function track(r: ScopedResource): boolean {
  const top = stack.length;
  if (top === 0) return false;
  stack[top - 1]!.push(r);
  return true;
}

export function scopeDepth(): number {
  return stack.length;
}

/**
 * A class whose instances hold tensors declares them with this method, so that a scope that returns such
 * an instance (or keep()/dispose() given one) reaches them: `[scopeResources]() { return [this.w, this.b]; }`.
 */
export const scopeResources: unique symbol = Symbol.for("liverstiff.torch.scopeResources") as never;

/** Containers nested deeper than this in a scope's result are refused, not searched. */
export const MAX_RESULT_DEPTH = 32;

interface DeclaresResources {
  [scopeResources](): Iterable<unknown>;
}

function declaresResources(v: object): v is DeclaresResources {
  return typeof (v as Partial<DeclaresResources>)[scopeResources] === "function";
}

/** A resource a scope would free: not kept (a module's parameters are), not freed already. */
function freeable(v: unknown): boolean {
  return isScopedResource(v) && !v.kept && !v.isDisposed;
}

/** Whether an undeclared class instance holds a freeable resource in a field of its own (or an array there). */
function holdsResource(v: object): boolean {
  for (const field of Object.values(v))
    if (freeable(field) || (Array.isArray(field) && field.some(freeable))) return true;
  return false;
}

/**
 * Collects the resources reachable from a scope's result: tensors, arrays, Maps, Sets, plain objects and
 * instances that declare [scopeResources]. What it cannot reach is an error, not a silent free: an
 * undeclared class instance holding a tensor in a field, or nesting deeper than MAX_RESULT_DEPTH.
 */
function collect(value: unknown, out: Set<ScopedResource>, seen: Set<unknown>, depth: number): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
  if (depth > MAX_RESULT_DEPTH)
    throw new Error(
      `a scope's result (or keep/dispose's argument) is nested deeper than ${MAX_RESULT_DEPTH} levels: its tensors cannot be found; return them in a flatter structure`,
    );
  seen.add(value);
  if (isScopedResource(value)) {
    out.add(value);
    return;
  }
  const next = (v: unknown) => collect(v, out, seen, depth + 1);
  if (Array.isArray(value)) for (const v of value) next(v);
  else if (value instanceof Map) for (const v of value.values()) next(v);
  else if (value instanceof Set) for (const v of value) next(v);
  else if (declaresResources(value)) for (const v of value[scopeResources]()) next(v);
  else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)
    for (const v of Object.values(value)) next(v);
  else if (holdsResource(value))
    throw new Error(
      `a scope's result (or keep/dispose's argument) holds a tensor inside a ${value.constructor?.name ?? "class"} instance, which the scope cannot see: it would be freed; return the tensors themselves, keep() them, or give the class a [scopeResources]() method`,
    );
}

const noKeepers: ReadonlySet<ScopedResource> = new Set();

function close(scope: ScopedResource[], result: unknown): void {
  let keepers: ReadonlySet<ScopedResource> = noKeepers;
  if (isScopedResource(result)) {
    keepers = new Set([result]);
  } else if (typeof result === "object" && result !== null) {
    const found = new Set<ScopedResource>();
    try {
      collect(result, found, new Set(), 0);
    } catch (err) {
      // A result the scope cannot read is an error; the scope's own tensors are still freed.
      close(scope, undefined);
      throw err;
    }
    keepers = found;
  }
  const parent = stack.length > 0 ? stack[stack.length - 1]! : undefined;
  const ids: number[] = [];
  for (const r of scope) {
    if (r.isDisposed) continue;
    if (r.kept || keepers.has(r)) {
      if (r.kept) continue;
      if (parent) parent.push(r);
      else r.escapeScopes();
    } else {
      ids.push(r.takeId());
    }
  }
  if (ids.length === 1) native.dispose(ids[0]!);
  else if (ids.length > 1) native.disposeMany(ids);
}

/**
 * Runs fn in a scope: every tensor created inside is freed when fn returns (or throws), except the
 * tensors in fn's result (a tensor, or arrays/objects/Maps of tensors) and tensors passed to keep().
 * fn must be synchronous: a scope spanning an await would capture other tasks' tensors.
 */
export function tidy<T>(fn: () => T): T {
  const scope: ScopedResource[] = [];
  stack.push(scope);
  let result: T | undefined;
  let ok = false;
  try {
    result = fn();
    ok = true;
  } finally {
    stack.pop();
    close(scope, ok ? result : undefined);
  }
  if (result instanceof Promise) throw new Error("tidy(fn): fn must be synchronous (it returned a Promise)");
  return result as T;
}

/** Marks tensors (or containers of tensors) so that no scope frees them; returns its argument. */
export function keep<T>(value: T): T {
  const found = new Set<ScopedResource>();
  collect(value, found, new Set(), 0);
  for (const r of found) {
    if (!r.kept) {
      r.kept = true;
      r.escapeScopes();
    }
  }
  return value;
}

/** Frees tensors now: a tensor, or arrays/objects/Maps of tensors. Already-freed ones are skipped. */
export function dispose(value: unknown): void {
  const found = new Set<ScopedResource>();
  collect(value, found, new Set(), 0);
  for (const r of found) r.dispose();
}
