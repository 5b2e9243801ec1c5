// `npm run bench -- figure [SLICES] [SIZE]`: the time to draw predict's per-exam figure (three roles of
// SLICES prepared slices of SIZE px, default 9 and 128: the shipped recipe's) through SVG and resvg, the
// orientation-letter probe (once per source orientation and preparation), and as a peer in the same run
// pngjs encoding a plain RGB image of the same size (what drawing pixels alone costs). Last line: JSON.
import { PNG } from "pngjs";
import { resolvePrep } from "../src/cohort/index.ts";
import type { ExamFigureInput } from "../src/deploy/index.ts";
import { examFigure, figureLayout, preparedEdgeLetters } from "../src/deploy/index.ts";

const slices = Number(process.argv[2] ?? 9);
const size = Number(process.argv[3] ?? 128);
const repeats = 10;

const roles = Object.fromEntries(
  (["t1_in", "t1_opp", "t2"] as const).map((r, k) => {
    const a = new Float32Array(slices * size * size);
    for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.001 * (k + 1)) + (i % size < size / 2 ? 1 : 0);
    return [r, a];
  }),
);
const prep = resolvePrep({ slices, size });
const t0 = performance.now();
const letters = preparedEdgeLetters("LPS", prep)!;
const probeMs = performance.now() - t0;
const input: ExamFigureInput = {
  examId: "bench",
  accession: "ACC-BENCH",
  studyDate: "2026-12-03",
  slices,
  size,
  roles,
  attention: Object.fromEntries(Object.keys(roles).map((r) => [r, Array(slices).fill(1 / (3 * slices))])),
  thresholds: [2.5, 3, 3.5, 4, 5].map((thresholdKpa, k) => ({
    thresholdKpa,
    probability: 0.8 - 0.15 * k,
    cutoff: 0.5,
    positive: k < 2,
    counted: k < 2,
  })),
  category: { label: ">= 3.0 kPa" },
  kpaPred: { value: 3.2, interval: [3.0, 3.4], agreesWithCategory: true },
  orientation: { t1_in: letters, t1_opp: letters, t2: letters },
};
const { width, height } = figureLayout(input);

function median(f: () => void): number {
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    f();
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b)[Math.floor(repeats / 2)]!;
}

examFigure(input); // warm-up: loads the renderer and the fonts
let bytes = 0;
const figureMs = median(() => {
  bytes = examFigure(input).length;
});
const peerMs = median(() => {
  const png = new PNG({ width, height });
  for (let i = 0; i < png.data.length; i++) png.data[i] = i & 255;
  PNG.sync.write(png, { colorType: 2 });
});
console.log(
  `figure ${width}x${height} px, ${bytes} bytes: ${figureMs.toFixed(0)} ms (plain pngjs ${peerMs.toFixed(0)} ms)`,
);
console.log(
  JSON.stringify({
    slices,
    size,
    width,
    height,
    bytes,
    figure_ms: Number(figureMs.toFixed(1)),
    probe_ms: Number(probeMs.toFixed(1)),
    peer_pngjs_ms: Number(peerMs.toFixed(1)),
    ratio_to_peer: Number((figureMs / peerMs).toFixed(2)),
  }),
);
