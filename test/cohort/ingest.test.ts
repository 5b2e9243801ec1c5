import assert from "node:assert/strict";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  Catalog,
  DEFAULT_DICOM_API,
  type DicomApi,
  ingest,
  loadPrepared,
  openCatalog,
  prepareExam,
} from "../../src/cohort/index.ts";
import type { DicomIndex, SeriesInfo } from "../../src/dicom/types.ts";
import { type FakeStudy, fakeSeries, readFakePixels } from "../fixtures/cohort/series.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-ingest-");

const S = (n: number, extra: Partial<FakeStudy> = {}): FakeStudy => ({
  studyInstanceUid: `1.2.826.0.1.${n}`,
  patientId: `PAT${n}`,
  accessionNumber: `ACC${n}`,
  studyDate: "2024-02-0" + n,
  institutionName: "Hospital A",
  ...extra,
});

function cohort(): SeriesInfo[] {
  const good = S(1);
  const noT2 = S(2);
  const mixed = S(3);
  const fallback = S(4);
  const unlabelled = S(5);
  return [
    fakeSeries(good, { kind: "loc", seriesNumber: 1, slices: 3 }),
    fakeSeries(good, { kind: "t2", seriesNumber: 2 }),
    fakeSeries(good, { kind: "t1_dual", seriesNumber: 3 }),
    fakeSeries(noT2, { kind: "t1_dual", seriesNumber: 3 }),
    fakeSeries(mixed, { kind: "t2", seriesNumber: 2, tiltSlice: 4 }),
    fakeSeries(mixed, { kind: "t1_dual", seriesNumber: 3 }),
    // Two T2w: the one with more slices (ranked first by dicom/) has a gap, so the earlier one is used.
    fakeSeries(fallback, { kind: "t2", seriesNumber: 2 }),
    fakeSeries(fallback, {
      kind: "t2",
      seriesNumber: 7,
      positions: Array.from({ length: 14 }, (_, k) => (k < 7 ? k * 6 : k * 6 + 6)),
    }),
    fakeSeries(fallback, { kind: "t1_dual", seriesNumber: 3 }),
    fakeSeries(unlabelled, { kind: "t2", seriesNumber: 2 }),
    fakeSeries(unlabelled, { kind: "t1_dual", seriesNumber: 3 }),
  ];
}

function fakeApi(series: SeriesInfo[], counter: { pixels: number }): DicomApi {
  return {
    ...DEFAULT_DICOM_API,
    indexDicom: async (): Promise<DicomIndex> => ({
      series,
      patients: [],
      skipped: [{ file: "/data/README.txt", code: "not-dicom", reason: "no DICM preamble" }],
      errors: [
        {
          file: "/data/bad/trunc.dcm",
          code: "truncated",
          reason: "truncated file: pixel data needs 2048 bytes, 100 present",
        },
        { file: "/data/ct.dcm", code: "not-mr", reason: "modality CT is not MR" },
      ],
      filesSeen: 200,
      filesIndexed: 197,
      bytesRead: 1,
    }),
    readFramePixels: (f) => {
      counter.pixels++;
      return readFakePixels(f);
    },
  };
}

const labels = join(tmp, "mre.csv");
writeFileSync(
  labels,
  [
    "accession,kpa,site",
    "ACC1,2.9,North Clinic",
    "ACC2,3.4,",
    "ACC3,4.4,",
    "ACC4,5.1,",
    "ACC9,3.3,", // no such exam
    "ACC4,bad,",
  ].join("\n"),
);

describe("ingest pipeline (hand-built series, real classifier and picker)", () => {
  const workdir = join(tmp, "work");
  const series = cohort();
  const counter = { pixels: 0 };
  let first: Awaited<ReturnType<typeof ingest>>;

  it("catalogs every exam and summarises usable and excluded ones by reason", async () => {
    first = await ingest({
      roots: [tmp],
      labelsCsv: labels,
      workdir,
      dicom: fakeApi(series, counter),
      prep: { slices: 5, size: 32, fovMm: 300 },
      idSalt: "site-secret",
    });
    assert.equal(first.examsFound, 5);
    assert.equal(first.usable, 2);
    assert.equal(first.usableImages, 3);
    assert.deepEqual(first.excludedByReason, { no_t2: 1, t2_unusable: 1, no_label: 1 });
    assert.deepEqual(first.fileErrors, { truncated: 1, "not-mr": 1 });
    assert.equal(first.filesSkipped, 1);
    assert.deepEqual(first.prepared, { computed: 3, reused: 0, failed: 0 });
    assert.deepEqual(first.labelIssues, { non_numeric: 1, unmatched: 1 });
    assert.deepEqual(
      first.labelIssueRows.map((i) => [i.line, i.kind]),
      [
        [6, "unmatched"],
        [7, "non_numeric"],
      ],
    );
    assert.match(first.labelIssueRows[0]!.message, /no exam matches \(accession ACC9\)/);
    assert.equal(first.labelRows, 6);
    assert.ok(counter.pixels > 0);
  });

  it("stores exams with scanner, site (labels take precedence) and hashed patient ids", () => {
    const cat = openCatalog(workdir);
    try {
      const exams = cat.exams();
      const good = exams.find((e) => e.accessionNumber === "ACC1")!;
      assert.equal(good.kpa, 2.9);
      assert.equal(good.site, "North Clinic");
      assert.equal(good.siteSource, "labels");
      assert.equal(good.vendor, "Siemens");
      assert.equal(good.fieldStrengthT, 1.5);
      assert.equal(good.sex, "F");
      assert.deepEqual(good.roles, ["t1_in", "t1_opp", "t2"]);
      assert.match(good.patientKey, /^p_[0-9a-f]{16}$/);
      assert.ok(!exams.some((e) => e.patientKey.includes("PAT")));
      const fourth = exams.find((e) => e.accessionNumber === "ACC4")!;
      assert.equal(fourth.site, "Hospital A");
      assert.equal(fourth.siteSource, "institution");
      assert.deepEqual(
        cat.usableExams().map((e) => e.accessionNumber),
        ["ACC1", "ACC4"],
      );
      assert.equal(cat.usableExams({ requireLabel: false }).length, 3);
    } finally {
      cat.close();
    }
  });

  it("an exam without T2w is excluded with that reason", () => {
    const cat = openCatalog(workdir);
    try {
      const e = cat.exams().find((x) => x.accessionNumber === "ACC2")!;
      assert.equal(e.usable, false);
      assert.equal(e.exclusionReason, "no T2w series");
      assert.equal(e.kpa, 3.4);
      const x = cat.exclusions({ examId: e.examId });
      assert.deepEqual(
        x.map((r) => [r.scope, r.code]),
        [["exam", "no_t2"]],
      );
    } finally {
      cat.close();
    }
  });

  it("a series with mixed orientation is excluded per series, and its exam with the reason", () => {
    const cat = openCatalog(workdir);
    try {
      const e = cat.exams().find((x) => x.accessionNumber === "ACC3")!;
      assert.equal(e.usable, false);
      assert.match(e.exclusionReason!, /^T2w series cannot be used: mixed slice orientations in one series/);
      const x = cat.exclusions({ examId: e.examId });
      assert.deepEqual(
        x.map((r) => [r.scope, r.code]),
        [
          ["series", "mixed_orientation"],
          ["exam", "t2_unusable"],
        ],
      );
    } finally {
      cat.close();
    }
  });

  it("falls back to the next T2w candidate when the first cannot be assembled, and says why", () => {
    const cat = openCatalog(workdir);
    try {
      const e = cat.exams().find((x) => x.accessionNumber === "ACC4")!;
      assert.equal(e.usable, true);
      const s = cat.series(e.examId).filter((r) => r.role === "t2");
      assert.deepEqual(
        s.map((r) => [r.seriesNumber, r.chosen]),
        [
          [2, true],
          [7, false],
        ],
      );
      assert.match(s[1].note!, /cannot be used: 1 missing slice/);
      assert.match(s[0].note!, /series 7 ranked first but cannot be used/);
      const t1 = cat.series(e.examId).filter((r) => r.seriesNumber === 3);
      assert.deepEqual(
        t1.map((r) => [r.role, r.echoTimeMs]),
        [
          ["t1_opp", 2.3],
          ["t1_in", 4.6],
        ],
      );
    } finally {
      cat.close();
    }
  });

  it("records per-file and per-row reasons in the exclusions", () => {
    const cat = openCatalog(workdir);
    try {
      const files = cat.exclusions({ scope: "file" });
      assert.deepEqual(
        files.map((f) => [f.ref, f.code]),
        [
          ["/data/bad/trunc.dcm", "truncated"],
          ["/data/ct.dcm", "not-mr"],
        ],
      );
      const rows = cat.exclusions({ scope: "label" });
      assert.deepEqual(
        rows.map((r) => [r.ref, r.code]),
        [
          ["labels:6", "unmatched"],
          ["labels:7", "non_numeric"],
        ],
      );
    } finally {
      cat.close();
    }
  });

  it("writes prepared inputs per role that later stages can load", () => {
    const cat = openCatalog(workdir);
    const e = cat.usableExams()[0];
    cat.close();
    const p = loadPrepared(workdir, e.examId, first.prepName);
    assert.equal(first.prepName, "s5-32-mm300-zscore-f32");
    assert.deepEqual(Object.keys(p.roles).sort(), ["t1_in", "t1_opp", "t2"]);
    assert.equal(p.roles.t2!.length, 5 * 32 * 32);
    assert.equal(p.meta["t2.dims"], "32x32x12");
    // z-scored over the volume: the background of the 300 mm field (beyond the 45 mm image) is one value.
    assert.ok(Number.isFinite(p.roles.t2![0]));
    assert.notEqual(p.roles.t2![16 * 32 + 16], p.roles.t2![0]);
  });

  it("prepareExam makes another preparation of a catalogued exam from its recorded frames, then reuses it", async () => {
    const cat = Catalog.open(workdir);
    try {
      const e = cat.usableExams()[0];
      let reads = 0;
      const reader = (f: Parameters<typeof readFakePixels>[0]) => {
        reads++;
        return readFakePixels(f);
      };
      const prep = { slices: 3, size: 16, inPlane: "pixels" as const, cropPx: 24, roles: ["t2" as const] };
      const p = await prepareExam(cat, e.examId, prep, reader);
      assert.equal(p.prepName, "s3-16-px24-zscore-f32");
      assert.deepEqual(Object.keys(p.roles), ["t2"]);
      assert.equal(p.roles.t2!.length, 3 * 16 * 16);
      assert.equal(reads, 12); // the 12 slices of the T2w series
      await prepareExam(cat, e.examId, prep, reader);
      assert.equal(reads, 12, "second call served from the cache");
      assert.equal(cat.prepared(e.examId, "s3-16-px24-zscore-f32")?.fingerprint, p.fingerprint);
      const excluded = cat.exams().find((x) => !x.usable)!;
      await assert.rejects(prepareExam(cat, excluded.examId, prep, reader), /exam is not usable/);
    } finally {
      cat.close();
    }
  });

  it("a second run reuses the cache and reads no pixels", async () => {
    const before = counter.pixels;
    const again = await ingest({
      roots: [tmp],
      labelsCsv: labels,
      workdir,
      dicom: fakeApi(series, counter),
      prep: { slices: 5, size: 32, fovMm: 300 },
      idSalt: "site-secret",
    });
    assert.deepEqual(again.prepared, { computed: 0, reused: 3, failed: 0 });
    assert.equal(counter.pixels, before);
    assert.equal(again.usable, 2);
    // A catalog rebuilt next to the cache lists the reused files.
    const fresh = join(tmp, "work-fresh-catalog");
    cpSync(join(workdir, "prepared"), join(fresh, "prepared"), { recursive: true });
    const rebuilt = await ingest({
      roots: [tmp],
      labelsCsv: labels,
      workdir: fresh,
      dicom: fakeApi(series, counter),
      prep: { slices: 5, size: 32, fovMm: 300 },
      idSalt: "site-secret",
    });
    assert.deepEqual(rebuilt.prepared, { computed: 0, reused: 3, failed: 0 });
    const cat = openCatalog(fresh);
    try {
      for (const e of cat.usableExams({ requireLabel: false })) {
        assert.equal(
          cat.prepared(e.examId, rebuilt.prepName)?.path,
          join(fresh, "prepared", rebuilt.prepName, `${e.examId}.safetensors`),
        );
      }
    } finally {
      cat.close();
    }
  });

  it("a new exam is the only new work", async () => {
    const extra = S(6);
    const more = [
      ...series,
      fakeSeries(extra, { kind: "t2", seriesNumber: 2 }),
      fakeSeries(extra, { kind: "t1_dual", seriesNumber: 3 }),
    ];
    const r = await ingest({
      roots: [tmp],
      labelsCsv: labels,
      workdir,
      dicom: fakeApi(more, counter),
      prep: { slices: 5, size: 32, fovMm: 300 },
      idSalt: "site-secret",
    });
    assert.deepEqual(r.prepared, { computed: 1, reused: 3, failed: 0 });
    assert.equal(r.examsFound, 6);
  });

  it("an unexpected error in one exam becomes that exam's exclusion and the run goes on", async () => {
    const good = S(7);
    const broken = S(8);
    const list = [
      fakeSeries(good, { kind: "t2", seriesNumber: 2 }),
      fakeSeries(good, { kind: "t1_dual", seriesNumber: 3 }),
    ];
    const bad = fakeSeries(broken, { kind: "t2", seriesNumber: 2 });
    const api = fakeApi([...list, bad], { pixels: 0 });
    const real = api.pickSeriesForRoles;
    api.pickSeriesForRoles = (series, rules) => {
      if (series[0].studyInstanceUid !== broken.studyInstanceUid) return real(series, rules);
      // A malformed answer (no frames) makes processing throw a TypeError.
      const choice = {
        role: "t2" as const,
        series: bad,
        decision: { role: "t2" as const, reasons: [] },
        reasons: [],
        alternatives: [],
      };
      return { chosen: { t2: { ...choice, frames: undefined as unknown as [] } }, decisions: [] };
    };
    const w = join(tmp, "work-internal");
    const r = await ingest({ roots: [tmp], workdir: w, dicom: api, prep: { slices: 5, size: 16 } });
    assert.equal(r.examsFound, 2);
    assert.equal(r.usableImages, 1);
    assert.equal(r.excludedByReason.internal_error, 1);
    const cat = openCatalog(w);
    try {
      const x = cat.exclusions({ scope: "exam" }).find((e) => e.code === "internal_error")!;
      assert.match(x.reason, /^unexpected error while processing the exam: /);
      assert.equal(cat.exams().find((e) => e.accessionNumber === "ACC8")!.usable, false);
    } finally {
      cat.close();
    }
  });
});
