// npm run bench -- fuzz [--seed S] [--count N] [--corpus DIR] [--timeout-ms T] [--heap-mb H] [--rss-mb R]
//                       [--workers W] [--keep DIR]
//
// Fuzzes the DICOM reader: seeded mutations (byte values, truncation, length fields, frame counts,
// dimensions, rescale, transfer syntax UID, fragments, sequence nesting) of a corpus (the fixtures of
// test/fixtures/dicom, or the .dcm files of --corpus DIR, plus synthetic files from src/synth's writer).
// Each mutant is read (header, frames, pixels of up to 4 frames) in a child process under a watchdog: a
// time limit per file, a V8 heap limit (--max-old-space-size) and a resident-memory limit. Counts hangs,
// aborts (the child died: heap exhausted, signal, memory limit), uncaught exceptions, uncoded errors and
// wrong frames; failing mutants are kept in --keep DIR. The last line is one JSON object.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CheckResult } from "../test/dicom/fuzz/check.ts";
import { type CorpusFile, defaultCorpus, folderCorpus, syntheticCorpus } from "../test/dicom/fuzz/corpus.ts";
import { mutants } from "../test/dicom/fuzz/run.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const seed = Number(arg("seed", "1"));
const count = Number(arg("count", "3000"));
const corpusDir = arg("corpus", "");
const timeoutMs = Number(arg("timeout-ms", "10000"));
const heapMb = Number(arg("heap-mb", "512"));
const rssMb = Number(arg("rss-mb", "1536"));
const workers = Math.max(1, Number(arg("workers", "1")));
const keep = arg("keep", join(tmpdir(), "liverstiff-fuzz-failures"));
const CHILD = fileURLToPath(new URL("./fuzz/child.ts", import.meta.url));

const corpus: CorpusFile[] = corpusDir ? [...folderCorpus(corpusDir), ...syntheticCorpus()] : defaultCorpus();
const scratch = join(tmpdir(), `liverstiff-fuzz-${process.pid}`);
mkdirSync(scratch, { recursive: true });
rmSync(keep, { recursive: true, force: true });
mkdirSync(keep, { recursive: true });

type Kind = CheckResult["outcome"] | "hang" | "abort";
const tally: Record<Kind, number> = {
  read: 0,
  coded: 0,
  uncoded: 0,
  uncaught: 0,
  wrong: 0,
  hang: 0,
  abort: 0,
};
const codes: Record<string, number> = {};
const failures: string[] = [];
let slowestMs = 0;

function log(s: string) {
  process.stdout.write(`${s}\n`);
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

const queue = [...mutants(corpus, seed, count)];
const meta = new Map(queue.map((m) => [m.index, m]));
let next = 0;

function record(index: number, kind: Kind, detail: string, code?: string) {
  tally[kind]++;
  if (code) codes[code] = (codes[code] ?? 0) + 1;
  if (kind === "read" || kind === "coded") return;
  const m = meta.get(index)!;
  const line = `${m.source} #${index} ${m.what}: ${kind} ${detail}`;
  failures.push(line);
  writeFileSync(join(keep, `s${seed}_i${index}_${kind}.dcm`), m.bytes);
  log(line);
}

/** One child working through the queue; replaced when it hangs or dies. */
function runWorker(): Promise<void> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    let current: { index: number; started: number } | undefined;
    let timer: NodeJS.Timeout | undefined;
    let killedFor: "hang" | "memory" | undefined;
    const watch = setInterval(() => {
      if (current && child.pid && rssOf(child.pid) > rssMb) {
        killedFor = "memory";
        child.kill("SIGKILL");
      }
    }, 100);
    const send = () => {
      if (next >= queue.length) {
        clearInterval(watch);
        child.kill();
        resolve();
        return;
      }
      const m = queue[next++]!;
      const path = join(scratch, `m${m.index}.dcm`);
      writeFileSync(path, m.bytes);
      current = { index: m.index, started: Date.now() };
      killedFor = undefined;
      timer = setTimeout(() => {
        killedFor = "hang";
        child.kill("SIGKILL");
      }, timeoutMs);
      child.send({ index: m.index, path });
    };
    const start = () => {
      child = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, "--import", "tsx", CHILD], {
        stdio: ["ignore", "ignore", "pipe", "ipc"],
      });
      let stderr = "";
      child.stderr?.on("data", (d) => {
        stderr = (stderr + String(d)).slice(-400);
      });
      child.on("message", (msg: { ready?: boolean; index?: number; result?: CheckResult }) => {
        if (msg.ready) return send();
        clearTimeout(timer);
        const done = current!;
        current = undefined;
        slowestMs = Math.max(slowestMs, Date.now() - done.started);
        rmSync(join(scratch, `m${done.index}.dcm`), { force: true });
        const r = msg.result!;
        record(done.index, r.outcome, r.message ?? "", r.code);
        send();
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (!current) return;
        const done = current;
        current = undefined;
        rmSync(join(scratch, `m${done.index}.dcm`), { force: true });
        if (killedFor === "hang") record(done.index, "hang", `no answer within ${timeoutMs} ms`);
        else
          record(
            done.index,
            "abort",
            killedFor === "memory"
              ? `resident memory above ${rssMb} MB`
              : `child exited (code ${code}, signal ${signal}) ${stderr.split("\n").slice(-3).join(" ")}`,
          );
        start();
      });
    };
    start();
  });
}

const t0 = Date.now();
log(
  `fuzz: seed ${seed}, ${count} mutants of ${corpus.length} files, ${workers} watchdog child(ren): ` +
    `${timeoutMs} ms, heap ${heapMb} MB, RSS ${rssMb} MB per file`,
);
await Promise.all(Array.from({ length: workers }, runWorker));
const wallS = (Date.now() - t0) / 1000;
rmSync(scratch, { recursive: true, force: true });
log(
  `${count} mutants in ${wallS.toFixed(1)} s: ${tally.read} read, ${tally.coded} refused with a code; ` +
    `${tally.hang} hangs, ${tally.abort} aborts, ${tally.uncaught} uncaught, ${tally.uncoded} uncoded, ${tally.wrong} wrong`,
);
log(
  JSON.stringify({
    bench: "fuzz",
    seed,
    mutants: count,
    corpusFiles: corpus.length,
    corpus: corpusDir || "test/fixtures/dicom + synthetic",
    hangs: tally.hang,
    aborts: tally.abort,
    uncaughtExceptions: tally.uncaught,
    uncodedErrors: tally.uncoded,
    wrongFrames: tally.wrong,
    read: tally.read,
    coded: tally.coded,
    codes,
    slowestMs,
    mutantsPerS: Math.round((count / wallS) * 10) / 10,
    wallS,
    watchdog: { timeoutMs, heapMb, rssMb },
    failuresKeptIn: failures.length ? keep : undefined,
  }),
);
process.exitCode = failures.length ? 1 : 0;
