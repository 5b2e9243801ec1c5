// The anatomy of one exam in patient coordinates (LPS, mm): nested body layers, spine, vessels, liver
// (right and left lobes, caudate), spleen, kidneys, stomach, gallbladder, lungs, bowel, and what fibrosis
// does to them (nodular surface, caudate hypertrophy with right-lobe atrophy, splenomegaly, regenerative
// nodules, ascites). `classify` answers which tissue a point is in; the renderer samples it.
import type { Rng } from "../core/index.ts";
import type { ExamPlan } from "./model.ts";

export enum Tissue {
  Air = 0,
  SubcutaneousFat = 1,
  Muscle = 2,
  VisceralFat = 3,
  Liver = 4,
  Spleen = 5,
  Kidney = 6,
  Marrow = 7,
  Artery = 8,
  Vein = 9,
  StomachFluid = 10,
  Gas = 11,
  Bile = 12,
  Ascites = 13,
  Nodule = 14,
  Csf = 15,
  Lung = 16,
  Bowel = 17,
  Heart = 18,
}
export const TISSUE_COUNT = 19;

/** An ellipsoid rotated about the z axis, with a bounding box for cheap rejection. */
class Ellipsoid {
  readonly minX: number;
  readonly maxX: number;
  readonly minY: number;
  readonly maxY: number;
  readonly minZ: number;
  readonly maxZ: number;
  private readonly c: number;
  private readonly s: number;
  private readonly ia: number;
  private readonly ib: number;
  private readonly ic: number;

  constructor(
    readonly cx: number,
    readonly cy: number,
    readonly cz: number,
    readonly a: number,
    readonly b: number,
    readonly h: number,
    angleDeg = 0,
    margin = 0,
  ) {
    const t = (angleDeg * Math.PI) / 180;
    this.c = Math.cos(t);
    this.s = Math.sin(t);
    this.ia = 1 / a;
    this.ib = 1 / b;
    this.ic = 1 / h;
    const r = Math.max(a, b) + margin;
    this.minX = cx - r;
    this.maxX = cx + r;
    this.minY = cy - r;
    this.maxY = cy + r;
    this.minZ = cz - h - margin;
    this.maxZ = cz + h + margin;
  }

  inBox(x: number, y: number, z: number): boolean {
    return (
      x >= this.minX && x <= this.maxX && y >= this.minY && y <= this.maxY && z >= this.minZ && z <= this.maxZ
    );
  }

  /** Normalised quadratic form: < 1 inside. */
  q(x: number, y: number, z: number): number {
    const dx = x - this.cx;
    const dy = y - this.cy;
    const u = (this.c * dx + this.s * dy) * this.ia;
    const v = (-this.s * dx + this.c * dy) * this.ib;
    const w = (z - this.cz) * this.ic;
    return u * u + v * v + w * w;
  }
}

/** A smooth random 3D field: a sum of plane waves (zero mean, unit variance). */
class WaveField {
  private readonly kx: Float64Array;
  private readonly ky: Float64Array;
  private readonly kz: Float64Array;
  private readonly ph: Float64Array;
  private readonly norm: number;

  constructor(rng: Rng, waves: number, wavelengthMm: number) {
    this.kx = new Float64Array(waves);
    this.ky = new Float64Array(waves);
    this.kz = new Float64Array(waves);
    this.ph = new Float64Array(waves);
    for (let i = 0; i < waves; i++) {
      // Random direction, wavelength within +-30%.
      const u = rng.range(-1, 1);
      const phi = rng.range(0, 2 * Math.PI);
      const r = Math.sqrt(1 - u * u);
      const k = (2 * Math.PI) / (wavelengthMm * rng.range(0.7, 1.3));
      this.kx[i] = k * r * Math.cos(phi);
      this.ky[i] = k * r * Math.sin(phi);
      this.kz[i] = k * u;
      this.ph[i] = rng.range(0, 2 * Math.PI);
    }
    this.norm = Math.sqrt(2 / waves);
  }

  at(x: number, y: number, z: number): number {
    let s = 0;
    for (let i = 0; i < this.kx.length; i++)
      s += Math.sin(this.kx[i] * x + this.ky[i] * y + this.kz[i] * z + this.ph[i]);
    return s * this.norm;
  }
}

export interface PhantomSummary {
  /** Organ sizes that the truth file records (linear mm). */
  spleenLengthMm: number;
  caudateToRightLobe: number;
  liverCentreMm: [number, number, number];
  bodyHalfWidthMm: number;
}

/**
 * One exam's anatomy. Construction draws every shape from the exam's cues and nuisance variables with the
 * given generator; `classify` is then a pure function of the point.
 */
export class Phantom {
  /** Centre of the liver (the stack is centred here), patient coordinates. */
  readonly liverCentre: [number, number, number];
  readonly summary: PhantomSummary;
  private readonly bx: number;
  private readonly by: number;
  private readonly bodyA: number;
  private readonly bodyB: number;
  private readonly fatA: number;
  private readonly fatB: number;
  private readonly cavA: number;
  private readonly cavB: number;
  private readonly spineY: number;
  private readonly vertebraR: number;
  private readonly canalY: number;
  private readonly canalR: number;
  private readonly paraspinal: Ellipsoid[];
  private readonly aorta: [number, number, number];
  private readonly ivc: [number, number, number];
  private readonly liverParts: Ellipsoid[];
  private readonly liverBox: Ellipsoid;
  private readonly nodAmp: number;
  private readonly surfaceField: WaveField;
  private readonly gallbladder: Ellipsoid;
  private readonly portal: {
    x0: number;
    y0: number;
    z0: number;
    dx: number;
    dy: number;
    dz: number;
    len: number;
    r: number;
  };
  private readonly nodules: { x: number; y: number; z: number; r2: number }[];
  private readonly spleen: Ellipsoid;
  private readonly kidneys: Ellipsoid[];
  private readonly stomach: Ellipsoid;
  private readonly stomachGasY: number;
  private readonly lungs: Ellipsoid[];
  private readonly heart: Ellipsoid;
  private readonly bowel: Ellipsoid[];
  private readonly ascites: boolean;
  private readonly ascitesMm: number;
  readonly reticularField: WaveField;
  readonly liverNoiseField: WaveField;

  constructor(exam: ExamPlan, rng: Rng) {
    const n = exam.nuisance;
    const k = n.bodyScale;
    const c = exam.cues;
    this.bx = n.offsetMm[0];
    this.by = n.offsetMm[1];
    const zc = n.offsetMm[2];
    const sc = n.subcutaneousFatMm;
    const wall = 9 * k;
    // Cavity (inside the muscle wall) sized by the body; fat adds outside it.
    this.cavA = 128 * k * rng.range(0.95, 1.05) + 0.4 * sc * n.visceralFat;
    this.cavB = 88 * k * rng.range(0.95, 1.05) + 0.5 * sc * n.visceralFat;
    this.fatA = this.cavA + wall;
    this.fatB = this.cavB + wall * 0.8;
    this.bodyA = this.fatA + sc;
    this.bodyB = this.fatB + sc * 0.8;
    const X = (v: number) => this.bx + v;
    const Y = (v: number) => this.by + v;
    // Spine sits against the posterior cavity wall (posterior = +y).
    this.vertebraR = 17 * k;
    this.spineY = Y(this.cavB - 22 * k);
    this.canalR = 7 * k;
    this.canalY = this.spineY + this.vertebraR + this.canalR + 2 * k;
    this.paraspinal = [-1, 1].map(
      (s) => new Ellipsoid(X(s * 38 * k), this.spineY + 30 * k, zc, 24 * k, 22 * k, 1e6),
    );
    this.aorta = [X(14 * k), this.spineY - 30 * k, 11 * k];
    this.ivc = [X(-24 * k), this.spineY - 34 * k, 11 * k];

    // Liver: right lobe (atrophies), left lobe, caudate (hypertrophies) around (zc).
    const rl = Math.exp(-0.4 * c.crlLog);
    const ca = Math.exp(0.6 * c.crlLog);
    const liverScale = k * rng.range(0.94, 1.06);
    const L = liverScale;
    const right = new Ellipsoid(
      X(-62 * k),
      Y(8 * k),
      zc,
      66 * L * rl,
      72 * L * rl,
      78 * L * rl,
      rng.range(-8, 8),
    );
    const left = new Ellipsoid(
      X(12 * k),
      Y(-42 * k),
      zc + 22 * k,
      62 * L,
      30 * L,
      42 * L,
      rng.range(-18, -6),
    );
    const caudate = new Ellipsoid(
      X(-6 * k),
      Y(12 * k),
      zc + 6 * k,
      17 * L * ca,
      19 * L * ca,
      34 * L * ca,
      20,
    );
    this.liverParts = [right, left, caudate];
    this.nodAmp = c.nodularityMm;
    const margin = this.nodAmp * 1.5 + 2;
    this.liverBox = new Ellipsoid(
      (Math.min(right.minX, left.minX) + Math.max(right.maxX, left.maxX)) / 2,
      (Math.min(right.minY, left.minY) + Math.max(right.maxY, left.maxY)) / 2,
      zc,
      (Math.max(right.maxX, left.maxX) - Math.min(right.minX, left.minX)) / 2,
      (Math.max(right.maxY, left.maxY) - Math.min(right.minY, left.minY)) / 2,
      Math.max(right.h, left.h + 22 * k),
      0,
      margin,
    );
    this.liverCentre = [X(-30 * k), Y(0), zc];
    this.surfaceField = new WaveField(rng, 10, rng.range(14, 20));
    this.reticularField = new WaveField(rng, 8, rng.range(16, 22));
    this.liverNoiseField = new WaveField(rng, 8, 30);
    this.gallbladder = new Ellipsoid(X(-38 * k), Y(-48 * k), zc - 40 * k, 14 * k, 14 * k, 32 * k, 30);
    {
      const x0 = X(-8 * k);
      const y0 = Y(6 * k);
      const z0 = zc - 14 * k;
      const x1 = X(-70 * k);
      const y1 = Y(-2 * k);
      const z1 = zc - 4 * k;
      const len = Math.hypot(x1 - x0, y1 - y0, z1 - z0);
      this.portal = {
        x0,
        y0,
        z0,
        dx: (x1 - x0) / len,
        dy: (y1 - y0) / len,
        dz: (z1 - z0) / len,
        len,
        r: (6.5 + 0.6 * exam.severity) * k,
      };
    }
    this.nodules = [];
    for (let i = 0; i < c.nodules; i++) {
      const part = rng.bernoulli(0.75) ? right : left;
      const r = rng.range(4, 8);
      this.nodules.push({
        x: part.cx + rng.range(-0.6, 0.6) * part.a,
        y: part.cy + rng.range(-0.6, 0.6) * part.b,
        z: part.cz + rng.range(-0.5, 0.5) * part.h,
        r2: r * r,
      });
    }
    // Spleen: grows anteriorly and inferiorly.
    const s = Math.exp(c.spleenLog) * rng.range(0.97, 1.03);
    this.spleen = new Ellipsoid(
      X(86 * k - 8 * k * (s - 1)),
      Y(36 * k - 34 * k * (s - 1)),
      zc + 4 * k - 30 * k * (s - 1),
      22 * k * s,
      48 * k * s,
      52 * k * s,
      -35,
    );
    this.kidneys = [
      new Ellipsoid(X(-62 * k), this.spineY - 6 * k, zc - 62 * k, 26 * k, 22 * k, 50 * k, 25),
      new Ellipsoid(X(64 * k), this.spineY - 8 * k, zc - 50 * k, 26 * k, 22 * k, 50 * k, -25),
    ];
    this.stomach = new Ellipsoid(X(50 * k), Y(-26 * k), zc + 14 * k, 40 * k, 28 * k, 40 * k, -20);
    this.stomachGasY = this.stomach.cy - rng.range(5, 20) * k;
    this.lungs = [
      new Ellipsoid(X(-72 * k), Y(14 * k), zc + 128 * k, 72 * k, 80 * k, 82 * k),
      new Ellipsoid(X(74 * k), Y(14 * k), zc + 118 * k, 68 * k, 80 * k, 82 * k),
    ];
    this.heart = new Ellipsoid(X(22 * k), Y(-30 * k), zc + 122 * k, 58 * k, 48 * k, 52 * k, -30);
    this.bowel = [];
    const nb = 6 + rng.int(6);
    for (let i = 0; i < nb; i++) {
      this.bowel.push(
        new Ellipsoid(
          X(rng.range(-70, 80) * k),
          Y(rng.range(-70, 10) * k),
          zc + rng.range(-110, -30) * k,
          rng.range(12, 22) * k,
          rng.range(10, 18) * k,
          rng.range(15, 35) * k,
          rng.range(0, 180),
        ),
      );
    }
    this.ascites = c.ascites;
    this.ascitesMm = c.ascites ? rng.range(5, 16) : 0;
    this.summary = {
      spleenLengthMm: 2 * this.spleen.h,
      caudateToRightLobe: caudate.a / right.a,
      liverCentreMm: this.liverCentre,
      bodyHalfWidthMm: this.bodyA,
    };
  }

  /** Liver implicit function: < 0 inside, roughly (distance in mm) / 70 near the surface. */
  private liverF(x: number, y: number, z: number): number {
    let q = Infinity;
    for (const p of this.liverParts) {
      if (!p.inBox(x, y, z)) continue;
      const v = p.q(x, y, z);
      if (v < q) q = v;
    }
    if (q === Infinity) return 1;
    let f = Math.sqrt(q) - 1;
    if (this.nodAmp > 0 && f > -0.15 && f < 0.15) {
      // Nodular surface: lumps of a few mm (the field is clipped to its bumps, so the surface bulges).
      const b = this.surfaceField.at(x, y, z);
      f -= (this.nodAmp / 70) * (Math.abs(b) * 1.4 - 0.6);
    }
    return f;
  }

  classify(x: number, y: number, z: number): Tissue {
    const dx = x - this.bx;
    const dy = y - this.by;
    const rb = (dx * dx) / (this.bodyA * this.bodyA) + (dy * dy) / (this.bodyB * this.bodyB);
    if (rb > 1) return Tissue.Air;
    const rf = (dx * dx) / (this.fatA * this.fatA) + (dy * dy) / (this.fatB * this.fatB);
    if (rf > 1) return Tissue.SubcutaneousFat;
    // Spine and paraspinal muscles.
    const sx = dx;
    const sy = y - this.spineY;
    if (sx * sx + sy * sy < this.vertebraR * this.vertebraR) return Tissue.Marrow;
    const cy = y - this.canalY;
    if (sx * sx + cy * cy < this.canalR * this.canalR) return Tissue.Csf;
    if (sx * sx + cy * cy < (this.canalR + 5) * (this.canalR + 5)) return Tissue.Marrow;
    for (const p of this.paraspinal) if (p.q(x, y, z) < 1) return Tissue.Muscle;
    const rc = (dx * dx) / (this.cavA * this.cavA) + (dy * dy) / (this.cavB * this.cavB);
    if (rc > 1) return Tissue.Muscle;
    const [ax, ay, ar] = this.aorta;
    if ((x - ax) ** 2 + (y - ay) ** 2 < ar * ar) return Tissue.Artery;
    const [ix, iy, ir] = this.ivc;
    if ((x - ix) ** 2 + (y - iy) ** 2 < ir * ir) return Tissue.Vein;
    // Heart and lungs above the diaphragm; the liver dome pushes into them.
    if (this.heart.inBox(x, y, z) && this.heart.q(x, y, z) < 1) return Tissue.Heart;
    let liverF = 1;
    if (this.liverBox.inBox(x, y, z)) {
      liverF = this.liverF(x, y, z);
      if (liverF < 0) {
        if (this.gallbladder.inBox(x, y, z) && this.gallbladder.q(x, y, z) < 1) return Tissue.Bile;
        const p = this.portal;
        const px = x - p.x0;
        const py = y - p.y0;
        const pz = z - p.z0;
        const t = px * p.dx + py * p.dy + pz * p.dz;
        if (t > 0 && t < p.len) {
          const d2 = px * px + py * py + pz * pz - t * t;
          if (d2 < p.r * p.r) return Tissue.Vein;
        }
        for (const nd of this.nodules) {
          const ex = x - nd.x;
          const ey = y - nd.y;
          const ez = z - nd.z;
          if (ex * ex + ey * ey + ez * ez < nd.r2) return Tissue.Nodule;
        }
        return Tissue.Liver;
      }
    }
    for (const l of this.lungs) if (l.inBox(x, y, z) && l.q(x, y, z) < 1) return Tissue.Lung;
    let spleenQ = 2;
    if (this.spleen.inBox(x, y, z)) {
      spleenQ = this.spleen.q(x, y, z);
      if (spleenQ < 1) return Tissue.Spleen;
    }
    for (const kd of this.kidneys) if (kd.inBox(x, y, z) && kd.q(x, y, z) < 1) return Tissue.Kidney;
    if (this.stomach.inBox(x, y, z) && this.stomach.q(x, y, z) < 1) {
      return y < this.stomachGasY ? Tissue.Gas : Tissue.StomachFluid;
    }
    if (this.ascites) {
      if (liverF < this.ascitesMm / 70) return Tissue.Ascites;
      if (spleenQ < 1 + this.ascitesMm / 25) return Tissue.Ascites;
    }
    for (const b of this.bowel) if (b.inBox(x, y, z) && b.q(x, y, z) < 1) return Tissue.Bowel;
    return Tissue.VisceralFat;
  }
}
