// DICOM attributes of the synthetic images: the MR Image IOD (one file per slice) and the Enhanced MR
// Image IOD (one multi-frame object per series), filled the way each vendor fills them.
import { Dataset, pixelBytes } from "./dicom-writer.ts";
import type { ExamPlan } from "./model.ts";
import type { Geometry } from "./render.ts";
import type { SeriesSpec, SiteProfile } from "./sites.ts";

export interface SeriesContext {
  exam: ExamPlan;
  site: SiteProfile;
  year: number;
  studyUid: string;
  frameOfReferenceUid: string;
  weightKg: number;
  heightM: number;
}

export interface ImageFrame {
  geometry: Geometry;
  slice: number;
  pixels: Uint16Array | Int16Array;
  teMs: number;
  echoNumber: number;
  imageType: string[];
  bValue?: number;
}

const da = (iso: string) => iso.replaceAll("-", "");

export function framePosition(f: ImageFrame): [number, number, number] {
  const g = f.geometry;
  return [
    g.origin[0] + f.slice * g.sliceSpacing * g.normal[0],
    g.origin[1] + f.slice * g.sliceSpacing * g.normal[1],
    g.origin[2] + f.slice * g.sliceSpacing * g.normal[2],
  ];
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function patientAge(years: number): string {
  return `${String(Math.floor(years)).padStart(3, "0")}Y`;
}

function seriesTime(ctx: SeriesContext, spec: SeriesSpec): string {
  const t = ctx.exam.studyTime;
  const minutes =
    Number(t.slice(0, 2)) * 60 + Number(t.slice(2, 4)) + Math.floor(spec.seriesNumber % 100) * 2;
  const h = Math.floor(minutes / 60) % 24;
  return `${String(h).padStart(2, "0")}${String(minutes % 60).padStart(2, "0")}${t.slice(4, 6)}.000000`;
}

/** Attributes shared by the classic and the enhanced object (patient, study, series, equipment). */
function common(
  ctx: SeriesContext,
  spec: SeriesSpec,
  seriesUid: string,
  sopUid: string,
  sopClass: string,
): Dataset {
  const { exam, site, year } = ctx;
  const date = da(exam.studyDate);
  const time = seriesTime(ctx, spec);
  const d = new Dataset()
    .set(0x00080005, "CS", "ISO_IR 100")
    .set(0x00080012, "DA", date)
    .set(0x00080013, "TM", time)
    .set(0x00080016, "UI", sopClass)
    .set(0x00080018, "UI", sopUid)
    .set(0x00080020, "DA", date)
    .set(0x00080021, "DA", date)
    .set(0x00080022, "DA", date)
    .set(0x00080023, "DA", date)
    .set(0x00080030, "TM", `${exam.studyTime}.000000`)
    .set(0x00080031, "TM", time)
    .set(0x00080032, "TM", time)
    .set(0x00080033, "TM", time)
    .set(0x00080050, "SH", exam.accession)
    .set(0x00080060, "CS", "MR")
    .set(0x00080070, "LO", site.manufacturer(year))
    .set(0x00080080, "LO", site.institution)
    .set(0x00080090, "PN", "")
    .set(0x00081010, "SH", site.station)
    .set(
      0x00081030,
      "LO",
      site.vendor === "GE" ? "MR ABDOMEN W WO CONTRAST + MRE" : "MRI Liver with Elastography",
    )
    .set(0x0008103e, "LO", spec.description)
    .set(0x00081090, "LO", site.model(year))
    .set(0x00100010, "PN", `SYNTH^${exam.patientId}`)
    .set(0x00100020, "LO", exam.patientId)
    .set(0x00100030, "DA", da(exam.birthDate))
    .set(0x00100040, "CS", exam.sex)
    .set(0x00101010, "AS", patientAge(exam.ageYears))
    .set(0x00101020, "DS", ctx.heightM)
    .set(0x00101030, "DS", ctx.weightKg)
    .set(0x00180015, "CS", "ABDOMEN")
    .set(0x00181000, "LO", `${site.station.replace(/\D/g, "") || "4"}${site.id.charCodeAt(5)}`)
    .set(0x00181020, "LO", site.softwareVersion(year))
    .set(0x00181030, "LO", spec.protocolName)
    .set(0x00185100, "CS", site.patientPosition)
    .set(0x0020000d, "UI", ctx.studyUid)
    .set(0x0020000e, "UI", seriesUid)
    .set(0x00200010, "SH", exam.accession.slice(-6))
    .set(0x00200011, "IS", spec.seriesNumber)
    .set(0x00200052, "UI", ctx.frameOfReferenceUid)
    .set(0x00201040, "LO", "");
  if (spec.contrastAgent) {
    d.set(0x00180010, "LO", spec.contrastAgent).set(0x00181040, "LO", "IV");
  }
  return d;
}

function pixelModule(d: Dataset, site: SiteProfile, rows: number, cols: number): void {
  d.set(0x00280002, "US", 1)
    .set(0x00280004, "CS", "MONOCHROME2")
    .set(0x00280010, "US", rows)
    .set(0x00280011, "US", cols)
    .set(0x00280100, "US", 16)
    .set(0x00280101, "US", site.bitsStored)
    .set(0x00280102, "US", site.bitsStored - 1)
    .set(0x00280103, "US", site.signed ? 1 : 0);
}

export function buildClassicImage(
  ctx: SeriesContext,
  spec: SeriesSpec,
  seriesUid: string,
  sopUid: string,
  f: ImageFrame,
  instance: number,
): Dataset {
  const { site } = ctx;
  const g = f.geometry;
  const d = common(ctx, spec, seriesUid, sopUid, "1.2.840.10008.5.1.4.1.1.4");
  const pos = framePosition(f);
  const sliceLocation = pos[0] * g.normal[0] + pos[1] * g.normal[1] + pos[2] * g.normal[2];
  d.set(0x00080008, "CS", f.imageType.join("\\"))
    .set(0x00180020, "CS", spec.scanningSequence)
    .set(0x00180021, "CS", spec.sequenceVariant)
    .set(0x00180022, "CS", spec.scanOptions)
    .set(0x00180023, "CS", spec.mrAcquisitionType)
    .opt(0x00180024, "SH", spec.sequenceName)
    .set(0x00180050, "DS", g.thickness)
    .set(0x00180080, "DS", spec.trMs)
    .set(0x00180081, "DS", f.teMs)
    .set(0x00180083, "DS", 1)
    .set(0x00180084, "DS", round6(42.577478 * site.fieldT))
    .set(0x00180085, "SH", "1H")
    .set(0x00180086, "IS", f.echoNumber)
    .set(0x00180087, "DS", site.fieldT)
    .set(0x00180088, "DS", g.sliceSpacing)
    .set(0x00180091, "IS", spec.echoTrainLength)
    .set(0x00180095, "DS", spec.kind === "t2" ? 390 : 450)
    .set(0x00181314, "DS", spec.flipDeg)
    .set(0x00200012, "IS", 1)
    .set(0x00200013, "IS", instance)
    .set(0x00200032, "DS", pos.map(round6))
    .set(0x00200037, "DS", [...g.rowDir, ...g.colDir])
    .set(0x00201041, "DS", round6(sliceLocation))
    .set(0x00280030, "DS", g.pixelSpacing);
  if (f.bValue !== undefined) d.set(0x00189087, "FD", f.bValue);
  pixelModule(d, site, g.rows, g.cols);
  const { center, width } = windowOf(f.pixels);
  d.set(0x00281050, "DS", center).set(0x00281051, "DS", width);
  if (site.rescaleSlope !== undefined) {
    d.set(0x00281052, "DS", 0).set(0x00281053, "DS", site.rescaleSlope).set(0x00281054, "LO", "US");
  }
  d.set(0x7fe00010, "OW", pixelBytes(f.pixels));
  return d;
}

function windowOf(px: Uint16Array | Int16Array): { center: number; width: number } {
  let max = 0;
  for (let i = 0; i < px.length; i++) if (px[i] > max) max = px[i];
  return { center: Math.round(max / 2), width: Math.max(1, Math.round(max)) };
}

const item = (d: Dataset) => [d];

function codeItem(value: string, scheme: string, meaning: string): Dataset {
  return new Dataset()
    .set(0x00080100, "SH", value)
    .set(0x00080102, "SH", scheme)
    .set(0x00080104, "LO", meaning);
}

/** What the parts of one enhanced object share: the series, its first frame's geometry and its timing. */
interface EnhancedParts {
  ctx: SeriesContext;
  spec: SeriesSpec;
  g: Geometry;
  isT2: boolean;
  /** "T1" or "T2": the acquisition contrast. */
  contrast: string;
  imageType: string[];
  /** The distinct echo times, ascending: the second dimension of the index. */
  echoTimes: number[];
  /** The distinct slice indices, ascending: the first dimension of the index. */
  positions: number[];
  dateTime: string;
}

/**
 * One Enhanced MR Image object holding every frame of a series (Philips style): shared functional groups
 * for what all frames share (pixel measures, orientation, timing, coils), per-frame groups for position,
 * echo time and frame type, and a two-dimensional index (stack position x echo).
 */
export function buildEnhancedImage(
  ctx: SeriesContext,
  spec: SeriesSpec,
  seriesUid: string,
  sopUid: string,
  frames: { frame: ImageFrame; instance: number }[],
): Dataset {
  const isT2 = spec.kind === "t2";
  const contrast = isT2 ? "T2" : "T1";
  const parts: EnhancedParts = {
    ctx,
    spec,
    g: frames[0].frame.geometry,
    isT2,
    contrast,
    imageType: ["ORIGINAL", "PRIMARY", contrast, "NONE"],
    echoTimes: [...new Set(frames.map((f) => f.frame.teMs))].sort((a, b) => a - b),
    positions: [...new Set(frames.map((f) => f.frame.slice))].sort((a, b) => a - b),
    dateTime: `${da(ctx.exam.studyDate)}${seriesTime(ctx, spec)}`,
  };
  const d = common(ctx, spec, seriesUid, sopUid, "1.2.840.10008.5.1.4.1.1.4.1");
  setEnhancedImageAttributes(d, parts, frames.length);
  pixelModule(d, ctx.site, parts.g.rows, parts.g.cols);
  setDimensionIndex(d, `${seriesUid}.9`);
  d.set(0x52009229, "SQ", [sharedFunctionalGroups(parts)]);
  d.set(
    0x52009230,
    "SQ",
    frames.map(({ frame }) => perFrameGroups(parts, frame)),
  );
  d.set(0x7fe00010, "OW", pixelBytes(allPixels(ctx.site, parts.g, frames)));
  return d;
}

/** The Enhanced MR Image, MR Image and Pulse Sequence attributes of the object itself. */
function setEnhancedImageAttributes(d: Dataset, p: EnhancedParts, frameCount: number): void {
  const { spec, isT2, contrast } = p;
  d.set(0x00080008, "CS", p.imageType.join("\\"))
    .set(0x0008002a, "DT", p.dateTime)
    .set(0x00180023, "CS", spec.mrAcquisitionType)
    .set(0x00180087, "DS", p.ctx.site.fieldT)
    .set(0x00189004, "CS", "PRODUCT")
    .set(0x00189005, "SH", isT2 ? "TSE" : "FFE")
    .set(0x00189008, "CS", isT2 ? "SPIN" : "GRADIENT")
    .set(0x00189012, "CS", "NO")
    .set(0x00189014, "CS", "NO")
    .set(0x00189015, "CS", "NO")
    .set(0x00189017, "CS", "NONE")
    .set(0x00189018, "CS", "NO")
    .set(0x00189024, "CS", "NO")
    .set(0x00189025, "CS", spec.fatSat ? "FAT" : "NONE")
    .set(0x00189029, "CS", "NONE")
    .set(0x00189032, "CS", "RECTILINEAR")
    .set(0x00189033, "CS", isT2 ? "PARTIAL" : "SINGLE")
    .set(0x00189034, "CS", "LINEAR")
    .set(0x00189073, "FD", 12.5)
    .set(0x00189093, "US", 1)
    .set(0x00189100, "CS", "1H")
    .set(0x00189064, "CS", "NONE")
    .set(0x00200013, "IS", 1)
    .set(0x00280008, "IS", frameCount)
    .set(0x00280301, "CS", "NO")
    .set(0x00282110, "CS", "00")
    .set(0x00189174, "CS", "IEC")
    .set(0x20500020, "CS", "IDENTITY")
    .set(0x00400555, "SQ", []);
  d.set(0x00089205, "CS", "MONOCHROME")
    .set(0x00089206, "CS", "VOLUME")
    .set(0x00089207, "CS", "NONE")
    .set(0x00089208, "CS", "MAGNITUDE")
    .set(0x00089209, "CS", contrast);
  // Acquisition date and time live in the per-frame groups of an enhanced object.
  d.delete(0x00080022).delete(0x00080032);
  if (isT2) d.set(0x00189011, "CS", "NO");
  if (spec.mrAcquisitionType === "3D") d.set(0x00189094, "CS", "FULL");
}

/** Dimensions: stack position, then echo time. */
function setDimensionIndex(d: Dataset, dimUid: string): void {
  d.set(0x00209221, "SQ", item(new Dataset().set(0x00209164, "UI", dimUid)));
  d.set(0x00209222, "SQ", [
    new Dataset()
      .set(0x00209164, "UI", dimUid)
      .set(0x00209165, "AT", 0x00209057)
      .set(0x00209167, "AT", 0x00209111)
      .set(0x00209421, "LO", "In-Stack Position Number"),
    new Dataset()
      .set(0x00209164, "UI", dimUid)
      .set(0x00209165, "AT", 0x00189082)
      .set(0x00209167, "AT", 0x00189114)
      .set(0x00209421, "LO", "Effective Echo Time"),
  ]);
}

/** The groups every frame shares, each a one-item sequence. */
function sharedFunctionalGroups(p: EnhancedParts): Dataset {
  const shared = new Dataset();
  const groups: [number, Dataset][] = [
    ...sharedGeometryGroups(p),
    [0x00189112, sharedTimingGroup(p)],
    ...sharedAcquisitionGroups(p),
  ];
  for (const [tag, group] of groups) shared.set(tag, "SQ", item(group));
  return shared;
}

/** Pixel measures, plane orientation, frame anatomy and pixel value transformation. */
function sharedGeometryGroups({ g, ctx }: EnhancedParts): [number, Dataset][] {
  return [
    [
      0x00289110,
      new Dataset()
        .set(0x00280030, "DS", g.pixelSpacing)
        .set(0x00180050, "DS", g.thickness)
        .set(0x00180088, "DS", g.sliceSpacing),
    ],
    [0x00209116, new Dataset().set(0x00200037, "DS", [...g.rowDir, ...g.colDir])],
    [
      0x00209071,
      new Dataset()
        .set(0x00082218, "SQ", item(codeItem("818981001", "SCT", "Abdomen")))
        .set(0x00209072, "CS", "U"),
    ],
    [
      0x00289145,
      new Dataset()
        .set(0x00281052, "DS", 0)
        .set(0x00281053, "DS", ctx.site.rescaleSlope ?? 1)
        .set(0x00281054, "LO", "US"),
    ],
  ];
}

/** MR Timing and Related Parameters, with the SAR and dB/dt items. */
function sharedTimingGroup({ spec, isT2, echoTimes }: EnhancedParts): Dataset {
  return new Dataset()
    .set(0x00180080, "DS", spec.trMs)
    .set(0x00181314, "DS", spec.flipDeg)
    .set(0x00180091, "IS", spec.echoTrainLength)
    .set(0x00189240, "US", isT2 ? spec.echoTrainLength : 0)
    .set(0x00189241, "US", isT2 ? 0 : echoTimes.length)
    .set(
      0x00189239,
      "SQ",
      item(new Dataset().set(0x00189179, "CS", "IEC_WHOLE_BODY").set(0x00189181, "FD", 1.2)),
    )
    .set(0x00189180, "CS", "DB_DT")
    .set(0x00189182, "FD", 28)
    .set(
      0x00189176,
      "SQ",
      item(new Dataset().set(0x00189177, "CS", "GRADIENT").set(0x00189178, "CS", "IEC_NORMAL")),
    );
}

/** FOV, modifiers, imaging modifiers, receive and transmit coils, averages. */
function sharedAcquisitionGroups({ g, spec, isT2, ctx }: EnhancedParts): [number, Dataset][] {
  return [
    [
      0x00189125,
      new Dataset()
        .set(0x00181312, "CS", "COLUMN")
        .set(0x00189058, "US", g.cols)
        .set(0x00189231, "US", Math.round(g.rows * 0.8))
        .set(0x00189232, "US", 1)
        .set(0x00180093, "DS", 80)
        .set(0x00180094, "DS", 80),
    ],
    [
      0x00189115,
      new Dataset()
        .set(0x00189009, "CS", "NO")
        .set(0x00189010, "CS", "NONE")
        .set(0x00189021, "CS", "NO")
        .set(0x00189026, "CS", spec.fatSat ? "FAT" : "NONE")
        .set(0x00189027, "CS", "NONE")
        .set(0x00189081, "CS", "NO")
        .set(0x00189077, "CS", "NO"),
    ],
    [
      0x00189006,
      new Dataset()
        .set(0x00180095, "DS", isT2 ? 390 : 450)
        .set(0x00189020, "CS", "NONE")
        .set(0x00189022, "CS", "NO")
        .set(0x00189028, "CS", "NONE")
        .set(0x00189098, "FD", round6(42.577478 * ctx.site.fieldT)),
    ],
    [
      0x00189042,
      new Dataset()
        .set(0x00181250, "SH", "dS Torso")
        .set(0x00189041, "LO", "")
        .set(0x00189043, "CS", "MULTICOIL")
        .set(0x00189044, "CS", "NO")
        .set(
          0x00189045,
          "SQ",
          item(new Dataset().set(0x00189047, "SH", "dS Torso").set(0x00189048, "CS", "YES")),
        ),
    ],
    [
      0x00189049,
      new Dataset().set(0x00181251, "SH", "B").set(0x00189050, "LO", "").set(0x00189051, "CS", "BODY"),
    ],
    [0x00189119, new Dataset().set(0x00180083, "DS", 1)],
  ];
}

/** One frame's groups: frame content (with its index), position, echo time and frame type. */
function perFrameGroups(p: EnhancedParts, frame: ImageFrame): Dataset {
  const stackPos = p.positions.indexOf(frame.slice) + 1;
  const echoIndex = p.echoTimes.indexOf(frame.teMs) + 1;
  return new Dataset()
    .set(
      0x00209111,
      "SQ",
      item(
        new Dataset()
          .set(0x00189074, "DT", p.dateTime)
          .set(0x00189151, "DT", p.dateTime)
          .set(0x00189220, "FD", 180)
          .set(0x00209056, "SH", "1")
          .set(0x00209057, "UL", stackPos)
          .set(0x00209128, "UL", 1)
          .set(0x00209157, "UL", [stackPos, echoIndex]),
      ),
    )
    .set(0x00209113, "SQ", item(new Dataset().set(0x00200032, "DS", framePosition(frame).map(round6))))
    .set(0x00189114, "SQ", item(new Dataset().set(0x00189082, "FD", frame.teMs)))
    .set(
      0x00189226,
      "SQ",
      item(
        new Dataset()
          .set(0x00089007, "CS", p.imageType.join("\\"))
          .set(0x00089205, "CS", "MONOCHROME")
          .set(0x00089206, "CS", "VOLUME")
          .set(0x00089207, "CS", "NONE")
          .set(0x00089208, "CS", "MAGNITUDE")
          .set(0x00089209, "CS", p.contrast),
      ),
    );
}

/** Every frame's pixels, one after another. */
function allPixels(
  site: SiteProfile,
  g: Geometry,
  frames: { frame: ImageFrame; instance: number }[],
): Int16Array | Uint16Array {
  const plane = g.rows * g.cols;
  const all = site.signed ? new Int16Array(plane * frames.length) : new Uint16Array(plane * frames.length);
  frames.forEach(({ frame }, i) => {
    all.set(frame.pixels, i * plane);
  });
  return all;
}
