import type { ProgressSink, StageTiming } from "../core/index.ts";

/**
 * Renders stage progress for long commands: on a terminal, one redrawn line per stage with a bar, the
 * count, the ETA and the latest message; elsewhere (logs, CI), a plain line at most every few seconds
 * and at each stage's end, so a log shows that work goes on without flooding it.
 */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): {
  sink: ProgressSink;
  stop: () => void;
} {
  const tty = stream.isTTY === true;
  let stage = "";
  let stageStart = 0;
  let lastPlain = Number.NEGATIVE_INFINITY;
  let open = false;
  const finishLine = () => {
    if (tty && open) stream.write("\n");
    open = false;
  };
  const sink: ProgressSink = (e) => {
    const now = performance.now();
    if (e.stage !== stage) {
      finishLine();
      stage = e.stage;
      stageStart = now;
      lastPlain = Number.NEGATIVE_INFINITY;
    }
    const elapsed = (now - stageStart) / 1000;
    let eta = "";
    // No ETA from the first items of a long stage: they carry its start-up cost (e.g. indexing).
    if (e.total && e.done >= Math.max(1, Math.ceil(e.total * 0.02)) && e.done < e.total) {
      const remaining = (elapsed / e.done) * (e.total - e.done);
      eta = ` ETA ${formatSeconds(remaining)}`;
    }
    const count = e.total !== undefined ? `${e.done}/${e.total}` : `${e.done}`;
    const message = e.message ? `  ${e.message}` : "";
    if (tty) {
      const width = 24;
      const filled = e.total ? Math.round((width * Math.min(e.done, e.total)) / e.total) : 0;
      const bar = e.total ? `[${"#".repeat(filled)}${".".repeat(width - filled)}] ` : "";
      const line = `${stage.padEnd(16)} ${bar}${count} ${formatSeconds(elapsed)}${eta}${message}`;
      stream.write(
        `\r${line.slice(0, (stream.columns || 120) - 1).padEnd(Math.min(stream.columns || 120, 120) - 1)}`,
      );
      open = true;
    } else if (now - lastPlain > 5000 || (e.total !== undefined && e.done >= e.total)) {
      stream.write(`${stage}: ${count} (${formatSeconds(elapsed)}${eta})${message}\n`);
      lastPlain = now;
    }
  };
  return { sink, stop: finishLine };
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
