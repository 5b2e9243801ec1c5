// `liverstiff convert` of one 3D series against dcm2niix, each as a fresh process (start-up included), as
// a user runs them: wall seconds and peak resident memory (GNU time's %e and %M), interleaved rounds,
// medians. The series: 130 axial slices of 256 x 256 16-bit MR (a liver T1w VIBE's size), written here
// with synth's DICOM writer into a temporary folder. Last line: one JSON object.
//   npm run bench -- convert [--slices 130] [--rounds 3]
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Dataset, EXPLICIT_VR_LITTLE_ENDIAN, encodePart10, pixelBytes } from "../src/synth/dicom-writer.ts";

const { values: args } = parseArgs({
  options: { slices: { type: "string", default: "130" }, rounds: { type: "string", default: "3" } },
});
const SLICES = Number(args.slices);
const ROUNDS = Number(args.rounds);
const SIZE = 256;
const MR = "1.2.840.10008.5.1.4.1.1.4";
const say = (s: string) => process.stderr.write(`${s}\n`);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function writeSeries(dir: string): void {
  const study = "2.25.1001";
  const series = "2.25.1001.1";
  const px = new Uint16Array(SIZE * SIZE);
  for (let k = 0; k < SLICES; k++) {
    for (let i = 0; i < px.length; i++)
      px[i] = (((i % SIZE) * 7 + Math.floor(i / SIZE) * 3 + k * 11) % 1000) + 100;
    const sop = `${series}.${k + 1}`;
    const d = new Dataset()
      .set(0x00080016, "UI", MR)
      .set(0x00080018, "UI", sop)
      .set(0x00080060, "CS", "MR")
      .set(0x00080008, "CS", "ORIGINAL\\PRIMARY\\M\\ND")
      .set(0x00100010, "PN", "BENCH^SERIES")
      .set(0x00100020, "LO", "BENCH")
      .set(0x00180050, "DS", 2)
      .set(0x00180080, "DS", 4.2)
      .set(0x00180081, "DS", 2.1)
      .set(0x00180087, "DS", 1.5)
      .set(0x0020000d, "UI", study)
      .set(0x0020000e, "UI", series)
      .set(0x00200011, "IS", 5)
      .set(0x00200013, "IS", k + 1)
      .set(0x00200032, "DS", [-200, -200, -130 + 2 * k])
      .set(0x00200037, "DS", [1, 0, 0, 0, 1, 0])
      .set(0x00280002, "US", 1)
      .set(0x00280004, "CS", "MONOCHROME2")
      .set(0x00280010, "US", SIZE)
      .set(0x00280011, "US", SIZE)
      .set(0x00280030, "DS", [1.5625, 1.5625])
      .set(0x00280100, "US", 16)
      .set(0x00280101, "US", 12)
      .set(0x00280102, "US", 11)
      .set(0x00280103, "US", 0)
      .set(0x7fe00010, "OW", pixelBytes(px));
    writeFileSync(
      join(dir, `IM${String(k + 1).padStart(4, "0")}.dcm`),
      encodePart10(d, { sopClassUid: MR, sopInstanceUid: sop, transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN }),
    );
  }
}

/** One run under GNU time: wall seconds and peak RSS in MB. */
function timed(cmd: string, argv: string[]): { seconds: number; peakMb: number } {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", cmd, ...argv], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [e, m] = r.stderr.trim().split("\n").at(-1)!.split(" ");
  return { seconds: Number(e), peakMb: Number(m) / 1024 };
}

const dir = mkdtempSync(join(tmpdir(), "ls-bench-convert-"));
try {
  const series = join(dir, "series");
  mkdirSync(series);
  writeSeries(series);
  const ours: ReturnType<typeof timed>[] = [];
  const peer: ReturnType<typeof timed>[] = [];
  const peerGz: ReturnType<typeof timed>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = join(dir, `ours-${r}`);
    const b = join(dir, `peer-${r}`);
    const c = join(dir, `peer-gz-${r}`);
    mkdirSync(b);
    mkdirSync(c);
    ours.push(timed(process.execPath, ["bin/liverstiff.mjs", "-q", "convert", series, "--out", a]));
    // dcm2niix's defaults (uncompressed NIfTI), as the goal is stated; and with -z y, the same output as
    // convert's (gzip), like for like.
    peer.push(timed("dcm2niix", ["-o", b, series]));
    peerGz.push(timed("dcm2niix", ["-z", "y", "-o", c, series]));
    say(
      `round ${r + 1}: liverstiff convert ${ours[r]!.seconds.toFixed(2)} s ${ours[r]!.peakMb.toFixed(0)} MB; ` +
        `dcm2niix ${peer[r]!.seconds.toFixed(2)} s ${peer[r]!.peakMb.toFixed(0)} MB; ` +
        `dcm2niix -z y ${peerGz[r]!.seconds.toFixed(2)} s ${peerGz[r]!.peakMb.toFixed(0)} MB`,
    );
  }
  const med = (runs: ReturnType<typeof timed>[]) => ({
    s: median(runs.map((x) => x.seconds)),
    mb: median(runs.map((x) => x.peakMb)),
  });
  const o = med(ours);
  const p = med(peer);
  const g = med(peerGz);
  say(
    `median: wall ${(o.s / p.s).toFixed(2)}x dcm2niix's, peak memory ${(o.mb / p.mb).toFixed(2)}x (goal <= 2 for both); ` +
      `against dcm2niix -z y: wall ${(o.s / g.s).toFixed(2)}x, memory ${(o.mb / g.mb).toFixed(2)}x`,
  );
  console.log(
    JSON.stringify({
      bench: "convert",
      slices: SLICES,
      files: SLICES,
      rounds: ROUNDS,
      liverstiff_seconds: o.s,
      liverstiff_peak_mb: Number(o.mb.toFixed(1)),
      dcm2niix_seconds: p.s,
      dcm2niix_peak_mb: Number(p.mb.toFixed(1)),
      dcm2niix_gz_seconds: g.s,
      dcm2niix_gz_peak_mb: Number(g.mb.toFixed(1)),
      wall_ratio: Number((o.s / p.s).toFixed(2)),
      memory_ratio: Number((o.mb / p.mb).toFixed(2)),
      wall_ratio_gz: Number((o.s / g.s).toFixed(2)),
      memory_ratio_gz: Number((o.mb / g.mb).toFixed(2)),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
