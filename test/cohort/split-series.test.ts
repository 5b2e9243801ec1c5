// Records that dicom/ split from one SeriesInstanceUID (here by SeriesNumber) stay two rows in the catalog,
// each with its own role decision and chosen flag, instead of one overwriting the other.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_DICOM_API, ingest, openCatalog } from "../../src/cohort/index.ts";
import type { SeriesInfo } from "../../src/dicom/types.ts";
import { fakeSeries, readFakePixels } from "../fixtures/cohort/series.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-split-series-");

test("two SeriesNumbers under one SeriesInstanceUID: two catalog rows, one chosen", async () => {
  const study = {
    studyInstanceUid: "1.2.826.0.9",
    patientId: "PAT9",
    accessionNumber: "ACC9",
    studyDate: "2024-03-01",
    institutionName: "Hospital A",
  };
  const uid = `${study.studyInstanceUid}.2`;
  const split = (s: SeriesInfo): SeriesInfo => ({
    ...s,
    seriesInstanceUid: uid,
    seriesId: `${uid}#sn=${s.seriesNumber}`,
    splitReason: `split: SeriesNumber ${s.seriesNumber} of SeriesInstanceUID ${uid}, which holds SeriesNumbers 2, 5`,
  });
  const series = [
    split(fakeSeries(study, { kind: "t2", seriesNumber: 2 })),
    split(fakeSeries(study, { kind: "t2", seriesNumber: 5 })),
    fakeSeries(study, { kind: "t1_dual", seriesNumber: 3 }),
  ];
  const workdir = join(tmp, "work");
  await ingest({
    roots: [tmp],
    workdir,
    dicom: {
      ...DEFAULT_DICOM_API,
      indexDicom: async () => ({
        series,
        patients: [],
        skipped: [],
        errors: [],
        warnings: [],
        filesSeen: 36,
        filesIndexed: 36,
        bytesRead: 1,
      }),
      readFramePixels: readFakePixels,
    },
    prep: { slices: 5, size: 32, fovMm: 300 },
  });
  const cat = openCatalog(workdir);
  try {
    const exam = cat.exams()[0]!;
    const t2 = cat.series(exam.examId).filter((r) => r.seriesInstanceUid === uid);
    assert.deepEqual(
      t2.map((r) => [r.seriesNumber, r.role]),
      [
        [2, "t2"],
        [5, "t2"],
      ],
    );
    // The later series wins the tie (a repeat replaces a failed acquisition), and only it is chosen.
    assert.deepEqual(
      t2.map((r) => r.chosen),
      [false, true],
    );
    assert.match(t2[1]!.reasons[0]!, /^split: SeriesNumber 5 of SeriesInstanceUID/);
  } finally {
    cat.close();
  }
});
