// Dependencies loaded on first use. zod and yaml cost 0.1-0.3 s of start-up between them, which a command
// that never reads a rules file or a recipe (convert, inspect, qc) should not pay. They are loaded through
// their CommonJS builds, synchronously, and every importer in the project goes through here, so that no
// process holds two copies (the ES-module and CommonJS builds are separate module instances).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** A function that returns the package, loading it on its first call. */
export function lazyDependency<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= require(specifier) as T;
    return loaded;
  };
}

export const zod = lazyDependency<typeof import("zod")>("zod");
export const yaml = lazyDependency<typeof import("yaml")>("yaml");
export const csvParse = lazyDependency<typeof import("csv-parse/sync")>("csv-parse/sync");
