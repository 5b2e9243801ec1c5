// NIfTI files with dcm2niix/BIDS sidecars as ingest input: the same exam through DICOM and through NIfTI
// gives the same roles and the same prepared inputs.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ingest, loadPrepared, openCatalog } from "../../src/cohort/index.ts";
import { convertToNifti } from "../../src/volume/index.ts";
import { numberedExam, SAMPLES, writeExam } from "../fixtures/cohort/corpus.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-nifti-in-");
const have = existsSync(SAMPLES);

describe("NIfTI input", { skip: have ? false : `sample folder absent: ${SAMPLES}` }, () => {
  it("a BIDS-style folder of dcm2niix-like NIfTI + JSON ingests like its DICOM", async () => {
    const dcm = join(tmp, "dicom");
    writeExam(dcm, numberedExam(1, ["t2", "t1_in", "t1_opp"]));
    const bids = join(tmp, "bids", "sub-P1", "ses-20240105", "anat");
    const conv = await convertToNifti({ inputs: [dcm], outDir: bids });
    assert.equal(conv.converted.length, 3);
    writeFileSync(join(tmp, "a.csv"), "accession,kpa\nA1,3.3\n");
    writeFileSync(join(tmp, "p.csv"), "patient_id,date,kpa\nP1,2024-01-05,3.3\n");
    const prep = { slices: 5, size: 40, fovMm: 300 };
    const fromDicom = await ingest({
      roots: [dcm],
      labelsCsv: join(tmp, "a.csv"),
      workdir: join(tmp, "w1"),
      prep,
    });
    const fromNifti = await ingest({
      roots: [join(tmp, "bids")],
      labelsCsv: join(tmp, "p.csv"),
      labelsMatch: "patient-date",
      workdir: join(tmp, "w2"),
      prep,
    });
    assert.equal(fromDicom.usable, 1);
    assert.equal(fromNifti.usable, 1);
    assert.equal(fromNifti.filesSkipped, 0, "sidecars are part of their NIfTI, not skipped files");
    const c1 = openCatalog(join(tmp, "w1"));
    const c2 = openCatalog(join(tmp, "w2"));
    try {
      const e1 = c1.usableExams()[0];
      const e2 = c2.usableExams()[0];
      assert.deepEqual(e2.roles, e1.roles);
      assert.equal(e2.kpa, 3.3);
      assert.equal(e2.patientKey, "P1");
      assert.equal(e2.studyDate, "2024-01-05");
      assert.equal(e2.fieldStrengthT, 1.5);
      const p1 = loadPrepared(join(tmp, "w1"), e1.examId, fromDicom.prepName);
      const p2 = loadPrepared(join(tmp, "w2"), e2.examId, fromNifti.prepName);
      for (const role of ["t2", "t1_in", "t1_opp"] as const) {
        const a = p1.roles[role]!;
        const b = p2.roles[role]!;
        assert.equal(a.length, b.length);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        assert.ok(worst < 1e-3, `${role}: prepared inputs differ by ${worst}`);
      }
    } finally {
      c1.close();
      c2.close();
    }
  });

  it("a real dcm2niix NIfTI (UKAT Philips T2 mapping, coronal kidney) is catalogued with its sidecar's facts", async () => {
    const file = join(SAMPLES, "abd_ukat_philips_kidney_t2mese_e1.nii.gz");
    const s = await ingest({ roots: [file], workdir: join(tmp, "w3"), prep: { slices: 5, size: 32 } });
    assert.equal(s.examsFound, 1);
    assert.equal(s.filesSkipped, 0);
    const cat = openCatalog(join(tmp, "w3"));
    try {
      const e = cat.exams()[0];
      assert.equal(e.vendor, "Philips");
      assert.equal(e.fieldStrengthT, 3);
      const series = cat.series(e.examId);
      assert.equal(series.length, 1);
      assert.equal(series[0].description, "Multi_echo_10_echos_180_RFP");
      assert.equal(series[0].frames, 5);
      assert.ok(series[0].reasons.length > 0);
    } finally {
      cat.close();
    }
  });
});
