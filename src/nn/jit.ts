import { writeAtomically } from "../core/index.ts";
import { ScriptModuleHandle, type ScriptValue, type Tensor } from "../torch/index.ts";
import { Module } from "./module.ts";

/** A node of the dotted-name tree that holds a scripted submodule's parameters; not callable itself. */
class ScriptSubmodule extends Module {
  forward(): never {
    throw new Error("a TorchScript submodule cannot be called on its own; call forward on the loaded module");
  }

  child(name: string): ScriptSubmodule {
    const existing = this.namedChildren().find(([n]) => n === name);
    if (existing) return existing[1] as ScriptSubmodule;
    return this.registerModule(name, new ScriptSubmodule());
  }

  addParameter(name: string, t: Tensor): void {
    this.registerParameter(name, t);
  }

  addBuffer(name: string, t: Tensor): void {
    this.registerBuffer(name, t);
  }
}

export class ScriptModule extends Module {
  private readonly root = new ScriptSubmodule();

  private constructor(private readonly handle: ScriptModuleHandle) {
    super();
    // The tree of parameters lives in a hidden root so that names are exactly the scripted ones.
    const place = (dotted: string, t: Tensor, kind: "param" | "buffer") => {
      const parts = dotted.split(".");
      let node = this.root;
      for (const p of parts.slice(0, -1)) node = node.child(p);
      if (kind === "param") node.addParameter(parts.at(-1)!, t);
      else node.addBuffer(parts.at(-1)!, t);
    };
    for (const [name, t] of handle.namedParameters()) place(name, t, "param");
    for (const [name, t] of handle.namedBuffers()) place(name, t, "buffer");
    this.training = handle.training;
    this.root.train(this.training);
  }

  /** Loads a torch.jit.save file (optionally onto a device, e.g. "cuda"). */
  static load(path: string, device?: string): ScriptModule {
    return new ScriptModule(ScriptModuleHandle.load(path, device));
  }

  /** Runs the scripted forward; returns a Tensor when the module returns one, else the ScriptValue. */
  forward(...inputs: Tensor[]): Tensor {
    return this.handle.forward(...inputs) as Tensor;
  }

  /** Calls any scripted method by name. */
  call(method: string, inputs: readonly (Tensor | readonly Tensor[] | boolean | null)[]): ScriptValue {
    return this.handle.call(method, inputs);
  }

  override namedParameters(prefix = "", recurse = true): [string, Tensor][] {
    return this.root.namedParameters(prefix, recurse);
  }

  override namedBuffers(prefix = "", recurse = true): [string, Tensor][] {
    return this.root.namedBuffers(prefix, recurse);
  }

  override namedChildren(): [string, Module][] {
    return this.root.namedChildren();
  }

  override namedModules(prefix = "", seen: Set<Module> = new Set()): [string, Module][] {
    if (seen.has(this)) return [];
    seen.add(this);
    return [[prefix, this], ...this.root.namedModules(prefix, seen).slice(1)];
  }

  override stateDict(): Map<string, Tensor> {
    return this.root.stateDict();
  }

  override stateDictShapes(): Map<string, readonly number[]> {
    return this.root.stateDictShapes();
  }

  override loadStateDict(...args: Parameters<Module["loadStateDict"]>): ReturnType<Module["loadStateDict"]> {
    return this.root.loadStateDict(...args);
  }

  /** Switches the scripted module (dropout, batch norm) between training and evaluation. */
  override train(mode = true): this {
    this.handle.train(mode);
    this.training = mode;
    this.root.train(mode);
    return this;
  }

  override to(): this {
    throw new Error(
      "ScriptModule.to() is not supported: load it onto the device with ScriptModule.load(path, device)",
    );
  }

  /** Writes the module (with its current, possibly trained, weights) as a TorchScript file, atomically. */
  save(path: string): void {
    writeAtomically(path, (tmp) => this.handle.save(tmp));
  }

  override dispose(): void {
    this.root.dispose();
    this.handle.dispose();
  }
}
