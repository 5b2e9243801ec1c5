// Indexing: enhanced multi-frame geometry, preamble-less files, and a corpus of bad inputs generated here,
// each of which must yield a per-file reason while indexing completes.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { LiverstiffError, Rng } from "../../src/core/index.ts";
import { classifySeries, indexDicom, readFramePixels } from "../../src/dicom/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { type El, mrSlice, writeDicom } from "./write-dicom.ts";

const fixtures = fileURLToPath(new URL("../fixtures/dicom/", import.meta.url));
const work = scratchDir("liverstiff-dicom-");

function indexOf(buf: Buffer, bytes: number[]): number {
  const i = buf.indexOf(Buffer.from(bytes));
  assert.ok(i >= 0, `bytes ${bytes} not found`);
  return i;
}

test("enhanced MR: one frame per functional-group item, with per-frame geometry", async () => {
  const idx = await indexDicom([join(fixtures, "enh_vida_epi_jpegls.dcm")]);
  assert.deepEqual(idx.errors, []);
  assert.equal(idx.series.length, 1);
  const s = idx.series[0]!;
  assert.equal(s.enhanced, true);
  assert.equal(s.vendor, "Siemens");
  assert.equal(s.magneticFieldStrengthT, 3);
  assert.equal(s.repetitionTimeMs, 500);
  assert.equal(s.echoPulseSequence, "GRADIENT");
  // Derived from EchoPulseSequence and EchoPlanarPulseSequence YES; SpectrallySelectedSuppression FAT.
  assert.deepEqual(s.scanningSequence, ["GR", "EP"]);
  assert.deepEqual(s.scanOptions, ["FS"]);
  assert.deepEqual(s.echoTimesMs, [30]);
  assert.equal(s.frames.length, 6);
  // Values as dcmdump prints them from the PerFrameFunctionalGroupsSequence.
  assert.deepEqual(s.frames[0]!.imagePositionPatientMm, [-109.79, -58.4773, -5.40356]);
  assert.deepEqual(s.frames[5]!.imagePositionPatientMm, [-109.79, -58.4774, 6.59644]);
  assert.deepEqual(s.frames[3]!.pixelSpacingMm, [3.375, 3.375]);
  assert.deepEqual(s.frames[0]!.imageOrientationPatient, [1, -5e-13, 1e-6, -5e-13, 1, 1e-6]);
  assert.equal(s.frames[2]!.sliceThicknessMm, 2.4);
  assert.equal(s.frames[4]!.frameIndex, 4);
  assert.equal(s.frames[4]!.echoTimeMs, 30);
  assert.equal(s.frames[4]!.transferSyntaxUid, "1.2.840.10008.1.2.4.80");
  assert.equal(s.frames[4]!.stackId, "1");
  assert.deepEqual(
    s.frames.map((f) => f.inStackPositionNumber),
    [1, 2, 3, 4, 5, 6],
  );
});

test("classic MR in every native and compressed syntax indexes to the same series facts", async () => {
  const names = [
    "mr_small_explicit_le.dcm",
    "mr_small_implicit_le.dcm",
    "mr_small_big_endian.dcm",
    "mr_small_deflated.dcm",
    "mr_small_no_preamble.dcm",
    "mr_small_rle.dcm",
    "mr_small_jpegls.dcm",
    "mr_small_j2k.dcm",
    "mr_small_jpeg_lossless_sv1.dcm",
  ];
  for (const n of names) {
    const idx = await indexDicom([join(fixtures, n)]);
    assert.deepEqual(idx.errors, [], n);
    assert.equal(idx.series.length, 1, n);
    const s = idx.series[0]!;
    assert.equal(s.vendor, "Canon", n);
    assert.equal(s.manufacturerModelName, "MRT50H1", n);
    assert.deepEqual(s.echoTimesMs, [240], n);
    assert.equal(s.repetitionTimeMs, 4000, n);
    assert.equal(s.frames[0]!.rows, 64, n);
    assert.deepEqual(s.frames[0]!.pixelSpacingMm, [0.3125, 0.3125], n);
  }
});

test("bad inputs: each file gets a reason, good files still index", async () => {
  const dir = join(work, "bad");
  mkdirSync(join(dir, "nested", "deeper"), { recursive: true });
  const good = readFileSync(join(fixtures, "mr_small_explicit_le.dcm"));
  const jpegls = readFileSync(join(fixtures, "mr_small_jpegls.dcm"));
  copyFileSync(join(fixtures, "mr_small_explicit_le.dcm"), join(dir, "nested", "deeper", "good.dcm"));
  // A second copy of the same instance.
  copyFileSync(join(fixtures, "mr_small_explicit_le.dcm"), join(dir, "nested", "good-copy"));
  // Truncated in the pixel data, in the header, and inside encapsulated fragments.
  writeFileSync(join(dir, "truncated-pixels.dcm"), good.subarray(0, good.length - 3000));
  writeFileSync(join(dir, "truncated-header.dcm"), good.subarray(0, 700));
  writeFileSync(join(dir, "truncated-jpegls.dcm"), jpegls.subarray(0, jpegls.length - 2000));
  // No pixel data: the file ends cleanly just before the (7FE0,0010) element.
  const pixelTag = indexOf(good, [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57]);
  writeFileSync(join(dir, "no-pixels.dcm"), good.subarray(0, pixelTag));
  // Meta header but no 128-byte preamble / DICM prefix: accepted.
  writeFileSync(join(dir, "no-preamble.dcm"), good.subarray(132));
  // Unsupported transfer syntax: JPEG-LS file relabelled JPEG Extended process 3 & 5 (retired; same UID
  // length).
  const ext = Buffer.from(jpegls);
  const tsAt = ext.indexOf("1.2.840.10008.1.2.4.80");
  ext.write("1.2.840.10008.1.2.4.52", tsAt, "latin1");
  writeFileSync(join(dir, "jpeg-extended-35.dcm"), ext);
  // Another modality: (0008,0060) CS "MR" -> "CT", and a different SOP instance so it is not a duplicate.
  const ct = Buffer.from(good);
  const modAt = indexOf(ct, [0x08, 0x00, 0x60, 0x00, 0x43, 0x53, 0x02, 0x00, 0x4d, 0x52]);
  ct.write("CT", modAt + 8, "latin1");
  writeFileSync(join(dir, "ct.dcm"), ct);
  // Garbage, an empty file and a text file.
  const rng = new Rng(4);
  writeFileSync(
    join(dir, "garbage.bin"),
    Uint8Array.from({ length: 4096 }, () => rng.int(256)),
  );
  writeFileSync(join(dir, "empty"), "");
  writeFileSync(join(dir, "notes.txt"), "exported by PACS\n");

  const events: number[] = [];
  const idx = await indexDicom([dir], { onProgress: (e) => events.push(e.done) });
  const code = (name: string) =>
    [...idx.errors, ...idx.skipped].find((i) => i.file.endsWith(`/${name}`)) ?? {
      code: "(none)",
      reason: "",
    };

  assert.equal(idx.filesSeen, 12);
  assert.equal(idx.series.length, 1, "the good file (and its preamble-less twin) form one series");
  assert.equal(idx.filesIndexed, 1);
  assert.equal(code("truncated-pixels.dcm").code, "truncated");
  assert.match(code("truncated-pixels.dcm").reason, /pixel data needs 8192 bytes, 5330 present/);
  assert.equal(code("truncated-header.dcm").code, "truncated");
  assert.equal(code("truncated-jpegls.dcm").code, "truncated");
  assert.match(code("truncated-jpegls.dcm").reason, /sequence delimiter/);
  assert.equal(code("no-pixels.dcm").code, "no-pixel-data");
  assert.equal(code("jpeg-extended-35.dcm").code, "unsupported-transfer-syntax");
  assert.match(
    code("jpeg-extended-35.dcm").reason,
    /1\.2\.840\.10008\.1\.2\.4\.52 \(JPEG Extended \(Process 3 & 5/,
  );
  assert.equal(code("ct.dcm").code, "not-mr");
  assert.match(code("ct.dcm").reason, /modality CT is not MR/);
  assert.equal(code("garbage.bin").code, "not-dicom");
  assert.equal(code("empty").code, "not-dicom");
  assert.equal(code("notes.txt").code, "not-dicom");
  // The three copies of one SOP instance: one is indexed; the byte-identical copy and the preamble-less
  // one (other bytes, same pixels) are dropped duplicates, counted with the file they copy.
  const dups = idx.skipped.filter((e) => e.code === "duplicate");
  assert.deepEqual(dups.map((d) => d.file.split("/").at(-1)).sort(), ["good-copy", "no-preamble.dcm"]);
  assert.match(
    dups[0]!.reason,
    /^duplicate of .*\/nested\/deeper\/good\.dcm \(same SOPInstanceUID .*, same pixel data\)/,
  );
  assert.equal(idx.skipped.length, 5);
  assert.equal(idx.errors.length, 6);
  assert.deepEqual(idx.warnings, []);
  assert.equal(events.at(-1), 12);
});

test("a root that does not exist is reported, not thrown", async () => {
  const idx = await indexDicom([join(work, "missing-folder")]);
  assert.equal(idx.series.length, 0);
  assert.equal(idx.errors[0]!.code, "unreadable");
  assert.match(idx.errors[0]!.reason, /cannot open/);
  assert.equal(idx.filesSeen, 0);
});

test("vendor conventions in headers: UTF-8 text, GE private complex component and sequence name, ages", async () => {
  const dir = join(work, "conventions");
  mkdirSync(dir, { recursive: true });
  const common: El[] = [
    [0x00080005, "CS", "ISO_IR 192"],
    [0x00080070, "LO", "GE MEDICAL SYSTEMS"],
    [0x0008103e, "LO", "Leber T2 Übersicht"],
    [0x00100010, "PN", "Doe^Jane"],
    [0x00100030, "DA", "19700615"],
    [0x00080020, "DA", "20200614"],
    [0x00180087, "DS", 15000],
    [0x0019109c, "LO", "ssfse"],
    [0x0043102f, "SS", 1],
  ];
  for (let i = 0; i < 3; i++) writeDicom(join(dir, `im${i}.dcm`), mrSlice(common, i), `1.2.3.4.5.${i}`);
  const idx = await indexDicom([dir]);
  assert.deepEqual(idx.errors, []);
  const s = idx.series[0]!;
  assert.equal(s.seriesDescription, "Leber T2 Übersicht");
  assert.equal(s.vendor, "GE");
  assert.equal(s.magneticFieldStrengthT, 1.5, "15000 gauss");
  // Without MagneticFieldStrength, the field comes from the proton imaging frequency.
  const freqDir = join(work, "frequency");
  mkdirSync(freqDir, { recursive: true });
  writeDicom(join(freqDir, "a.dcm"), mrSlice([[0x00180084, "DS", 123.25]]));
  assert.equal((await indexDicom([freqDir])).series[0]!.magneticFieldStrengthT, 2.89);
  assert.equal(s.pulseSequenceName, "ssfse");
  assert.equal(s.complexComponent, "PHASE");
  assert.match(classifySeries(s)[0]!.reasons.at(-1)!, /phase image, not magnitude/);
  assert.equal(s.patientAgeYears, 49, "birthday one day after the study");
  assert.equal(s.studyDate, "2020-06-14");
  // Names are never read, and the birth date is not kept.
  assert.ok(!JSON.stringify(idx).includes("Doe"));
  assert.ok(!JSON.stringify(idx).includes("1970"));
  assert.equal(s.frames.length, 3);
  assert.deepEqual(
    s.frames.map((f) => f.imagePositionPatientMm[2]),
    [0, 10, 20],
  );
});

test("a file rewritten after it was decoded is decoded again", async () => {
  const path = join(work, "rewritten.dcm");
  const px = (v: number) => Uint8Array.from(Buffer.from(Uint16Array.from({ length: 16 }, () => v).buffer));
  writeDicom(path, mrSlice([[0x7fe00010, "OW", px(7)]]));
  const idx = await indexDicom([path]);
  const frame = idx.series[0]!.frames[0]!;
  assert.equal((await readFramePixels(frame))[5], 7);
  writeDicom(path, mrSlice([[0x7fe00010, "OW", px(9)]]));
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  assert.equal((await readFramePixels(frame))[5], 9);
});

test("indexing in worker threads gives the same index as one thread", async () => {
  const dir = join(work, "many");
  mkdirSync(dir, { recursive: true });
  const names = ["mr_small_explicit_le.dcm", "mr_small_jpegls.dcm", "enh_vida_epi_jpegls.dcm"];
  for (let i = 0; i < 600; i++)
    copyFileSync(join(fixtures, names[i % 3]!), join(dir, `f${String(i).padStart(4, "0")}.dcm`));
  writeFileSync(
    join(dir, "garbage.bin"),
    "not dicom at all, just text long enough to pass the size check".repeat(4),
  );
  const one = await indexDicom([dir], { workers: 0 });
  const messages: string[] = [];
  const two = await indexDicom([dir], {
    workers: 2,
    onProgress: (e) => e.message && messages.push(e.message),
  });
  assert.ok(!messages.some((m) => m.includes("worker threads failed")), messages.join("; "));
  assert.equal(one.filesSeen, 601);
  assert.equal(
    one.series.length,
    2,
    "mr_small and its JPEG-LS copy share a series; enhanced vida is another",
  );
  assert.equal(one.skipped.filter((e) => e.code === "duplicate").length, 598);
  assert.deepEqual(one.warnings, []);
  assert.deepEqual(two, one);
});

test("fuzzed headers: indexing completes, every file is accounted for, decoding fails only with reasons", async () => {
  const dir = join(work, "fuzz");
  mkdirSync(dir, { recursive: true });
  const sources = [
    "mr_small_explicit_le.dcm",
    "mr_small_implicit_le.dcm",
    "mr_small_big_endian.dcm",
    "mr_small_deflated.dcm",
    "mr_small_rle.dcm",
    "mr_small_jpegls.dcm",
    "mr_small_j2k.dcm",
    "mr_small_jpeg_lossless_sv1.dcm",
    "enh_vida_epi_jpegls.dcm",
  ].map((n) => readFileSync(join(fixtures, n)));
  const rng = new Rng("fuzz");
  const n = 450;
  for (let i = 0; i < n; i++) {
    const b = Buffer.from(sources[i % sources.length]!);
    // Corrupt a few bytes of the header or the first pixel bytes, and sometimes cut the file short.
    for (let k = 0, flips = 1 + rng.int(8); k < flips; k++)
      b[rng.int(Math.min(b.length, 3000))] = rng.int(256);
    writeFileSync(join(dir, `f${i}.dcm`), rng.bernoulli(0.2) ? b.subarray(0, rng.int(b.length)) : b);
  }
  const idx = await indexDicom([dir], { workers: 0 });
  assert.equal(idx.filesSeen, n);
  assert.equal(idx.filesIndexed + idx.errors.length + idx.skipped.length, n);
  assert.ok(idx.errors.every((e) => e.reason.length > 10 && e.file.startsWith(dir)));
  let decoded = 0;
  for (const s of idx.series) {
    for (const f of s.frames) {
      try {
        const px = await readFramePixels(f);
        assert.equal(px.length, f.rows * f.columns);
        decoded++;
      } catch (e) {
        assert.ok(e instanceof LiverstiffError, `not a LiverstiffError: ${e}`);
        assert.equal(e.context.file, f.file);
      }
    }
  }
  assert.ok(decoded > 0);
});

test("MR-modality objects that are not MR images (secondary capture, spectroscopy) are skipped with the reason", async () => {
  const dir = join(work, "not-images");
  mkdirSync(dir, { recursive: true });
  writeDicom(join(dir, "sc.dcm"), mrSlice([[0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7"]]));
  writeDicom(join(dir, "mrs.dcm"), mrSlice([[0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.4.2"]]), "1.2.3.9");
  const idx = await indexDicom([dir]);
  assert.equal(idx.series.length, 0);
  assert.deepEqual(
    idx.skipped.map((s) => [s.code, s.reason]),
    [
      ["not-image", "SOP class 1.2.840.10008.5.1.4.1.1.4.2 is not an MR image"],
      ["not-image", "SOP class 1.2.840.10008.5.1.4.1.1.7 is not an MR image"],
    ],
  );
});

test("SpacingBetweenSlices and Siemens mosaics are read onto the frame", async () => {
  const dir = join(work, "mosaic");
  mkdirSync(dir, { recursive: true });
  writeDicom(
    join(dir, "mosaic.dcm"),
    mrSlice([
      [0x00080008, "CS", "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC"],
      [0x00080070, "LO", "SIEMENS"],
      [0x00180088, "DS", 6],
      [0x0019100a, "US", 16],
    ]),
  );
  writeDicom(join(dir, "plain.dcm"), mrSlice([[0x00180088, "DS", 5.5]], 1), "1.2.3.4.6");
  const idx = await indexDicom([dir]);
  const frames = idx.series.flatMap((s) => s.frames);
  const mosaic = frames.find((f) => f.file.endsWith("mosaic.dcm"))!;
  const plain = frames.find((f) => f.file.endsWith("plain.dcm"))!;
  assert.equal(mosaic.mosaicImages, 16);
  assert.equal(mosaic.spacingBetweenSlicesMm, 6);
  assert.equal(plain.mosaicImages, undefined);
  assert.equal(plain.spacingBetweenSlicesMm, 5.5);
});
