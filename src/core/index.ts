// core/: small utilities that every stage may use (the only folder any stage may import besides its left
// neighbours). It knows nothing of MRI, livers or tensors.
export { writeAtomically, writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
export { processTreeCpuSeconds, StageClock, type StageTiming } from "./cpu.ts";
export { csvCell } from "./csv.ts";
export { describeError, LiverstiffError } from "./errors.ts";
export { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from "./float16.ts";
export { csvParse, lazyDependency, yaml, zod } from "./lazy.ts";
export { acquireLock, type FolderLock, LOCK_FILE, type LockHolder } from "./lock.ts";
export {
  codeCommit,
  codeVersion,
  MODULE_EXTENSION,
  PROJECT_ROOT,
  projectPath,
  siblingModule,
} from "./paths.ts";
export { forkModule, ProcessPool, serveJobs } from "./process-pool.ts";
export { type ProgressEvent, type ProgressSink, silentProgress } from "./progress.ts";
export { Rng } from "./rng.ts";
export { THRESHOLD_SUFFIXES, THRESHOLDS_KPA, type ThresholdKpa, type ThresholdSuffix } from "./thresholds.ts";
export { spawnWorker } from "./worker.ts";
export { WorkerPool } from "./worker-pool.ts";
