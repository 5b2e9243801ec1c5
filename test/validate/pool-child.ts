// A ProcessPool child for jobs.test.ts: doubles a number, reports an event first, fails on a negative
// number, and dies (as a crashed fold would) on "exit".
import { serveJobs } from "../../src/core/index.ts";

serveJobs<{ factor: number }, number | "exit", number>((init) => (job, emit) => {
  if (job === "exit") process.exit(3);
  emit({ pid: process.pid, job });
  if (job < 0) throw new Error(`negative job ${job}`);
  return job * init.factor;
});
