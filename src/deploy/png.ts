// The picture predict writes per exam: the prepared slices the model saw (rows = roles, columns = slices,
// as prepared: z-scored, cropped, resampled), each framed and underlined by its share of the model's
// attention (colour and bar length), with the role and the percentage written beside it. Encoded with pngjs.
import { PNG } from "pngjs";
import type { SeriesRole } from "../dicom/index.ts";

// A 3x5 pixel font for the few characters the figure needs (drawn at 2x).
const GLYPHS: Record<string, string[]> = {
  "0": ["111", "101", "101", "101", "111"],
  "1": ["010", "110", "010", "010", "111"],
  "2": ["111", "001", "111", "100", "111"],
  "3": ["111", "001", "111", "001", "111"],
  "4": ["101", "101", "111", "001", "001"],
  "5": ["111", "100", "111", "001", "111"],
  "6": ["111", "100", "111", "101", "111"],
  "7": ["111", "001", "010", "010", "010"],
  "8": ["111", "101", "111", "101", "111"],
  "9": ["111", "101", "111", "001", "111"],
  "%": ["101", "001", "010", "100", "101"],
  ".": ["000", "000", "000", "000", "010"],
  "-": ["000", "000", "111", "000", "000"],
  " ": ["000", "000", "000", "000", "000"],
  T: ["111", "010", "010", "010", "010"],
  I: ["111", "010", "010", "010", "111"],
  N: ["101", "111", "111", "111", "101"],
  O: ["111", "101", "101", "101", "111"],
  P: ["111", "101", "111", "100", "100"],
  W: ["101", "101", "111", "111", "101"],
  A: ["010", "101", "111", "101", "101"],
  E: ["111", "100", "111", "100", "111"],
  U: ["101", "101", "101", "101", "111"],
  C: ["111", "100", "100", "100", "111"],
  L: ["100", "100", "100", "100", "111"],
  S: ["111", "100", "111", "001", "111"],
  D: ["110", "101", "101", "101", "110"],
  G: ["111", "100", "101", "101", "111"],
  R: ["110", "101", "110", "101", "101"],
  V: ["101", "101", "101", "101", "010"],
  F: ["111", "100", "110", "100", "100"],
  M: ["101", "111", "111", "101", "101"],
  H: ["101", "101", "111", "101", "101"],
  B: ["110", "101", "110", "101", "110"],
  K: ["101", "101", "110", "101", "101"],
  Y: ["101", "101", "010", "010", "010"],
  X: ["101", "101", "010", "101", "101"],
  "=": ["000", "111", "000", "111", "000"],
  "(": ["010", "100", "100", "100", "010"],
  ")": ["010", "001", "001", "001", "010"],
  ":": ["000", "010", "000", "010", "000"],
};
const FONT_SCALE = 2;
const CHAR_W = 4 * FONT_SCALE;

const ROLE_LABEL: Record<SeriesRole, string> = { t1_in: "T1 IN", t1_opp: "T1 OPP", t2: "T2" };
const ROLES: readonly SeriesRole[] = ["t1_in", "t1_opp", "t2"];

export interface AttentionFigureInput {
  slices: number;
  size: number;
  /** Per role present: slices x size x size prepared values. */
  roles: Partial<Record<SeriesRole, Float32Array>>;
  /** Per role, per slice attention (sums to 1 over all); null when the recipe has no attention. */
  attention: Partial<Record<SeriesRole, number[]>> | null;
}

function heat(t: number): [number, number, number] {
  // dark blue -> red -> yellow, t in [0, 1]
  const x = Math.max(0, Math.min(1, t));
  if (x < 0.5) return [Math.round(40 + 400 * x), 30, Math.round(120 - 200 * x)];
  return [240, Math.round(30 + 440 * (x - 0.5)), 20];
}

class Canvas {
  readonly png: PNG;
  constructor(width: number, height: number) {
    this.png = new PNG({ width, height });
    for (let i = 0; i < this.png.data.length; i += 4) {
      this.png.data[i] = 24;
      this.png.data[i + 1] = 24;
      this.png.data[i + 2] = 24;
      this.png.data[i + 3] = 255;
    }
  }
  set(x: number, y: number, [r, g, b]: [number, number, number]): void {
    if (x < 0 || y < 0 || x >= this.png.width || y >= this.png.height) return;
    const o = (y * this.png.width + x) * 4;
    this.png.data[o] = r;
    this.png.data[o + 1] = g;
    this.png.data[o + 2] = b;
  }
  rect(x: number, y: number, w: number, h: number, c: [number, number, number]): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }
  text(x: number, y: number, s: string, c: [number, number, number] = [230, 230, 230]): void {
    [...s.toUpperCase()].forEach((ch, k) => {
      const g = GLYPHS[ch] ?? GLYPHS[" "]!;
      for (let r = 0; r < 5; r++)
        for (let col = 0; col < 3; col++)
          if (g[r]![col] === "1")
            this.rect(x + k * CHAR_W + col * FONT_SCALE, y + r * FONT_SCALE, FONT_SCALE, FONT_SCALE, c);
    });
  }
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

/** Encodes the figure as PNG bytes. */
export function attentionFigure(input: AttentionFigureInput): Uint8Array {
  const roles = ROLES.filter((r) => input.roles[r]);
  const { size, slices } = input;
  const border = 4;
  const bar = 8;
  const label = 20;
  const gap = 6;
  const left = 7 * CHAR_W + gap;
  const cellW = size + 2 * border + gap;
  const cellH = size + 2 * border + bar + 4 + label;
  const title = 24;
  // Colour and bar length are relative to uniform attention: red = every slice of every role weighted
  // equally, yellow and a full bar = twice the uniform weight or more, dark blue = none.
  const tokens = roles.reduce((a, r) => a + (input.attention?.[r]?.length ?? 0), 0);
  const uniform = tokens > 0 ? 1 / tokens : 1;
  const maxW = 2 * uniform;
  const heading = input.attention
    ? `ATTENTION OVER SLICES AND ROLES - UNIFORM = ${(uniform * 100).toFixed(1)}% - FULL BAR = 2X UNIFORM`
    : "SLICES USED - NO ATTENTION IN THIS RECIPE";
  const canvas = new Canvas(
    Math.max(left + slices * cellW, 2 * gap + heading.length * CHAR_W),
    title + Math.max(1, roles.length) * cellH,
  );
  canvas.text(gap, 6, heading);
  roles.forEach((role, row) => {
    const values = input.roles[role]!;
    const [lo, hi] = windowOf(values);
    const y0 = title + row * cellH;
    canvas.text(gap, y0 + border + size / 2 - 5, ROLE_LABEL[role]);
    for (let s = 0; s < slices; s++) {
      const x0 = left + s * cellW;
      const w = input.attention?.[role]?.[s];
      const colour: [number, number, number] = w === undefined ? [90, 90, 90] : heat(w / maxW);
      canvas.rect(x0, y0, size + 2 * border, size + 2 * border, colour);
      const plane = size * size;
      for (let r = 0; r < size; r++)
        for (let c = 0; c < size; c++) {
          const v = values[s * plane + r * size + c]!;
          const g = Number.isFinite(v)
            ? Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)))
            : 0;
          canvas.set(x0 + border + c, y0 + border + r, [g, g, g]);
        }
      if (w !== undefined) {
        const by = y0 + size + 2 * border + 3;
        canvas.rect(x0, by, size + 2 * border, bar, [50, 50, 50]);
        canvas.rect(
          x0,
          by,
          Math.max(1, Math.round((size + 2 * border) * Math.min(1, w / maxW))),
          bar,
          colour,
        );
        canvas.text(x0, by + bar + 4, `${(w * 100).toFixed(1)}%`);
      }
    }
  });
  return PNG.sync.write(canvas.png, { colorType: 2 });
}
