// Replays test/fixtures/dicom/pixel-checksums.json (written by scripts/fixtures/dicom_pixel_checksums.py
// from dcmtk/GDCM + pydicom) against our decoder: every frame of every sample must give the same stored
// values. The "samples/" entries are the real samples copied into test/fixtures/dicom-samples/.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { indexDicom, readFramePixels, readFrameStoredValues } from "../../src/dicom/index.ts";

const fixturesDir = fileURLToPath(new URL("../fixtures/dicom/", import.meta.url));
// The real samples' DICOM files are fixtures too (test/fixtures/dicom-samples/README.md).
const samplesDir = fileURLToPath(new URL("../fixtures/dicom-samples/", import.meta.url));
const haveSamples = existsSync(samplesDir);

interface FrameSum {
  frame: number;
  sha256: string;
  min: number;
  max: number;
  mean: number;
  valuesBase64?: string;
}
interface FileSum {
  file: string;
  transferSyntaxUid: string;
  oracle: string;
  rows: number;
  columns: number;
  dtype: string;
  lossy: boolean;
  frames: FrameSum[];
}

const doc = JSON.parse(readFileSync(`${fixturesDir}pixel-checksums.json`, "utf8")) as { files: FileSum[] };

const ARRAY_OF: Record<string, string> = {
  uint8: "Uint8Array",
  int8: "Int8Array",
  uint16: "Uint16Array",
  int16: "Int16Array",
  uint32: "Uint32Array",
  int32: "Int32Array",
};

function pathOf(key: string): string {
  return key.startsWith("samples/") ? samplesDir + key.slice(8) : fixturesDir + key.slice(9);
}

test("the checksum fixture covers the samples and every supported codec", () => {
  const syntaxes = new Set(doc.files.map((f) => f.transferSyntaxUid));
  for (const ts of [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
  ]) {
    assert.ok(syntaxes.has(ts), `fixture lacks transfer syntax ${ts}`);
  }
  assert.ok(doc.files.filter((f) => f.file.startsWith("samples/")).length >= 10);
});

for (const entry of doc.files) {
  const path = pathOf(entry.file);
  const skip = entry.file.startsWith("samples/") && !haveSamples ? `${samplesDir} is absent` : false;
  if (skip) console.log(`# skipping ${entry.file}: ${skip}`);
  test(`pixels of ${entry.file} (${entry.oracle}) match`, { skip }, async () => {
    for (const fr of entry.frames) {
      const got = await readFrameStoredValues({ file: path, frameIndex: fr.frame });
      assert.equal(got.rows, entry.rows);
      assert.equal(got.columns, entry.columns);
      assert.equal(got.values.constructor.name, ARRAY_OF[entry.dtype], "stored value type");
      const bytes = Buffer.from(got.values.buffer, got.values.byteOffset, got.values.byteLength);
      if (!entry.lossy) {
        assert.equal(
          createHash("sha256").update(bytes).digest("hex"),
          fr.sha256,
          `frame ${fr.frame} checksum`,
        );
        continue;
      }
      // Lossy JPEG: two correct decoders may differ by rounding in the inverse DCT.
      const ref = Buffer.from(fr.valuesBase64!, "base64");
      assert.equal(bytes.length, ref.length);
      let maxDiff = 0;
      let sumDiff = 0;
      for (let i = 0; i < got.values.length; i++) {
        const d = Math.abs(got.values[i]! - (entry.dtype === "uint8" ? ref[i]! : ref.readInt16LE(2 * i)));
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
      }
      assert.ok(maxDiff <= 2, `frame ${fr.frame}: max difference ${maxDiff} grey levels`);
      assert.ok(sumDiff / got.values.length < 0.5, `frame ${fr.frame}: mean difference`);
    }
  });
}

test("readFramePixels applies rescale slope and intercept after masking BitsStored", async () => {
  const idx = await indexDicom([`${fixturesDir}mr_small_s16_bits12.dcm`]);
  assert.equal(idx.errors.length, 0, JSON.stringify(idx.errors));
  const frame = idx.series[0]!.frames[0]!;
  assert.equal(frame.rescaleSlope, 0.5);
  assert.equal(frame.rescaleIntercept, -10);
  const px = await readFramePixels(frame);
  const sum = doc.files.find((f) => f.file === "fixtures/mr_small_s16_bits12.dcm")!.frames[0]!;
  let min = Infinity;
  let max = -Infinity;
  let mean = 0;
  for (const v of px) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    mean += v;
  }
  mean /= px.length;
  assert.equal(min, sum.min * 0.5 - 10);
  assert.equal(max, sum.max * 0.5 - 10);
  assert.ok(Math.abs(mean - (sum.mean * 0.5 - 10)) < 1e-3);
});
