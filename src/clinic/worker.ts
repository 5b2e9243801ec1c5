// The prediction worker: one study at a time, in a child process that loads the bundle once
// (predict-process.ts). Each job runs predict's own `predictExams` on the job's folder, with the SR and
// Secondary Capture (`dicomDir`) and the figure (`pngDir`) written into the job's out/ folder, and the
// report's exam entries kept in the store. A child that dies fails its job and is replaced.
import { rmSync } from "node:fs";
import { describeError, ProcessPool, siblingModule } from "../core/index.ts";
import type { ExamReport } from "../deploy/index.ts";
import type { OrgansFrom, PredictJob, PredictProcessInit } from "./predict-process.ts";
import { jobPaths } from "./receive.ts";
import type { Job, JobStore } from "./store.ts";

/** A job that kept stopping the service (killed during it every time) is given up after this many. */
export const MAX_ATTEMPTS = 3;

export interface WorkerOptions {
  store: JobStore;
  /** The bundle folder (checked by the caller) and the key it must be signed with, if any. */
  bundlePath: string;
  trust?: string;
  /** Where the liver and spleen masks come from (as predict's --masks / --no-organs). */
  organs: OrgansFrom;
  /** Given: Grad-CAM maps for this threshold's logit with every prediction (serve --cam). */
  camThresholdKpa?: number;
  dataDir: string;
  /** Called after each job ends (done or failed), e.g. to store the results back into the PACS. */
  onFinished?: (job: Job) => void;
  /** One line per event, without names or dates of birth (job, study UID, outcome). */
  log?: (line: string) => void;
}

/** The exam entries of a report for a job's study, and the job's outcome. */
function outcomeOf(job: Job, exams: ExamReport[]): { category?: string; reason?: string } {
  const own = exams.filter((e) => e.studyInstanceUid === job.studyInstanceUid);
  const predicted = own.find((e) => e.status === "predicted");
  if (predicted) return { category: predicted.category?.label ?? "none" };
  const reasons = own.map((e) => e.reason).filter((r): r is string => !!r);
  return { reason: reasons.join("; ") || "predict returned no exam for the study" };
}

export class PredictionWorker {
  private readonly options: WorkerOptions;
  private wake: (() => void) | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  /** The job being predicted, if any. */
  current: Job | undefined;
  private pool: ProcessPool<PredictProcessInit, PredictJob, ExamReport[]> | undefined;

  constructor(options: WorkerOptions) {
    this.options = options;
  }

  /** Starts working through the queue (jobs left from a previous run first). */
  start(): void {
    this.loop ??= this.run();
  }

  /** A job was received: wake the loop if it is waiting. */
  notify(): void {
    this.wake?.();
  }

  /**
   * Stops taking jobs. A job being predicted goes back to "received" (it resumes at the next start); the
   * returned promise does not wait for it.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.current) this.options.store.requeue(this.current.id);
    this.notify();
    await this.pool?.close();
  }

  private process(): ProcessPool<PredictProcessInit, PredictJob, ExamReport[]> {
    const init: PredictProcessInit = {
      bundlePath: this.options.bundlePath,
      organs: this.options.organs,
      ...(this.options.trust ? { trust: this.options.trust } : {}),
      ...(this.options.camThresholdKpa !== undefined
        ? { camThresholdKpa: this.options.camThresholdKpa }
        : {}),
    };
    this.pool ??= new ProcessPool(siblingModule(import.meta.url, "predict-process"), 1, init);
    return this.pool;
  }

  private async run(): Promise<void> {
    const { store } = this.options;
    while (!this.stopping) {
      const job = store.takeNext();
      if (!job) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      this.current = job;
      await this.predict(job);
      this.current = undefined;
      if (!this.stopping) this.options.onFinished?.(store.job(job.id)!);
    }
  }

  private async predict(job: Job): Promise<void> {
    const { store, dataDir } = this.options;
    const log = this.options.log ?? (() => {});
    const paths = jobPaths(dataDir, job.id);
    if (job.attempts > MAX_ATTEMPTS) {
      store.fail(job.id, `given up after ${MAX_ATTEMPTS} attempts: the service stopped during each of them`);
      return;
    }
    log(`job ${job.id} study ${job.studyInstanceUid}: predicting (attempt ${job.attempts})`);
    const t0 = performance.now();
    try {
      rmSync(paths.out, { recursive: true, force: true });
      rmSync(paths.work, { recursive: true, force: true });
      const exams = await this.process().run({
        dicomDir: paths.dicom,
        outDir: paths.out,
        workDir: paths.work,
        reportPath: paths.report,
      });
      if (this.stopping) return;
      const { category, reason } = outcomeOf(job, exams);
      if (reason) store.fail(job.id, reason, exams);
      else store.finish(job.id, exams, category);
      log(
        `job ${job.id} study ${job.studyInstanceUid}: ${reason ? "failed" : `done, ${category}`} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    } catch (err) {
      if (this.stopping) return;
      if (/worker process (ended|was not initialised)/.test(describeError(err))) {
        // The child died (or could not load the bundle): the next job gets a fresh one.
        await this.pool?.close();
        this.pool = undefined;
      }
      store.fail(job.id, describeError(err));
      log(`job ${job.id} study ${job.studyInstanceUid}: failed`);
    } finally {
      if (!this.stopping) rmSync(paths.work, { recursive: true, force: true });
    }
  }
}
