// Series identity as dcm2niix: one SeriesInstanceUID is split by SeriesNumber, then echo, then complex
// component; copies of one SOP instance are dropped when their pixels match and kept, with a warning and
// no role, when they do not. Counts are compared with the volumes dcm2niix writes when it is installed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { classifySeries, type DicomIndex, indexDicom, pickSeriesForRoles } from "../../src/dicom/index.ts";
import { planStack } from "../../src/volume/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { DCM2NIIX } from "../fixtures/volume/parity.ts";
import { type El, mrSlice, writeDicom } from "./write-dicom.ts";

const work = scratchDir("liverstiff-series-id-");

const UID = "1.2.3.4.1";
const SLICES = 6;

/** 16-bit pixels of a 4x4 slice, every value `v` except the first, which marks the slice. */
function pixels(v: number, slice: number): Uint8Array {
  const a = new Uint16Array(16).fill(v);
  a[0] = 100 + slice;
  return new Uint8Array(a.buffer);
}

let sop = 0;
/** Writes SLICES axial slices into dir with the given extra elements; returns their paths. */
function writeStack(dir: string, extra: El[], value = 7): string[] {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (let z = 0; z < SLICES; z++) {
    const n = sop++;
    const path = join(dir, `im${String(n).padStart(4, "0")}.dcm`);
    writeDicom(
      path,
      mrSlice(
        [
          [0x00080018, "UI", `1.2.3.4.5.${n}`],
          [0x00200013, "IS", z + 1],
          [0x00200032, "DS", [-100, -100, 5 * z]],
          [0x00180050, "DS", 5],
          [0x7fe00010, "OW", pixels(value, z)],
          ...extra,
        ],
        n,
      ),
      `1.2.3.4.5.${n}`,
    );
    paths.push(path);
  }
  return paths;
}

const siemensT1: El[] = [
  [0x00080070, "LO", "SIEMENS"],
  [0x0008103e, "LO", "t1_fl2d_opp-in_tra"],
  [0x00180020, "CS", "GR"],
  [0x00180080, "DS", 150],
  [0x00181314, "DS", 70],
  [0x00180087, "DS", 1.5],
];

/** How many NIfTI volumes dcm2niix writes for a folder, or undefined when it is not installed. */
function dcm2niixVolumes(dir: string): number | undefined {
  if (!DCM2NIIX) return undefined;
  const out = join(work, `d2n-${dir.split("/").at(-1)}`);
  mkdirSync(out, { recursive: true });
  const r = spawnSync(DCM2NIIX, ["-z", "n", "-f", "%s_%e_%z", "-o", out, dir], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return readdirSync(out).filter((f) => f.endsWith(".nii")).length;
}

function ids(idx: DicomIndex): string[] {
  return idx.series.map((s) => s.seriesId ?? "");
}

test("one SeriesInstanceUID with two SeriesNumbers: two series, as dcm2niix", async () => {
  const dir = join(work, "numbers");
  writeStack(dir, [...siemensT1, [0x00200011, "IS", 3]]);
  writeStack(dir, [...siemensT1, [0x00200011, "IS", 4]]);
  const idx = await indexDicom([dir]);
  assert.deepEqual(ids(idx), [`${UID}#sn=3`, `${UID}#sn=4`]);
  assert.deepEqual(
    idx.series.map((s) => [s.seriesNumber, s.frames.length]),
    [
      [3, SLICES],
      [4, SLICES],
    ],
  );
  assert.equal(
    idx.series[1]!.splitReason,
    `split: SeriesNumber 4 of SeriesInstanceUID ${UID}, which holds SeriesNumbers 3, 4`,
  );
  assert.deepEqual(idx.errors, []);
  // Each is its own candidate, and the reasons say why the UID was split.
  const d = classifySeries(idx.series[0]!);
  assert.equal(d[0]!.reasons[0], idx.series[0]!.splitReason);
  const d2n = dcm2niixVolumes(dir);
  if (d2n !== undefined) assert.equal(d2n, idx.series.length);
});

test("magnitude and phase at one echo: two series; the phase one gets no role", async () => {
  const dir = join(work, "complex");
  writeStack(dir, [...siemensT1, [0x00200011, "IS", 5], [0x00080008, "CS", "ORIGINAL\\PRIMARY\\M\\ND"]]);
  writeStack(dir, [...siemensT1, [0x00200011, "IS", 5], [0x00080008, "CS", "ORIGINAL\\PRIMARY\\P\\ND"]]);
  const idx = await indexDicom([dir]);
  assert.deepEqual(ids(idx).sort(), [`${UID}#magnitude`, `${UID}#phase`]);
  const phase = idx.series.find((s) => s.seriesId?.endsWith("#phase"))!;
  const magnitude = idx.series.find((s) => s.seriesId?.endsWith("#magnitude"))!;
  assert.equal(phase.complexComponent, "PHASE");
  assert.deepEqual(phase.imageType, ["ORIGINAL", "PRIMARY", "P", "ND"]);
  assert.equal(phase.frames.length, SLICES);
  assert.ok(phase.frames.every((f) => f.complexComponent === "PHASE"));
  assert.equal(magnitude.complexComponent, "MAGNITUDE");
  assert.match(phase.splitReason ?? "", /phase images of a series with (magnitude, phase|phase, magnitude)/);
  // The phase record is refused for its component; the magnitude one is not refused for it.
  assert.equal(classifySeries(phase)[0]!.role, null);
  assert.match(classifySeries(phase)[0]!.reasons.at(-1)!, /phase image, not magnitude/);
  const mag = classifySeries(magnitude);
  assert.ok(!mag.some((d) => d.reasons.some((r) => /phase image/.test(r))), JSON.stringify(mag));
  const d2n = dcm2niixVolumes(dir);
  if (d2n !== undefined) assert.equal(d2n, idx.series.length);
});

test("an enhanced object with magnitude and phase frames: split per frame's ComplexImageComponent", async () => {
  const dir = join(work, "enhanced");
  mkdirSync(dir, { recursive: true });
  // Four frames: two positions, each as MAGNITUDE and PHASE (MRImageFrameTypeSequence, per frame).
  const frame = (z: number, component: string): El[] => [
    [0x00209113, "SQ", [[[0x00200032, "DS", [-100, -100, 5 * z]]]]],
    [
      0x00189226,
      "SQ",
      [
        [
          [0x00089007, "CS", `ORIGINAL\\PRIMARY\\${component === "PHASE" ? "P" : "M"}\\NONE`],
          [0x00089208, "CS", component],
        ],
      ],
    ],
  ];
  const items = [frame(0, "MAGNITUDE"), frame(0, "PHASE"), frame(1, "MAGNITUDE"), frame(1, "PHASE")];
  const px = new Uint16Array(16 * items.length).map((_, i) => i);
  writeDicom(
    join(dir, "enhanced.dcm"),
    mrSlice([
      [0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.4.1"],
      [0x00200011, "IS", 11],
      [0x00280008, "IS", items.length],
      [
        0x52009229,
        "SQ",
        [
          [
            [0x00209116, "SQ", [[[0x00200037, "DS", [1, 0, 0, 0, 1, 0]]]]],
            [
              0x00289110,
              "SQ",
              [
                [
                  [0x00280030, "DS", [2, 2]],
                  [0x00180050, "DS", 5],
                ],
              ],
            ],
            [0x00189114, "SQ", [[[0x00189082, "FD", 2.3]]]],
          ],
        ],
      ],
      [0x52009230, "SQ", items],
      [0x7fe00010, "OW", new Uint8Array(px.buffer)],
    ]),
  );
  const idx = await indexDicom([dir]);
  assert.deepEqual(idx.errors, []);
  assert.deepEqual(ids(idx).sort(), [`${UID}#magnitude`, `${UID}#phase`]);
  for (const s of idx.series) {
    assert.deepEqual(
      s.frames.map((f) => f.frameIndex),
      s.seriesId!.endsWith("#phase") ? [1, 3] : [0, 2],
    );
    assert.equal(s.enhanced, true);
  }
});

test("GE's private complex component (0043,102F) splits the same way", async () => {
  const dir = join(work, "ge-complex");
  const ge: El[] = [
    [0x00080070, "LO", "GE MEDICAL SYSTEMS"],
    [0x00200011, "IS", 6],
    [0x00080008, "CS", "ORIGINAL\\PRIMARY\\OTHER"],
  ];
  writeStack(dir, [...ge, [0x0043102f, "SS", 0]]);
  writeStack(dir, [...ge, [0x0043102f, "SS", 3]]);
  const idx = await indexDicom([dir]);
  assert.deepEqual(ids(idx).sort(), [`${UID}#imaginary`, `${UID}#magnitude`]);
});

test("two echoes in one series: one record per echo; in- and opposed-phase roles still found", async () => {
  for (const field of [1.5, undefined]) {
    const dir = join(work, `echoes-${field ?? "nofield"}`);
    // TE 2.3 ms (opposed at 1.5 T) and 4.6 ms (in phase); without a field strength the echo ratio decides.
    const t1 = siemensT1.filter((e) => field !== undefined || e[0] !== 0x00180087);
    writeStack(dir, [...t1, [0x00200011, "IS", 7], [0x00180086, "IS", 1], [0x00180081, "DS", 2.3]]);
    writeStack(dir, [...t1, [0x00200011, "IS", 7], [0x00180086, "IS", 2], [0x00180081, "DS", 4.6]]);
    const idx = await indexDicom([dir]);
    assert.deepEqual(ids(idx).sort(), [`${UID}#echo=1`, `${UID}#echo=2`]);
    for (const s of idx.series) {
      assert.equal(s.frames.length, SLICES);
      assert.equal(s.echoTimesMs.length, 1);
      assert.deepEqual(s.acquisitionEchoTimesMs, [2.3, 4.6]);
    }
    assert.match(
      idx.series.find((s) => s.seriesId?.endsWith("echo=2"))!.splitReason!,
      /^split: echo 2 of 2 \(EchoNumbers 2, TE 4\.6 ms\)$/,
    );
    const { chosen } = pickSeriesForRoles(idx.series);
    assert.equal(chosen.t1_opp?.decision.echoTimeMs, 2.3, `field ${field}`);
    assert.equal(chosen.t1_in?.decision.echoTimeMs, 4.6, `field ${field}`);
    assert.equal(chosen.t1_opp?.frames.length, SLICES);
    assert.ok(chosen.t1_in?.frames.every((f) => f.echoTimeMs === 4.6));
    const d2n = dcm2niixVolumes(dir);
    if (d2n !== undefined) assert.equal(d2n, idx.series.length);
  }
});

test("three echoes: three records, each refused as one echo of a multi-echo acquisition", async () => {
  const dir = join(work, "three-echoes");
  for (const [n, te] of [
    [1, 2.3],
    [2, 4.6],
    [3, 6.9],
  ]) {
    writeStack(dir, [...siemensT1, [0x00200011, "IS", 8], [0x00180086, "IS", n!], [0x00180081, "DS", te!]]);
  }
  const idx = await indexDicom([dir]);
  assert.equal(idx.series.length, 3);
  for (const s of idx.series) {
    const d = classifySeries(s);
    assert.equal(d.length, 1);
    assert.equal(d[0]!.role, null);
    assert.match(d[0]!.reasons.at(-1)!, /multi-echo series with 3 echoes \(2\.3, 4\.6, 6\.9 ms\)/);
  }
});

/** Writes another file for slice z of a stack: same SOP instance and position, the given pixels. */
function writeCopy(path: string, of: string, z: number, pixelValue: number, extra: El[]): void {
  const sopUid = `1.2.3.4.5.${Number(of.match(/im(\d+)\.dcm$/)![1])}`;
  const els: El[] = [
    [0x00080018, "UI", sopUid],
    [0x00200013, "IS", z + 1],
    [0x00200032, "DS", [-100, -100, 5 * z]],
    [0x00180050, "DS", 5],
    [0x7fe00010, "OW", pixels(pixelValue, z)],
    ...extra,
  ];
  writeDicom(path, mrSlice(els, 0), sopUid);
}

test("a byte-identical copy, and a re-export with the same pixels: one frame each, the copy counted", async () => {
  for (const kind of ["bytes", "reexport"] as const) {
    const dir = join(work, `copies-${kind}`);
    const series: El[] = [...siemensT1, [0x00200011, "IS", 9]];
    const paths = writeStack(dir, series);
    const copy = join(dir, "zz-copy-of-slice-3.dcm");
    if (kind === "bytes") copyFileSync(paths[2]!, copy);
    // Another header (a re-export that changed InstitutionName), the same stored pixels.
    else writeCopy(copy, paths[2]!, 2, 7, [...series, [0x00080080, "LO", "Other Hospital"]]);
    const idx = await indexDicom([dir]);
    assert.equal(idx.series.length, 1);
    assert.equal(idx.series[0]!.frames.length, SLICES);
    assert.ok(idx.series[0]!.frames.every((f) => f.file !== copy));
    assert.equal(idx.filesSeen, SLICES + 1);
    assert.equal(idx.filesIndexed, SLICES);
    assert.deepEqual(idx.skipped, [
      {
        file: copy,
        code: "duplicate",
        reason: `duplicate of ${paths[2]} (same SOPInstanceUID 1.2.3.4.5.${Number(paths[2]!.match(/im(\d+)/)![1])}, same pixel data); the copy is ignored`,
      },
    ]);
    assert.deepEqual(idx.warnings, []);
    assert.deepEqual(idx.errors, []);
    // dcm2niix also writes the one volume (it removes copies by instance values).
    const d2n = dcm2niixVolumes(dir);
    if (d2n !== undefined) assert.equal(d2n, 1);
  }
});

test("same SOPInstanceUID with different pixels: both kept, a warning names both files, no role", async () => {
  const dir = join(work, "conflict");
  const paths = writeStack(dir, [...siemensT1, [0x00200011, "IS", 10], [0x00180081, "DS", 2.3]]);
  const n = Number(paths[1]!.match(/im(\d+)/)![1]);
  const other = join(dir, "zz-other-pixels.dcm");
  writeCopy(other, paths[1]!, 1, 900, [...siemensT1, [0x00200011, "IS", 10], [0x00180081, "DS", 2.3]]);
  const idx = await indexDicom([dir]);
  assert.equal(idx.series.length, 1);
  const s = idx.series[0]!;
  assert.equal(s.frames.length, SLICES + 1);
  assert.equal(idx.filesIndexed, SLICES + 1);
  const sentence = `SOPInstanceUID 1.2.3.4.5.${n} is in ${paths[1]} and in ${other} with different pixel data; both are kept`;
  assert.deepEqual(idx.warnings, [{ file: other, code: "duplicate", reason: sentence }]);
  assert.deepEqual(s.conflictingCopies, [sentence]);
  assert.equal(idx.skipped.length, 0);
  const d = classifySeries(s);
  assert.equal(d.length, 1);
  assert.equal(d[0]!.role, null);
  assert.equal(d[0]!.reasons.at(-1), `${sentence}: which copy is right cannot be told`);
  const { chosen } = pickSeriesForRoles(idx.series);
  assert.equal(chosen.t1_opp, undefined);
  // Nor is a volume stacked from it (convert writes every series, with or without a role).
  assert.throws(() => planStack(s.frames), /with different pixel data: which is right cannot be told/);
});
