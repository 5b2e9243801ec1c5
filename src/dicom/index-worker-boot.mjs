// Worker entry: registers tsx inside the worker thread (loader hooks given through execArgv do not reach a
// worker started on a .ts URL under Node 20), then loads the TypeScript worker.
import { register } from "tsx/esm/api";

register();
await import("./index-worker.ts");
