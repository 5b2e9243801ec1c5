// A Part-10 file whose meta header starts at byte 0 (no 128-byte preamble, no "DICM"): dcmtk and pydicom
// read it; so must we, with the pixel data found at the right file offset (a 132-byte shift once hid here).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { indexDicom, readFramePixels } from "../../src/dicom/index.ts";

const FIXTURE = new URL("../fixtures/dicom/mr_small_explicit_le.dcm", import.meta.url);

test("meta header without preamble: indexed, and pixels equal the original file's", async () => {
  const bytes = readFileSync(FIXTURE);
  assert.equal(bytes.subarray(128, 132).toString("latin1"), "DICM");
  const dir = mkdtempSync(join(tmpdir(), "ls-preamble-"));
  try {
    const original = join(dir, "a", "with.dcm");
    const stripped = join(dir, "b", "without.dcm");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "a"));
    mkdirSync(join(dir, "b"));
    writeFileSync(original, bytes);
    writeFileSync(stripped, bytes.subarray(132));
    const a = await indexDicom([join(dir, "a")]);
    const b = await indexDicom([join(dir, "b")]);
    assert.deepEqual(b.errors, []);
    assert.equal(b.series.length, 1);
    const pa = await readFramePixels(a.series[0]!.frames[0]!);
    const pb = await readFramePixels(b.series[0]!.frames[0]!);
    assert.equal(pb.length, pa.length);
    assert.deepEqual(pb, pa);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
