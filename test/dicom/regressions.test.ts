// Inputs that once crashed, exhausted memory or passed with a wrong header (test/fixtures/dicom-regressions,
// README there): each is refused with its code, its field and the file, at indexing or at decoding.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { describeError, LiverstiffError } from "../../src/core/index.ts";
import { indexDicom, readFramePixels } from "../../src/dicom/index.ts";

const DIR = fileURLToPath(new URL("../fixtures/dicom-regressions/", import.meta.url));

// file -> [code, a pattern of the reason, the field named, where it is caught]
const EXPECTED: Record<string, [string, RegExp, RegExp | undefined, "index" | "pixels"]> = {
  "frames_1e9_jpegls.dcm": [
    "inconsistent-header",
    /declares 1000000000 frames.*1 fragment/,
    /NumberOfFrames/,
    "index",
  ],
  "frames_2147483648_jpegls.dcm": [
    "inconsistent-header",
    /"2147483648", not a whole number of frames from 1/,
    /NumberOfFrames/,
    "index",
  ],
  "frames_4294967297_jpegls.dcm": ["inconsistent-header", /"4294967297"/, /NumberOfFrames/, "index"],
  "frames_1e308_jpegls.dcm": [
    "inconsistent-header",
    /"1e308", not a whole number/,
    /NumberOfFrames/,
    "index",
  ],
  "frames_1e308_native.dcm": ["inconsistent-header", /"1e308"/, /NumberOfFrames/, "index"],
  "frames_100000_single_fragment_jpegls.dcm": [
    "inconsistent-header",
    /declares 100000 frames.*holds 1 fragment/,
    /NumberOfFrames/,
    "index",
  ],
  "rows_cols_65535_native.dcm": [
    "too-large",
    /65535 rows x 65535 columns .* above the limit of 2147483648 bytes/,
    /Rows/,
    "index",
  ],
  "rescale_intercept_1e308_native.dcm": [
    "inconsistent-header",
    /RescaleIntercept 1e\+308 .*non-finite/,
    /RescaleIntercept/,
    "index",
  ],
  "nested_sequences_5000_native.dcm": [
    "parse-error",
    /nested more than 32 deep/,
    /sequence \(0040,0275\)/,
    "index",
  ],
  "offset_table_inside_fragment_jpegls.dcm": [
    "inconsistent-header",
    /Basic Offset Table's entry for frame 0 \(offset 10\) is not the start of a fragment/,
    /PixelData/,
    "index",
  ],
  "stream_dims_mismatch_jpegls.dcm": [
    "inconsistent-header",
    /JPEG-LS stream is 64x65535, the header says 64x64/,
    /Rows/,
    "pixels",
  ],
  "fuzz_s20261203_i2246_jpegll_fragment.dcm": [
    "decode-error",
    /JPEG lossless decoder failed: corrupt or unsupported stream/,
    undefined,
    "pixels",
  ],
  "fuzz_s1_i301_syntax_implicit.dcm": [
    "truncated",
    /element \(\w{4},\w{4}\) declares \d+ bytes/,
    /\(/,
    "index",
  ],
};

test("every regression input has an expectation", () => {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith(".dcm"))
    .sort();
  assert.deepEqual(files, Object.keys(EXPECTED).sort());
});

test("regression inputs are refused with a code, the field and the file, never raw parser text", async () => {
  const idx = await indexDicom([DIR]);
  for (const [name, [code, reason, field, stage]] of Object.entries(EXPECTED)) {
    const file = join(DIR, name);
    const issue = [...idx.errors, ...idx.skipped].find((i) => i.file === file);
    if (stage === "index") {
      assert.ok(issue, `${name}: expected an index error`);
      assert.equal(issue.code, code, `${name}: ${issue.reason}`);
      assert.match(issue.reason, reason, name);
      if (field) assert.match(issue.field ?? "", field, `${name}: field`);
      assert.doesNotMatch(issue.reason, /dicomParser|Maximum call stack|RangeError/, name);
      continue;
    }
    // Indexed alone: the files derived from one fixture share its SOPInstanceUID.
    const own = await indexDicom([file]);
    assert.deepEqual(own.errors, [], `${name}: indexes (its fault is in the pixel stream)`);
    const frame = own.series[0]?.frames[0];
    assert.ok(frame, name);
    const err = await readFramePixels(frame).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof LiverstiffError, `${name}: a LiverstiffError`);
    assert.equal(err.context.code, code, describeError(err));
    assert.equal(err.context.file, file);
    assert.match(err.message, reason);
    if (field) assert.match(String(err.context.field), field);
  }
  // Only files whose fault is in the pixel stream made a series.
  assert.equal(idx.series.length, 1);
});
