// The prediction process: a child of the service that loads the bundle once and runs predict's own
// `predictExams` for one job at a time, so that the service's HTTP side stays responsive while the engine
// computes. It exits when the service goes away (stopped or killed).

import { join } from "node:path";
import type { MaskSource } from "../cohort/index.ts";
import { serveJobs, writeJsonAtomic } from "../core/index.ts";
import { type ExamReport, loadBundle, predictExams } from "../deploy/index.ts";
import { DEFAULT_SEGMENTER_PATH, type LabelConvention, loadSegmenter } from "../segment/index.ts";

/**
 * Where the liver and spleen masks come from, as predict takes them: the shipped segmentation network
 * (segment/, on the t2 series), a user's label maps, or none.
 */
export type OrgansFrom =
  | { kind: "network" }
  | { kind: "files"; dir: string; convention: LabelConvention }
  | { kind: "none" };

export interface PredictProcessInit {
  bundlePath: string;
  trust?: string;
  organs: OrgansFrom;
  /** Given: Grad-CAM maps for this threshold's logit, in the job's out/cams and over the figure's slices. */
  camThresholdKpa?: number;
}

function maskSource(organs: OrgansFrom): MaskSource | undefined {
  if (organs.kind === "none") return undefined;
  if (organs.kind === "files") return organs;
  const segmenter = loadSegmenter(DEFAULT_SEGMENTER_PATH);
  return { kind: "network", segmenter, role: "t2", weightsPath: DEFAULT_SEGMENTER_PATH };
}

export interface PredictJob {
  dicomDir: string;
  outDir: string;
  workDir: string;
  reportPath: string;
}

serveJobs<PredictProcessInit, PredictJob, ExamReport[]>((init) => {
  const bundle = loadBundle(init.bundlePath, init.trust ? { trust: init.trust } : {});
  const masks = maskSource(init.organs);
  return async (job) => {
    const report = await predictExams({
      inputs: [job.dicomDir],
      bundle,
      pngDir: job.outDir,
      dicomDir: job.outDir,
      workdir: job.workDir,
      ...(masks ? { masks } : {}),
      ...(init.camThresholdKpa !== undefined
        ? { camDir: join(job.outDir, "cams"), camThresholdKpa: init.camThresholdKpa }
        : {}),
    });
    writeJsonAtomic(job.reportPath, report);
    return report.exams;
  };
});
