import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type ExamKeys,
  matchLabels,
  parseDate,
  parseKpa,
  parseLabelsCsv,
  readLabelsCsv,
} from "../../src/cohort/index.ts";
import { LiverstiffError } from "../../src/core/index.ts";

const BROKEN = fileURLToPath(new URL("../fixtures/cohort/labels-broken.csv", import.meta.url));

describe("labels CSV", () => {
  const table = readLabelsCsv(BROKEN);
  const issue = (line: number) => table.issues.filter((i) => i.line === line).map((i) => i.kind);

  it("keeps good rows with their keys", () => {
    const good = table.rows.map((r) => [r.line, r.accessionNumber ?? r.patientId, r.kpa]);
    assert.deepEqual(good, [
      [2, "ACC001", 2.8],
      [5, "ACC004", 3.1],
      [12, "P008", 3.6],
    ]);
    assert.equal(table.rows[0].site, "North");
    assert.equal(table.rows[0].date, "2024-01-10");
  });
  it("reports a missing value", () => assert.deepEqual(issue(3), ["missing_value"]));
  it("reports a non-numeric value", () => assert.deepEqual(issue(4), ["non_numeric"]));
  it("reports a duplicate (same exam, same value) and keeps one", () =>
    assert.deepEqual(issue(6), ["duplicate"]));
  it("reports conflicting values and uses neither", () => {
    assert.deepEqual(issue(7), ["conflicting"]);
    assert.deepEqual(issue(8), ["conflicting"]);
    assert.match(table.issues.find((i) => i.line === 7)!.message, /3 vs 4\.2 kPa/);
  });
  it("reports implausible values below 0.5 and above 20 kPa", () => {
    assert.deepEqual(issue(9), ["implausible"]);
    assert.deepEqual(issue(10), ["implausible"]);
  });
  it("reports a row with no key", () => assert.deepEqual(issue(11), ["no_key"]));
  it("reports an ambiguous date format (a patient-id row cannot match without a date)", () => {
    assert.deepEqual(issue(13), ["bad_date"]);
  });

  it("parses decimal commas, units, semicolons and tabs", () => {
    assert.equal(parseKpa("3,25"), 3.25);
    assert.equal(parseKpa("4.1 kPa"), 4.1);
    assert.equal(parseKpa("4.1.2"), undefined);
    assert.equal(parseDate("20240131"), "2024-01-31");
    assert.equal(parseDate("31.01.2024"), "2024-01-31");
    assert.equal(parseDate("2024-02-30"), undefined);
    const t = parseLabelsCsv("StudyInstanceUID;Stiffness (kPa)\n1.2.3;2,9\n");
    assert.deepEqual(
      t.rows.map((r) => [r.studyInstanceUid, r.kpa]),
      [["1.2.3", 2.9]],
    );
    const tab = parseLabelsCsv("MRN\tExam Date\tLSM\nX1\t2024-03-01\t5.5\n");
    assert.deepEqual(
      tab.rows.map((r) => [r.patientId, r.date, r.kpa]),
      [["X1", "2024-03-01", 5.5]],
    );
  });

  it("asks for CSV when given a spreadsheet file", () => {
    assert.throws(
      () => readLabelsCsv("/data/mre.xlsx"),
      (e: unknown) =>
        e instanceof LiverstiffError &&
        e.context.file === "/data/mre.xlsx" &&
        /save the sheet as CSV/.test(e.message),
    );
  });

  it("refuses a sheet with no stiffness column, naming the file", () => {
    assert.throws(
      () => parseLabelsCsv("accession,value\nA,3\n", {}, "mre.csv"),
      (e: unknown) =>
        e instanceof LiverstiffError && e.context.file === "mre.csv" && /stiffness column/.test(e.message),
    );
  });
});

describe("matching labels to exams", () => {
  const exams: ExamKeys[] = [
    {
      examId: "e1",
      studyInstanceUid: "1.1",
      accessionNumber: "A1",
      patientId: "P1",
      studyDate: "2024-01-10",
    },
    {
      examId: "e2",
      studyInstanceUid: "1.2",
      accessionNumber: "A2",
      patientId: "P2",
      studyDate: "2024-01-10",
    },
    { examId: "e3", studyInstanceUid: "1.3", patientId: "P3", studyDate: "2024-01-10" },
    { examId: "e4", studyInstanceUid: "1.4", patientId: "P3", studyDate: "2024-03-10" },
    { examId: "e5", studyInstanceUid: "1.5", patientId: "P5", studyDate: "2024-05-01" },
    { examId: "e6", studyInstanceUid: "1.6", patientId: "P5", studyDate: "2024-05-05" },
  ];
  const csv = [
    "accession,study_uid,patient_id,date,kpa,site",
    "A1,,,,2.5,", // by accession
    ",1.2,,,3.5,East", // by study UID
    ",,P3,2024-03-12,4.0,", // by patient + date: nearest is e4 (2 days)
    ",,P3,2024-06-01,4.0,", // outside the window
    ",,P5,2024-05-03,3.0,", // equally near e5 and e6: ambiguous
    "ZZ,,,,3.0,", // unmatched accession
    ",1.1,,,2.5,", // same exam as line 2, same value: duplicate
  ].join("\n");

  it("matches by accession, StudyInstanceUID and patient id + nearest date within the window", () => {
    const { rows } = parseLabelsCsv(csv);
    const m = matchLabels(rows, exams, { windowDays: 7, mode: "patient-date" });
    assert.deepEqual(
      [...m.byExam.entries()].map(([id, x]) => [id, x.kpa, x.by, x.line]),
      [
        ["e1", 2.5, "accession", 2],
        ["e2", 3.5, "study_uid", 3],
        ["e4", 4, "patient_date", 4],
      ],
    );
    assert.equal(m.byExam.get("e2")!.site, "East");
    assert.deepEqual(
      m.issues.map((i) => [i.line, i.kind]),
      [
        [5, "unmatched"],
        [6, "ambiguous"],
        [7, "unmatched"],
        [8, "duplicate"],
      ],
    );
  });

  it("a narrower window leaves the patient-date row unmatched", () => {
    const m = matchLabels(parseLabelsCsv(csv).rows, exams, { windowDays: 1, mode: "patient-date" });
    assert.equal(m.byExam.has("e4"), false);
  });

  it("two rows with different values on one exam are a conflict and the exam gets no label", () => {
    const { rows } = parseLabelsCsv("accession,study_uid,kpa\nA1,,2.5\n,1.1,3.9\n");
    const m = matchLabels(rows, exams);
    assert.equal(m.byExam.has("e1"), false);
    assert.match(m.conflicts.get("e1")!, /conflicting labels: 2.5 vs 3.9 kPa \(lines 2, 3\)/);
  });

  it("strict (the default): accession or UID only; patient-id rows are listed, not matched by date", () => {
    const m = matchLabels(parseLabelsCsv(csv).rows, exams);
    assert.deepEqual(
      [...m.byExam.entries()].map(([id, x]) => [id, x.by, x.line]),
      [
        ["e1", "accession", 2],
        ["e2", "study_uid", 3],
      ],
    );
    assert.deepEqual(
      m.issues.map((i) => [i.line, i.kind]),
      [
        [4, "needs_patient_date"],
        [5, "needs_patient_date"],
        [6, "needs_patient_date"],
        [7, "unmatched"],
        [8, "duplicate"],
      ],
    );
    assert.match(m.issues[0]!.message, /needs --labels-match patient-date/);
  });

  it("a row whose accession matches nothing is not attached through patient id + date", () => {
    // Before: ZZ9 matched no exam, so the row fell through to P1 + 2024-01-10 and labelled e1.
    const { rows } = parseLabelsCsv("accession,patient_id,date,kpa\nZZ9,P1,2024-01-10,4.4\n");
    const strict = matchLabels(rows, exams);
    assert.equal(strict.byExam.size, 0);
    assert.deepEqual(
      strict.issues.map((i) => [i.line, i.kind]),
      [[2, "unmatched"]],
    );
    assert.match(
      strict.issues[0]!.message,
      /no exam matches \(accession ZZ9\); patient id \+ date is not tried/,
    );
    // Asked for explicitly, the fallback still works.
    const fallback = matchLabels(rows, exams, { mode: "patient-date" });
    assert.equal(fallback.byExam.get("e1")?.by, "patient_date");
  });

  it("a row whose accession (or UID) exists but whose patient id differs is rejected in both modes", () => {
    const { rows } = parseLabelsCsv(
      "accession,study_uid,patient_id,kpa\nA1,,P2,3.3\n,1.2,P9,3.1\nA2,,P2,2.9\n",
    );
    for (const mode of ["strict", "patient-date"] as const) {
      const m = matchLabels(rows, exams, { mode });
      assert.deepEqual([...m.byExam.keys()], ["e2"], mode);
      assert.deepEqual(
        m.issues.map((i) => [i.line, i.kind]),
        [
          [2, "patient_mismatch"],
          [3, "patient_mismatch"],
        ],
      );
      assert.match(
        m.issues[0]!.message,
        /accession number A1 belongs to an exam of patient P1, but the row names patient P2/,
      );
      assert.match(
        m.issues[1]!.message,
        /StudyInstanceUID 1\.2 belongs to an exam of patient P2, but the row names patient P9/,
      );
    }
  });

  it("the template in docs/ reads with every documented column", () => {
    const t = readLabelsCsv(fileURLToPath(new URL("../../docs/labels-template.csv", import.meta.url)));
    assert.deepEqual(Object.keys(t.columns).sort(), [
      "accessionNumber",
      "date",
      "kpa",
      "patientId",
      "site",
      "studyInstanceUid",
    ]);
    assert.equal(t.issues.length, 0);
    assert.ok(t.rows.length >= 2);
  });
});
