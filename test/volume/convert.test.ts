import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { convertToNifti, readNifti } from "../../src/volume/index.ts";
import { SAMPLES, writeExam } from "../fixtures/cohort/corpus.ts";

const tmp = mkdtempSync(join(tmpdir(), "liverstiff-convert-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("convertToNifti", { skip: existsSync(SAMPLES) ? false : `sample folder absent: ${SAMPLES}` }, () => {
  it("gives identical files in-process and with worker threads, and reports unstackable series", async () => {
    const root = join(tmp, "export");
    writeExam(root, {
      n: 1,
      patientId: "P1",
      accession: "A1",
      date: "20240105",
      series: ["t2", "t1_in", "t2_mixed"],
    });
    const a = await convertToNifti({ inputs: [root], outDir: join(tmp, "a"), workers: 0 });
    const b = await convertToNifti({ inputs: [root], outDir: join(tmp, "b"), workers: 2, gzip: false });
    assert.deepEqual(
      a.converted.map((c) => [c.seriesNumber, c.role, c.dims]),
      [
        [2, "t2", [256, 256, 6]],
        [3, "t1_in", [256, 256, 6]],
      ],
    );
    assert.equal(a.failed.length, 1);
    assert.match(a.failed[0].error!, /mixed slice orientations/);
    assert.deepEqual(
      b.converted.map((c) => c.file!.replace(/.*\//, "")),
      ["002_t2_ssfse_tra.nii", "003_t1_in_phase_tra.nii"],
    );
    for (const c of a.converted) {
      const other = b.converted.find((x) => x.seriesInstanceUid === c.seriesInstanceUid)!;
      const va = readNifti(c.file!).volume;
      const vb = readNifti(other.file!).volume;
      assert.deepEqual(Array.from(va.data), Array.from(vb.data));
      assert.deepEqual(va.affine, vb.affine);
    }
    assert.deepEqual(readdirSync(join(tmp, "a")).filter((f) => f.endsWith(".json")).length, 2);
    const side = JSON.parse(readFileSync(join(tmp, "a", "003_t1_in_phase_tra.json"), "utf8"));
    assert.equal(side.EchoTime, 0.0044);
    assert.equal(side.MagneticFieldStrength, 1.5);
    assert.equal(side.Liverstiff.role, "t1_in");
  });
});
