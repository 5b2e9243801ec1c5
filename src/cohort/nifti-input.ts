// NIfTI volumes (dcm2niix / BIDS, with JSON sidecars) as ingest input: each file becomes a series whose
// frames are its slices, so that the same classifier, picker, geometry checks and preparation apply.
import { basename, dirname, relative } from "node:path";
import type { MrFrame, SeriesInfo, Vendor } from "../dicom/index.ts";
import {
  affineColumn,
  applyAffine,
  type NiftiSidecar,
  normalize,
  readNifti,
  type Volume,
} from "../volume/index.ts";

export const NIFTI_FILE = /\.nii(\.gz)?$/i;

function vendorOf(m: string | undefined): Vendor {
  const s = (m ?? "").toLowerCase();
  if (s.includes("siemens")) return "Siemens";
  if (s.includes("ge ") || s.startsWith("ge") || s.includes("general electric")) return "GE";
  if (s.includes("philips")) return "Philips";
  if (s.includes("canon") || s.includes("toshiba")) return "Canon";
  if (s.includes("hitachi") || s.includes("fujifilm")) return "Hitachi";
  return "Other";
}

const split = (v: unknown): string[] | undefined =>
  typeof v === "string" && v ? v.split(/[_\\\s]+/).filter(Boolean) : undefined;

/**
 * Builds series from NIfTI files. Exams are folders: every NIfTI in one folder is one exam, whose
 * accession number is the folder name (so a labels sheet can key on it) and whose patient id is the BIDS
 * `sub-` label in the path when there is one, else the folder name. Only the first 3D volume of a 4D file
 * is used. Returns the series and a pixel reader for their frames.
 */
export function niftiSeries(
  files: string[],
  root: (file: string) => string,
): { series: SeriesInfo[]; errors: { file: string; reason: string }[] } {
  const series: SeriesInfo[] = [];
  const errors: { file: string; reason: string }[] = [];
  for (const file of files) {
    let img: ReturnType<typeof readNifti>;
    try {
      img = readNifti(file);
    } catch (err) {
      errors.push({ file, reason: (err as Error).message });
      continue;
    }
    const sc: NiftiSidecar = img.sidecar ?? {};
    const dir = dirname(file);
    const rel = relative(root(file), dir) || basename(dir);
    const sub = /(?:^|[/\\])sub-([A-Za-z0-9]+)/.exec(dir)?.[1];
    const ses = /(?:^|[/\\])ses-(\d{8})(?:[/\\]|$)/.exec(dir)?.[1];
    const date =
      (typeof sc.AcquisitionDateTime === "string" ? sc.AcquisitionDateTime.slice(0, 10) : undefined) ??
      (ses ? `${ses.slice(0, 4)}-${ses.slice(4, 6)}-${ses.slice(6, 8)}` : undefined);
    const te = typeof sc.EchoTime === "number" ? sc.EchoTime * 1000 : undefined;
    const a = img.volume.affine;
    const row = normalize(affineColumn(a, 0));
    const col = normalize(affineColumn(a, 1));
    const spacing = img.volume.spacing;
    const frames: MrFrame[] = [];
    const base = basename(file).replace(NIFTI_FILE, "");
    for (let k = 0; k < img.volume.dims[2]; k++) {
      frames.push({
        file,
        frameIndex: k,
        transferSyntaxUid: "nifti",
        sopInstanceUid: `nifti:${rel}/${base}#${k}`,
        instanceNumber: k + 1,
        imagePositionPatientMm: applyAffine(a, [0, 0, k]),
        imageOrientationPatient: [...row, ...col],
        pixelSpacingMm: [spacing[1], spacing[0]],
        sliceThicknessMm: typeof sc.SliceThickness === "number" ? sc.SliceThickness : spacing[2],
        rows: img.volume.dims[1],
        columns: img.volume.dims[0],
        echoTimeMs: te,
        rescaleSlope: 1,
        rescaleIntercept: 0,
        imageType: (sc.ImageType ?? []).map((x) => String(x).toUpperCase()),
      });
    }
    series.push({
      seriesInstanceUid: `nifti:${rel}/${base}`,
      studyInstanceUid: `nifti:${rel}`,
      patientId: sub ?? basename(dir),
      accessionNumber: basename(dir),
      studyDate: date,
      modality: sc.Modality ?? "MR",
      sopClassUid: "nifti",
      manufacturer: sc.Manufacturer,
      vendor: vendorOf(sc.Manufacturer),
      manufacturerModelName: sc.ManufacturersModelName,
      institutionName: sc.InstitutionName,
      magneticFieldStrengthT: sc.MagneticFieldStrength,
      seriesNumber: sc.SeriesNumber,
      seriesDescription: sc.SeriesDescription ?? base,
      protocolName: sc.ProtocolName,
      sequenceName: sc.SequenceName,
      scanningSequence: split(sc.ScanningSequence),
      sequenceVariant: split(sc.SequenceVariant),
      scanOptions: split(sc.ScanOptions),
      mrAcquisitionType: typeof sc.MRAcquisitionType === "string" ? sc.MRAcquisitionType : undefined,
      repetitionTimeMs: typeof sc.RepetitionTime === "number" ? sc.RepetitionTime * 1000 : undefined,
      echoTimesMs: te === undefined ? [] : [te],
      echoTrainLength: sc.EchoTrainLength,
      flipAngleDeg: sc.FlipAngle,
      imageType: (sc.ImageType ?? []).map((x) => String(x).toUpperCase()),
      enhanced: false,
      frames,
    });
  }
  return { series, errors };
}

// The last few volumes read for pixels (a series' slices are read one after another).
const cache = new Map<string, Volume>();
const CACHE_SIZE = 3;

export function isNiftiFrame(f: MrFrame): boolean {
  return f.transferSyntaxUid === "nifti";
}

/** Pixels of one NIfTI "frame" (slice k), rows x columns row-major, as readFramePixels gives them. */
export function readNiftiFrame(f: MrFrame): Float32Array {
  let v = cache.get(f.file);
  if (!v) {
    v = readNifti(f.file).volume;
    cache.set(f.file, v);
    while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  }
  const n = v.dims[0] * v.dims[1];
  return v.data.slice(f.frameIndex * n, (f.frameIndex + 1) * n);
}

export function clearNiftiCache(): void {
  cache.clear();
}
