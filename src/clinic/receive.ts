// From received DICOM files (an upload, or a study retrieved from the PACS) to jobs: the files are indexed
// (dicom/), grouped by study, each study's MR instance set is digested, and the store decides whether it
// is new, a retry of a failed job, or a study already received. A new study's files move into its job's
// folder; everything else received is deleted.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { LiverstiffError } from "../core/index.ts";
import { type DicomIndex, indexDicom } from "../dicom/index.ts";
import type { Admission, JobSource, JobStore } from "./store.ts";

/** A job's folders under the data folder: the study's files, and predict's outputs. */
export function jobPaths(dataDir: string, jobId: number) {
  const root = join(dataDir, "jobs", String(jobId));
  return {
    root,
    dicom: join(root, "dicom"),
    out: join(root, "out"),
    work: join(root, "work"),
    report: join(root, "out", "report.json"),
  };
}

/** A fresh folder for files being received; `receiveFiles` empties and removes it. */
export function stagingDir(dataDir: string): string {
  const dir = join(dataDir, "incoming", `${Date.now()}-${randomBytes(6).toString("hex")}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** sha256 of the sorted, distinct SOP Instance UIDs: the identity of a study's content. */
export function instanceDigest(sopInstanceUids: Iterable<string>): string {
  const sorted = [...new Set(sopInstanceUids)].sort();
  return createHash("sha256").update(sorted.join("\n")).digest("hex");
}

export interface ReceivedStudy extends Admission {
  studyInstanceUid: string;
  instances: number;
}

function describeNoMr(index: DicomIndex): string {
  const issues = [...index.skipped, ...index.errors];
  if (issues.length === 0) return "no files in it";
  const byCode = new Map<string, number>();
  for (const e of issues) byCode.set(e.code, (byCode.get(e.code) ?? 0) + 1);
  const parts = [...byCode.entries()].map(([code, n]) => `${n} ${code}`).join(", ");
  return `no MR image in it (${issues.length} file${issues.length > 1 ? "s" : ""}: ${parts})`;
}

/**
 * Admits every study with MR images among the files in `staging` (then removes `staging`). Throws a
 * LiverstiffError when there is no MR image at all.
 */
export async function receiveFiles(
  store: JobStore,
  dataDir: string,
  staging: string,
  source: JobSource,
  resultsGoBack = source === "pacs",
): Promise<ReceivedStudy[]> {
  try {
    const index = await indexDicom([staging], { workers: 0 });
    const studies = index.patients.flatMap((p) => p.studies);
    if (studies.length === 0) throw new LiverstiffError(`the files received hold ${describeNoMr(index)}`);
    const received: ReceivedStudy[] = [];
    for (const study of studies) {
      const frames = study.series.flatMap((s) => s.frames);
      const sops = new Set(frames.map((f) => f.sopInstanceUid));
      const admission = store.admit({
        studyInstanceUid: study.studyInstanceUid,
        ...(study.accessionNumber ? { accession: study.accessionNumber } : {}),
        instanceDigest: instanceDigest(sops),
        instances: sops.size,
        source,
        resultsGoBack,
      });
      if (admission.outcome !== "duplicate") {
        const paths = jobPaths(dataDir, admission.job.id);
        rmSync(paths.root, { recursive: true, force: true });
        mkdirSync(paths.dicom, { recursive: true });
        for (const file of new Set(frames.map((f) => f.file)))
          renameSync(file, join(paths.dicom, basename(file)));
      }
      received.push({ ...admission, studyInstanceUid: study.studyInstanceUid, instances: sops.size });
    }
    return received;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
