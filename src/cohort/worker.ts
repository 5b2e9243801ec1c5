// Worker thread for ingest (see core/worker-pool.ts): assembles and prepares one exam's roles.
import { parentPort } from "node:worker_threads";
import { describeError } from "../core/index.ts";
import { clearPixelCache } from "../dicom/index.ts";
import { clearNiftiCache } from "./nifti-input.ts";
import type { PrepConfig } from "./prepare.ts";
import { type BuildResult, buildPrepared, type RoleSource } from "./prepare-exam.ts";

export interface PrepareJob {
  workdir: string;
  examId: string;
  sources: RoleSource[];
  prep: PrepConfig;
}

export type PrepareJobResult = { ok: true; result: BuildResult } | { ok: false; error: string };

if (parentPort) {
  const port = parentPort;
  port.on("message", async (job: PrepareJob) => {
    let reply: PrepareJobResult;
    try {
      reply = { ok: true, result: await buildPrepared(job.workdir, job.examId, job.sources, job.prep) };
    } catch (err) {
      reply = { ok: false, error: describeError(err) };
    }
    clearPixelCache();
    clearNiftiCache();
    port.postMessage(reply);
  });
}
