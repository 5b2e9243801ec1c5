// Writes test/fixtures/dicom-regressions/: the header-bomb inputs found by the audit of the DICOM reader
// and the fuzz mutants that once failed, each derived from a fixture of test/fixtures/dicom.
// Run: node --import tsx test/dicom/fuzz/make-regressions.ts
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defaultCorpus } from "./corpus.ts";
import { layoutOf, nestedSequences, setTextElement, setUsElement } from "./mutate.ts";
import { mutants } from "./run.ts";

const OUT = fileURLToPath(new URL("../../fixtures/dicom-regressions/", import.meta.url));
const FIX = fileURLToPath(new URL("../../fixtures/dicom/", import.meta.url));
const read = (name: string) => new Uint8Array(readFileSync(`${FIX}${name}`));
const jpegls = read("mr_small_jpegls.dcm");
const native = read("mr_small_explicit_le.dcm");

function frames(bytes: Uint8Array, value: string): Uint8Array {
  return setTextElement(bytes, layoutOf(bytes)!, 0x00280008, "IS", value);
}

const files: Record<string, Uint8Array> = {
  "frames_1e9_jpegls.dcm": frames(jpegls, "1000000000"),
  "frames_2147483648_jpegls.dcm": frames(jpegls, "2147483648"),
  "frames_4294967297_jpegls.dcm": frames(jpegls, "4294967297"),
  "frames_1e308_jpegls.dcm": frames(jpegls, "1e308"),
  "frames_1e308_native.dcm": frames(native, "1e308"),
  "frames_100000_single_fragment_jpegls.dcm": frames(jpegls, "100000"),
  "rows_cols_65535_native.dcm": (() => {
    const a = setUsElement(native, layoutOf(native)!, 0x00280010, 65535);
    return setUsElement(a, layoutOf(a)!, 0x00280011, 65535);
  })(),
  "rescale_intercept_1e308_native.dcm": setTextElement(native, layoutOf(native)!, 0x00281052, "DS", "1e308"),
  "nested_sequences_5000_native.dcm": nestedSequences(native, layoutOf(native)!, 5000),
};

// Offset table whose entry points inside a fragment ("unable to find fragment that matches basic offset").
{
  const l = layoutOf(jpegls)!;
  const at = l.fragmentsAt!;
  const dv = new DataView(jpegls.buffer, jpegls.byteOffset, jpegls.byteLength);
  const botLen = dv.getUint32(at + 4, true);
  const table = new Uint8Array(12);
  const tv = new DataView(table.buffer);
  tv.setUint16(0, 0xfffe, true);
  tv.setUint16(2, 0xe000, true);
  tv.setUint32(4, 4, true);
  tv.setUint32(8, 10, true);
  const out = new Uint8Array(jpegls.length - 8 - botLen + 12);
  out.set(jpegls.subarray(0, at), 0);
  out.set(table, at);
  out.set(jpegls.subarray(at + 8 + botLen), at + 12);
  files["offset_table_inside_fragment_jpegls.dcm"] = out;
}

// The JPEG-LS stream's frame header says 64 x 65535 while the header says 64 x 64.
{
  const out = Uint8Array.from(jpegls);
  const sof = Buffer.from(out.buffer).indexOf(Buffer.from([0xff, 0xf7]));
  out[sof + 5] = 0xff;
  out[sof + 6] = 0xff;
  files["stream_dims_mismatch_jpegls.dcm"] = out;
}

// Fuzz mutants that failed before the fixes (seed, index): kept byte for byte.
const FAILED: [seed: number, index: number, name: string][] = [
  [1, 301, "fuzz_s1_i301_syntax_implicit.dcm"],
  [20261203, 2246, "fuzz_s20261203_i2246_jpegll_fragment.dcm"],
];
// Kept once written: a later change of the mutators draws other mutants from the same seed.
for (const [seed, index, name] of FAILED) {
  if (existsSync(`${OUT}${name}`)) continue;
  for (const m of mutants(defaultCorpus(), seed, index + 1)) if (m.index === index) files[name] = m.bytes;
}

for (const [name, bytes] of Object.entries(files)) writeFileSync(`${OUT}${name}`, bytes);
process.stdout.write(`${Object.keys(files).length} files written to ${OUT}\n`);
