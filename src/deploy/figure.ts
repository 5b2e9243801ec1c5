import { Resvg } from "@resvg/resvg-js";
import { PNG } from "pngjs";
import { projectPath } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import type { Category, ThresholdResult } from "./ensemble.ts";
import type { EdgeLetters } from "./orientation.ts";

export const FIGURE_NOTICE = "Research use only. Not for diagnostic use.";

const FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) => projectPath("assets", "fonts", f));
const FONT = "DejaVu Sans";

const ROLE_LABEL: Record<SeriesRole, [string, string]> = {
  t1_in: ["T1w", "in-phase"],
  t1_opp: ["T1w", "opposed-phase"],
  t2: ["T2w", ""],
};
const ROLES: readonly SeriesRole[] = ["t1_in", "t1_opp", "t2"];

export interface ExamFigureInput {
  examId: string;
  accession?: string;
  /** ISO date (YYYY-MM-DD). */
  studyDate?: string;
  /** The bundle, in a few words (recipe, fold models). */
  model?: string;
  slices: number;
  size: number;
  /** Per role present: slices x size x size prepared values. */
  roles: Partial<Record<SeriesRole, Float32Array>>;
  /** Per role, per slice attention (sums to 1 over all); null when the recipe has no attention. */
  attention: Partial<Record<SeriesRole, number[]>> | null;
  thresholds: readonly Pick<
    ThresholdResult,
    "thresholdKpa" | "probability" | "cutoff" | "positive" | "counted"
  >[];
  category: Pick<Category, "label">;
  kpaPred: {
    value: number;
    interval: [number, number];
    predictionInterval?: [number, number];
    agreesWithCategory: boolean;
  } | null;
  /** Per role: the patient directions at the prepared slices' edges; a role without them has no letters. */
  orientation: Partial<Record<SeriesRole, EdgeLetters>>;
  /** Grad-CAM maps (per role: slices x size x size, non-negative) drawn over the slices; absent: none. */
  overlay?: { thresholdKpa: number; maps: Partial<Record<SeriesRole, Float32Array>> } | null;
}

/** Where the figure's parts lie (pixels), for readers and tests. */
export interface FigureLayout {
  width: number;
  height: number;
  notice: Box;
  exam: Box;
  category: Box;
  /** One box per threshold, in THRESHOLDS_KPA order. */
  probabilities: Box[];
  footer: Box;
  /** Per role shown (row order), per slice: the image inside its frame. */
  tiles: { role: SeriesRole; slice: number; box: Box }[];
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

const MARGIN = 12;
const NOTICE_H = 30;
const HEADER_H = 170;
const FOOTER_H = 24;
const PROB_W = 176;
const LABEL_W = 122;
const BORDER = 4;
const GAP = 8;
const LEGEND_H = 76;

const pct = (p: number) => `${(p * 100).toFixed(1)}%`;
const kpa = (x: number) => x.toFixed(2);

/** Text for XML: no control characters, markup characters escaped, at most `max` characters. */
function esc(s: string, max = 80): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, " ");
  const cut = clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
  return cut.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const geq = (label: string) => label.replace(/>=/g, "≥").replace(/<=/g, "≤");

/** Dark blue -> red -> yellow for t in [0, 1]. */
function heatRgb(t: number): [number, number, number] {
  const x = Math.max(0, Math.min(1, t));
  return x < 0.5
    ? [Math.round(40 + 400 * x), 30, Math.round(120 - 200 * x)]
    : [240, Math.round(30 + 440 * (x - 0.5)), 20];
}

function heat(t: number): string {
  const [r, g, b] = heatRgb(t);
  return `rgb(${r},${g},${b})`;
}

/** Grey levels for one role: its 1st-99th percentile over all its slices mapped to black-white. */
function windowOf(values: Float32Array): [number, number] {
  const step = Math.max(1, Math.floor(values.length / 20000));
  const sample: number[] = [];
  for (let i = 0; i < values.length; i += step) if (Number.isFinite(values[i]!)) sample.push(values[i]!);
  sample.sort((a, b) => a - b);
  if (sample.length === 0) return [0, 1];
  const lo = sample[Math.floor(0.01 * (sample.length - 1))]!;
  const hi = sample[Math.floor(0.99 * (sample.length - 1))]!;
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** One prepared slice as a greyscale PNG data URI. */
function sliceImage(values: Float32Array, slice: number, size: number, [lo, hi]: [number, number]): string {
  const grey = Buffer.alloc(size * size);
  const offset = slice * size * size;
  for (let i = 0; i < grey.length; i++) {
    const v = values[offset + i]!;
    grey[i] = Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255))) : 0;
  }
  const png = new PNG({ width: size, height: size, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  png.data = grey;
  const bytes = PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
  return `data:image/png;base64,${bytes.toString("base64")}`;
}

/** The largest finite value of the maps (one scale for every slice and role of an exam), or 0. */
function overlayScale(maps: Partial<Record<SeriesRole, Float32Array>>): number {
  let max = 0;
  for (const m of Object.values(maps)) for (const v of m!) if (Number.isFinite(v) && v > max) max = v;
  return max;
}

/** Below this share of the exam's largest map value, the overlay is transparent. */
const OVERLAY_FLOOR = 0.1;

/**
 * One slice of a map as an RGBA PNG data URI: the heat colour of v / scale, opaque up to 60% where the
 * map is largest and transparent below OVERLAY_FLOOR of it, so that the anatomy stays visible.
 */
function overlayImage(map: Float32Array, slice: number, size: number, scale: number): string {
  const rgba = Buffer.alloc(size * size * 4);
  const offset = slice * size * size;
  for (let i = 0; i < size * size; i++) {
    const v = map[offset + i]!;
    const t = Number.isFinite(v) && scale > 0 ? Math.min(1, v / scale) : 0;
    if (t < OVERLAY_FLOOR) continue;
    const [r, g, b] = heatRgb(t);
    rgba.set([r, g, b, Math.round(255 * 0.6 * t)], 4 * i);
  }
  const png = new PNG({ width: size, height: size });
  png.data = rgba;
  return `data:image/png;base64,${PNG.sync.write(png).toString("base64")}`;
}

function text(
  x: number,
  y: number,
  content: string,
  attrs: {
    size?: number;
    bold?: boolean;
    fill?: string;
    anchor?: "start" | "middle" | "end";
    extra?: string;
  } = {},
): string {
  const a = [
    `x="${x}"`,
    `y="${y}"`,
    `font-size="${attrs.size ?? 12}"`,
    attrs.bold ? `font-weight="bold"` : "",
    `fill="${attrs.fill ?? "#111"}"`,
    attrs.anchor && attrs.anchor !== "start" ? `text-anchor="${attrs.anchor}"` : "",
    attrs.extra ?? "",
  ]
    .filter(Boolean)
    .join(" ");
  return `<text ${a}>${content}</text>`;
}

/** The layout of a figure for these inputs (also used by `figureSvg`). */
export function figureLayout(input: ExamFigureInput): FigureLayout {
  const roles = ROLES.filter((r) => input.roles[r]);
  const { size, slices } = input;
  const cellW = size + 2 * BORDER + GAP;
  const cellH = size + 2 * BORDER + (input.attention ? 32 : 12);
  const width = Math.max(MARGIN + LABEL_W + slices * cellW + MARGIN, 2 * MARGIN + 5 * PROB_W);
  const panelTop = NOTICE_H + HEADER_H;
  const panelH = LEGEND_H + Math.max(1, roles.length) * cellH;
  const height = panelTop + panelH + FOOTER_H;
  const tiles = roles.flatMap((role, row) =>
    Array.from({ length: slices }, (_, s) => ({
      role,
      slice: s,
      box: {
        x: MARGIN + LABEL_W + s * cellW + BORDER,
        y: panelTop + LEGEND_H + row * cellH + BORDER,
        w: size,
        h: size,
      },
    })),
  );
  return {
    width,
    height,
    notice: { x: 0, y: 0, w: width, h: NOTICE_H },
    exam: { x: MARGIN, y: NOTICE_H + 8, w: width - 2 * MARGIN, h: 26 },
    category: { x: MARGIN, y: NOTICE_H + 38, w: width - 2 * MARGIN, h: 26 },
    probabilities: Array.from({ length: 5 }, (_, k) => ({
      x: MARGIN + k * PROB_W,
      y: NOTICE_H + 72,
      w: PROB_W - 12,
      h: 60,
    })),
    footer: { x: 0, y: height - FOOTER_H, w: width, h: FOOTER_H },
    tiles,
  };
}

function headerSvg(input: ExamFigureInput, layout: FigureLayout): string[] {
  const out: string[] = [];
  const { notice, exam, category, footer } = layout;
  out.push(`<rect x="0" y="${NOTICE_H}" width="${layout.width}" height="${HEADER_H}" fill="#ffffff"/>`);
  for (const band of [notice, footer]) {
    out.push(`<rect x="${band.x}" y="${band.y}" width="${band.w}" height="${band.h}" fill="#fde2e2"/>`);
    out.push(
      text(MARGIN, band.y + band.h / 2 + (band === notice ? 6 : 5), esc(FIGURE_NOTICE), {
        size: band === notice ? 16 : 13,
        bold: true,
        fill: "#8a0000",
      }),
    );
  }
  const id = input.accession ?? input.examId;
  const idNote = input.accession ? ` (exam id ${esc(input.examId, 40)})` : "";
  out.push(
    `<text x="${exam.x}" y="${exam.y + 20}" font-size="14" fill="#111"><tspan font-size="19" font-weight="bold">Exam ${esc(id, 48)}</tspan><tspan fill="#444">${idNote}</tspan><tspan dx="24" font-size="17">Study date ${esc(input.studyDate ?? "unknown", 20)}</tspan></text>`,
  );
  const k = input.kpaPred;
  const kpaText = k
    ? k.predictionInterval
      ? `Predicted stiffness ${kpa(k.value)} kPa (80% interval ${kpa(k.predictionInterval[0])}–${kpa(k.predictionInterval[1])})${k.agreesWithCategory ? "" : ", category outside it"}`
      : `Predicted stiffness ${kpa(k.value)} kPa (fold models ${kpa(k.interval[0])}–${kpa(k.interval[1])})${k.agreesWithCategory ? "" : ", outside the category"}`
    : "";
  out.push(
    `<text x="${category.x}" y="${category.y + 20}" font-size="15" fill="#111"><tspan font-size="19" font-weight="bold">Category ${esc(geq(input.category.label), 24)}</tspan><tspan dx="24">${esc(kpaText, 100)}</tspan></text>`,
  );
  const barW = PROB_W - 28;
  input.thresholds.forEach((t, j) => {
    const b = layout.probabilities[j];
    if (!b) return;
    const call = t.positive ? (t.counted ? "above" : "above, not counted") : "below";
    const fill = t.positive ? (t.counted ? "#1f4e9c" : "#8da2c8") : "#9a9a9a";
    out.push(text(b.x, b.y + 14, `P(≥ ${t.thresholdKpa.toFixed(1)} kPa)`, { size: 13, bold: true }));
    out.push(text(b.x + barW, b.y + 14, pct(t.probability), { size: 13, bold: true, anchor: "end" }));
    const by = b.y + 22;
    const clamp = (p: number) => Math.max(0, Math.min(1, p));
    out.push(`<rect x="${b.x}" y="${by}" width="${barW}" height="10" fill="#e4e4e4"/>`);
    out.push(
      `<rect x="${b.x}" y="${by}" width="${(barW * clamp(t.probability)).toFixed(1)}" height="10" fill="${fill}"/>`,
    );
    const cx = (b.x + barW * clamp(t.cutoff)).toFixed(1);
    out.push(`<line x1="${cx}" y1="${by - 3}" x2="${cx}" y2="${by + 13}" stroke="#000" stroke-width="2"/>`);
    out.push(text(b.x, b.y + 50, `cut-off ${pct(t.cutoff)}: ${call}`, { size: 12, fill: "#333" }));
  });
  const notes = [
    "P(≥ t): the fold models' mean probability that MR elastography stiffness is at least t (bar; tick = cut-off).",
    `Category: the highest t with every threshold up to t above its cut-off.${input.model ? ` Model: ${input.model}.` : ""}`,
  ];
  notes.forEach((line, i) => {
    out.push(text(MARGIN, NOTICE_H + HEADER_H - 26 + 15 * i, esc(line, 140), { size: 11, fill: "#555" }));
  });
  return out;
}

function panelSvg(input: ExamFigureInput, layout: FigureLayout): string[] {
  const out: string[] = [];
  const top = NOTICE_H + HEADER_H;
  out.push(
    `<rect x="0" y="${top}" width="${layout.width}" height="${layout.footer.y - top}" fill="#181818"/>`,
  );
  const roles = ROLES.filter((r) => input.roles[r]);
  const tokens = roles.reduce((a, r) => a + (input.attention?.[r]?.length ?? 0), 0);
  const uniform = tokens > 0 ? 1 / tokens : 1;
  const maxW = 2 * uniform;
  const overlay = input.overlay && Object.keys(input.overlay.maps).length > 0 ? input.overlay : null;
  const scale = overlay ? overlayScale(overlay.maps) : 0;
  const legend = [
    overlay
      ? `Slices as the model saw them (prepared: resampled, cropped, z-scored); overlay: Grad-CAM for P(≥ ${overlay.thresholdKpa.toFixed(1)} kPa), scaled to this exam's largest value.`
      : "Slices as the model saw them (prepared: resampled, cropped, z-scored).",
    input.attention
      ? `Frame colour and bar: the slice's share of the model's attention; dark blue = none, red = uniform (${pct(uniform)}), yellow = twice uniform or more.`
      : "This recipe has no attention.",
  ];
  const letters = roles.map((r) => input.orientation[r]).find((l) => l?.firstSlice);
  if (letters)
    legend.push(
      `Slice 1 lies toward ${letters.firstSlice}, slice ${input.slices} toward ${letters.lastSlice}; letters: the patient's directions at each image's edges.`,
    );
  legend.forEach((line, i) => {
    out.push(text(MARGIN, top + 17 + 16 * i, esc(line, 160), { size: 12, fill: "#e6e6e6" }));
  });
  for (const t of layout.tiles.filter((t) => t.role === roles[0]))
    out.push(
      text(t.box.x + t.box.w / 2, top + LEGEND_H - 10, `slice ${t.slice + 1}`, {
        size: 11,
        fill: "#bbbbbb",
        anchor: "middle",
      }),
    );
  const windows = new Map(roles.map((r) => [r, windowOf(input.roles[r]!)]));
  let lastRole: SeriesRole | undefined;
  for (const { role, slice, box } of layout.tiles) {
    if (role !== lastRole) {
      const [l1, l2] = ROLE_LABEL[role];
      out.push(text(MARGIN, box.y + box.h / 2, l1, { size: 14, bold: true, fill: "#f0f0f0" }));
      if (l2) out.push(text(MARGIN, box.y + box.h / 2 + 17, l2, { size: 13, fill: "#f0f0f0" }));
      lastRole = role;
    }
    const w = input.attention?.[role]?.[slice];
    const colour = w === undefined ? "#5a5a5a" : heat(w / maxW);
    const fx = box.x - BORDER;
    const fy = box.y - BORDER;
    const fw = box.w + 2 * BORDER;
    out.push(`<rect x="${fx}" y="${fy}" width="${fw}" height="${fw}" fill="${colour}"/>`);
    out.push(
      `<image x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" image-rendering="optimizeSpeed" preserveAspectRatio="none" href="${sliceImage(input.roles[role]!, slice, input.size, windows.get(role)!)}"/>`,
    );
    const map = overlay?.maps[role];
    if (map && scale > 0)
      out.push(
        `<image x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" image-rendering="optimizeSpeed" preserveAspectRatio="none" href="${overlayImage(map, slice, input.size, scale)}"/>`,
      );
    const e = input.orientation[role];
    if (e) {
      const style = {
        size: 12,
        bold: true,
        fill: "#ffd400",
        extra: `stroke="#000" stroke-width="2.5" paint-order="stroke"`,
      };
      const midY = box.y + box.h / 2 + 4;
      out.push(text(box.x + 3, midY, e.left, style));
      out.push(text(box.x + box.w - 3, midY, e.right, { ...style, anchor: "end" }));
      out.push(text(box.x + box.w / 2, box.y + 13, e.top, { ...style, anchor: "middle" }));
      out.push(text(box.x + box.w / 2, box.y + box.h - 4, e.bottom, { ...style, anchor: "middle" }));
    }
    if (w !== undefined) {
      const by = fy + fw + 3;
      out.push(`<rect x="${fx}" y="${by}" width="${fw}" height="7" fill="#323232"/>`);
      const len = Math.max(1, Math.round(fw * Math.min(1, w / maxW)));
      out.push(`<rect x="${fx}" y="${by}" width="${len}" height="7" fill="${colour}"/>`);
      out.push(text(fx, by + 21, pct(w), { size: 12, fill: "#e6e6e6" }));
    }
  }
  return out;
}

/** The figure as an SVG document (what `examFigure` renders). */
export function figureSvg(input: ExamFigureInput): string {
  const layout = figureLayout(input);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}" font-family="${FONT}">`,
    ...headerSvg(input, layout),
    ...panelSvg(input, layout),
    "</svg>",
  ].join("\n");
}

/** Renders the figure to PNG bytes. */
export function examFigure(input: ExamFigureInput): Uint8Array {
  const resvg = new Resvg(figureSvg(input), {
    font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: FONT, sansSerifFamily: FONT },
    background: "#ffffff",
    logLevel: "off",
  });
  return new Uint8Array(resvg.render().asPng());
}
