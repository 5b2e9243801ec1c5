// Worker thread: renders the exams it is sent and answers with what it wrote.
import { parentPort } from "node:worker_threads";
import { describeError } from "../core/index.ts";
import { type ExamResult, renderExam } from "./exam.ts";
import type { ExamPlan } from "./model.ts";
import { SITE_PROFILES } from "./sites.ts";

export interface WorkerJob {
  exam: ExamPlan;
  siteId: string;
  seed: number | string;
  outDir: string;
  preview: boolean;
}

export type WorkerReply = { ok: true; result: ExamResult } | { ok: false; index: number; error: string };

parentPort?.on("message", (job: WorkerJob) => {
  try {
    const site = SITE_PROFILES.find((s) => s.id === job.siteId);
    if (!site) throw new Error(`unknown site ${job.siteId}`);
    const result = renderExam({
      exam: job.exam,
      site,
      seed: job.seed,
      outDir: job.outDir,
      preview: job.preview,
    });
    parentPort?.postMessage({ ok: true, result } satisfies WorkerReply);
  } catch (err) {
    parentPort?.postMessage({
      ok: false,
      index: job.exam.index,
      error: describeError(err),
    } satisfies WorkerReply);
  }
});
