// From anatomy to pixels: samples the phantom over a slice stack (with partial volume over the slice
// thickness), turns tissues into signal with the usual signal equations (spoiled gradient echo with
// water-fat phase, fast spin echo, diffusion, MRE), and adds a smooth coil bias, respiratory ghosting and
// Rician noise.
import { Rng } from "../core/index.ts";
import type { ExamPlan } from "./model.ts";
import { type Phantom, TISSUE_COUNT, Tissue } from "./phantom.ts";

export type Vec3 = [number, number, number];

// Tissue codes used in hot loops, as plain numbers (a const enum read across modules is a property load).
const LIVER: number = Tissue.Liver;
const NODULE: number = Tissue.Nodule;

/** A table of standard normals shared by every series, indexed by a fast xorshift: image noise at speed. */
const NORMAL_TABLE = (() => {
  const r = new Rng("liverstiff-noise-table");
  const t = new Float32Array(1 << 16);
  for (let i = 0; i < t.length; i++) t[i] = r.normal();
  return t;
})();

class FastNormal {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 0x9e3779b9;
  }
  /** A standard normal: the sum of two table entries scaled back to unit variance. */
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return (NORMAL_TABLE[this.x & 0xffff] + NORMAL_TABLE[this.x >>> 16]) * Math.SQRT1_2;
  }
}

/** A stack of parallel slices (or a single oblique plane), in patient coordinates (LPS, mm). */
export interface Geometry {
  rows: number;
  cols: number;
  /** Spacing between rows (along colDir) and between columns (along rowDir): DICOM PixelSpacing order. */
  pixelSpacing: [number, number];
  /** Centre of the first transmitted pixel of slice 0. */
  origin: Vec3;
  /** Direction of increasing column index (DICOM row direction cosine). */
  rowDir: Vec3;
  /** Direction of increasing row index. */
  colDir: Vec3;
  /** Slice normal, the direction in which slice index increases. */
  normal: Vec3;
  slices: number;
  sliceSpacing: number;
  thickness: number;
}

export function pixelPosition(g: Geometry, slice: number, row: number, col: number): Vec3 {
  const [sr, sc] = g.pixelSpacing;
  return [
    g.origin[0] + col * sc * g.rowDir[0] + row * sr * g.colDir[0] + slice * g.sliceSpacing * g.normal[0],
    g.origin[1] + col * sc * g.rowDir[1] + row * sr * g.colDir[1] + slice * g.sliceSpacing * g.normal[1],
    g.origin[2] + col * sc * g.rowDir[2] + row * sr * g.colDir[2] + slice * g.sliceSpacing * g.normal[2],
  ];
}

/** Tissue samples of a stack: `subsamples` labels per voxel along the slice thickness, plus liver fields. */
export interface Sampled {
  geometry: Geometry;
  subsamples: number;
  labels: Uint8Array;
  /** Reticular ridge value (0..1) at voxel centres of voxels that hold liver; 0 elsewhere. */
  ridge: Float32Array;
  /** Smooth normal parenchymal variation (about -1..1) at liver voxels. */
  liverNoise: Float32Array;
}

export function sampleStack(ph: Phantom, g: Geometry, subsamples: number): Sampled {
  const n = g.rows * g.cols * g.slices;
  const labels = new Uint8Array(n * subsamples);
  const ridge = new Float32Array(n);
  const liverNoise = new Float32Array(n);
  const [sr, sc] = g.pixelSpacing;
  const offs: number[] = [];
  for (let s = 0; s < subsamples; s++)
    offs.push(subsamples === 1 ? 0 : (g.thickness * (s + 0.5)) / subsamples - g.thickness / 2);
  let vi = 0;
  for (let k = 0; k < g.slices; k++) {
    for (let r = 0; r < g.rows; r++) {
      const bx = g.origin[0] + r * sr * g.colDir[0] + k * g.sliceSpacing * g.normal[0];
      const by = g.origin[1] + r * sr * g.colDir[1] + k * g.sliceSpacing * g.normal[1];
      const bz = g.origin[2] + r * sr * g.colDir[2] + k * g.sliceSpacing * g.normal[2];
      for (let c = 0; c < g.cols; c++, vi++) {
        const x = bx + c * sc * g.rowDir[0];
        const y = by + c * sc * g.rowDir[1];
        const z = bz + c * sc * g.rowDir[2];
        let liver = false;
        for (let s = 0; s < subsamples; s++) {
          const o = offs[s];
          const t = ph.classify(x + o * g.normal[0], y + o * g.normal[1], z + o * g.normal[2]);
          labels[vi * subsamples + s] = t;
          if (t === LIVER || t === NODULE) liver = true;
        }
        if (liver) {
          const f = ph.reticularField.at(x, y, z);
          ridge[vi] = Math.exp(-(f * f) / 0.045);
          liverNoise[vi] = ph.liverNoiseField.at(x, y, z) * 0.7;
        }
      }
    }
  }
  return { geometry: g, subsamples, labels, ridge, liverNoise };
}

interface TissueParams {
  t1: number;
  t2: number;
  t2s: number;
  pd: number;
  ff: number;
  /** ADC in mm^2/s. */
  adc: number;
  /** Flow: remaining signal fraction on spin echo (flow void) and inflow gain on gradient echo. */
  seFlow: number;
  greFlow: number;
}

const FAT = { t1_15: 290, t1_3: 370, t2: 160, t2s_15: 60, t2s_3: 35 };

/** Relaxation parameters of each tissue at 1.5 T or 3 T, with the exam's liver state. */
export function tissueTable(field: number, exam: ExamPlan, contrastAgent = false): TissueParams[] {
  const hi = field >= 2;
  const t1 = (a: number, b: number) => (hi ? b : a);
  const t2s = (x: number) => (hi ? x * 0.6 : x);
  const n = exam.nuisance;
  const fibT1 = 1 + 0.05 * exam.severity;
  const ironR2s = n.liverIron * (hi ? 2 : 1);
  const ironR2 = n.liverIron * 0.35 * (hi ? 1.6 : 1);
  const liverT2 = 1 / (1 / (hi ? 40 : 46) + ironR2);
  const liverT2s = 1 / (1 / t2s(28) + ironR2s);
  const p = (
    t1v: number,
    t2v: number,
    t2sv: number,
    pd: number,
    ff: number,
    adc: number,
    seFlow = 1,
    greFlow = 1,
  ): TissueParams => ({ t1: t1v, t2: t2v, t2s: t2sv, pd, ff, adc, seFlow, greFlow });
  const table: TissueParams[] = new Array(TISSUE_COUNT);
  table[Tissue.Air] = p(1000, 1, 1, 0, 0, 0);
  table[Tissue.SubcutaneousFat] = p(t1(290, 370), 160, t2s(60), 1, 0.95, 0.0001);
  table[Tissue.Muscle] = p(t1(1000, 1400), 38, t2s(30), 0.72, 0.03, 0.0014);
  table[Tissue.VisceralFat] = p(t1(300, 380), 150, t2s(50), 0.95, n.visceralFat, 0.0004);
  table[Tissue.Liver] = p(
    t1(580, 810) * fibT1,
    liverT2,
    liverT2s,
    0.74,
    n.liverFatFraction,
    0.0011 - 0.00006 * exam.severity,
  );
  table[Tissue.Spleen] = p(t1(1060, 1330), t1(80, 62), t2s(50), 0.82, 0.0, 0.0008);
  table[Tissue.Kidney] = p(t1(960, 1140), t1(85, 76), t2s(45), 0.85, 0.0, 0.002);
  table[Tissue.Marrow] = p(t1(550, 650), 60, t2s(12), 0.85, 0.45, 0.0005);
  table[Tissue.Artery] = p(t1(1440, 1930), 250, t2s(60), 0.85, 0, 0.003, 0.08, 1.6);
  table[Tissue.Vein] = p(t1(1440, 1930), 220, t2s(50), 0.85, 0, 0.003, 0.35, 1.3);
  table[Tissue.StomachFluid] = p(t1(2500, 2800), 700, t2s(200), 0.95, 0.05, 0.0028);
  table[Tissue.Gas] = p(1000, 1, 1, 0.02, 0, 0);
  table[Tissue.Bile] = p(t1(2200, 2600), 700, t2s(200), 0.95, 0, 0.0029);
  table[Tissue.Ascites] = p(t1(3200, 3500), 1400, t2s(250), 1, 0, 0.003);
  table[Tissue.Nodule] = p(t1(450, 620), t1(32, 27), t2s(15), 0.76, n.liverFatFraction * 0.5, 0.001);
  table[Tissue.Csf] = p(t1(3800, 4200), 1800, t2s(300), 1, 0, 0.003);
  table[Tissue.Lung] = p(1300, 40, 1, 0.08, 0, 0.001);
  table[Tissue.Bowel] = p(t1(900, 1100), 120, t2s(30), 0.85, 0.05, 0.0017);
  table[Tissue.Heart] = p(t1(1000, 1400), 50, t2s(30), 0.8, 0, 0.002, 0.2, 1.2);
  if (contrastAgent) {
    // Gadolinium (portal venous phase): T1 shortening of perfused tissue.
    const shorten: [Tissue, number][] = [
      [Tissue.Liver, 320],
      [Tissue.Spleen, 300],
      [Tissue.Kidney, 200],
      [Tissue.Artery, 120],
      [Tissue.Vein, 140],
      [Tissue.Heart, 150],
      [Tissue.Muscle, 700],
      [Tissue.Bowel, 400],
      [Tissue.Nodule, 340],
    ];
    for (const [t, v] of shorten) table[t] = { ...table[t], t1: v };
  }
  return table;
}

export type Contrast =
  | { kind: "gre"; teMs: number; trMs: number; flipDeg: number; fatSat: boolean; contrastAgent: boolean }
  | { kind: "fse"; teMs: number; trMs: number; fatSat: boolean }
  | { kind: "ssfp" }
  | { kind: "dwi"; b: number; teMs: number }
  | { kind: "mre_mag"; teMs: number }
  | { kind: "mre_wave" };

const GAMMA_MHZ_PER_T = 42.577;
const FAT_PPM = 3.4;

function greTerm(t1: number, tr: number, flipDeg: number): number {
  const a = (flipDeg * Math.PI) / 180;
  const e1 = Math.exp(-tr / t1);
  return (Math.sin(a) * (1 - e1)) / (1 - Math.cos(a) * e1);
}

/** Complex signal (re, im) of each tissue under a contrast, before liver modulation. */
function tissueSignals(
  table: TissueParams[],
  c: Contrast,
  field: number,
): { re: Float64Array; im: Float64Array } {
  const re = new Float64Array(TISSUE_COUNT);
  const im = new Float64Array(TISSUE_COUNT);
  const hi = field >= 2;
  for (let t = 0; t < TISSUE_COUNT; t++) {
    const p = table[t];
    if (c.kind === "gre") {
      const w = p.pd * (1 - p.ff) * greTerm(p.t1, c.trMs, c.flipDeg) * Math.exp(-c.teMs / p.t2s) * p.greFlow;
      let f =
        p.pd *
        p.ff *
        greTerm(hi ? FAT.t1_3 : FAT.t1_15, c.trMs, c.flipDeg) *
        Math.exp(-c.teMs / (hi ? FAT.t2s_3 : FAT.t2s_15));
      if (c.fatSat) f *= 0.07;
      const theta = 2 * Math.PI * FAT_PPM * GAMMA_MHZ_PER_T * field * 1e-3 * c.teMs;
      re[t] = w + f * Math.cos(theta);
      im[t] = f * Math.sin(theta);
    } else if (c.kind === "fse") {
      const w = p.pd * (1 - p.ff) * (1 - Math.exp(-c.trMs / p.t1)) * Math.exp(-c.teMs / p.t2) * p.seFlow;
      let f =
        p.pd * p.ff * (1 - Math.exp(-c.trMs / (hi ? FAT.t1_3 : FAT.t1_15))) * Math.exp(-c.teMs / FAT.t2);
      if (c.fatSat) f *= 0.08;
      re[t] = w + f;
    } else if (c.kind === "ssfp") {
      re[t] = p.pd * Math.sqrt(p.t2 / p.t1) * (1 + 0.5 * p.ff) * (p.t1 > 1 ? 1 : 0) * Math.min(1, p.greFlow);
    } else if (c.kind === "dwi") {
      re[t] = p.pd * (1 - p.ff) * Math.exp(-c.teMs / p.t2) * Math.exp(-c.b * p.adc) * p.seFlow;
    } else if (c.kind === "mre_mag") {
      re[t] = p.pd * (1 - 0.5 * p.ff) * Math.exp(-c.teMs / p.t2s) * greTerm(p.t1, 50, 25);
    } else {
      re[t] = p.pd > 0.05 ? 1 : 0;
    }
  }
  return { re, im };
}

/** Draws an exam's coil bias coefficients for a site's bias strength (~0..0.5). */
export function drawBias(strength: number, rng: Rng): [number, number, number, number] {
  return [
    rng.normal(0, strength),
    rng.normal(0, strength),
    rng.range(0.2, 1) * strength,
    rng.normal(0, strength * 0.5),
  ];
}

export interface RenderOptions {
  field: number;
  snr: number;
  /** Smooth multiplicative coil bias: exp(a1 x + a2 y + a3 (x^2 + y^2) + a4 z), coordinates in units of 200 mm. */
  bias: [number, number, number, number];
  /** Ghost amplitude (0 = none), replicated half a field of view along the phase-encoding (row) direction. */
  ghost: number;
  contrastAgent?: boolean;
  /** For MRE wave images: the exam's stiffness (kPa) sets the wavelength. */
  kpa?: number;
}

/**
 * Renders one contrast of a sampled stack into magnitude values (arbitrary units, ~0..1.5), including the
 * liver's fibrosis texture and nodules, bias field, ghosting and Rician noise.
 */
export function renderStack(
  s: Sampled,
  exam: ExamPlan,
  ph: Phantom,
  c: Contrast,
  opts: RenderOptions,
  rng: Rng,
): Float32Array {
  const g = s.geometry;
  const n = g.rows * g.cols * g.slices;
  const table = tissueTable(opts.field, exam, opts.contrastAgent ?? false);
  const { re, im } = tissueSignals(table, c, opts.field);
  const out = new Float32Array(n);
  const S = s.subsamples;
  const ret = exam.cues.reticular;
  // How fibrotic septa and normal variation modulate liver signal per contrast.
  let septa = 0;
  if (c.kind === "fse") septa = 3.2 * ret;
  else if (c.kind === "gre") septa = -1.2 * ret;
  else if (c.kind === "dwi") septa = 1.5 * ret;
  const hetero = c.kind === "fse" ? 0.05 : 0.03;
  if (c.kind === "mre_wave") {
    renderWaves(s, ph, opts.kpa ?? 2.5, rng, out);
  } else {
    for (let v = 0; v < n; v++) {
      let sr = 0;
      let si = 0;
      const base = v * S;
      for (let k = 0; k < S; k++) {
        const t = s.labels[base + k];
        let m = 1;
        if (t === LIVER) m = 1 + septa * s.ridge[v] - septa * 0.25 + hetero * s.liverNoise[v];
        sr += re[t] * m;
        si += im[t] * m;
      }
      out[v] = Math.sqrt(sr * sr + si * si) / S;
    }
  }
  // Bias field: smooth, low order; the receive coil's, so shared by the series of an exam.
  const [a1, a2, a3, a4] = opts.bias;
  const [sr, sc] = g.pixelSpacing;
  // A voxel's patient coordinate along one axis, from the liver centre, in units of 200 mm.
  const fromLiver = (axis: 0 | 1 | 2, col: number, r: number, k: number): number =>
    (g.origin[axis] +
      col * sc * g.rowDir[axis] +
      r * sr * g.colDir[axis] +
      k * g.sliceSpacing * g.normal[axis] -
      ph.liverCentre[axis]) /
    200;
  let vi = 0;
  for (let k = 0; k < g.slices; k++) {
    for (let r = 0; r < g.rows; r++) {
      for (let col = 0; col < g.cols; col++, vi++) {
        const x = fromLiver(0, col, r, k);
        const y = fromLiver(1, col, r, k);
        const z = fromLiver(2, col, r, k);
        out[vi] *= Math.exp(a1 * x + a2 * y + a3 * (x * x + y * y) + a4 * z);
      }
    }
  }
  // Respiratory ghosting along the phase-encoding direction (rows), half a field of view away.
  if (opts.ghost > 0) {
    const plane = g.rows * g.cols;
    const shift = Math.floor(g.rows / 2);
    const tmp = new Float32Array(plane);
    for (let k = 0; k < g.slices; k++) {
      const o = k * plane;
      for (let r = 0; r < g.rows; r++) {
        const src = ((r + shift) % g.rows) * g.cols;
        for (let col = 0; col < g.cols; col++) tmp[r * g.cols + col] = out[o + src + col];
      }
      for (let i = 0; i < plane; i++) out[o + i] += opts.ghost * tmp[i];
    }
  }
  // Rician noise relative to the liver signal (the reference tissue).
  const ref = Math.max(
    1e-3,
    Math.hypot(re[Tissue.Liver], im[Tissue.Liver]),
    0.25 * Math.hypot(re[Tissue.SubcutaneousFat], im[Tissue.SubcutaneousFat]),
  );
  const noise = new FastNormal(rng.nextUint32());
  const sigma = c.kind === "mre_wave" ? 0.04 : ref / opts.snr;
  for (let v = 0; v < n; v++) {
    if (c.kind === "mre_wave") out[v] += sigma * noise.next();
    else {
      const a = out[v] + sigma * noise.next();
      const b2 = sigma * noise.next();
      out[v] = Math.sqrt(a * a + b2 * b2);
    }
  }
  return out;
}

/** MRE phase ("wave") images: a damped shear wave from an anterior right driver, wavelength ~ sqrt(kPa). */
function renderWaves(s: Sampled, ph: Phantom, kpa: number, rng: Rng, out: Float32Array): void {
  const g = s.geometry;
  const lambda = (Math.sqrt(kpa) / 60) * 1000; // mm at 60 Hz
  const [lx, ly, lz] = ph.liverCentre;
  const dx = lx - 40;
  const dy = ly - 120;
  const phase = rng.range(0, 2 * Math.PI);
  let vi = 0;
  for (let k = 0; k < g.slices; k++) {
    for (let r = 0; r < g.rows; r++) {
      for (let c = 0; c < g.cols; c++, vi++) {
        const t = s.labels[vi * s.subsamples + (s.subsamples >> 1)];
        if (t === Tissue.Air || t === Tissue.Gas || t === Tissue.Lung) {
          out[vi] = 0;
          continue;
        }
        const [x, y, z] = pixelPosition(g, k, r, c);
        const d = Math.hypot(x - dx, y - dy, z - lz);
        const damp = Math.exp(-d / 180);
        out[vi] = damp * Math.sin((2 * Math.PI * d) / lambda + phase) * (t === Tissue.Liver ? 1 : 0.6);
      }
    }
  }
}

/** Maps magnitudes to stored integers: value * scale, rounded and clipped to [lo, hi]. */
export function quantize(
  values: Float32Array,
  scale: number,
  offset: number,
  lo: number,
  hi: number,
  signed: boolean,
): Uint16Array | Int16Array {
  const out = signed ? new Int16Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round(values[i] * scale + offset);
    out[i] = v < lo ? lo : Math.min(v, hi);
  }
  return out;
}
