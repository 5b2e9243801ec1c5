// Renders one exam and writes its DICOM files: builds the phantom, samples the stacks, renders every
// series with its site's conventions and returns the truth about each series. Runs inside a worker.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Rng, writeFileAtomic } from "../core/index.ts";
import { EXPLICIT_VR_LITTLE_ENDIAN, encodePart10, IMPLICIT_VR_LITTLE_ENDIAN } from "./dicom-writer.ts";
import { buildClassicImage, buildEnhancedImage, type ImageFrame, type SeriesContext } from "./headers.ts";
import { labelMapNifti } from "./labelmap.ts";
import type { ExamPlan } from "./model.ts";
import { Phantom } from "./phantom.ts";
import {
  type Contrast,
  drawBias,
  type Geometry,
  quantize,
  renderStack,
  type Sampled,
  sampleStack,
  type Vec3,
} from "./render.ts";
import type { Role, SeriesKind, SeriesSpec, SiteProfile } from "./sites.ts";

export interface SeriesTruth {
  accession: string;
  site: string;
  seriesInstanceUid: string;
  seriesNumber: number;
  seriesDescription: string;
  kind: SeriesKind;
  /** The role of the whole series; for a dual-echo series "none" and the roles are per echo. */
  role: Role;
  echoRoles: { echoTimeMs: number; role: Role }[];
  enhanced: boolean;
  files: string[];
  /** Geometry as placed: for checks against an independent converter. */
  geometry: {
    rows: number;
    cols: number;
    slices: number;
    pixelSpacing: [number, number];
    sliceSpacing: number;
    orientation: number[];
    /** Position of the first pixel of the slice with the lowest index along the normal. */
    origin: Vec3;
  };
}

export interface ExamResult {
  index: number;
  accession: string;
  bytes: number;
  files: number;
  series: SeriesTruth[];
  phantom: { spleenLengthMm: number; caudateToRightLobe: number };
  /** Central slices of t1_in, t1_opp, t2 for previews (float magnitudes), when asked for. */
  preview?: { rows: number; cols: number; t1_in: Float32Array; t1_opp: Float32Array; t2: Float32Array };
}

export interface ExamJob {
  exam: ExamPlan;
  site: SiteProfile;
  seed: number | string;
  outDir: string;
  preview: boolean;
}

function uidRoot(seed: number | string, accession: string): string {
  const r = Rng.derive(seed, "uid", accession);
  let big = 0n;
  for (let i = 0; i < 4; i++) big = (big << 32n) | BigInt(r.nextUint32());
  big = (big % 10n ** 38n) + 10n ** 38n; // 39 digits, no leading zero
  return `2.25.${big}`;
}

function axialStack(
  centre: Vec3,
  rows: number,
  cols: number,
  spacing: number,
  slices: number,
  sliceSpacing: number,
  thickness: number,
): Geometry {
  return {
    rows,
    cols,
    pixelSpacing: [spacing, spacing],
    origin: [
      centre[0] - ((cols - 1) / 2) * spacing,
      centre[1] - ((rows - 1) / 2) * spacing,
      centre[2] - ((slices - 1) / 2) * sliceSpacing,
    ],
    rowDir: [1, 0, 0],
    colDir: [0, 1, 0],
    normal: [0, 0, 1],
    slices,
    sliceSpacing,
    thickness,
  };
}

function planeAt(
  centre: Vec3,
  n: number,
  spacing: number,
  rowDir: Vec3,
  colDir: Vec3,
  thickness: number,
): Geometry {
  const normal: Vec3 = [
    rowDir[1] * colDir[2] - rowDir[2] * colDir[1],
    rowDir[2] * colDir[0] - rowDir[0] * colDir[2],
    rowDir[0] * colDir[1] - rowDir[1] * colDir[0],
  ];
  const h = ((n - 1) / 2) * spacing;
  return {
    rows: n,
    cols: n,
    pixelSpacing: [spacing, spacing],
    origin: [
      centre[0] - h * rowDir[0] - h * colDir[0],
      centre[1] - h * rowDir[1] - h * colDir[1],
      centre[2] - h * rowDir[2] - h * colDir[2],
    ],
    rowDir,
    colDir,
    normal,
    slices: 1,
    sliceSpacing: thickness,
    thickness,
  };
}

/** The central `count` slices of a sampled stack (shares no memory with the original). */
function subStack(s: Sampled, first: number, count: number): Sampled {
  const g = s.geometry;
  const plane = g.rows * g.cols;
  const o = first * plane;
  return {
    geometry: {
      ...g,
      slices: count,
      origin: [
        g.origin[0] + first * g.sliceSpacing * g.normal[0],
        g.origin[1] + first * g.sliceSpacing * g.normal[1],
        g.origin[2] + first * g.sliceSpacing * g.normal[2],
      ],
    },
    subsamples: s.subsamples,
    labels: s.labels.slice(o * s.subsamples, (o + count * plane) * s.subsamples),
    ridge: s.ridge.slice(o, o + count * plane),
    liverNoise: s.liverNoise.slice(o, o + count * plane),
  };
}

/** A robust maximum (99.7th percentile) of rendered magnitudes, for auto-scaling like a scanner's. */
function robustMax(v: Float32Array): number {
  let max = 0;
  for (let i = 0; i < v.length; i++) if (v[i] > max) max = v[i];
  if (max <= 0) return 1;
  const bins = new Uint32Array(1024);
  for (let i = 0; i < v.length; i++) bins[Math.min(1023, Math.floor((v[i] / max) * 1023))]++;
  let acc = 0;
  const target = v.length * 0.997;
  for (let b = 0; b < 1024; b++) {
    acc += bins[b];
    if (acc >= target) return ((b + 1) / 1023) * max;
  }
  return max;
}

function contrastOf(spec: SeriesSpec, teMs: number, b?: number): Contrast {
  switch (spec.kind) {
    case "t2":
      return { kind: "fse", teMs, trMs: spec.singleShot ? 4000 : spec.trMs, fatSat: spec.fatSat };
    case "localizer":
      return { kind: "ssfp" };
    case "dwi":
      return { kind: "dwi", b: b ?? 0, teMs };
    case "mre_magnitude":
      return { kind: "mre_mag", teMs };
    case "mre_wave":
      return { kind: "mre_wave" };
    default:
      return {
        kind: "gre",
        teMs,
        trMs: spec.trMs,
        flipDeg: spec.flipDeg,
        fatSat: spec.fatSat,
        contrastAgent: spec.kind === "post_contrast",
      };
  }
}

/** Order in which slice indices get InstanceNumbers. */
function instanceOrder(order: SiteProfile["instanceOrder"], n: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (order === "descending") return idx.reverse();
  if (order === "ascending") return idx;
  return [...idx.filter((i) => i % 2 === 0), ...idx.filter((i) => i % 2 === 1)];
}

/** What every series of one exam is rendered from: the phantom, the main stack and the exam's draws. */
interface ExamRendering {
  job: ExamJob;
  phantom: Phantom;
  /** The root of every UID of the exam. */
  root: string;
  examDir: string;
  fovMm: number;
  bodyCentre: Vec3;
  /** The sampled main stack, shared by the T1 and T2 series. */
  main: Sampled;
  examScale: number;
  coilBias: ReturnType<typeof drawBias>;
  headers: SeriesContext;
  transfer: string;
  /** Central slices per role, kept when previews are asked for. */
  previewSlices: Partial<Record<Role, Float32Array>>;
}

/** One rendered image volume of a series: one echo, one b-value or one localizer plane. */
interface RenderedVolume {
  sampled: Sampled;
  values: Float32Array;
  teMs: number;
  echoNumber: number;
  role: Role;
  imageType: string[];
  b?: number;
}

export function renderExam(job: ExamJob): ExamResult {
  const { exam, site, seed } = job;
  const rng = Rng.derive(seed, "exam", exam.index);
  const phantom = new Phantom(exam, rng);
  const year = Number(exam.studyDate.slice(0, 4));
  // Drawn before the stack: the order of draws on the exam's generator is part of the cohort.
  const specs = site.series(year, (p) => rng.bernoulli(p));
  const er = examRendering(job, rng, phantom, year);
  const series: SeriesTruth[] = [];
  let bytes = 0;
  let files = 0;
  for (const spec of specs) {
    const rendered = renderSeries(er, spec);
    series.push(rendered.truth);
    bytes += rendered.bytes;
    files += rendered.truth.files.length;
  }
  const result: ExamResult = {
    index: exam.index,
    accession: exam.accession,
    bytes,
    files,
    series,
    phantom: {
      spleenLengthMm: phantom.summary.spleenLengthMm,
      caudateToRightLobe: phantom.summary.caudateToRightLobe,
    },
  };
  const { t1_in, t1_opp, t2 } = er.previewSlices;
  if (job.preview && t1_in && t1_opp && t2) {
    result.preview = { rows: site.stack.rows, cols: site.stack.cols, t1_in, t1_opp, t2 };
  }
  return result;
}

/** Places and samples the main stack (written as the exam's label map) and draws the exam's scaling. */
function examRendering(job: ExamJob, rng: Rng, phantom: Phantom, year: number): ExamRendering {
  const { exam, site, seed } = job;
  const k = exam.nuisance.bodyScale;
  const st = site.stack;
  const fovMm = mainFovMm(st.fovMm, phantom.summary.bodyHalfWidthMm, k);
  const spacing = fovMm / st.cols;
  // Centred on the body in-plane and on the liver along z.
  const centreZ = phantom.liverCentre[2] + rng.normal(0, 4);
  const bodyCentre: Vec3 = [exam.nuisance.offsetMm[0], exam.nuisance.offsetMm[1], centreZ];
  const mainGeom = axialStack(bodyCentre, st.rows, st.cols, spacing, st.slices, st.spacingMm, st.thicknessMm);
  const main = sampleStack(phantom, mainGeom, 3);
  writeFileAtomic(join(job.outDir, "labelmaps", `${exam.accession}.nii.gz`), labelMapNifti(main));
  const root = uidRoot(seed, exam.accession);
  const examScale = rng.range(0.8, 1.2);
  const coilBias = drawBias(site.biasStrength, rng);
  return {
    job,
    phantom,
    root,
    examDir: join(job.outDir, "dicom", site.id, exam.accession),
    fovMm,
    bodyCentre,
    main,
    examScale,
    coilBias,
    headers: {
      exam,
      site,
      year,
      studyUid: `${root}.1`,
      frameOfReferenceUid: `${root}.4`,
      weightKg: Math.round(k ** 2.5 * (55 + 1.1 * exam.nuisance.subcutaneousFatMm)),
      heightM: Math.round((exam.sex === "M" ? 1.76 : 1.64) * k ** 0.8 * 100) / 100,
    },
    transfer: site.transferSyntax === "implicit" ? IMPLICIT_VR_LITTLE_ENDIAN : EXPLICIT_VR_LITTLE_ENDIAN,
    previewSlices: {},
  };
}

/** The main field of view follows the body (children get a smaller one), to the nearest 10 mm. */
function mainFovMm(siteFovMm: number, bodyHalfWidthMm: number, bodyScale: number): number {
  const k = bodyScale;
  return (
    Math.round(
      Math.min(
        siteFovMm * 1.2,
        Math.max(siteFovMm * 0.7, Math.max(2 * bodyHalfWidthMm * 1.08, siteFovMm * (k < 0.9 ? k + 0.1 : 1))),
      ) / 10,
    ) * 10
  );
}

function renderSeries(er: ExamRendering, spec: SeriesSpec): { truth: SeriesTruth; bytes: number } {
  const { job } = er;
  const srng = Rng.derive(job.seed, "exam", job.exam.index, "series", spec.seriesNumber);
  const { sampled, planes } = seriesSampling(er, spec);
  const volumes = renderVolumes(er, spec, sampled, planes, srng);
  const frames = storedFrames(er, spec, volumes);
  const numbered = numberFrames(job.site, frames, volumes, planes !== undefined);
  const seriesUid = `${er.root}.2.${spec.seriesNumber}`;
  const { written, bytes } = writeSeriesFiles(er, spec, seriesUid, numbered);
  const g0 = volumes[0].sampled.geometry;
  const truth: SeriesTruth = {
    accession: job.exam.accession,
    site: job.site.id,
    seriesInstanceUid: seriesUid,
    seriesNumber: spec.seriesNumber,
    seriesDescription: spec.description,
    kind: spec.kind,
    role: spec.echoes.length === 1 ? spec.echoes[0].role : "none",
    echoRoles: spec.echoes.map((e) => ({ echoTimeMs: e.teMs, role: e.role })),
    enhanced: spec.enhanced,
    files: written.map((f) => f.slice(job.outDir.length + 1)),
    geometry: {
      rows: g0.rows,
      cols: g0.cols,
      slices: planes ? 1 : g0.slices,
      pixelSpacing: g0.pixelSpacing,
      sliceSpacing: g0.sliceSpacing,
      orientation: [...g0.rowDir, ...g0.colDir],
      origin: g0.origin,
    },
  };
  return { truth, bytes };
}

/** The sampled tissue of a series: the main stack, part of it, three localizer planes, or a coarse stack. */
function seriesSampling(er: ExamRendering, spec: SeriesSpec): { sampled: Sampled; planes?: Sampled[] } {
  const { main, phantom, bodyCentre } = er;
  if (spec.kind === "t1_dual" || spec.kind === "t1_in" || spec.kind === "t1_opp" || spec.kind === "t2")
    return { sampled: main };
  if (spec.kind === "post_contrast") {
    return { sampled: subStack(main, Math.floor(er.job.site.stack.slices / 2) - 1, 3) };
  }
  if (spec.kind === "localizer") {
    const c: Vec3 = [bodyCentre[0], bodyCentre[1], bodyCentre[2]];
    const sp = 450 / 80;
    const planes = [
      sampleStack(phantom, planeAt(c, 80, sp, [1, 0, 0], [0, 1, 0], 8), 1),
      sampleStack(phantom, planeAt(c, 80, sp, [1, 0, 0], [0, 0, -1], 8), 1),
      sampleStack(phantom, planeAt(c, 80, sp, [0, 1, 0], [0, 0, -1], 8), 1),
    ];
    return { sampled: planes[0], planes };
  }
  const n = 64;
  const sp = Math.round((er.fovMm / n) * 100) / 100;
  const thick = spec.kind === "dwi" ? 7 : 10;
  return { sampled: sampleStack(phantom, axialStack(bodyCentre, n, n, sp, 3, thick + 1, thick), 1) };
}

/** Renders every image volume of the series: one per echo (or per b-value, or per localizer plane). */
function renderVolumes(
  er: ExamRendering,
  spec: SeriesSpec,
  sampled: Sampled,
  planes: Sampled[] | undefined,
  srng: Rng,
): RenderedVolume[] {
  const { exam, site } = er.job;
  const ph = er.phantom;
  // Draw order on the series generator: ghost, then the localizer's bias, then each volume's noise.
  const ghost =
    (spec.kind === "t1_dual" || spec.kind === "t1_in" || spec.kind === "t1_opp") &&
    srng.bernoulli(site.ghostProb)
      ? srng.range(0.05, 0.14)
      : 0;
  const snr = spec.kind === "t2" ? site.snrT2 : site.snrT1;
  const renderOpts = {
    field: site.fieldT,
    snr: spec.kind === "dwi" ? 12 : snr,
    bias: spec.kind === "localizer" ? drawBias(0.1, srng) : er.coilBias,
    ghost,
    kpa: exam.kpa,
    contrastAgent: spec.kind === "post_contrast",
  };
  const render = (s: Sampled, teMs: number, b?: number) =>
    renderStack(s, exam, ph, contrastOf(spec, teMs, b), renderOpts, srng);
  const e0 = spec.echoes[0];
  if (planes) {
    return planes.map((p) => ({
      sampled: p,
      values: render(p, e0.teMs),
      teMs: e0.teMs,
      echoNumber: 1,
      role: "none" as Role,
      imageType: e0.imageType,
    }));
  }
  if (spec.bValues) {
    return spec.bValues.map((b) => ({
      sampled,
      values: render(sampled, e0.teMs, b),
      teMs: e0.teMs,
      echoNumber: 1,
      role: "none" as Role,
      imageType: e0.imageType,
      b,
    }));
  }
  return spec.echoes.map((e, i) => ({
    sampled,
    values: render(sampled, e.teMs),
    teMs: e.teMs,
    echoNumber: spec.echoes.length > 1 ? i + 1 : 1,
    role: e.role,
    imageType: e.imageType,
  }));
}

/**
 * Stored pixel frames, volume after volume, scaled like a scanner's auto-scaling (a robust maximum maps to
 * the site's level); keeps the central slice of each role for previews.
 */
function storedFrames(er: ExamRendering, spec: SeriesSpec, volumes: RenderedVolume[]): ImageFrame[] {
  const { site } = er.job;
  let scaleMax = 0;
  for (const v of volumes) scaleMax = Math.max(scaleMax, robustMax(v.values));
  const maxStored = site.bitsStored === 12 ? 4095 : site.signed ? 32767 : 65535;
  const slope = site.rescaleSlope ?? 1;
  const level = spec.kind === "mre_wave" ? 0 : (site.level * er.examScale) / slope;
  const frames: ImageFrame[] = [];
  for (const v of volumes) {
    const g = v.sampled.geometry;
    const stored =
      spec.kind === "mre_wave"
        ? quantize(
            v.values,
            site.signed ? 2000 : 1500,
            site.signed ? 0 : 2048,
            site.signed ? -4096 : 0,
            maxStored,
            site.signed,
          )
        : quantize(v.values, level / scaleMax, 0, 0, maxStored, site.signed);
    const plane = g.rows * g.cols;
    for (let s = 0; s < g.slices; s++) {
      frames.push({
        geometry: g,
        slice: s,
        pixels: stored.subarray(s * plane, (s + 1) * plane),
        teMs: v.teMs,
        echoNumber: v.echoNumber,
        imageType: v.imageType,
        bValue: v.b,
      });
    }
    const previews = er.previewSlices;
    if (
      er.job.preview &&
      (v.role === "t1_in" || v.role === "t1_opp" || v.role === "t2") &&
      !previews[v.role]
    ) {
      const mid = Math.floor(g.slices / 2);
      previews[v.role] = v.values.slice(mid * plane, (mid + 1) * plane);
    }
  }
  return frames;
}

/** Instance numbers: slice order per site; echoes (or b-values) interleaved per slice position. */
function numberFrames(
  site: SiteProfile,
  frames: ImageFrame[],
  volumes: RenderedVolume[],
  localizer: boolean,
): { frame: ImageFrame; instance: number }[] {
  const numbered: { frame: ImageFrame; instance: number }[] = [];
  let inst = 1;
  if (localizer) {
    for (const f of frames) numbered.push({ frame: f, instance: inst++ });
    return numbered;
  }
  const perVolume = volumes.length;
  const nSlices = volumes[0].sampled.geometry.slices;
  for (const s of instanceOrder(site.instanceOrder, nSlices))
    for (let v = 0; v < perVolume; v++) numbered.push({ frame: frames[v * nSlices + s], instance: inst++ });
  return numbered;
}

/** One enhanced multi-frame file, or one classic file per instance (named the vendor's way). */
function writeSeriesFiles(
  er: ExamRendering,
  spec: SeriesSpec,
  seriesUid: string,
  numbered: { frame: ImageFrame; instance: number }[],
): { written: string[]; bytes: number } {
  const { root, transfer } = er;
  const dir = join(er.examDir, String(spec.seriesNumber));
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  let bytes = 0;
  const write = (file: string, data: ReturnType<typeof encodePart10>) => {
    writeFileAtomic(file, data);
    bytes += data.length;
    written.push(file);
  };
  if (spec.enhanced) {
    const sopUid = `${root}.3.${spec.seriesNumber}.1`;
    const ds = buildEnhancedImage(er.headers, spec, seriesUid, sopUid, numbered);
    write(
      join(dir, "IM00001.dcm"),
      encodePart10(ds, { sopClassUid: ENHANCED_MR, sopInstanceUid: sopUid, transferSyntax: transfer }),
    );
    return { written, bytes };
  }
  for (const { frame, instance } of numbered) {
    const sopUid = `${root}.3.${spec.seriesNumber}.${instance}`;
    const ds = buildClassicImage(er.headers, spec, seriesUid, sopUid, frame, instance);
    const name =
      er.job.site.vendor === "Canon"
        ? `I${String(instance).padStart(7, "0")}`
        : `IM${String(instance).padStart(5, "0")}.dcm`;
    write(
      join(dir, name),
      encodePart10(ds, { sopClassUid: MR_IMAGE, sopInstanceUid: sopUid, transferSyntax: transfer }),
    );
  }
  return { written, bytes };
}

export const MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4";
export const ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1";
