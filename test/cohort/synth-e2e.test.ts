// End to end on a small synthetic multi-vendor cohort written as DICOM by synth/: ingest picks no wrong
// series (checked against synth's hidden truth), joins every label, and the chosen volumes match dcm2niix.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, it } from "node:test";
import { type IngestSummary, ingest, openCatalog, readLabelsCsv } from "../../src/cohort/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { assembleBoth, assertSame, DCM2NIIX } from "../fixtures/volume/parity.ts";

interface TruthSeries {
  accession: string;
  site: string;
  series_instance_uid: string;
  series_number: number;
  role: string;
  enhanced: boolean;
  echo_roles: { echo_time_ms: number; role: string }[];
  files: string[];
}

const tmp = scratchDir("liverstiff-synth-e2e-");
const cohort = join(tmp, "cohort");
const work = join(tmp, "work");
let summary: IngestSummary;
let truth: TruthSeries[];

before(async () => {
  await synthesize({ out: cohort, exams: 8, seed: 4242, workers: 1 });
  truth = readFileSync(join(cohort, "truth-series.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as TruthSeries);
  summary = await ingest({
    roots: [join(cohort, "dicom")],
    labelsCsv: join(cohort, "labels.csv"),
    workdir: work,
    prep: { slices: 5, size: 64 },
  });
});

describe("synthetic cohort end to end", () => {
  it("finds every exam and gives each a status", () => {
    assert.equal(summary.examsFound, 8);
    const cat = openCatalog(work);
    try {
      const exams = cat.exams();
      assert.equal(exams.length, 8);
      for (const e of exams)
        assert.ok(e.usable || e.exclusionReason, `exam ${e.accessionNumber} has a status`);
      assert.ok(summary.usableImages >= 1);
    } finally {
      cat.close();
    }
  });

  it("never picks a series (or echo) for a role the truth does not give it", () => {
    const cat = openCatalog(work);
    try {
      let chosen = 0;
      for (const e of cat.exams()) {
        for (const s of cat.series(e.examId).filter((x) => x.chosen)) {
          const t = truth.find((x) => x.series_instance_uid === s.seriesInstanceUid);
          assert.ok(t, `series ${s.seriesInstanceUid} is in the truth`);
          const roles =
            s.echoTimeMs === undefined
              ? [t.role, ...t.echo_roles.map((r) => r.role)]
              : t.echo_roles
                  .filter((r) => Math.abs(r.echo_time_ms - s.echoTimeMs!) < 0.01)
                  .map((r) => r.role);
          assert.ok(
            roles.includes(s.role!),
            `${e.accessionNumber} series ${s.seriesNumber}: ${s.role} vs truth ${roles}`,
          );
          chosen++;
        }
      }
      assert.ok(chosen >= 3);
    } finally {
      cat.close();
    }
  });

  it("joins every label row to its exam with its kPa and site", () => {
    const labels = readLabelsCsv(join(cohort, "labels.csv"));
    assert.equal(labels.issues.length, 0);
    const cat = openCatalog(work);
    try {
      for (const row of labels.rows) {
        const e = cat.exams().find((x) => x.accessionNumber === row.accessionNumber);
        assert.ok(e, `exam for accession ${row.accessionNumber}`);
        assert.equal(e.kpa, row.kpa);
        assert.equal(e.site, row.site);
        assert.equal(e.siteSource, "labels");
      }
    } finally {
      cat.close();
    }
  });

  it("chosen T2w and T1w volumes (all echoes) of every vendor match dcm2niix", async (t) => {
    if (!DCM2NIIX) return t.skip("dcm2niix not installed (apt-get install dcm2niix)");
    const cat = openCatalog(work);
    const picks: TruthSeries[] = [];
    try {
      const seen = new Set<string>();
      for (const e of cat.exams()) {
        for (const role of ["t2", "t1_in"]) {
          const s = cat.series(e.examId).find((x) => x.chosen && x.role === role);
          const tr = s && truth.find((x) => x.series_instance_uid === s.seriesInstanceUid);
          if (tr && !seen.has(`${tr.site}/${role}`)) {
            seen.add(`${tr.site}/${role}`);
            picks.push(tr);
          }
        }
      }
    } finally {
      cat.close();
    }
    assert.ok(picks.length >= 4, `${picks.length} series`);
    for (const p of picks) {
      const dir = join(cohort, dirname(p.files[0]));
      const pairs = await assembleBoth(dir, join(tmp, `d2n-${p.site}-${p.series_number}`));
      assert.ok(pairs.length >= 1);
      for (const pair of pairs) assertSame(pair);
    }
  });
});
