import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describeError } from "./errors.ts";

// Messages between a pool and its processes. Structured clone ("advanced" serialization) carries typed
// arrays, so a worker's init can hold feature vectors without a JSON round trip.
type ToChild<I, J> = { kind: "init"; init: I } | { kind: "job"; job: J };
type FromChild<R> =
  | { kind: "result"; ok: true; value: R }
  | { kind: "result"; ok: false; error: string }
  | { kind: "event"; event: unknown };

/**
 * Starts a child process on a module of this project. The sources are TypeScript run through tsx, so the
 * child gets tsx's loader (as bin/liverstiff.mjs registers it), and only that: the parent's own flags (e.g.
 * the test runner's --test) would change what the child is.
 */
export function forkModule(moduleUrl: URL, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const execArgv = moduleUrl.pathname.endsWith(".ts") ? ["--import", import.meta.resolve("tsx")] : [];
  return fork(fileURLToPath(moduleUrl), [], { execArgv, serialization: "advanced", env, stdio: "inherit" });
}

interface Slot<R> {
  child: ChildProcess;
  busy?: { resolve: (r: R) => void; reject: (e: Error) => void };
  exited?: string;
}

/**
 * A fixed set of child processes, each initialised once with `init`, that run jobs one at a time and
 * report events (progress) while they work. A process that dies fails its job and leaves the pool; the
 * others carry on. Jobs are given out by the caller (at most `size` at once): run() rejects when no
 * process is free or alive.
 */
export class ProcessPool<I, J, R> {
  private readonly slots: Slot<R>[] = [];

  constructor(moduleUrl: URL, size: number, init: I, onEvent: (event: unknown) => void = () => {}) {
    for (let i = 0; i < size; i++) {
      const child = forkModule(moduleUrl);
      const slot: Slot<R> = { child };
      child.on("message", (m: FromChild<R>) => {
        if (m.kind === "event") return onEvent(m.event);
        const busy = slot.busy;
        slot.busy = undefined;
        if (!busy) return;
        if (m.ok) busy.resolve(m.value);
        else busy.reject(new Error(m.error));
      });
      child.on("exit", (code, signal) => {
        slot.exited = signal ? `signal ${signal}` : `exit code ${code}`;
        slot.busy?.reject(new Error(`the worker process ended (${slot.exited})`));
        slot.busy = undefined;
      });
      child.on("error", (err) => {
        slot.busy?.reject(err);
        slot.busy = undefined;
      });
      child.send({ kind: "init", init } satisfies ToChild<I, J>);
      this.slots.push(slot);
    }
  }

  run(job: J): Promise<R> {
    const slot = this.slots.find((s) => !s.busy && !s.exited);
    if (!slot) return Promise.reject(new Error("no worker process is free"));
    return new Promise<R>((resolve, reject) => {
      slot.busy = { resolve, reject };
      slot.child.send({ kind: "job", job } satisfies ToChild<I, J>);
    });
  }

  /** Ends every process (they exit when their channel closes) and waits for them. */
  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.exited || s.child.exitCode !== null) return resolve();
            s.child.once("exit", () => resolve());
            s.child.disconnect();
          }),
      ),
    );
  }
}

/**
 * The child's side of a ProcessPool: `setup` turns the init message into a job handler; each job's
 * result or error goes back to the parent. The process exits when the parent goes away (closed pool,
 * parent killed), so no orphan keeps computing.
 */
export function serveJobs<I, J, R>(
  setup: (init: I) => (job: J, emit: (event: unknown) => void) => Promise<R> | R,
): void {
  let handler: ((job: J, emit: (event: unknown) => void) => Promise<R> | R) | undefined;
  let setupError: string | undefined;
  // A parent that went away mid-job (closed pool, Ctrl-C) cannot be told: the callback keeps the failed
  // send from becoming an uncaught EPIPE, and "disconnect" ends this process.
  const send = (m: FromChild<R>) => process.send?.(m, undefined, {}, () => {});
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (m: ToChild<I, J>) => {
    if (m.kind === "init") {
      try {
        handler = setup(m.init);
      } catch (err) {
        setupError = describeError(err);
      }
      return;
    }
    try {
      if (!handler) throw new Error(setupError ?? "the worker process was not initialised");
      send({
        kind: "result",
        ok: true,
        value: await handler(m.job, (event) => send({ kind: "event", event })),
      });
    } catch (err) {
      send({ kind: "result", ok: false, error: describeError(err) });
    }
  });
}
