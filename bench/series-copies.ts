// `npm run bench -- series-copies [N] [SIZE]`: what comparing copies of one SOP instance costs the indexer.
// Three folders of 2N files each (SIZE x SIZE 16-bit slices, default N = 300, SIZE = 128): 2N distinct
// instances (the peer), N instances plus N byte-identical copies, and N instances plus N re-exported copies
// (one header field changed, so the stored values are decoded and compared). Each is indexed 3 times in
// alternation; a folder's figure is its fastest run. Last line: one JSON object with the times and ratios.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { indexDicom } from "../src/dicom/index.ts";
import { type El, mrSlice, writeDicom } from "../test/dicom/write-dicom.ts";

const n = Number(process.argv[2] ?? 300);
const size = Number(process.argv[3] ?? 128);
const work = mkdtempSync(join(tmpdir(), "liverstiff-bench-copies-"));

function slice(path: string, i: number, extra: El[] = []): void {
  const px = new Uint16Array(size * size);
  for (let k = 0; k < px.length; k++) px[k] = (k * 7 + i) & 0xfff;
  const els = mrSlice(
    [
      [0x00080018, "UI", `1.2.3.4.5.${i}`],
      [0x0020000e, "UI", `1.2.3.4.${1 + Math.floor(i / 50)}`],
      [0x00200032, "DS", [-100, -100, 5 * (i % 50)]],
      [0x7fe00010, "OW", new Uint8Array(px.buffer)],
      ...extra,
    ],
    i,
    size,
    size,
  );
  writeDicom(path, els, `1.2.3.4.5.${i}`);
}

const folders = {
  distinct: join(work, "distinct"),
  bytes: join(work, "bytes"),
  reexport: join(work, "reexport"),
};
for (const d of Object.values(folders)) mkdirSync(d);
for (let i = 0; i < 2 * n; i++) slice(join(folders.distinct, `a${i}.dcm`), i);
for (let i = 0; i < n; i++) {
  slice(join(folders.bytes, `a${i}.dcm`), i);
  copyFileSync(join(folders.bytes, `a${i}.dcm`), join(folders.bytes, `b${i}.dcm`));
  slice(join(folders.reexport, `a${i}.dcm`), i);
  slice(join(folders.reexport, `b${i}.dcm`), i, [[0x00080080, "LO", "Other Hospital"]]);
}

const best: Record<string, number> = { distinct: Infinity, bytes: Infinity, reexport: Infinity };
for (let round = 0; round < 3; round++) {
  for (const [name, dir] of Object.entries(folders)) {
    const t0 = process.hrtime.bigint();
    const idx = await indexDicom([dir]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const dropped = idx.skipped.filter((s) => s.code === "duplicate").length;
    if (name !== "distinct" && dropped !== n)
      throw new Error(`${name}: ${dropped} copies dropped, ${n} expected`);
    best[name] = Math.min(best[name]!, ms);
  }
}
rmSync(work, { recursive: true, force: true });
for (const [name, ms] of Object.entries(best))
  console.log(`${name.padEnd(9)} ${(ms / 1000).toFixed(3)} s for ${2 * n} files`);
console.log(
  JSON.stringify({
    files: 2 * n,
    size,
    distinct_s: best.distinct! / 1000,
    bytes_copies_s: best.bytes! / 1000,
    reexport_copies_s: best.reexport! / 1000,
    bytes_ratio: best.bytes! / best.distinct!,
    reexport_ratio: best.reexport! / best.distinct!,
  }),
);
