import type { Worker } from "node:worker_threads";
import { spawnWorker } from "./worker.ts";

/**
 * A small pool of worker threads running one module. Each job is a message; each worker answers one
 * message per job ({ id, ...result }). Jobs go to whichever worker is free; order of results follows
 * completion. Workers start at construction, so their start-up overlaps with the caller's own work.
 */
export class WorkerPool<J, R> {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { job: J; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private readonly pending = new Map<Worker, { resolve: (r: R) => void; reject: (e: unknown) => void }>();
  private closed = false;

  constructor(moduleUrl: URL, size: number) {
    for (let i = 0; i < size; i++) {
      const w = spawnWorker(moduleUrl);
      w.on("message", (msg: R) => {
        const p = this.pending.get(w);
        this.pending.delete(w);
        p?.resolve(msg);
        this.next(w);
      });
      w.on("error", (err) => {
        const p = this.pending.get(w);
        this.pending.delete(w);
        p?.reject(err);
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  run(job: J): Promise<R> {
    if (this.closed) return Promise.reject(new Error("worker pool is closed"));
    return new Promise<R>((resolve, reject) => {
      const w = this.idle.pop();
      if (w) this.dispatch(w, job, resolve, reject);
      else this.queue.push({ job, resolve, reject });
    });
  }

  private dispatch(w: Worker, job: J, resolve: (r: R) => void, reject: (e: unknown) => void): void {
    this.pending.set(w, { resolve, reject });
    w.postMessage(job);
  }

  private next(w: Worker): void {
    const q = this.queue.shift();
    if (q) this.dispatch(w, q.job, q.resolve, q.reject);
    else this.idle.push(w);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
