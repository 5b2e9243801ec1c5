import { spawn } from "node:child_process";
import { createServer } from "node:net";
import type { Command } from "commander";
import { LiverstiffError } from "../../core/index.ts";
import { optionalInteger } from "../options.ts";

interface LaunchOptions {
  nproc: string;
  masterAddr: string;
  masterPort?: string;
  threads?: string;
}

export function register(program: Command): void {
  program
    .command("launch")
    .description(
      "Start N data-parallel ranks of a liverstiff command on the local host, as torchrun does: each gets " +
        "MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and LOCAL_RANK, its output is prefixed with its rank, " +
        "and when one fails the others are stopped. E.g. liverstiff launch --nproc 2 -- pretrain --out enc.safetensors",
    )
    .requiredOption("--nproc <n>", "ranks to start")
    .option("--master-addr <host>", "where rank 0 listens", "127.0.0.1")
    .option("--master-port <port>", "its port (default: a free one)")
    .option("--threads <n>", "OMP_NUM_THREADS of each rank (default: the cores divided by the ranks)")
    .argument("<command...>", "the liverstiff command and its arguments, after --")
    .action(async (command: string[], opts: LaunchOptions) => {
      const nproc = optionalInteger("--nproc", opts.nproc)!;
      if (nproc < 1) throw new LiverstiffError("--nproc must be at least 1", { nproc: opts.nproc });
      const port = optionalInteger("--master-port", opts.masterPort) ?? (await freePort(opts.masterAddr));
      const { availableParallelism } = await import("node:os");
      const threads =
        optionalInteger("--threads", opts.threads) ?? Math.max(1, Math.floor(availableParallelism() / nproc));
      process.exitCode = await runRanks(command, { nproc, addr: opts.masterAddr, port, threads });
    });
}

/** Runs the ranks to their end; the exit code is the first failing rank's, else 0. */
function runRanks(
  command: string[],
  o: { nproc: number; addr: string; port: number; threads: number },
): Promise<number> {
  const entry = process.argv[1]!;
  const children = Array.from({ length: o.nproc }, (_, rank) => {
    const child = spawn(process.execPath, [entry, ...command], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        MASTER_ADDR: o.addr,
        MASTER_PORT: String(o.port),
        WORLD_SIZE: String(o.nproc),
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(o.nproc),
        OMP_NUM_THREADS: String(o.threads),
      },
    });
    prefixLines(child.stdout, process.stdout, `[rank ${rank}] `);
    prefixLines(child.stderr, process.stderr, `[rank ${rank}] `);
    return child;
  });
  const stopAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals) => stopAll(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let failure = 0;
  return Promise.all(
    children.map(
      (child, rank) =>
        new Promise<void>((resolve) => {
          child.on("exit", (code, signal) => {
            const status = code ?? (signal ? 128 + 15 : 1);
            if (status !== 0 && failure === 0) {
              failure = status;
              process.stderr.write(
                `launch: rank ${rank} ended with ${signal ?? `exit code ${code}`}; stopping the others\n`,
              );
              stopAll("SIGTERM");
            }
            resolve();
          });
        }),
    ),
  ).then(() => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    return failure;
  });
}

/** Copies a child's output line by line, each line prefixed (a partial last line is flushed at the end). */
function prefixLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): void {
  let rest = "";
  from.setEncoding("utf8");
  from.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) to.write(`${prefix}${line}\n`);
  });
  from.on("end", () => {
    if (rest) to.write(`${prefix}${rest}\n`);
  });
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
