// A worker process of organ-cache.ts: measures the exams it is sent, one at a time, into their cache files
// (atomically), exactly as the parent would in-process. One libtorch thread: the parallelism is the pool's.
import { serveJobs } from "../core/index.ts";
import { loadSegmenter } from "../segment/index.ts";
import { setNumThreads } from "../torch/index.ts";
import { type MaskSource, type OrganJob, type OrganWorkerInit, runOrganJob } from "./organ-cache.ts";

serveJobs<OrganWorkerInit, OrganJob, null>((init) => {
  setNumThreads(1);
  const source: MaskSource =
    init.source.kind === "files"
      ? init.source
      : {
          kind: "network",
          segmenter: loadSegmenter(init.source.weightsPath),
          weightsPath: init.source.weightsPath,
          ...(init.source.role ? { role: init.source.role } : {}),
        };
  return async (job) => {
    await runOrganJob(init.workdir, source, job);
    return null;
  };
});
