// Module: the PyTorch-shaped container of parameters, buffers and child modules. Parameters and buffers
// are native tensors protected from memory scopes (keep()); they live until module.dispose().
import { LiverstiffError } from "../core/index.ts";
import { type Device, type DType, noGrad, type Tensor } from "../torch/index.ts";

/** A state dict: dotted names (PyTorch's) to tensors, in registration order. */
export type StateDict = Map<string, Tensor>;

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export interface ShapeMismatch {
  key: string;
  expected: readonly number[];
  got: readonly number[];
}

/**
 * A state dict that does not fit a module. Lists every missing, unexpected and shape-mismatched key; the
 * module is left unchanged.
 */
export class StateDictMismatchError extends LiverstiffError {
  constructor(
    readonly missingKeys: readonly string[],
    readonly unexpectedKeys: readonly string[],
    readonly shapeMismatches: readonly ShapeMismatch[],
    source?: string,
  ) {
    const parts: string[] = [];
    if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(", ")}`);
    if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(", ")}`);
    if (shapeMismatches.length) {
      parts.push(
        `shape mismatches: ${shapeMismatches
          .map((m) => `${m.key} (checkpoint [${m.got.join(", ")}], model [${m.expected.join(", ")}])`)
          .join(", ")}`,
      );
    }
    const context: Record<string, string | number> = {
      missing: missingKeys.length,
      unexpected: unexpectedKeys.length,
      shapeMismatched: shapeMismatches.length,
    };
    if (source !== undefined) context.file = source;
    super(`state dict does not match the model${source ? ` (${source})` : ""}: ${parts.join("; ")}`, context);
    this.name = "StateDictMismatchError";
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export abstract class Module {
  /** Training mode (dropout active, batch norm uses and updates batch statistics). */
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _nonPersistent = new Set<string>();
  private readonly _modules = new Map<string, Module>();

  /** The computation; subclasses declare their own signature (usually (x: Tensor) => Tensor). */
  abstract forward(...inputs: unknown[]): unknown;

  // ---- registration ---------------------------------------------------------------------------------

  /** Registers a parameter (requiresGrad on, protected from scopes); null registers an absent one. */
  protected registerParameter(name: string, value: Tensor | null): Tensor {
    this.checkName(name, this._parameters);
    if (value !== null) {
      value.keep();
      if (!value.requiresGrad) value.requiresGrad_(true);
    }
    this._parameters.set(name, value);
    return value as Tensor;
  }

  /** Registers a buffer: state that is saved but not trained (running statistics). */
  protected registerBuffer(name: string, value: Tensor | null, persistent = true): Tensor {
    this.checkName(name, this._buffers);
    if (value !== null) value.keep();
    this._buffers.set(name, value);
    if (!persistent) this._nonPersistent.add(name);
    return value as Tensor;
  }

  /** Registers a child module under name (its parameters appear as "name.*"). */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name, this._modules);
    this._modules.set(name, module);
    return module;
  }

  private checkName(name: string, own: Map<string, unknown>): void {
    if (name === "" || name.includes(".")) throw new Error(`invalid name "${name}" (empty or contains ".")`);
    const taken = [this._parameters, this._buffers, this._modules].some((m) => m !== own && m.has(name));
    if (taken || own.has(name))
      throw new Error(`"${name}" is already registered in ${this.constructor.name}`);
  }

  // ---- traversal ------------------------------------------------------------------------------------

  namedChildren(): [string, Module][] {
    return [...this._modules.entries()];
  }

  children(): Module[] {
    return [...this._modules.values()];
  }

  /** This module and all descendants with dotted names ("" for this one); a shared module appears once. */
  namedModules(prefix = "", seen: Set<Module> = new Set()): [string, Module][] {
    if (seen.has(this)) return [];
    seen.add(this);
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this._modules) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    }
    return out;
  }

  /** Parameters with dotted names (recursively, registration order, each tensor once). */
  namedParameters(prefix = "", recurse = true): [string, Tensor][] {
    return this.namedMembers((m) => m._parameters, prefix, recurse);
  }

  parameters(recurse = true): Tensor[] {
    return this.namedParameters("", recurse).map(([, t]) => t);
  }

  namedBuffers(prefix = "", recurse = true): [string, Tensor][] {
    return this.namedMembers((m) => m._buffers, prefix, recurse);
  }

  buffers(recurse = true): Tensor[] {
    return this.namedBuffers("", recurse).map(([, t]) => t);
  }

  private namedMembers(
    pick: (m: Module) => Map<string, Tensor | null>,
    prefix: string,
    recurse: boolean,
  ): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const modules = recurse ? this.namedModules(prefix) : [[prefix, this] as [string, Module]];
    for (const [modName, m] of modules) {
      for (const [name, t] of pick(m)) {
        if (t === null || seen.has(t)) continue;
        seen.add(t);
        out.push([modName ? `${modName}.${name}` : name, t]);
      }
    }
    return out;
  }

  /** The parameters and persistent buffers that make up the state dict, as the live tensors. */
  private stateEntries(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, t] of this._parameters) if (t !== null) out.push([prefix + name, t]);
    for (const [name, t] of this._buffers) {
      if (t !== null && !this._nonPersistent.has(name)) out.push([prefix + name, t]);
    }
    for (const [name, child] of this._modules) out.push(...child.stateEntries(`${prefix}${name}.`));
    return out;
  }

  // ---- modes ----------------------------------------------------------------------------------------

  /** Sets training mode on this module and every descendant; returns this. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Turns gradient recording of every parameter on or off (freezing); returns this. */
  requiresGrad_(on = true): this {
    for (const p of this.parameters()) p.requiresGrad_(on);
    return this;
  }

  /** Clears every parameter's gradient (set to none, as torch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Calls fn on every module (children first, then this), like torch's Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const child of this._modules.values()) child.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Moves/converts every parameter and buffer (dtype conversion applies to floating tensors only).
   * Tensors are replaced, so build optimizers after calling this.
   */
  to(target: DType | Device): this {
    const isDtype = !target.startsWith("cpu") && !target.startsWith("cuda");
    const convert = (t: Tensor): Tensor => {
      if (isDtype && !t.dtype.startsWith("float") && t.dtype !== "bfloat16") return t;
      const moved = noGrad(() => t.detach().to(target));
      moved.keep();
      if (t.requiresGrad) moved.requiresGrad_(true);
      return moved;
    };
    for (const [, m] of this.namedModules()) {
      for (const map of [m._parameters, m._buffers]) {
        for (const [name, t] of map) {
          if (t === null) continue;
          const moved = convert(t);
          if (moved !== t) {
            map.set(name, moved);
            t.dispose();
          }
        }
      }
    }
    return this;
  }

  /**
   * This module's own parameter or buffer by name, or null when registered as absent. Layers read their
   * tensors through this (never caching them in fields), so that to() and loading stay coherent.
   */
  protected tensor(name: string): Tensor | null {
    const t = this._parameters.has(name) ? this._parameters.get(name) : this._buffers.get(name);
    if (t === undefined) throw new Error(`${this.constructor.name} has no parameter or buffer "${name}"`);
    return t;
  }

  /** Frees every parameter and buffer (the module is unusable afterwards). */
  /** `using m = ...`: the module's parameters and buffers are freed when the block ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const t of m._parameters.values()) t?.dispose();
      for (const t of m._buffers.values()) t?.dispose();
    }
  }

  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.numel();
    return n;
  }

  // ---- state dicts ----------------------------------------------------------------------------------

  /**
   * Parameters and persistent buffers by dotted name, as detached tensors that share storage with the
   * module (like PyTorch: copy them if the module will keep training and you need a snapshot).
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [name, t] of this.stateEntries()) out.set(name, t.detach());
    return out;
  }

  /** Names and shapes of the state dict, without creating tensors. */
  stateDictShapes(): Map<string, readonly number[]> {
    return new Map(this.stateEntries().map(([name, t]) => [name, t.shape]));
  }

  /**
   * Copies values from a state dict into this module's tensors (converting dtype if needed). Strict
   * (default): names must match exactly. A shape mismatch is always an error. On error nothing is
   * copied, and the StateDictMismatchError lists every offending key.
   */
  loadStateDict(
    state: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
    options: { strict?: boolean; source?: string } = {},
  ): LoadStateDictResult {
    const strict = options.strict ?? true;
    const given =
      state instanceof Map ? (state as ReadonlyMap<string, Tensor>) : new Map(Object.entries(state));
    const own = this.stateEntries();
    const ownNames = new Set(own.map(([n]) => n));
    const missingKeys = own.filter(([n]) => !given.has(n)).map(([n]) => n);
    const unexpectedKeys = [...given.keys()].filter((n) => !ownNames.has(n));
    const shapeMismatches: ShapeMismatch[] = [];
    for (const [name, t] of own) {
      const src = given.get(name);
      if (src !== undefined && !sameShape(src.shape, t.shape)) {
        shapeMismatches.push({ key: name, expected: t.shape, got: src.shape });
      }
    }
    if (shapeMismatches.length > 0 || (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0))) {
      throw new StateDictMismatchError(missingKeys, unexpectedKeys, shapeMismatches, options.source);
    }
    noGrad(() => {
      for (const [name, t] of own) {
        const src = given.get(name);
        if (src !== undefined) t.copy_(src);
      }
    });
    return { missingKeys, unexpectedKeys };
  }
}
