import { Presets, SingleBar } from "cli-progress";
import type { ProgressSink, StageTiming } from "../core/index.ts";

// What each stage is called on screen, where its code name says too little.
const STAGE_LABELS: Record<string, string> = {
  "dicom-index": "indexing DICOM headers",
  "cohort-prepare": "assembling and preparing exams",
  convert: "converting series",
};

let quiet = false;

/** `--quiet` (a program-wide option): no progress output from any command. */
export function setQuietProgress(value: boolean): void {
  quiet = value;
}

/** A plain line at most this often (and at every 5% of a stage, and at its end) when not on a terminal. */
const PLAIN_LINE_INTERVAL_MS = 10_000;

/**
 * The one progress display of every command. On a terminal: a cli-progress bar per stage with its count,
 * elapsed time, ETA and the latest message. Elsewhere (a log, a batch scheduler, CI): a plain line to the
 * stream every 10 s or 5% of a stage and at its end, so a log shows that work goes on without flooding it.
 * `--quiet` silences it.
 */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  sink: ProgressSink;
  stop: () => void;
} {
  if (quiet) return { sink: () => {}, stop: () => {} };
  return stream.isTTY === true ? terminalProgress(stream) : plainProgress(stream);
}

function terminalProgress(stream: NodeJS.WriteStream): { sink: ProgressSink; stop: () => void } {
  let bar: SingleBar | undefined;
  let stage = "";
  const sink: ProgressSink = (e) => {
    if (e.stage !== stage) {
      bar?.stop();
      stage = e.stage;
      bar = new SingleBar(
        {
          format: `${(STAGE_LABELS[e.stage] ?? e.stage).padEnd(30)} {bar} {value}/{total} {duration_formatted} ETA {eta_formatted} {message}`,
          stream,
          etaBuffer: 50,
          hideCursor: false,
        },
        Presets.shades_classic,
      );
      bar.start(e.total ?? 0, e.done, { message: e.message ?? "" });
    }
    if (e.total !== undefined) bar?.setTotal(e.total);
    bar?.update(e.done, { message: (e.message ?? "").slice(0, 60) });
  };
  return {
    sink,
    stop: () => {
      bar?.stop();
      bar = undefined;
      stage = "";
    },
  };
}

function plainProgress(stream: NodeJS.WriteStream): { sink: ProgressSink; stop: () => void } {
  let stage = "";
  let stageStart = 0;
  let lastLine = Number.NEGATIVE_INFINITY;
  let lastTwentieth = -1;
  const sink: ProgressSink = (e) => {
    const now = performance.now();
    if (e.stage !== stage) {
      stage = e.stage;
      stageStart = now;
      lastLine = Number.NEGATIVE_INFINITY;
      lastTwentieth = -1;
    }
    const elapsed = (now - stageStart) / 1000;
    const twentieth = e.total ? Math.floor((20 * e.done) / e.total) : -1;
    const finished = e.total !== undefined && e.done >= e.total;
    if (!(finished || now - lastLine >= PLAIN_LINE_INTERVAL_MS || twentieth > lastTwentieth)) return;
    let eta = "";
    // No ETA from the first items of a long stage: they carry its start-up cost (e.g. indexing).
    if (e.total && e.done >= Math.max(1, Math.ceil(e.total * 0.02)) && e.done < e.total)
      eta = ` ETA ${formatSeconds((elapsed / e.done) * (e.total - e.done))}`;
    const count = e.total !== undefined ? `${e.done}/${e.total}` : `${e.done}`;
    stream.write(
      `${STAGE_LABELS[stage] ?? stage}: ${count} (${formatSeconds(elapsed)}${eta})${e.message ? `  ${e.message}` : ""}\n`,
    );
    lastLine = now;
    lastTwentieth = twentieth;
  };
  return { sink, stop: () => {} };
}

export function formatSeconds(s: number): string {
  const whole = Math.round(s); // round once, so that 119.6 s reads 2m00s, not 1m60s
  if (whole < 60) return `${whole}s`;
  const m = Math.floor(whole / 60);
  return `${m}m${String(whole - 60 * m).padStart(2, "0")}s`;
}

/** Wall time and CPU use per stage, and their total: where a long command spent its time. */
export function stageTable(stages: readonly StageTiming[]): string {
  const total = stages.reduce(
    (a, s) => ({ seconds: a.seconds + s.seconds, cpuSeconds: a.cpuSeconds + s.cpuSeconds }),
    { seconds: 0, cpuSeconds: 0 },
  );
  // Tenths below 10 s: short stages would all read "0s".
  const time = (x: number) => (x < 9.95 ? `${x.toFixed(1)}s` : formatSeconds(x));
  const line = (name: string, seconds: number, cpuSeconds: number) =>
    `${name.padEnd(10)} ${time(seconds).padStart(7)} ${time(cpuSeconds).padStart(7)} ${(seconds > 0 ? cpuSeconds / seconds : 0).toFixed(2).padStart(6)}`;
  return [
    `${"stage".padEnd(10)} ${"wall".padStart(7)} ${"CPU".padStart(7)} ${"cores".padStart(6)}`,
    ...stages.map((s) => line(s.stage, s.seconds, s.cpuSeconds)),
    line("total", total.seconds, total.cpuSeconds),
  ].join("\n");
}
