// Preview montages: for each site, a normal and a cirrhotic exam side by side (T1 in-phase, opposed-phase,
// T2w central slices), as PNG files a person can open.
import { join } from "node:path";
import { PNG } from "pngjs";
import { writeFileAtomic } from "../core/index.ts";
import type { ExamResult } from "./exam.ts";
import type { ExamPlan } from "./model.ts";
import type { SiteProfile } from "./sites.ts";

const GAP = 4;

/** Draws one grey slice (float values) into a PNG at (x0, y0), windowed to its 99.5th percentile. */
function blit(
  png: PNG,
  values: Float32Array,
  rows: number,
  cols: number,
  x0: number,
  y0: number,
  scale: number,
): void {
  const sorted = Float32Array.from(values).sort();
  const hi = sorted[Math.floor(sorted.length * 0.995)] || 1;
  for (let r = 0; r < rows * scale; r++) {
    for (let c = 0; c < cols * scale; c++) {
      const v = values[Math.floor(r / scale) * cols + Math.floor(c / scale)];
      const g = Math.max(0, Math.min(255, Math.round((v / hi) * 255)));
      const o = ((y0 + r) * png.width + (x0 + c)) * 4;
      png.data[o] = g;
      png.data[o + 1] = g;
      png.data[o + 2] = g;
      png.data[o + 3] = 255;
    }
  }
}

/** Encodes a montage: rows = exams, columns = T1 in-phase, T1 opposed-phase, T2w. */
export function montage(
  items: { rows: number; cols: number; t1_in: Float32Array; t1_opp: Float32Array; t2: Float32Array }[],
  scale = 2,
): Uint8Array {
  const w = Math.max(...items.map((i) => i.cols * scale));
  const h = Math.max(...items.map((i) => i.rows * scale));
  const png = new PNG({ width: 3 * w + 2 * GAP, height: items.length * h + (items.length - 1) * GAP });
  png.data.fill(0);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
  items.forEach((it, row) => {
    const views = [it.t1_in, it.t1_opp, it.t2];
    for (let col = 0; col < views.length; col++) {
      blit(png, views[col], it.rows, it.cols, col * (w + GAP), row * (h + GAP), scale);
    }
  });
  return PNG.sync.write(png, { colorType: 0 });
}

export function writePreviews(
  dir: string,
  exams: readonly ExamPlan[],
  results: readonly ExamResult[],
  sites: readonly SiteProfile[],
): string[] {
  const out: string[] = [];
  const all: ExamResult["preview"][] = [];
  for (const s of sites) {
    const picked = results
      .filter((r) => r.preview && exams[r.index].site === s.id)
      .sort((a, b) => exams[a.index].severity - exams[b.index].severity);
    if (picked.length === 0) continue;
    const file = join(dir, "preview", `${s.id}-${s.vendor.toLowerCase()}.png`);
    writeFileAtomic(file, montage(picked.map((r) => r.preview!)));
    out.push(file);
    all.push(...picked.map((r) => r.preview));
  }
  if (all.length > 0) {
    // Every vendor in one picture at native resolution (small enough for a README).
    const file = join(dir, "preview", "all-sites.png");
    writeFileAtomic(
      file,
      montage(
        all.filter((p) => p !== undefined),
        1,
      ),
    );
    out.push(file);
  }
  return out;
}
