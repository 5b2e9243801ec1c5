// DICOM results of a prediction, for the patient's study in a PACS: a Comprehensive SR that follows TID
// 1500 (Measurement Report) where it fits, and a Secondary Capture of the exam's figure. Both join the
// source study (its StudyInstanceUID, patient and study attributes copied), each in a new series; the SR
// references the SOP instances of the source series the model read. Written with dcmjs. See
// docs/deploy.md, "DICOM results: SR and Secondary Capture".
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import dcmjs, { type NaturalDataset } from "dcmjs";
import { PNG } from "pngjs";
import { isNiftiFrame, type RoleSource } from "../cohort/index.ts";
import { describeError, writeFileAtomic } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import { buildReportPdf } from "./pdf-report.ts";
import type { ExamReport } from "./predict.ts";
import {
  CODES,
  categoryCode,
  code,
  codeSequence,
  container,
  datetime,
  image,
  num,
  PRIVATE_SCHEME_IDENTIFICATION,
  text,
  uidref,
  yesNo,
} from "./sr-content.ts";

export const COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33";
export const SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7";
export const ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1";
const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1";
/** This implementation's class UID: 2.25 and the UUID v8 of the name "liverstiff". */
const IMPLEMENTATION_CLASS_UID = uidFromName("liverstiff implementation");
/** Series numbers of the new series (any free number would do; these sort after the acquisitions). */
export const SR_SERIES_NUMBER = 9901;
export const SC_SERIES_NUMBER = 9902;
export const PDF_SERIES_NUMBER = 9903;

/** The source series one role was read from: what the SR's references name. */
export interface SourceSeries {
  role: SeriesRole;
  seriesInstanceUid: string;
  sopClassUid: string;
  /** The distinct SOP instances of the frames the role was built from, in frame order. */
  sopInstanceUids: string[];
}

/** The model bundle that made the prediction, as the SR names it. */
export interface BundleIdentity {
  /** The bundle folder's name. */
  name: string;
  recipe: string;
  /** integrity.digest of bundle.json (sha256 of its canonical JSON). */
  digest: string;
  /** ISO 8601. */
  createdAt: string;
}

export interface DicomResultsInput {
  report: ExamReport;
  bundle: BundleIdentity;
  /** The intended-use notice (INTENDED_USE). */
  notice: string;
  /** The liverstiff version writing the files. */
  softwareVersion: string;
  /** The source file's patient and study attributes (readStudyAttributes). */
  study: NaturalDataset;
  series: SourceSeries[];
  /** When the results are written (default: now). */
  now?: Date;
}

export interface DicomResultFiles {
  sr: string;
  /** Absent when the exam has no figure. */
  sc?: string;
  /** The Encapsulated PDF of the one-page report (predict --pdf). */
  pdf?: string;
}

/** A DICOM UID under 2.25 (PS3.5 B.2) from a random UUID. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replaceAll("-", "")}`)}`;
}

/** A DICOM UID under 2.25 from a name-based UUID (RFC 9562 version 8 over sha256): the same name, the same UID. */
export function uidFromName(name: string): string {
  const b = createHash("sha256").update(name).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${b.toString("hex")}`)}`;
}

// Patient (Patient module, type 2 first) and study (General Study, Patient Study) attributes copied.
const TYPE2_COPIED = [
  "PatientName",
  "PatientID",
  "PatientBirthDate",
  "PatientSex",
  "StudyDate",
  "StudyTime",
  "ReferringPhysicianName",
  "StudyID",
  "AccessionNumber",
] as const;
const TYPE3_COPIED = [
  "IssuerOfPatientID",
  "PatientBirthTime",
  "StudyDescription",
  "PatientAge",
  "PatientSize",
  "PatientWeight",
] as const;

/** The patient and study attributes of a source DICOM file (header only), as dcmjs names them. */
export function readStudyAttributes(file: string): NaturalDataset {
  const bytes = readFileSync(file);
  // dcmjs logs a source's odd values (e.g. an AS of the wrong length) as errors; those copied are handled
  // below, the rest are not ours to report.
  const level = dcmjs.log.getLevel();
  dcmjs.log.setLevel("silent");
  let dict: ReturnType<typeof dcmjs.data.DicomMessage.readFile>;
  try {
    dict = dcmjs.data.DicomMessage.readFile(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      { untilTag: "7FE00010", includeUntilTagValue: false },
    );
  } finally {
    dcmjs.log.setLevel(level);
  }
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  const out: NaturalDataset = { StudyInstanceUID: ds.StudyInstanceUID };
  for (const k of TYPE2_COPIED) out[k] = ds[k] ?? "";
  for (const k of TYPE3_COPIED) if (ds[k] !== undefined && ds[k] !== "") out[k] = ds[k];
  // AS is three digits and a unit; some exports write "45Y". Padded when it parses, else left out.
  if (typeof out.PatientAge === "string") {
    const m = /^(\d{1,3})([DWMY])$/.exec(out.PatientAge.trim());
    if (m) out.PatientAge = `${m[1]!.padStart(3, "0")}${m[2]}`;
    else delete out.PatientAge;
  }
  return out;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const dicomDate = (d: Date) => `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
const dicomTime = (d: Date) =>
  `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
/**
 * A DT value in UTC, YYYYMMDDHHMMSS.FFFFFF, without an offset: TimezoneOffsetFromUTC (+0000) says UTC
 * (DCMTK 3.6.7 refuses a DT with an offset inside SR content items).
 */
export const dicomDateTime = (d: Date) => `${dicomDate(d)}${dicomTime(d)}000`;

/** Attributes both objects share: SOP Common, the copied patient and study, the new series, equipment. */
function commonAttributes(input: DicomResultsInput, sopClassUid: string, series: NaturalDataset) {
  const now = input.now ?? new Date();
  return {
    SpecificCharacterSet: "ISO_IR 192",
    SOPClassUID: sopClassUid,
    SOPInstanceUID: newUid(),
    ...input.study,
    ...series,
    SeriesDate: dicomDate(now),
    SeriesTime: dicomTime(now),
    Manufacturer: "liverstiff",
    ManufacturerModelName: input.bundle.name,
    SoftwareVersions: input.softwareVersion,
    InstanceNumber: "1",
    ContentDate: dicomDate(now),
    ContentTime: dicomTime(now),
    InstanceCreationDate: dicomDate(now),
    InstanceCreationTime: dicomTime(now),
    TimezoneOffsetFromUTC: "+0000",
  };
}

function observerContext(input: DicomResultsInput): NaturalDataset[] {
  const b = input.bundle;
  return [
    code("HAS OBS CONTEXT", CODES.observerType, CODES.device),
    uidref("HAS OBS CONTEXT", CODES.deviceObserverUid, uidFromName(`liverstiff bundle ${b.digest}`)),
    text("HAS OBS CONTEXT", CODES.deviceObserverName, "liverstiff"),
    text("HAS OBS CONTEXT", CODES.deviceObserverManufacturer, "liverstiff project"),
    text("HAS OBS CONTEXT", CODES.deviceObserverModelName, `${b.name} (recipe ${b.recipe})`),
    text("HAS OBS CONTEXT", CODES.bundleDigest, `sha256:${b.digest}`),
    datetime("HAS OBS CONTEXT", CODES.bundleCreated, dicomDateTime(new Date(b.createdAt))),
  ];
}

const ROLE_NAMES: Record<SeriesRole, string> = {
  t1_in: "t1_in (T1-weighted in-phase)",
  t1_opp: "t1_opp (T1-weighted opposed-phase)",
  t2: "t2 (T2-weighted)",
};

function imageLibrary(series: readonly SourceSeries[]): NaturalDataset {
  return container(
    "CONTAINS",
    CODES.imageLibrary,
    series.map((s) =>
      container("CONTAINS", CODES.imageLibraryGroup, [
        code("HAS ACQ CONTEXT", CODES.modality, CODES.magneticResonance),
        text("HAS ACQ CONTEXT", CODES.seriesRole, ROLE_NAMES[s.role]),
        ...s.sopInstanceUids.map((uid) => image(s.sopClassUid, uid)),
      ]),
    ),
  );
}

/** The rows every measurement group starts with (TID 1501): tracking, finding site, algorithm. */
function groupContext(input: DicomResultsInput, tracking: string): NaturalDataset[] {
  return [
    text("HAS OBS CONTEXT", CODES.trackingIdentifier, tracking),
    uidref("HAS OBS CONTEXT", CODES.trackingUid, newUid()),
    code("HAS CONCEPT MOD", CODES.findingSite, CODES.liver),
    text("HAS CONCEPT MOD", CODES.algorithmName, input.bundle.name),
    text("HAS CONCEPT MOD", CODES.algorithmVersion, `liverstiff ${input.softwareVersion}`),
  ];
}

const derived = (how: (typeof CODES)["mean" | "minimum" | "maximum"]) => [
  code("HAS CONCEPT MOD", CODES.derivation, how),
];

/** One measurement group per threshold: the probability (mean, lowest and highest fold model), cut-off, call. */
function thresholdGroups(input: DicomResultsInput): NaturalDataset[] {
  return (input.report.thresholds ?? []).map((t) => {
    const p = (v: number, how: Parameters<typeof derived>[0]) =>
      num("CONTAINS", CODES.probabilityAtOrAbove, v * 100, CODES.percent, derived(how));
    return container("CONTAINS", CODES.measurementGroup, [
      ...groupContext(input, `P(MRE stiffness >= ${t.thresholdKpa.toFixed(1)} kPa)`),
      num("CONTAINS", CODES.stiffnessThreshold, t.thresholdKpa, CODES.kilopascal),
      p(t.probability, CODES.mean),
      p(t.interval[0], CODES.minimum),
      p(t.interval[1], CODES.maximum),
      num("CONTAINS", CODES.cutoff, t.cutoff * 100, CODES.percent),
      code("CONTAINS", CODES.aboveCutoff, yesNo(t.positive)),
      code("CONTAINS", CODES.countedInCategory, yesNo(t.counted)),
    ]);
  });
}

/** The predicted kPa with the fold models' range and the 80% prediction interval; none without a kPa head. */
function kpaGroup(input: DicomResultsInput): NaturalDataset[] {
  const k = input.report.kpaPred;
  if (!k) return [];
  const kpa = (concept: (typeof CODES)[keyof typeof CODES], v: number, mods: NaturalDataset[] = []) =>
    num("CONTAINS", concept, v, CODES.kilopascal, mods);
  return [
    container("CONTAINS", CODES.measurementGroup, [
      ...groupContext(input, "Predicted MRE liver stiffness"),
      kpa(CODES.predictedStiffness, k.value),
      kpa(CODES.predictedStiffness, k.interval[0], derived(CODES.minimum)),
      kpa(CODES.predictedStiffness, k.interval[1], derived(CODES.maximum)),
      ...(k.predictionInterval
        ? [
            kpa(CODES.predictionIntervalLow, k.predictionInterval[0]),
            kpa(CODES.predictionIntervalHigh, k.predictionInterval[1]),
          ]
        : []),
      code("CONTAINS", CODES.agreesWithCategory, yesNo(k.agreesWithCategory)),
    ]),
  ];
}

function qualitativeEvaluations(input: DicomResultsInput): NaturalDataset {
  const r = input.report;
  return container("CONTAINS", CODES.qualitativeEvaluations, [
    code("CONTAINS", CODES.stiffnessCategory, categoryCode(r.category?.label ?? "none")),
    ...r.warnings.map((w) => text("CONTAINS", CODES.warning, `${w.code}: ${w.message}`)),
    text("CONTAINS", CODES.intendedUse, input.notice),
  ]);
}

/** The SR's content tree (TID 1500 where it fits); see docs/deploy.md for the full list. */
export function srContent(input: DicomResultsInput): NaturalDataset[] {
  return [
    code("HAS CONCEPT MOD", CODES.language, CODES.englishUs),
    ...observerContext(input),
    code("HAS CONCEPT MOD", CODES.procedureReported, CODES.mriUnspecifiedBodyRegion),
    imageLibrary(input.series),
    container("CONTAINS", CODES.imagingMeasurements, [...thresholdGroups(input), ...kpaGroup(input)]),
    qualitativeEvaluations(input),
  ];
}

/**
 * The source instances, each series once (a dual-echo series gives two roles), as the evidence sequence
 * wants them.
 */
function evidence(input: DicomResultsInput): NaturalDataset[] {
  const bySeries = new Map<string, { sopClassUid: string; uids: Set<string> }>();
  for (const s of input.series) {
    const entry = bySeries.get(s.seriesInstanceUid) ?? { sopClassUid: s.sopClassUid, uids: new Set() };
    for (const uid of s.sopInstanceUids) entry.uids.add(uid);
    bySeries.set(s.seriesInstanceUid, entry);
  }
  return [
    {
      StudyInstanceUID: input.study.StudyInstanceUID,
      ReferencedSeriesSequence: [...bySeries].map(([seriesInstanceUid, { sopClassUid, uids }]) => ({
        SeriesInstanceUID: seriesInstanceUid,
        ReferencedSOPSequence: [...uids].map((uid) => ({
          ReferencedSOPClassUID: sopClassUid,
          ReferencedSOPInstanceUID: uid,
        })),
      })),
    },
  ];
}

/** The Comprehensive SR dataset of a predicted exam. */
export function buildSrDataset(input: DicomResultsInput): NaturalDataset {
  if (input.report.status !== "predicted") throw new Error("only a predicted exam gets an SR");
  return {
    ...commonAttributes(input, COMPREHENSIVE_SR, {
      Modality: "SR",
      SeriesInstanceUID: newUid(),
      SeriesNumber: String(SR_SERIES_NUMBER),
      SeriesDescription: "liverstiff liver stiffness prediction (research use only)",
      ReferencedPerformedProcedureStepSequence: [],
    }),
    CodingSchemeIdentificationSequence: [PRIVATE_SCHEME_IDENTIFICATION],
    CompletionFlag: "COMPLETE",
    VerificationFlag: "UNVERIFIED",
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: evidence(input),
    ValueType: "CONTAINER",
    ConceptNameCodeSequence: codeSequence(CODES.imagingMeasurementReport),
    ContinuityOfContent: "SEPARATE",
    ContentTemplateSequence: [{ MappingResource: "DCMR", TemplateIdentifier: "1500" }],
    ContentSequence: srContent(input),
  };
}

/** A PNG's pixels as interleaved RGB (composited over white where not opaque). */
export function pngRgb(png: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  const img = PNG.sync.read(Buffer.from(png));
  const rgb = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, j = 0; i < img.data.length; i += 4, j += 3) {
    const a = img.data[i + 3]! / 255;
    for (let c = 0; c < 3; c++) rgb[j + c] = Math.round(img.data[i + c]! * a + 255 * (1 - a));
  }
  return { width: img.width, height: img.height, rgb };
}

/** The Secondary Capture dataset of the exam's figure (true colour, the text burned in). */
export function buildScDataset(input: DicomResultsInput, figurePng: Uint8Array): NaturalDataset {
  const { width, height, rgb } = pngRgb(figurePng);
  // OB values have even length.
  const pixels = new Uint8Array(rgb.length + (rgb.length % 2));
  pixels.set(rgb);
  const now = input.now ?? new Date();
  return {
    ...commonAttributes(input, SECONDARY_CAPTURE, {
      Modality: "OT",
      SeriesInstanceUID: newUid(),
      SeriesNumber: String(SC_SERIES_NUMBER),
      SeriesDescription: "liverstiff prediction figure (research use only)",
      // The figure is of the abdomen, an unpaired part: no Laterality.
      BodyPartExamined: "ABDOMEN",
    }),
    ConversionType: "WSD",
    DateOfSecondaryCapture: dicomDate(now),
    TimeOfSecondaryCapture: dicomTime(now),
    ImageType: ["DERIVED", "SECONDARY"],
    PatientOrientation: "",
    BurnedInAnnotation: "YES",
    LossyImageCompression: "00",
    ImageComments: input.notice,
    SamplesPerPixel: 3,
    PhotometricInterpretation: "RGB",
    PlanarConfiguration: 0,
    Rows: height,
    Columns: width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: "OB" },
  };
}

/** The Encapsulated PDF dataset (PS3.3 A.45.1) of the exam's one-page report (pdf-report.ts). */
export function buildPdfDataset(input: DicomResultsInput, pdf: Uint8Array): NaturalDataset {
  // OB values have even length: a trailing NUL, as the Encapsulated Document module allows; the length
  // attribute keeps the PDF's own.
  const bytes = new Uint8Array(pdf.length + (pdf.length % 2));
  bytes.set(pdf);
  const common = commonAttributes(input, ENCAPSULATED_PDF, {
    Modality: "DOC",
    SeriesInstanceUID: newUid(),
    SeriesNumber: String(PDF_SERIES_NUMBER),
    SeriesDescription: "liverstiff prediction report (research use only)",
  });
  return {
    ...common,
    ConversionType: "WSD",
    BurnedInAnnotation: "YES",
    DocumentTitle: "liverstiff liver stiffness prediction (research use only)",
    ConceptNameCodeSequence: [],
    AcquisitionDateTime: `${common.ContentDate}${common.ContentTime}`,
    MIMETypeOfEncapsulatedDocument: "application/pdf",
    EncapsulatedDocumentLength: pdf.length,
    EncapsulatedDocument: [bytes.buffer],
    _vrMap: { EncapsulatedDocument: "OB" },
  };
}

/** The File Meta Information group of an instance written by liverstiff. */
function fileMeta(o: {
  sopClassUid: unknown;
  sopInstanceUid: unknown;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
}) {
  return dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: o.sopClassUid,
    MediaStorageSOPInstanceUID: o.sopInstanceUid,
    TransferSyntaxUID: o.transferSyntaxUid,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: "LIVERSTIFF",
    ...(o.sourceAeTitle ? { SourceApplicationEntityTitle: o.sourceAeTitle } : {}),
    _vrMap: { FileMetaInformationVersion: "OB" },
  });
}

/** A naturalized dataset as a Part-10 file (explicit VR little endian). */
export function part10(ds: NaturalDataset): Uint8Array {
  const dict = new dcmjs.data.DicomDict(
    fileMeta({
      sopClassUid: ds.SOPClassUID,
      sopInstanceUid: ds.SOPInstanceUID,
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
    }),
  );
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds);
  return new Uint8Array(dict.write());
}

/**
 * The preamble and File Meta Information of a Part-10 file whose data set follows as received (a C-STORE's
 * data set, in the transfer syntax it was sent in).
 */
export function part10Header(o: {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
}): Uint8Array {
  const dict = new dcmjs.data.DicomDict(fileMeta(o));
  dict.dict = {};
  return new Uint8Array(dict.write());
}

/** The files of an exam's results: NAME.sr.dcm and NAME.sc.dcm in `dir`. */
export const dicomResultPaths = (dir: string, baseName: string) => ({
  sr: join(dir, `${baseName}.sr.dcm`),
  sc: join(dir, `${baseName}.sc.dcm`),
  pdf: join(dir, `${baseName}.pdf.dcm`),
});

/**
 * The source series of the roles the model read, from the role sources ingest kept in the catalog; the
 * SOP Class comes from the index (`sopClassOf`, by SeriesInstanceUID). Throws for an exam read from NIfTI
 * files, which has no DICOM instances to reference.
 */
export function sourceSeries(
  sources: readonly RoleSource[],
  used: readonly SeriesRole[],
  sopClassOf: (seriesInstanceUid: string) => string | undefined,
): SourceSeries[] {
  return sources
    .filter((s) => used.includes(s.role))
    .map((s) => {
      if (s.frames.some(isNiftiFrame))
        throw new Error(
          `the ${s.role} series was read from NIfTI files: there are no DICOM instances to reference`,
        );
      const sopClassUid = sopClassOf(s.seriesInstanceUid);
      if (!sopClassUid) throw new Error(`the SOP Class of series ${s.seriesInstanceUid} is not known`);
      return {
        role: s.role,
        seriesInstanceUid: s.seriesInstanceUid,
        sopClassUid,
        sopInstanceUids: [...new Set(s.frames.map((f) => f.sopInstanceUid))],
      };
    });
}

export interface ExamDicomOptions {
  dir: string;
  baseName: string;
  bundle: BundleIdentity;
  notice: string;
  softwareVersion: string;
  sources: readonly RoleSource[];
  used: readonly SeriesRole[];
  sopClassOf: (seriesInstanceUid: string) => string | undefined;
  figurePng?: Uint8Array;
  /** Also an Encapsulated PDF of a one-page report. */
  pdf?: boolean;
}

/**
 * Writes a predicted exam's SR, the Secondary Capture of its figure when it has one, and (pdf) the
 * Encapsulated PDF of its one-page report, each atomically,
 * and records them in its report (`dicom`). Never throws: a failure (no DICOM source, a file that cannot
 * be written) is a `dicom_not_written` warning, and what was written before it stays recorded.
 */
export function writeExamDicom(report: ExamReport, o: ExamDicomOptions): void {
  try {
    const series = sourceSeries(o.sources, o.used, o.sopClassOf);
    const first = o.sources.find((s) => o.used.includes(s.role))?.frames[0];
    if (!first) throw new Error("no source series");
    const input: DicomResultsInput = {
      report,
      bundle: o.bundle,
      notice: o.notice,
      softwareVersion: o.softwareVersion,
      study: readStudyAttributes(first.file),
      series,
    };
    const paths = dicomResultPaths(o.dir, o.baseName);
    writeFileAtomic(paths.sr, part10(buildSrDataset(input)));
    report.dicom = { sr: paths.sr };
    if (o.figurePng) {
      writeFileAtomic(paths.sc, part10(buildScDataset(input, o.figurePng)));
      report.dicom.sc = paths.sc;
    }
    if (o.pdf) {
      writeFileAtomic(paths.pdf, part10(buildPdfDataset(input, buildReportPdf(input, o.figurePng))));
      report.dicom.pdf = paths.pdf;
    }
  } catch (err) {
    report.warnings.push({
      code: "dicom_not_written",
      message: `the DICOM SR and Secondary Capture could not be written: ${describeError(err)}`,
    });
  }
}
