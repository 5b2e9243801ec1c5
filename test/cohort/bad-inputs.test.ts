// The bad-input corpus, end to end through the real dicom/ reader and classifier: each case leaves a
// per-file, per-series, per-exam or per-row reason in the catalog's exclusions, and the run completes.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type ExclusionRecord, type IngestSummary, ingest, openCatalog } from "../../src/cohort/index.ts";
import { numberedExam, SAMPLES, writeBadFiles, writeExam } from "../fixtures/cohort/corpus.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-bad-");
const have = existsSync(SAMPLES);
const root = join(tmp, "export");
const workdir = join(tmp, "work");
let summary: IngestSummary;
let bad: Record<string, string>;
let exclusions: ExclusionRecord[];

before(async () => {
  if (!have) return;
  writeExam(root, numberedExam(1, ["t2", "t1_in", "t1_opp"]));
  writeExam(root, numberedExam(2, ["t1_in", "t1_opp"]));
  writeExam(root, numberedExam(3, ["t2_mixed", "t1_in"]));
  writeExam(root, numberedExam(4, ["t2", "t1_in"]));
  writeExam(root, numberedExam(5, ["t2", "t1_opp"]));
  bad = writeBadFiles(root, join(root, "exam1", "s2", "IM0001.dcm"));
  const labels = join(tmp, "mre.csv");
  writeFileSync(
    labels,
    [
      "Accession Number,Stiffness kPa",
      "A1,2.7", // good
      "A2,", // missing (and the exam has no T2w anyway)
      "A3,n/a", // non-numeric
      "A4,3.3",
      "A4,3.3", // duplicate
      "A5,3.0",
      "A5,4.5", // conflicting
      "A6,27", // implausible
    ].join("\n"),
  );
  summary = await ingest({ roots: [root], labelsCsv: labels, workdir, prep: { slices: 5, size: 48 } });
  const cat = openCatalog(workdir);
  exclusions = cat.exclusions();
  cat.close();
});

function fileReason(path: string): ExclusionRecord | undefined {
  return exclusions.find((x) => x.scope === "file" && x.ref === path);
}

function examReason(accession: string): ExclusionRecord[] {
  const cat = openCatalog(workdir);
  try {
    const e = cat.exams().find((x) => x.accessionNumber === accession)!;
    return cat.exclusions({ examId: e.examId });
  } finally {
    cat.close();
  }
}

describe("bad inputs: the run completes and each case is reported", {
  skip: have ? false : `sample folder absent: ${SAMPLES}`,
}, () => {
  it("completes with the good exams usable", () => {
    assert.equal(summary.examsFound, 5);
    assert.equal(summary.usable, 2); // A1 and A4 (A5's labels conflict)
    assert.equal(summary.prepared.computed, 3);
    assert.equal(summary.filesSkipped, 1); // notes.txt
  });
  it("truncated file", () => assert.equal(fileReason(bad.truncated)?.code, "truncated"));
  it("file without preamble: read as dcmtk reads it, not excluded", () => {
    // Part 10 allows readers to accept a meta header without the 128-byte preamble; dcmtk and pydicom do.
    assert.equal(fileReason(bad.noPreamble), undefined);
    const errors = Object.values(summary.fileErrors).reduce((a, b) => a + b, 0);
    assert.equal(summary.filesIndexed, summary.filesSeen - summary.filesSkipped - errors);
    assert.ok(!exclusions.some((x) => x.ref === bad.noPreamble));
  });
  it("missing pixel data", () => assert.equal(fileReason(bad.noPixels)?.code, "no-pixel-data"));
  it("unsupported transfer syntax", () => {
    const r = fileReason(bad.unsupportedSyntax);
    assert.equal(r?.code, "unsupported-transfer-syntax");
    assert.match(r!.reason, /1\.2\.840\.10008\.1\.2\.4\.100/);
  });
  it("non-MR image", () => assert.equal(fileReason(bad.nonMr)?.code, "not-mr"));
  it("mixed orientation in one series", () => {
    const r = examReason("A3");
    assert.deepEqual(
      r.map((x) => [x.scope, x.code]),
      [
        ["series", "mixed_orientation"],
        ["exam", "t2_unusable"],
      ],
    );
  });
  it("exam without T2w", () =>
    assert.deepEqual(
      examReason("A2").map((x) => [x.scope, x.code, x.reason]),
      [["exam", "no_t2", "no T2w series"]],
    ));
  it("label row: missing value", () => assert.equal(rowCode(3), "missing_value"));
  it("label row: non-numeric", () => assert.equal(rowCode(4), "non_numeric"));
  it("label row: duplicate", () => assert.equal(rowCode(6), "duplicate"));
  it("label rows: conflicting (and the exam is excluded for it)", () => {
    assert.equal(rowCode(7), "conflicting");
    assert.equal(rowCode(8), "conflicting");
    assert.deepEqual(
      examReason("A5").map((x) => [x.code, x.reason]),
      [["label_conflict", "conflicting labels: 3 vs 4.5 kPa (lines 7, 8)"]],
    );
  });
  it("label row: implausible", () => assert.equal(rowCode(9), "implausible"));
});

function rowCode(line: number): string | undefined {
  return exclusions.find((x) => x.scope === "label" && x.ref === `labels:${line}`)?.code;
}
