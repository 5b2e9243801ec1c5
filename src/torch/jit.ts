// TorchScript modules (torch.jit.save files) loaded by libtorch: the binding src/nn/ wraps.
import { native, type TensorId } from "./native.ts";
import { Tensor } from "./tensor.ts";

export type ScriptValue =
  | Tensor
  | number
  | boolean
  | string
  | null
  | ScriptValue[]
  | { [key: string]: ScriptValue };

function fromNative(v: unknown, returnsTensors: boolean): ScriptValue {
  if (typeof v === "number" && returnsTensors) return new Tensor(v as TensorId);
  if (Array.isArray(v)) return v.map((e) => fromNative(e, returnsTensors));
  if (v !== null && typeof v === "object") {
    const out: Record<string, ScriptValue> = {};
    for (const [k, e] of Object.entries(v)) out[k] = fromNative(e, returnsTensors);
    return out;
  }
  return v as ScriptValue;
}

/** A loaded TorchScript module. Its parameters are shared with the returned tensors. */
export class ScriptModuleHandle {
  private handle: number;

  private constructor(handle: number) {
    this.handle = handle;
  }

  /** Loads a module saved with torch.jit.save (optionally mapping it to a device). */
  static load(path: string, device?: string): ScriptModuleHandle {
    return new ScriptModuleHandle(native.moduleLoad(path, device));
  }

  private get id(): number {
    if (this.handle < 0) throw new Error("TorchScript module used after dispose()");
    return this.handle;
  }

  /**
   * Calls a method (default forward) with tensors, tensor arrays, numbers are not accepted as inputs.
   * Numbers in the result are taken as tensors when the method returns tensors only (the usual case).
   */
  call(method: string, inputs: readonly (Tensor | readonly Tensor[] | boolean | null)[]): ScriptValue {
    const args = inputs.map((a) =>
      a instanceof Tensor ? a.id : Array.isArray(a) ? a.map((t: Tensor) => t.id) : a,
    );
    return fromNative(native.moduleCall(this.id, method, args), true);
  }

  forward(...inputs: Tensor[]): ScriptValue {
    return this.call("forward", inputs);
  }

  /** Named parameters (recursive, PyTorch's dotted names); each a new handle aliasing the module's tensor. */
  namedParameters(): [string, Tensor][] {
    return native.moduleParameters(this.id).map(([name, id]) => [name, new Tensor(id)]);
  }

  namedBuffers(): [string, Tensor][] {
    return native.moduleBuffers(this.id).map(([name, id]) => [name, new Tensor(id)]);
  }

  train(on = true): void {
    native.moduleTrain(this.id, on);
  }

  eval(): void {
    native.moduleTrain(this.id, false);
  }

  get training(): boolean {
    return native.moduleIsTraining(this.id);
  }

  to(device: string): void {
    native.moduleTo(this.id, device);
  }

  save(path: string): void {
    native.moduleSave(this.id, path);
  }

  dispose(): void {
    if (this.handle >= 0) native.moduleDispose(this.handle);
    this.handle = -1;
  }
}
