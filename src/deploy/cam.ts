// `predict --cam-out DIR`: per predicted exam and role the model reads, DIR/<accession>/<role>.nii.gz, the
// Grad-CAM map of one threshold's logit (explain/) as float32 on the prepared slices' grid, with that
// grid's affine in patient space, so that a viewer overlays it on the series it came from; a JSON sidecar
// beside each map says what it explains.
import { join } from "node:path";
import { type PreparedExam, recordedPreparedAffine } from "../cohort/index.ts";
import { LiverstiffError } from "../core/index.ts";
import type { SeriesRole } from "../dicom/index.ts";
import type { ExamCam, ExamOcclusion } from "../explain/index.ts";
import { makeVolume, writeNifti } from "../volume/index.ts";

/** What the maps explain (threshold, probability, logit, layer), as the explanation reported it. */
export interface CamFiles
  extends Pick<ExamCam, "thresholdKpa" | "probability" | "logit" | "layer" | "layerName" | "layerSize"> {
  files: Partial<Record<SeriesRole, string>>;
}

/**
 * Writes one float32 NIfTI per role, `dir/<folder>/<role><suffix>.nii.gz`, on the prepared grid with its
 * recorded affine; throws when a role's prepared grid was not recorded.
 */
function writeRoleMaps(
  dir: string,
  folder: string,
  suffix: string,
  maps: Partial<Record<SeriesRole, Float32Array>>,
  grid: { size: number; slices: number },
  prepared: PreparedExam,
  header: { description: string; sidecar: Record<string, unknown> },
): Partial<Record<SeriesRole, string>> {
  const files: Partial<Record<SeriesRole, string>> = {};
  for (const [role, map] of Object.entries(maps) as [SeriesRole, Float32Array][]) {
    const affine = recordedPreparedAffine(prepared.meta, role);
    if (!affine)
      throw new LiverstiffError(
        `the prepared ${role} slices do not record their grid (prepared by an older version); predict again without --keep-work, or into a new work folder`,
        { role },
      );
    const path = join(dir, folder, `${role}${suffix}.nii.gz`);
    writeNifti(path, makeVolume(map, [grid.size, grid.size, grid.slices], affine), {
      datatype: "float32",
      description: header.description,
      sidecar: { ...header.sidecar, role },
    });
    files[role] = path;
  }
  return files;
}

/** Writes one exam's Grad-CAM maps under `dir/<folder>/`. */
export function writeExamCams(dir: string, folder: string, cam: ExamCam, prepared: PreparedExam): CamFiles {
  const files = writeRoleMaps(dir, folder, "", cam.maps, cam, prepared, {
    description: `liverstiff Grad-CAM ${cam.thresholdKpa} kPa`,
    sidecar: {
      kind: "liverstiff-gradcam",
      examId: cam.examId,
      thresholdKpa: cam.thresholdKpa,
      probability: cam.probability,
      logit: cam.logit,
      encoderLayer: cam.layer,
      encoderLayerName: cam.layerName,
      layerSizePx: cam.layerSize,
    },
  });
  const { thresholdKpa, probability, logit, layer, layerName, layerSize } = cam;
  return { thresholdKpa, probability, logit, layer, layerName, layerSize, files };
}

export interface OcclusionFiles {
  thresholdKpa: number;
  probability: number;
  logit: number;
  patchPx: number;
  stridePx: number;
  files: Partial<Record<SeriesRole, string>>;
}

/** `predict --occlusion`: the occlusion maps beside the Grad-CAM ones, as DIR/<accession>/<role>.occlusion.nii.gz. */
export function writeExamOcclusion(
  dir: string,
  folder: string,
  o: ExamOcclusion,
  prepared: PreparedExam,
): OcclusionFiles {
  const files = writeRoleMaps(dir, folder, ".occlusion", o.maps, o, prepared, {
    description: `liverstiff occlusion ${o.thresholdKpa} kPa`,
    sidecar: {
      kind: "liverstiff-occlusion",
      examId: o.examId,
      thresholdKpa: o.thresholdKpa,
      probability: o.probability,
      logit: o.logit,
      patchPx: o.patchPx,
      stridePx: o.stridePx,
      value: "mean logit drop when a patch over the voxel is set to 0, floored at 0",
    },
  });
  const { thresholdKpa, probability, logit, patchPx, stridePx } = o;
  return { thresholdKpa, probability, logit, patchPx, stridePx, files };
}
