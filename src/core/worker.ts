import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread on a module of this project. The sources are TypeScript run through tsx, and
 * under Node 20 loader hooks given through execArgv do not reach a worker started on a `.ts` URL, so a
 * `.ts` worker starts on a two-line bootstrap that registers tsx inside the thread and then imports the
 * module. `workerData` and every other option pass through unchanged.
 */
export function spawnWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith(".ts")) return new Worker(moduleUrl, options);
  const api = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(moduleUrl.href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
