// Worker thread for convertToNifti (see pool.ts): runs NiftiJobs.
import { parentPort } from "node:worker_threads";
import { clearPixelCache } from "../dicom/index.ts";
import { type NiftiJob, runNiftiJob } from "./nifti-job.ts";

if (parentPort) {
  const port = parentPort;
  port.on("message", async (job: NiftiJob) => {
    const r = await runNiftiJob(job);
    clearPixelCache();
    port.postMessage(r);
  });
}
