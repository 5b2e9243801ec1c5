// A minimal explicit-VR little-endian DICOM writer for tests: enough to build headers that exercise
// vendor conventions (private tags, character sets) without shipping more fixture files.
import { writeFileSync } from "node:fs";

export type El = [tag: number, vr: string, value: string | number | number[] | Uint8Array | El[][]];

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OW", "SQ", "UC", "UR", "UT", "UN"]);

function valueBytes(vr: string, value: El[2]): Uint8Array {
  if (vr === "SQ") {
    const items = (value as El[][]).map((item) => {
      const body = dataset(item);
      const head = Buffer.alloc(8);
      head.writeUInt16LE(0xfffe, 0);
      head.writeUInt16LE(0xe000, 2);
      head.writeUInt32LE(body.length, 4);
      return Buffer.concat([head, body]);
    });
    return Buffer.concat(items);
  }
  if (value instanceof Uint8Array) return value;
  const nums = Array.isArray(value) ? (value as number[]) : typeof value === "number" ? [value] : undefined;
  if (nums && vr === "US") return Buffer.from(Uint16Array.from(nums).buffer);
  if (nums && vr === "SS") return Buffer.from(Int16Array.from(nums).buffer);
  if (nums && vr === "UL") return Buffer.from(Uint32Array.from(nums).buffer);
  if (nums && vr === "FL") return Buffer.from(Float32Array.from(nums).buffer);
  if (nums && vr === "FD") return Buffer.from(Float64Array.from(nums).buffer);
  const text = nums ? nums.join("\\") : String(value);
  const b = Buffer.from(text, "utf8");
  if (b.length % 2 === 0) return b;
  return Buffer.concat([b, Buffer.from([vr === "UI" ? 0 : 0x20])]);
}

function element(tag: number, vr: string, value: El[2]): Buffer {
  const v = valueBytes(vr, value);
  const long = LONG_VRS.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.write(vr, 4, "latin1");
  if (long) head.writeUInt32LE(v.length, 8);
  else head.writeUInt16LE(v.length, 6);
  return Buffer.concat([head, v]);
}

function dataset(els: El[]): Buffer {
  return Buffer.concat([...els].sort((a, b) => a[0] - b[0]).map(([t, vr, v]) => element(t, vr, v)));
}

/** Writes a Part-10 file: preamble, meta header (explicit VR LE), then the elements. */
export function writeDicom(path: string, els: El[], sopInstanceUid = "1.2.3.4.5"): void {
  const meta = dataset([
    [0x00020001, "OB", Uint8Array.from([0, 1])],
    [0x00020002, "UI", "1.2.840.10008.5.1.4.1.1.4"],
    [0x00020003, "UI", sopInstanceUid],
    [0x00020010, "UI", "1.2.840.10008.1.2.1"],
  ]);
  const group = element(0x00020000, "UL", meta.length);
  const preamble = Buffer.alloc(132);
  preamble.write("DICM", 128, "latin1");
  writeFileSync(path, Buffer.concat([preamble, group, meta, dataset(els)]));
}

/** An axial 4x4 16-bit MR slice with the given extra/overriding elements. */
export function mrSlice(overrides: El[], index = 0, rows = 4, columns = 4): El[] {
  const base: El[] = [
    [0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.4"],
    [0x00080018, "UI", `1.2.3.4.5.${index}`],
    [0x00080060, "CS", "MR"],
    [0x00100020, "LO", "PAT1"],
    [0x0020000d, "UI", "1.2.3.4"],
    [0x0020000e, "UI", "1.2.3.4.1"],
    [0x00200013, "IS", index + 1],
    [0x00200032, "DS", [-100, -100, 10 * index]],
    [0x00200037, "DS", [1, 0, 0, 0, 1, 0]],
    [0x00280002, "US", 1],
    [0x00280004, "CS", "MONOCHROME2"],
    [0x00280010, "US", rows],
    [0x00280011, "US", columns],
    [0x00280030, "DS", [2, 2]],
    [0x00280100, "US", 16],
    [0x00280101, "US", 12],
    [0x00280102, "US", 11],
    [0x00280103, "US", 0],
    [0x7fe00010, "OW", new Uint8Array(rows * columns * 2)],
  ];
  const tags = new Set(overrides.map((o) => o[0]));
  return [...base.filter((b) => !tags.has(b[0])), ...overrides];
}
