// JPEG Extended (1.2.840.10008.1.2.4.51, process 2 & 4): files encoded at run time by dcmtk's own
// `dcmcjpeg +ee` from fixtures and real samples, decoded by us and by `dcmdjpeg`, compared value for value.
// Also: truncated and corrupt 12-bit streams give coded errors naming the file, 8-bit streams keep going
// through libjpeg-turbo, and the 12-bit codec is loaded only when a 12-bit frame is decoded.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import dicomParser from "dicom-parser";
import { DicomFileError } from "../../src/dicom/errors.ts";
import { clearPixelCache, jpegFrameHeader, readFrameStoredValues } from "../../src/dicom/pixels.ts";
import { mrSlice, writeDicom } from "./write-dicom.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = join(root, "test/fixtures/dicom");
const samples = join(root, "test/fixtures/dicom-samples");
const JPEG_EXTENDED = "1.2.840.10008.1.2.4.51";

const haveDcmtk = ["dcmcjpeg", "dcmdjpeg"].every(
  (tool) => spawnSync(tool, ["--version"], { encoding: "utf8" }).status === 0,
);
const skip = haveDcmtk ? false : "dcmtk (dcmcjpeg, dcmdjpeg) is not installed: run scripts/setup.sh --test";
if (skip) console.log(`# skipping the JPEG Extended tests: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), "liverstiff-jpeg-ext-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function dcmtk(tool: string, args: string[]): void {
  const r = spawnSync(tool, args, { encoding: "utf8" });
  assert.equal(r.status, 0, `${tool} ${args.join(" ")}: ${r.stderr}`);
}

/** Encodes `source` with dcmtk as JPEG Extended, and decodes that again with dcmtk as the reference. */
function encodeExtended(name: string, source: string): { jpeg: string; reference: string } {
  const jpeg = join(dir, `${name}.dcm`);
  const reference = join(dir, `${name}.dcmdjpeg.dcm`);
  dcmtk("dcmcjpeg", ["+ee", source, jpeg]);
  dcmtk("dcmdjpeg", [jpeg, reference]);
  return { jpeg, reference };
}

function parse(file: string) {
  const ds = dicomParser.parseDicom(readFileSync(file));
  const pd = ds.elements.x7fe00010!;
  return { ds, pd };
}

/** The frame-0 JPEG stream of a single-fragment encapsulated file. */
function firstStream(file: string): Uint8Array {
  const { ds, pd } = parse(file);
  return Uint8Array.from(dicomParser.readEncapsulatedPixelDataFromFragments(ds, pd, 0, 1));
}

/** The same file with its one pixel data fragment replaced by `stream`. */
function withStream(file: string, stream: Uint8Array, out: string): string {
  const bytes = readFileSync(file);
  const { pd } = parse(file);
  assert.equal(pd.fragments?.length, 1);
  const at = pd.fragments![0]!.position;
  const body = stream.length % 2 ? Buffer.concat([stream, Buffer.from([0])]) : Buffer.from(stream);
  const item = Buffer.alloc(8);
  item.writeUInt16LE(0xfffe, 0);
  item.writeUInt16LE(0xe000, 2);
  item.writeUInt32LE(body.length, 4);
  const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  writeFileSync(out, Buffer.concat([bytes.subarray(0, at - 8), item, body, end]));
  return out;
}

function frames(file: string): number {
  return Number(parse(file).ds.string("x00280008") ?? 1);
}

async function failure(file: string): Promise<DicomFileError> {
  clearPixelCache();
  try {
    await readFrameStoredValues({ file, frameIndex: 0 });
  } catch (e) {
    assert.ok(e instanceof DicomFileError, `not a DicomFileError: ${e}`);
    return e;
  }
  assert.fail(`${file} decoded`);
}

// A full-range synthetic 12-bit slice (ramp plus noise), so that every bit of the precision is used.
function synthetic12(): string {
  const rows = 96;
  const cols = 80;
  const v = new Uint16Array(rows * cols);
  let seed = 12345;
  for (let i = 0; i < v.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const ramp = Math.round(((i % cols) / (cols - 1)) * 3800);
    v[i] = Math.min(4095, ramp + (seed >>> 24));
  }
  const file = join(dir, "synthetic12-native.dcm");
  writeDicom(file, mrSlice([[0x7fe00010, "OW", new Uint8Array(v.buffer)]], 0, rows, cols));
  return file;
}

const cases: { name: string; source: () => string; precision: number }[] = [
  { name: "synthetic12", source: synthetic12, precision: 12 },
  { name: "mr_small_s16_bits12", source: () => join(fixtures, "mr_small_s16_bits12.dcm"), precision: 12 },
  { name: "ge_mr750_brain_t1", source: () => join(samples, "ge_mr750_brain_t1.dcm"), precision: 12 },
  {
    name: "enh_philips_achieva_t1ffe_brain",
    source: () => join(samples, "enh_philips_achieva_t1ffe_brain.dcm"),
    precision: 12,
  },
  { name: "mr_small_u8", source: () => join(fixtures, "mr_small_u8.dcm"), precision: 8 },
];

for (const c of cases) {
  test(`JPEG Extended ${c.name} (${c.precision}-bit) matches dcmdjpeg exactly`, { skip }, async () => {
    const { jpeg, reference } = encodeExtended(c.name, c.source());
    const { ds } = parse(jpeg);
    assert.equal(ds.string("x00020010")?.replace(/\0/g, ""), JPEG_EXTENDED);
    const sof = jpegFrameHeader(firstStream(jpeg));
    assert.equal(sof?.precision, c.precision, "dcmcjpeg +ee sample precision");
    let pixels = 0;
    let maxDiff = 0;
    let maxValue = 0;
    const n = frames(jpeg);
    for (let f = 0; f < n; f++) {
      const ours = await readFrameStoredValues({ file: jpeg, frameIndex: f });
      const ref = await readFrameStoredValues({ file: reference, frameIndex: f });
      assert.equal(ours.values.constructor.name, ref.values.constructor.name, "stored value type");
      assert.equal(ours.values.length, ref.values.length);
      for (let i = 0; i < ref.values.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(ours.values[i]! - ref.values[i]!));
        maxValue = Math.max(maxValue, ref.values[i]!);
      }
      pixels += ref.values.length;
    }
    console.log(
      `${c.name}: ${n} frame(s), ${pixels} pixels, max |ours - dcmdjpeg| = ${maxDiff}, max ${maxValue}`,
    );
    assert.equal(maxDiff, 0);
    if (c.precision === 12) assert.ok(maxValue > 255 && maxValue < 4096, `max value ${maxValue}`);
    if (c.name === "synthetic12") assert.ok(maxValue > 3800, "the synthetic slice uses the full range");
  });
}

test("a truncated 12-bit stream is a decode-error naming the file", { skip }, async () => {
  const { jpeg } = encodeExtended("trunc-src", join(fixtures, "mr_small_s16_bits12.dcm"));
  const stream = firstStream(jpeg);
  const cut = withStream(jpeg, stream.subarray(0, stream.length >> 1), join(dir, "truncated.dcm"));
  const e = await failure(cut);
  assert.equal(e.code, "decode-error");
  assert.equal(e.context.file, cut);
  assert.match(e.message, /End Of Image/);
  // Cut inside the scan but closed with an EOI marker: the IJG decoder's own warning is refused.
  const closed = Buffer.concat([stream.subarray(0, stream.length >> 1), Buffer.from([0xff, 0xd9])]);
  const early = withStream(jpeg, closed, join(dir, "truncated-eoi.dcm"));
  const e2 = await failure(early);
  assert.equal(e2.code, "decode-error");
  assert.equal(e2.context.file, early);
  assert.match(e2.message, /premature end of data segment/i);
});

test("a corrupt 12-bit stream is a decode-error, and the codec recovers", { skip }, async () => {
  const { jpeg, reference } = encodeExtended("corrupt-src", join(fixtures, "mr_small_s16_bits12.dcm"));
  const stream = firstStream(jpeg);
  // The scan header names Huffman tables 3/3, which the stream never defines: a fatal IJG error.
  const bad = Uint8Array.from(stream);
  let sos = 2;
  while (!(bad[sos] === 0xff && bad[sos + 1] === 0xda)) sos += 2 + ((bad[sos + 2]! << 8) | bad[sos + 3]!);
  bad[sos + 6] = 0x33;
  const file = withStream(jpeg, bad, join(dir, "corrupt.dcm"));
  for (let i = 0; i < 3; i++) {
    const e = await failure(file);
    assert.equal(e.code, "decode-error");
    assert.equal(e.context.file, file);
    assert.match(e.message, /JPEG 12-bit decoder failed: .*Huffman table/i);
  }
  // Garbage where the stream should be: not JPEG at all.
  const noise = withStream(
    jpeg,
    Uint8Array.from({ length: 600 }, (_, i) => (i * 37) & 0xff),
    join(dir, "noise.dcm"),
  );
  assert.equal((await failure(noise)).code, "decode-error");
  // After the failures a good file decodes, and still as dcmdjpeg does.
  const ours = await readFrameStoredValues({ file: jpeg, frameIndex: 0 });
  const ref = await readFrameStoredValues({ file: reference, frameIndex: 0 });
  assert.deepEqual(ours.values, ref.values);
});

test("a 12-bit stream under BitsAllocated 8 is refused before decoding", { skip }, async () => {
  const { jpeg } = encodeExtended("ba8-src", join(fixtures, "mr_small_s16_bits12.dcm"));
  const bytes = Buffer.from(readFileSync(jpeg));
  const tag = Buffer.from([0x28, 0x00, 0x00, 0x01, 0x55, 0x53, 0x02, 0x00]);
  const at = bytes.indexOf(tag);
  assert.ok(at > 0);
  bytes.writeUInt16LE(8, at + 8);
  const file = join(dir, "bits-allocated-8.dcm");
  writeFileSync(file, bytes);
  const e = await failure(file);
  assert.equal(e.code, "inconsistent-header");
  assert.equal(e.context.file, file);
});

test("8-bit streams stay on libjpeg-turbo; the 12-bit codec loads on the first 12-bit frame", {
  skip,
}, () => {
  const u8ext = encodeExtended("lazy-u8", join(fixtures, "mr_small_u8.dcm")).jpeg;
  const s12 = encodeExtended("lazy-s12", join(fixtures, "mr_small_s16_bits12.dcm")).jpeg;
  const script = join(dir, "lazy.mts");
  writeFileSync(
    script,
    `import { createRequire } from "node:module";
const req = createRequire(import.meta.url);
const loaded = () => Object.keys(req.cache).some((k) => k.includes("/dcmjs-codecs/"));
const { readFrameStoredValues } = await import(${JSON.stringify(join(root, "src/dicom/index.ts"))});
const atImport = loaded();
await readFrameStoredValues({ file: ${JSON.stringify(join(fixtures, "mr_small_u8_jpeg_baseline.dcm"))}, frameIndex: 0 });
await readFrameStoredValues({ file: ${JSON.stringify(u8ext)}, frameIndex: 0 });
const after8 = loaded();
await readFrameStoredValues({ file: ${JSON.stringify(s12)}, frameIndex: 0 });
console.log(JSON.stringify({ atImport, after8, after12: loaded() }));
`,
  );
  const r = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()!), {
    atImport: false,
    after8: false,
    after12: true,
  });
});
