// Turns a parsed header into the series-level facts and the frames of one file. Classic MR objects give
// one frame; enhanced MR objects give one frame per item of the per-frame functional groups.
import type { DataSet, Element } from "dicom-parser";
import { DicomFileError, type ParsedHeader, scanFragments } from "./header.ts";
import { checkFramesAgainstData, checkPixelBudget, checkRescale, declaredFrames } from "./limits.ts";
import { DEFLATED_LE, isSupportedTransferSyntax, transferSyntaxName } from "./transfer-syntax.ts";
import type { MrFrame, SeriesInfo, Vendor } from "./types.ts";

const MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4";
const ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1";
const LEGACY_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.4";
const MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10";

/** What one file contributes: the series facts (from this file) and its frames. */
export interface FileFacts {
  series: Omit<SeriesInfo, "frames" | "echoTimesMs">;
  frames: MrFrame[];
}

// Set per file from SpecificCharacterSet: dicom-parser decodes bytes as Latin-1, right for ISO_IR 100 and
// ASCII, wrong for UTF-8 (ISO_IR 192), which is decoded here instead.
let utf8 = false;
const utf8Decoder = new TextDecoder("utf-8");

function str(ds: DataSet | undefined, tag: string): string | undefined {
  const el = ds?.elements[tag];
  if (!el) return undefined;
  const v =
    utf8 && el.length > 0
      ? utf8Decoder.decode(ds!.byteArray.subarray(el.dataOffset, el.dataOffset + el.length))
      : ds!.string(tag);
  if (v === undefined) return undefined;
  const t = v.replace(/\0/g, "").trim();
  return t === "" ? undefined : t;
}

function strs(ds: DataSet | undefined, tag: string): string[] | undefined {
  const v = str(ds, tag);
  if (v === undefined) return undefined;
  return v
    .split("\\")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function num(ds: DataSet | undefined, tag: string, index = 0): number | undefined {
  const vals = strs(ds, tag);
  if (!vals || vals.length <= index) return undefined;
  const n = Number(vals[index]);
  return Number.isFinite(n) ? n : undefined;
}

function nums(ds: DataSet | undefined, tag: string): number[] | undefined {
  const vals = strs(ds, tag);
  if (!vals) return undefined;
  const out = vals.map(Number);
  return out.every(Number.isFinite) ? out : undefined;
}

function us(ds: DataSet | undefined, tag: string): number | undefined {
  const el = ds?.elements[tag];
  if (!el || el.length < 2) return undefined;
  return ds!.uint16(tag);
}

function fd(ds: DataSet | undefined, tag: string): number | undefined {
  const el = ds?.elements[tag];
  if (!el || el.length < 8) return undefined;
  const v = ds!.double(tag);
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

function firstItem(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

function vendorOf(manufacturer: string | undefined): Vendor {
  const m = (manufacturer ?? "").toLowerCase();
  if (m.includes("siemens")) return "Siemens";
  if (/\bge\b|general electric|ge medical|gehc/.test(m)) return "GE";
  if (m.includes("philips")) return "Philips";
  if (m.includes("toshiba") || m.includes("canon")) return "Canon";
  if (m.includes("hitachi") || m.includes("fujifilm")) return "Hitachi";
  return "Other";
}

/** Tesla. Legacy headers store gauss (e.g. 15000) or millitesla; values outside 0.1-12 T are dropped. */
function fieldStrengthT(raw: number | undefined): number | undefined {
  if (raw === undefined || !(raw > 0)) return undefined;
  let t = raw;
  if (raw >= 1000) t = raw / 10000;
  else if (raw >= 20) t = raw / 1000;
  return t >= 0.1 && t <= 12 ? t : undefined;
}

/** Tesla from the proton ImagingFrequency (MHz), for headers that lack MagneticFieldStrength. */
function fieldFromFrequency(mhz: number | undefined): number | undefined {
  if (mhz === undefined || !(mhz > 4) || mhz > 520) return undefined;
  return Math.round((mhz / 42.577478) * 100) / 100;
}

function isoDate(da: string | undefined): string | undefined {
  if (!da || !/^\d{8}$/.test(da)) return undefined;
  return `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}`;
}

function ageYears(ds: DataSet, studyDate: string | undefined): number | undefined {
  const age = str(ds, "x00101010");
  const m = age ? /^(\d{1,3})([DWMY])?$/i.exec(age) : null;
  if (m) {
    const n = Number(m[1]);
    const unit = (m[2] ?? "Y").toUpperCase();
    return unit === "Y" ? n : unit === "M" ? Math.floor(n / 12) : unit === "W" ? Math.floor(n / 52) : 0;
  }
  // The birth date is used for this subtraction only and never kept.
  const birth = str(ds, "x00100030");
  if (birth && /^\d{8}$/.test(birth) && studyDate) {
    const sd = studyDate.replace(/-/g, "");
    let years = Number(sd.slice(0, 4)) - Number(birth.slice(0, 4));
    if (sd.slice(4) < birth.slice(4)) years--;
    return years >= 0 && years < 130 ? years : undefined;
  }
  return undefined;
}

function sexOf(ds: DataSet): "M" | "F" | "O" | undefined {
  const s = str(ds, "x00100040")?.toUpperCase();
  return s === "M" || s === "F" || s === "O" ? s : undefined;
}

function upper(list: string[] | undefined): string[] {
  return (list ?? []).map((s) => s.toUpperCase());
}

// b-values: standard DiffusionBValue, then the private tags of Siemens, GE and Philips.
function bValues(ds: DataSet, vendor: Vendor): number[] {
  const out: number[] = [];
  const std = fd(ds, "x00189087");
  if (std !== undefined) out.push(std);
  if (vendor === "Siemens") {
    const v = num(ds, "x0019100c");
    if (v !== undefined) out.push(v);
  } else if (vendor === "GE") {
    // GE stores b in the first value of (0043,1039), sometimes offset by 1e9.
    const v = num(ds, "x00431039");
    if (v !== undefined) out.push(v % 1e9 < 1e5 ? v % 1e9 : v);
  } else if (vendor === "Philips") {
    const el = ds.elements["x20011003"];
    if (el && el.length === 4) {
      const v = ds.float("x20011003");
      if (v !== undefined && Number.isFinite(v)) out.push(v);
    }
  }
  return out.filter((b) => b >= 0 && b < 1e5);
}

interface FrameGeometry {
  position?: [number, number, number];
  orientation?: [number, number, number, number, number, number];
  spacing?: [number, number];
  thickness?: number;
  spacingBetween?: number;
  echoTimeMs?: number;
  slope?: number;
  intercept?: number;
  imageType?: string[];
  acquisitionTime?: string;
  stackId?: string;
  inStackPositionNumber?: number;
  temporalPositionIndex?: number;
  complexComponent?: string;
  bValue?: number;
  gradient?: [number, number, number];
}

/** A finite, non-zero 3-vector (a gradient of all zeros is how b = 0 images say "none"). */
function direction(v: number[] | undefined): [number, number, number] | undefined {
  if (v?.length !== 3 || !v.every(Number.isFinite) || v.every((x) => x === 0)) return undefined;
  return [v[0]!, v[1]!, v[2]!];
}

/** Three FD values (DiffusionGradientOrientation, Siemens' (0019,100E)). */
function fd3(ds: DataSet | undefined, tag: string): number[] | undefined {
  const el = ds?.elements[tag];
  if (el?.length !== 24) return undefined;
  return [0, 1, 2].map((i) => ds!.double(tag, i) ?? Number.NaN);
}

/** Enhanced objects: MRDiffusionSequence (0018,9117) of a functional group. */
function diffusionFrom(ds: DataSet | undefined, into: FrameGeometry): void {
  const diffusion = firstItem(ds, "x00189117");
  const b = fd(diffusion, "x00189087");
  if (b !== undefined) into.bValue = b;
  const g = direction(fd3(firstItem(diffusion, "x00189076"), "x00189089"));
  if (g) into.gradient = g;
}

function geometryFrom(ds: DataSet | undefined, into: FrameGeometry): void {
  if (!ds) return;
  const pos = nums(firstItem(ds, "x00209113"), "x00200032");
  if (pos?.length === 3) into.position = pos as [number, number, number];
  const ori = nums(firstItem(ds, "x00209116"), "x00200037");
  if (ori?.length === 6) into.orientation = ori as FrameGeometry["orientation"];
  const pm = firstItem(ds, "x00289110");
  const sp = nums(pm, "x00280030");
  if (sp?.length === 2) into.spacing = sp as [number, number];
  const th = num(pm, "x00180050");
  if (th !== undefined) into.thickness = th;
  const between = num(pm, "x00180088");
  if (between !== undefined) into.spacingBetween = between;
  const echo = fd(firstItem(ds, "x00189114"), "x00189082");
  if (echo !== undefined) into.echoTimeMs = echo;
  const pvt = firstItem(ds, "x00289145");
  const slope = num(pvt, "x00281053");
  if (slope !== undefined) into.slope = slope;
  const icpt = num(pvt, "x00281052");
  if (icpt !== undefined) into.intercept = icpt;
  const frameType = firstItem(ds, "x00189226");
  const ft = strs(frameType, "x00089007");
  if (ft) into.imageType = upper(ft);
  const cc = str(frameType, "x00089208");
  if (cc) into.complexComponent = cc.toUpperCase();
  const fc = firstItem(ds, "x00209111");
  const fadt = str(fc, "x00189074");
  if (fadt) into.acquisitionTime = fadt.length > 8 ? fadt.slice(8) : fadt;
  const stack = str(fc, "x00209056");
  if (stack) into.stackId = stack;
  const inStack = fc?.elements["x00209057"] ? fc.uint32("x00209057") : undefined;
  if (inStack !== undefined) into.inStackPositionNumber = inStack;
  const temporal = fc?.elements["x00209128"] ? fc.uint32("x00209128") : undefined;
  if (temporal !== undefined) into.temporalPositionIndex = temporal;
  diffusionFrom(ds, into);
}

function assertPixelFormat(ds: DataSet): void {
  const spp = us(ds, "x00280002") ?? 1;
  const bits = us(ds, "x00280100");
  if (spp !== 1)
    throw new DicomFileError("unsupported-pixel-format", `not a greyscale image (SamplesPerPixel ${spp})`);
  if (bits !== 8 && bits !== 16 && bits !== 32) {
    throw new DicomFileError("unsupported-pixel-format", `unsupported BitsAllocated ${bits ?? "(missing)"}`);
  }
}

const PIXEL_FIELD = "PixelData (7FE0,0010)";

/** The pixel data must be present and hold every declared frame (bytes, or fragments), before frames are built. */
function checkPixelData(h: ParsedHeader, file: string, frameBytes: number, nFrames: number): void {
  const pd: Element | undefined = h.pixelData;
  if (!pd) throw new DicomFileError("no-pixel-data", "no pixel data element (7FE0,0010)");
  if (h.transferSyntaxUid === DEFLATED_LE || !pd.hadUndefinedLength) {
    if (pd.hadUndefinedLength) {
      throw new DicomFileError(
        "parse-error",
        "deflated file with encapsulated (undefined-length) pixel data",
        {
          field: PIXEL_FIELD,
        },
      );
    }
    if (pd.length === 0) throw new DicomFileError("no-pixel-data", "pixel data element is empty");
    // Native pixel data: the element must hold the declared frames, and the file the element.
    checkFramesAgainstData(nFrames, { nativeBytes: pd.length, frameBytes });
    const available =
      h.transferSyntaxUid === DEFLATED_LE
        ? h.dataSet.byteArray.length - pd.dataOffset
        : h.fileSize - (pd.dataOffset - h.fileOffsetShift);
    const need = frameBytes * nFrames;
    if (available < need) {
      throw new DicomFileError(
        "truncated",
        `truncated file: pixel data needs ${need} bytes, ${Math.max(0, available)} present`,
        { field: PIXEL_FIELD },
      );
    }
    return;
  }
  // Encapsulated: every fragment present up to the sequence delimiter, at least one per frame, and an
  // offset table (if any) with one entry per frame, each at a fragment's start.
  const layout = scanFragments(file, pd.dataOffset - h.fileOffsetShift);
  checkFramesAgainstData(nFrames, { fragments: layout.fragments });
  const table = layout.basicOffsetTable;
  if (table.length > 0) {
    const starts = new Set(layout.fragmentStarts);
    const bad = table.findIndex((o, k) => !starts.has(o) || (k > 0 && o <= table[k - 1]!));
    if (table.length !== nFrames || bad >= 0) {
      throw new DicomFileError(
        "inconsistent-header",
        table.length !== nFrames
          ? `the Basic Offset Table lists ${table.length} frame(s), NumberOfFrames (0028,0008) declares ${nFrames}`
          : `the Basic Offset Table's entry for frame ${bad} (offset ${table[bad]}) is not the start of a fragment`,
        { field: PIXEL_FIELD },
      );
    }
    return;
  }
  const jpeg = /^1\.2\.840\.10008\.1\.2\.4\.(5\d|7\d)$/.test(h.transferSyntaxUid);
  if (nFrames > 1 && layout.fragments !== nFrames && !jpeg) {
    // Without an offset table only one fragment per frame can be located (JPEG streams have markers).
    throw new DicomFileError(
      "inconsistent-header",
      `${layout.fragments} fragments for ${nFrames} frames and no Basic Offset Table: the frames cannot be located`,
      { field: PIXEL_FIELD },
    );
  }
}

/** Extracts series facts and frames; throws DicomFileError when the file cannot be used. */
export function extractFile(file: string, h: ParsedHeader): FileFacts {
  try {
    return extractFacts(file, h);
  } catch (e) {
    // dicom-parser throws bare strings when a value cannot be read (a length past the data).
    if (typeof e === "string") {
      throw new DicomFileError(
        "parse-error",
        "malformed DICOM data set: a header value cannot be read",
        {},
        { cause: e },
      );
    }
    throw e;
  }
}

function extractFacts(file: string, h: ParsedHeader): FileFacts {
  const ds = h.dataSet;
  utf8 = /ISO_IR 192/i.test(ds.string("x00080005") ?? "");
  const sopClassUid = str(ds, "x00080016") ?? str(ds, "x00020002") ?? "";
  if (sopClassUid === MEDIA_STORAGE_DIRECTORY)
    throw new DicomFileError("not-image", "DICOMDIR (a directory record)");
  const modality = (str(ds, "x00080060") ?? "").toUpperCase();
  if (modality !== "MR") {
    throw new DicomFileError("not-mr", `modality ${modality || "(missing)"} is not MR`);
  }
  if (
    sopClassUid !== MR_IMAGE_STORAGE &&
    sopClassUid !== ENHANCED_MR_IMAGE_STORAGE &&
    sopClassUid !== LEGACY_ENHANCED_MR
  ) {
    // MR spectroscopy, raw data and the like carry no image; secondary captures are not acquisitions.
    throw new DicomFileError("not-image", `SOP class ${sopClassUid || "(missing)"} is not an MR image`);
  }
  if (!isSupportedTransferSyntax(h.transferSyntaxUid)) {
    throw new DicomFileError(
      "unsupported-transfer-syntax",
      `unsupported transfer syntax ${h.transferSyntaxUid} (${transferSyntaxName(h.transferSyntaxUid)})`,
    );
  }
  const seriesInstanceUid = str(ds, "x0020000e");
  const studyInstanceUid = str(ds, "x0020000d");
  const sopInstanceUid = str(ds, "x00080018") ?? str(ds, "x00020003");
  if (!seriesInstanceUid || !studyInstanceUid || !sopInstanceUid) {
    throw new DicomFileError("missing-uid", "missing SeriesInstanceUID, StudyInstanceUID or SOPInstanceUID");
  }
  const rows = us(ds, "x00280010");
  const columns = us(ds, "x00280011");
  if (!rows || !columns) throw new DicomFileError("unsupported-pixel-format", "missing Rows or Columns");
  assertPixelFormat(ds);
  const enhanced = sopClassUid !== MR_IMAGE_STORAGE;
  const nFrames = declaredFrames(ds);
  const bitsAllocated = us(ds, "x00280100")!;
  // One frame's size first (a 65535 x 65535 image is too large however many frames), then the declared
  // frames against the data, then the whole file's.
  const frameBytes = checkPixelBudget(rows, columns, bitsAllocated, 1);
  checkPixelData(h, file, frameBytes, nFrames);
  checkPixelBudget(rows, columns, bitsAllocated, nFrames);
  const bitsStored = Math.min(bitsAllocated, us(ds, "x00280101") ?? bitsAllocated);

  const manufacturer = str(ds, "x00080070");
  const vendor = vendorOf(manufacturer);
  const studyDate = isoDate(str(ds, "x00080020"));
  const imageType = upper(strs(ds, "x00080008"));

  // Enhanced objects keep acquisition parameters in functional groups; classic ones at the top level.
  const shared = firstItem(ds, "x52009229");
  const timing = firstItem(shared, "x00189112");
  const perFrameItems = ds.elements["x52009230"]?.items ?? [];
  if (enhanced && perFrameItems.length > 0 && perFrameItems.length !== nFrames) {
    throw new DicomFileError(
      "inconsistent-header",
      `PerFrameFunctionalGroupsSequence (5200,9230) has ${perFrameItems.length} item(s), NumberOfFrames (0028,0008) declares ${nFrames}`,
      { field: "PerFrameFunctionalGroupsSequence (5200,9230)" },
    );
  }
  const firstPerFrame = perFrameItems[0]?.dataSet;
  const firstTiming = timing ?? firstItem(firstPerFrame, "x00189112");
  const repetitionTimeMs = num(ds, "x00180080") ?? num(firstTiming, "x00180080");
  const flipAngleDeg = num(ds, "x00181314") ?? num(firstTiming, "x00181314");
  const echoTrainLength = num(ds, "x00180091") ?? num(firstTiming, "x00180091");
  const mrModifier = firstItem(shared, "x00189115") ?? firstItem(firstPerFrame, "x00189115");
  const inversionTimeMs = num(ds, "x00180082") ?? fd(mrModifier, "x00189079");
  const bvals = bValues(ds, vendor);
  // Enhanced objects: b-values per frame (MRDiffusionSequence), usually b=0 first.
  const sharedB = fd(firstItem(shared, "x00189117"), "x00189087");
  if (sharedB !== undefined) bvals.push(sharedB);
  for (const item of perFrameItems) {
    const b = fd(firstItem(item.dataSet, "x00189117"), "x00189087");
    if (b !== undefined && !bvals.includes(b)) bvals.push(b);
  }
  const temporal = num(ds, "x00200105");
  let agent = str(ds, "x00180010") ?? str(firstItem(ds, "x00180012"), "x00180010");
  // Enhanced objects may say only that an agent was administered (ContrastBolusUsageSequence).
  const usage = firstItem(shared, "x00189341") ?? firstItem(firstPerFrame, "x00189341");
  if (!agent && str(usage, "x00189345")?.toUpperCase() === "YES")
    agent = "administered (ContrastBolusUsageSequence)";

  const series: FileFacts["series"] = {
    seriesInstanceUid,
    studyInstanceUid,
    patientId: str(ds, "x00100020") ?? "",
    modality,
    sopClassUid,
    vendor,
    imageType,
    enhanced,
  };
  const optional: Partial<FileFacts["series"]> = {
    accessionNumber: str(ds, "x00080050"),
    studyDate,
    patientAgeYears: ageYears(ds, studyDate),
    patientSex: sexOf(ds),
    manufacturer,
    manufacturerModelName: str(ds, "x00081090"),
    institutionName: str(ds, "x00080080"),
    stationName: str(ds, "x00081010"),
    magneticFieldStrengthT: fieldStrengthT(num(ds, "x00180087")) ?? fieldFromFrequency(num(ds, "x00180084")),
    seriesNumber: num(ds, "x00200011"),
    seriesDescription: str(ds, "x0008103e"),
    protocolName: str(ds, "x00181030"),
    sequenceName: str(ds, "x00180024"),
    scanningSequence:
      strs(ds, "x00180020")?.map((s) => s.toUpperCase()) ?? enhancedScanningSequence(ds, mrModifier),
    sequenceVariant: strs(ds, "x00180021")?.map((s) => s.toUpperCase()),
    scanOptions: strs(ds, "x00180022")?.map((s) => s.toUpperCase()) ?? enhancedScanOptions(ds),
    mrAcquisitionType: str(ds, "x00180023")?.toUpperCase(),
    repetitionTimeMs,
    echoTrainLength,
    flipAngleDeg,
    inversionTimeMs,
    contrastBolusAgent: agent,
    echoPulseSequence: str(ds, "x00189008")?.toUpperCase(),
    pulseSequenceName: str(ds, "x00189005") ?? vendorSequenceName(ds, vendor),
    complexComponent: complexComponent(ds, vendor, firstPerFrame),
    acquisitionContrast: str(ds, "x00089209")?.toUpperCase(),
    bodyPartExamined: str(ds, "x00180015"),
    diffusionBValues: bvals.length ? [...new Set(bvals)].sort((a, b) => a - b) : undefined,
    temporalPositions: temporal !== undefined && temporal > 1 ? temporal : undefined,
  };
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (series as Record<string, unknown>)[k] = v;
  }

  // Top-level values, which enhanced functional groups override.
  const top: FrameGeometry = {};
  const ipp = nums(ds, "x00200032");
  if (ipp?.length === 3) top.position = ipp as [number, number, number];
  const iop = nums(ds, "x00200037");
  if (iop?.length === 6) top.orientation = iop as FrameGeometry["orientation"];
  const ps = nums(ds, "x00280030");
  if (ps?.length === 2) top.spacing = ps as [number, number];
  const th = num(ds, "x00180050");
  if (th !== undefined) top.thickness = th;
  const between = num(ds, "x00180088");
  if (between !== undefined) top.spacingBetween = between;
  const te = num(ds, "x00180081");
  if (te !== undefined) top.echoTimeMs = te;
  top.slope = num(ds, "x00281053");
  top.intercept = num(ds, "x00281052");
  top.imageType = imageType;
  const acqTime = str(ds, "x00080032");
  if (acqTime) top.acquisitionTime = acqTime;
  const echoNumber = num(ds, "x00180086");
  // Classic images: the standard tags, else the vendor's (bValues' first; Siemens' gradient (0019,100E)).
  const classicB = bValues(ds, vendor)[0];
  if (classicB !== undefined) top.bValue = classicB;
  const classicGradient = direction(
    fd3(ds, "x00189089") ?? (vendor === "Siemens" ? fd3(ds, "x0019100e") : undefined),
  );
  if (classicGradient) top.gradient = classicGradient;
  // Siemens mosaics tile many slices into one image: flagged so that volume/ refuses to stack them.
  const mosaicCount = vendor === "Siemens" ? us(ds, "x0019100a") : undefined;
  const mosaic = imageType.includes("MOSAIC") || (mosaicCount ?? 0) > 1 ? (mosaicCount ?? 0) : undefined;
  const instanceNumber = num(ds, "x00200013");
  const fileComplex = str(ds, "x00089208")?.toUpperCase() ?? privateComplexComponent(ds, vendor);

  const sharedGeom: FrameGeometry = { ...top };
  if (enhanced) geometryFrom(shared, sharedGeom);
  const frames: MrFrame[] = [];
  for (let i = 0; i < nFrames; i++) {
    const g: FrameGeometry = { ...sharedGeom };
    if (enhanced) geometryFrom(perFrameItems[i]?.dataSet, g);
    if (!g.position || !g.orientation || !g.spacing) {
      const missing = [
        !g.position && "ImagePositionPatient",
        !g.orientation && "ImageOrientationPatient",
        !g.spacing && "PixelSpacing",
      ]
        .filter(Boolean)
        .join(", ");
      throw new DicomFileError("missing-geometry", `frame ${i}: missing ${missing}`);
    }
    checkRescale(g.slope ?? 1, g.intercept ?? 0, bitsStored, nFrames > 1 ? ` (frame ${i})` : "");
    const frame: MrFrame = {
      file,
      frameIndex: i,
      transferSyntaxUid: h.transferSyntaxUid,
      sopInstanceUid,
      imagePositionPatientMm: g.position,
      imageOrientationPatient: g.orientation,
      pixelSpacingMm: g.spacing,
      rows,
      columns,
      rescaleSlope: g.slope ?? 1,
      rescaleIntercept: g.intercept ?? 0,
      imageType: g.imageType ?? imageType,
    };
    if (instanceNumber !== undefined) frame.instanceNumber = instanceNumber;
    if (g.thickness !== undefined) frame.sliceThicknessMm = g.thickness;
    if (g.spacingBetween !== undefined && g.spacingBetween > 0)
      frame.spacingBetweenSlicesMm = g.spacingBetween;
    if (mosaic !== undefined) frame.mosaicImages = mosaic;
    const component = g.complexComponent ?? fileComplex ?? componentFromImageType(frame.imageType);
    if (component !== undefined) frame.complexComponent = component;
    if (g.echoTimeMs !== undefined) frame.echoTimeMs = g.echoTimeMs;
    if (echoNumber !== undefined && !enhanced) frame.echoNumber = echoNumber;
    if (g.acquisitionTime !== undefined) frame.acquisitionTime = g.acquisitionTime;
    if (g.stackId !== undefined) frame.stackId = g.stackId;
    if (g.inStackPositionNumber !== undefined) frame.inStackPositionNumber = g.inStackPositionNumber;
    if (g.temporalPositionIndex !== undefined) frame.temporalPositionIndex = g.temporalPositionIndex;
    if (g.bValue !== undefined) frame.diffusionBValue = g.bValue;
    if (g.gradient) frame.diffusionGradient = g.gradient;
    frames.push(frame);
  }
  if (enhanced) numberEchoes(frames);
  return { series, frames };
}

/** Vendor-private sequence names: GE (0019,109C) "fgre", "ssfse"; Philips (2001,1020) "FFE", "TSE". */
function vendorSequenceName(ds: DataSet, vendor: Vendor): string | undefined {
  if (vendor === "GE") return str(ds, "x0019109c");
  if (vendor === "Philips") return str(ds, "x20011020");
  return undefined;
}

const GE_COMPLEX = ["MAGNITUDE", "PHASE", "REAL", "IMAGINARY"];

/** Magnitude, phase, real or imaginary: enhanced ComplexImageComponent, GE (0043,102F), Philips (2005,1011). */
function complexComponent(
  ds: DataSet,
  vendor: Vendor,
  firstPerFrame: DataSet | undefined,
): string | undefined {
  const std = str(ds, "x00089208") ?? str(firstItem(firstPerFrame, "x00189226"), "x00089208");
  if (std) return std.toUpperCase();
  return privateComplexComponent(ds, vendor);
}

const LETTER_COMPONENT: Record<string, string> = { M: "MAGNITUDE", P: "PHASE", R: "REAL", I: "IMAGINARY" };

function privateComplexComponent(ds: DataSet, vendor: Vendor): string | undefined {
  if (vendor === "GE") {
    const el = ds.elements["x0043102f"];
    // SS in explicit VR files; some exports store it as a string.
    const v = el && el.length === 2 ? ds.int16("x0043102f") : num(ds, "x0043102f");
    return v !== undefined ? GE_COMPLEX[v] : undefined;
  }
  if (vendor === "Philips") return LETTER_COMPONENT[str(ds, "x20051011")?.toUpperCase() ?? ""];
  return undefined;
}

/**
 * ImageType's third value and on: M, P, R, I (Siemens, Philips) or the words themselves. The first two
 * values (ORIGINAL/DERIVED, PRIMARY/SECONDARY) never name a component.
 */
function componentFromImageType(types: string[]): string | undefined {
  for (const v of types.slice(2)) {
    if (LETTER_COMPONENT[v]) return LETTER_COMPONENT[v];
    if (GE_COMPLEX.includes(v)) return v;
  }
  return undefined;
}

/**
 * Enhanced objects have no ScanningSequence; derive the classic codes from the MR Pulse Sequence module
 * (EchoPulseSequence, EchoPlanarPulseSequence, InversionRecovery) so that classification reads one field.
 */
function enhancedScanningSequence(ds: DataSet, modifier: DataSet | undefined): string[] | undefined {
  const eps = str(ds, "x00189008")?.toUpperCase();
  if (!eps) return undefined;
  const out: string[] = [];
  if (eps === "SPIN" || eps === "BOTH") out.push("SE");
  if (eps === "GRADIENT" || eps === "BOTH") out.push("GR");
  if ((str(ds, "x00189009") ?? str(modifier, "x00189009"))?.toUpperCase() === "YES") out.push("IR");
  if (str(ds, "x00189018")?.toUpperCase() === "YES") out.push("EP");
  return out;
}

/** Enhanced objects: spectral fat suppression or water excitation, as the classic ScanOptions code FS. */
function enhancedScanOptions(ds: DataSet): string[] | undefined {
  const out: string[] = [];
  const supp = str(ds, "x00189025")?.toUpperCase();
  if (supp && /FAT/.test(supp)) out.push("FS");
  if (str(ds, "x00189026")?.toUpperCase() === "WATER") out.push("WE");
  return out.length ? out : undefined;
}

/** Enhanced objects carry no EchoNumbers per frame; number them by distinct echo time. */
function numberEchoes(frames: MrFrame[]): void {
  const tes = [...new Set(frames.map((f) => f.echoTimeMs).filter((t): t is number => t !== undefined))].sort(
    (a, b) => a - b,
  );
  if (tes.length < 2) return;
  for (const f of frames) if (f.echoTimeMs !== undefined) f.echoNumber = tes.indexOf(f.echoTimeMs) + 1;
}
