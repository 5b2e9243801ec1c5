// The fuzz corpus: the project's real-file fixtures plus a few synthetic files written by src/synth's
// DICOM writer (classic explicit and implicit VR, and an enhanced multi-frame object with nested
// functional groups), so that every mutation has a well-formed file to start from.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Dataset,
  EXPLICIT_VR_LITTLE_ENDIAN,
  encodePart10,
  IMPLICIT_VR_LITTLE_ENDIAN,
  pixelBytes,
} from "../../../src/synth/dicom-writer.ts";

export interface CorpusFile {
  name: string;
  bytes: Uint8Array;
}

const FIXTURES = fileURLToPath(new URL("../../fixtures/dicom/", import.meta.url));
const MR = "1.2.840.10008.5.1.4.1.1.4";
const ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1";

function base(sopClass: string, sop: string, rows: number, cols: number): Dataset {
  return new Dataset()
    .set(0x00080016, "UI", sopClass)
    .set(0x00080018, "UI", sop)
    .set(0x00080060, "CS", "MR")
    .set(0x00080070, "LO", "SIEMENS")
    .set(0x0008103e, "LO", "t1_vibe_dixon_tra_opp")
    .set(0x00100020, "LO", "FUZZ1")
    .set(0x0020000d, "UI", "1.2.826.0.1.3680043.99.1")
    .set(0x0020000e, "UI", `${sop}.1`)
    .set(0x00200011, "IS", 3)
    .set(0x00280002, "US", 1)
    .set(0x00280004, "CS", "MONOCHROME2")
    .set(0x00280010, "US", rows)
    .set(0x00280011, "US", cols)
    .set(0x00280100, "US", 16)
    .set(0x00280101, "US", 12)
    .set(0x00280102, "US", 11)
    .set(0x00280103, "US", 0);
}

function ramp(n: number, seed: number): Uint16Array {
  return Uint16Array.from({ length: n }, (_, i) => (i * 37 + seed * 101) % 4096);
}

function classic(syntax: string, sop: string): Uint8Array {
  const d = base(MR, sop, 16, 16)
    .set(0x00180050, "DS", 5)
    .set(0x00180081, "DS", 2.38)
    .set(0x00200032, "DS", [-100, -80, 12.5])
    .set(0x00200037, "DS", [1, 0, 0, 0, 1, 0])
    .set(0x00280030, "DS", [1.5, 1.5])
    .set(0x00281052, "DS", -10)
    .set(0x00281053, "DS", 0.5)
    .set(0x7fe00010, "OW", pixelBytes(ramp(256, 1)));
  return encodePart10(d, { sopClassUid: MR, sopInstanceUid: sop, transferSyntax: syntax });
}

function enhanced(): Uint8Array {
  const sop = "1.2.826.0.1.3680043.99.3";
  const frames = 3;
  const perFrame = Array.from({ length: frames }, (_, k) =>
    new Dataset()
      .set(0x00209113, "SQ", [new Dataset().set(0x00200032, "DS", [-100, -80, 5 * k])])
      .set(0x00189114, "SQ", [new Dataset().set(0x00189082, "FD", 4.76)])
      .set(0x00289145, "SQ", [new Dataset().set(0x00281052, "DS", 0).set(0x00281053, "DS", 1)]),
  );
  const shared = new Dataset()
    .set(0x00209116, "SQ", [new Dataset().set(0x00200037, "DS", [1, 0, 0, 0, 1, 0])])
    .set(0x00289110, "SQ", [new Dataset().set(0x00280030, "DS", [2, 2]).set(0x00180050, "DS", 5)]);
  const d = base(ENHANCED_MR, sop, 8, 8)
    .set(0x00280008, "IS", frames)
    .set(0x52009229, "SQ", [shared])
    .set(0x52009230, "SQ", perFrame)
    .set(0x7fe00010, "OW", pixelBytes(ramp(64 * frames, 3)));
  return encodePart10(d, {
    sopClassUid: ENHANCED_MR,
    sopInstanceUid: sop,
    transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
  });
}

/** Synthetic files from src/synth's writer. */
export function syntheticCorpus(): CorpusFile[] {
  return [
    {
      name: "synth_classic_explicit.dcm",
      bytes: classic(EXPLICIT_VR_LITTLE_ENDIAN, "1.2.826.0.1.3680043.99.1.1"),
    },
    {
      name: "synth_classic_implicit.dcm",
      bytes: classic(IMPLICIT_VR_LITTLE_ENDIAN, "1.2.826.0.1.3680043.99.2"),
    },
    { name: "synth_enhanced_3frames.dcm", bytes: enhanced() },
  ];
}

/** Every .dcm file of a folder (not recursive), sorted by name. */
export function folderCorpus(dir: string, maxBytes = 4 * 1024 * 1024): CorpusFile[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(".dcm"))
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }))
    .filter((f) => f.bytes.length <= maxBytes);
}

/** The default corpus: the small real-file fixtures of test/fixtures/dicom and the synthetic files. */
export function defaultCorpus(): CorpusFile[] {
  return [...folderCorpus(FIXTURES), ...syntheticCorpus()];
}
