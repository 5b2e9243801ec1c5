// `liverstiff ingest` prepares, unless told otherwise, exactly the inputs the shipped liverstiff recipe reads
// (the preparation comes from the recipe, not from a copied number), so that `validate` after it prepares
// nothing again and never needs the DICOM files a second time.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ingestPreparation } from "../../src/cli/commands/ingest.ts";
import { prepName } from "../../src/cohort/index.ts";
import { ensurePrepared, prepareRecipe } from "../../src/validate/workdir.ts";
import { TEMPLATE } from "../fixtures/cohort/corpus.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { makeSeriesFromTemplate } from "../fixtures/volume/make-series.ts";

const dir = scratchDir("ls-ingest-defaults-");

type Opts = Parameters<typeof ingestPreparation>[0];
const cliOptions = (o: Partial<Opts>) => o as Opts;

describe("ingest's default preparation", () => {
  it("is the liverstiff recipe's (s9-128-mm400-zscore-f32); a flag replaces one field, --recipe another recipe's", async () => {
    const recipe = prepareRecipe("liverstiff");
    assert.equal(recipe.prepName, "s9-128-mm400-zscore-f32");
    assert.equal(prepName(await ingestPreparation(cliOptions({}))), recipe.prepName);
    assert.equal(prepName(await ingestPreparation(cliOptions({ slices: "5" }))), "s5-128-mm400-zscore-f32");
    assert.equal(prepName(await ingestPreparation(cliOptions({ dtype: "f16" }))), "s9-128-mm400-zscore-f16");
    assert.equal(
      prepName(await ingestPreparation(cliOptions({ recipe: "deepliver2" }))),
      prepareRecipe("deepliver2").prepName,
    );
    await assert.rejects(ingestPreparation(cliOptions({ size: "4" })), /--size must be an integer >= 8/);
    await assert.rejects(ingestPreparation(cliOptions({ recipe: "nope" })), /unknown recipe "nope"/);
  });

  it("leaves nothing for validate's default recipes to prepare", async () => {
    const root = join(dir, "export");
    const study = "1.2.826.0.1.3680043.9.7777.901";
    const gradientEcho = { ScanningSequence: "GR", SequenceVariant: "SP", EchoTrainLength: 1, FlipAngle: 70 };
    const series = [
      {
        seriesDescription: "t2_ssfse_tra",
        echoTimeMs: 90,
        repetitionTimeMs: 1400,
        extra: { ScanningSequence: "SE", SequenceVariant: "SK", EchoTrainLength: 128, FlipAngle: 90 },
      },
      { seriesDescription: "t1_in_phase_tra", echoTimeMs: 4.4, repetitionTimeMs: 180, extra: gradientEcho },
      { seriesDescription: "t1_out_phase_tra", echoTimeMs: 2.2, repetitionTimeMs: 180, extra: gradientEcho },
    ];
    series.forEach((s, i) => {
      makeSeriesFromTemplate(TEMPLATE, join(root, `s${i + 2}`), {
        ...s,
        // More slices than the recipe's 9: the shipped preparation takes the central ones.
        slices: 10,
        stepMm: 5,
        iop: [1, 0, 0, 0, 1, 0],
        seriesNumber: i + 2,
        uidRoot: `${study}.${i + 2}`,
        studyUid: study,
        patientId: "P1",
        accessionNumber: "A1",
        studyDate: "20240105",
        extra: { ...s.extra, MagneticFieldStrength: 1.5, BodyPartExamined: "ABDOMEN" },
      });
    });
    const labels = join(dir, "mre.csv");
    writeFileSync(labels, "accession,kpa\nA1,3.1\n");
    const work = join(dir, "work");
    const { main } = await import("../../src/cli/main.ts");
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    let status: number;
    try {
      status = await main(["ingest", root, "--labels", labels, "--out", work, "--no-organs", "--json"]);
    } finally {
      process.stdout.write = write;
    }
    assert.equal(status, 0);
    const summary = JSON.parse(readFileSync(join(work, "summary.json"), "utf8"));
    assert.equal(summary.usable, 1);
    assert.deepEqual(summary.prepared, { computed: 1, reused: 0, failed: 0 });
    assert.equal(summary.prepName, prepareRecipe("liverstiff").prepName);
    for (const name of ["liverstiff", "deepliver2-fast"]) {
      assert.equal(await ensurePrepared(work, prepareRecipe(name).prep, () => {}), 0, name);
    }
  });
});
