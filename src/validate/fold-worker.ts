// A worker process of validate/jobs.ts: trains the fold jobs it is sent, one at a time, each into its fold
// file (atomically), exactly as the parent would train it in-process.
import { serveJobs } from "../core/index.ts";
import { setNumThreads } from "../torch/index.ts";
import { type FoldWorkerInit, foldContexts } from "./jobs.ts";
import { type FoldFile, type FoldJob, trainFoldFile } from "./run.ts";

serveJobs<FoldWorkerInit, FoldJob, FoldFile>((init) => {
  setNumThreads(init.threads);
  const contexts = foldContexts(init);
  return (job) => trainFoldFile(contexts.get(job.recipe)!, job);
});
