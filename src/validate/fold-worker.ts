// A worker process of validate/jobs.ts: trains the fold jobs it is sent, one at a time, each into its fold
// file (atomically), exactly as the parent would train it in-process.
import { serveJobs } from "../core/index.ts";
import { setNumThreads } from "../torch/index.ts";
import type { FoldWorkerInit } from "./jobs.ts";
import { type FoldContext, type FoldFile, type FoldJob, trainFoldFile } from "./run.ts";
import { recipeTrainer } from "./workdir.ts";

serveJobs<FoldWorkerInit, FoldJob, FoldFile>((init) => {
  setNumThreads(init.threads);
  const accession = new Map(init.accessions);
  const contexts = new Map<string, FoldContext>();
  for (const r of init.recipes) {
    const runner = {
      name: r.recipe.name,
      fingerprint: "",
      train: recipeTrainer(r.recipe, r.prepName, init.workdir),
    };
    contexts.set(r.recipe.name, {
      runner,
      byId: new Map(r.exams.map((e) => [e.examId, e])),
      seed: init.seed,
      accessionOf: (id) => accession.get(id),
    });
  }
  return (job) => trainFoldFile(contexts.get(job.recipe)!, job);
});
