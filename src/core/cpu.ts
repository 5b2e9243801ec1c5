import { readFileSync } from "node:fs";

/**
 * CPU seconds (user + system) used so far by this process and by the child processes it has waited for
 * (worker processes, once ended; Linux reports them in /proc, elsewhere this process only).
 */
export function processTreeCpuSeconds(): number {
  const self = process.cpuUsage();
  return (self.user + self.system) / 1e6 + endedChildrenCpuSeconds();
}

function endedChildrenCpuSeconds(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after "(comm)": state is field 3; cutime and cstime are fields 16 and 17, in USER_HZ (100).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

/** Wall and CPU time of one stage of a command; cpuCores = cpuSeconds / seconds. */
export interface StageTiming {
  stage: string;
  seconds: number;
  cpuSeconds: number;
  cpuCores: number;
}

/** Times consecutive stages: mark(stage) ends the running stage (if any) and starts the next. */
export class StageClock {
  private readonly done: StageTiming[] = [];
  private current?: { stage: string; wall: number; cpu: number };

  mark(stage?: string): void {
    const wall = performance.now();
    const cpu = processTreeCpuSeconds();
    if (this.current) {
      const seconds = (wall - this.current.wall) / 1000;
      const cpuSeconds = cpu - this.current.cpu;
      this.done.push({
        stage: this.current.stage,
        seconds,
        cpuSeconds,
        cpuCores: seconds > 0 ? cpuSeconds / seconds : 0,
      });
    }
    this.current = stage === undefined ? undefined : { stage, wall, cpu };
  }

  /** Ends the running stage and returns every stage timed so far. */
  stages(): StageTiming[] {
    this.mark();
    return [...this.done];
  }
}
