// convert keeps a series' stored integers (int16) when its frames allow it, without a float copy of the
// volume: the file must be byte-identical to the float path's, and the float path must take over when the
// stored values or the rescale do not fit int16.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { indexDicom, readFramePixels, readFrameStoredValues } from "../../src/dicom/index.ts";
import {
  Dataset,
  EXPLICIT_VR_LITTLE_ENDIAN,
  encodePart10,
  pixelBytes,
} from "../../src/synth/dicom-writer.ts";
import { planStack, stackStoredInt16 } from "../../src/volume/assemble.ts";
import { assembleVolume, convertToNifti, readNifti } from "../../src/volume/index.ts";
import { encodeNifti, niftiImage } from "../../src/volume/nifti.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-stored-");
const MR = "1.2.840.10008.5.1.4.1.1.4";
const SIZE = 24;

/** A 7-slice oblique series of unsigned 16-bit pixels (value(i, k) given), with an optional rescale. */
function writeSeries(
  dir: string,
  opts: { bitsStored: number; value: (i: number, k: number) => number; slope?: number; intercept?: number },
): void {
  mkdirSync(dir, { recursive: true });
  for (let k = 0; k < 7; k++) {
    const px = new Uint16Array(SIZE * SIZE);
    for (let i = 0; i < px.length; i++) px[i] = opts.value(i, k);
    const sop = `2.25.77.${opts.bitsStored}.${k + 1}`;
    const d = new Dataset()
      .set(0x00080016, "UI", MR)
      .set(0x00080018, "UI", sop)
      .set(0x00080060, "CS", "MR")
      .set(0x0008103e, "LO", "stored test")
      .set(0x00100020, "LO", "P")
      .set(0x00180050, "DS", 3)
      .set(0x0020000d, "UI", "2.25.77")
      .set(0x0020000e, "UI", `2.25.77.${opts.bitsStored}`)
      .set(0x00200011, "IS", 4)
      .set(0x00200013, "IS", 7 - k) // instance numbers against the stacking order
      .set(0x00200032, "DS", [-20, -18 + 0.5 * k, 30 + 3 * k])
      .set(0x00200037, "DS", [1, 0, 0, 0, 0.9950042, -0.0998334])
      .set(0x00280002, "US", 1)
      .set(0x00280004, "CS", "MONOCHROME2")
      .set(0x00280010, "US", SIZE)
      .set(0x00280011, "US", SIZE)
      .set(0x00280030, "DS", [1.25, 1.5])
      .set(0x00280100, "US", 16)
      .set(0x00280101, "US", opts.bitsStored)
      .set(0x00280102, "US", opts.bitsStored - 1)
      .set(0x00280103, "US", 0)
      .set(0x7fe00010, "OW", pixelBytes(px));
    if (opts.slope !== undefined)
      d.set(0x00281053, "DS", opts.slope).set(0x00281052, "DS", opts.intercept ?? 0);
    writeFileSync(
      join(dir, `${k}.dcm`),
      encodePart10(d, { sopClassUid: MR, sopInstanceUid: sop, transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN }),
    );
  }
}

async function floatPathBytes(dir: string, description: string): Promise<Buffer> {
  const index = await indexDicom([dir]);
  const a = await assembleVolume(index.series[0]!.frames, { readPixels: (f) => readFramePixels(f) });
  return Buffer.from(encodeNifti(a.volume, { description }));
}

async function storedFits(dir: string): Promise<boolean> {
  const index = await indexDicom([dir]);
  const plan = planStack(index.series[0]!.frames);
  const image = niftiImage(plan.dims, plan.affine, "int16");
  return stackStoredInt16(plan, (f) => readFrameStoredValues(f), image.voxels as Int16Array);
}

async function convertOne(dir: string): Promise<{ file: string; bytes: Buffer }> {
  const r = await convertToNifti({ inputs: [dir], outDir: join(dir, "out"), gzip: false });
  assert.equal(r.converted.length, 1, JSON.stringify(r.failed));
  const file = r.converted[0]!.file!;
  return { file, bytes: readFileSync(file) };
}

describe("convert's stored-integer path", () => {
  it("writes the same bytes as the float path for 12-bit data with the identity rescale", async () => {
    const dir = join(tmp, "b12");
    writeSeries(dir, { bitsStored: 12, value: (i, k) => (i * 37 + k * 101) % 4096 });
    assert.equal(await storedFits(dir), true);
    const { bytes } = await convertOne(dir);
    assert.equal(bytes.readInt16LE(70), 4, "DT_INT16");
    assert.deepEqual(bytes, await floatPathBytes(dir, "stored test"));
  });

  it("falls back to float32 when 16-bit unsigned values exceed int16, with the values intact", async () => {
    const dir = join(tmp, "b16");
    const value = (i: number, k: number) => (i * 977 + k * 5003) % 65536;
    writeSeries(dir, { bitsStored: 16, value });
    assert.equal(await storedFits(dir), false);
    const { file, bytes } = await convertOne(dir);
    assert.equal(bytes.readInt16LE(70), 16, "DT_FLOAT32");
    assert.deepEqual(bytes, await floatPathBytes(dir, "stored test"));
    const v = readNifti(file).volume;
    // Slice 0 in stacking order is the file written with k = 0 (lowest along the normal).
    assert.equal(v.data[5], value(5, 0));
    assert.equal(v.data[SIZE * SIZE * 6 + 9], value(9, 6));
  });

  it("leaves a non-identity rescale to the float path", async () => {
    const dir = join(tmp, "rescaled");
    writeSeries(dir, { bitsStored: 12, value: (i) => i % 4096, slope: 0.5, intercept: -3 });
    assert.equal(await storedFits(dir), false);
    const { file, bytes } = await convertOne(dir);
    assert.deepEqual(bytes, await floatPathBytes(dir, "stored test"));
    assert.equal(readNifti(file).volume.data[7], 7 * 0.5 - 3);
  });
});
