import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread on a module of this project. The sources are TypeScript run through tsx, and a
 * worker does not inherit loader hooks registered through the API, so a `.ts` worker gets tsx explicitly.
 */
export function spawnWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  const execArgv = [...(options.execArgv ?? process.execArgv)];
  if (moduleUrl.pathname.endsWith(".ts") && !execArgv.some((a) => a.includes("tsx"))) {
    execArgv.push("--import", import.meta.resolve("tsx/esm"));
  }
  return new Worker(moduleUrl, { ...options, execArgv });
}
