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

export interface CamFiles {
  thresholdKpa: number;
  /** The explained P(kPa >= threshold) (the fold members' mean) and its logit. */
  probability: number;
  logit: number;
  /** The encoder block the maps come from, and its map size in pixels. */
  layer: number;
  layerSize: number;
  files: Partial<Record<SeriesRole, string>>;
}

/** Writes one exam's maps under `dir/<folder>/`; throws when a role's prepared grid was not recorded. */
export function writeExamCams(dir: string, folder: string, cam: ExamCam, prepared: PreparedExam): CamFiles {
  const files: CamFiles["files"] = {};
  for (const [role, map] of Object.entries(cam.maps) as [SeriesRole, Float32Array][]) {
    const affine = recordedPreparedAffine(prepared.meta, role);
    if (!affine)
      throw new LiverstiffError(
        `the prepared ${role} slices do not record their grid (prepared by an older version); predict again without --keep-work, or into a new work folder`,
        { role },
      );
    const path = join(dir, folder, `${role}.nii.gz`);
    writeNifti(path, makeVolume(map, [cam.size, cam.size, cam.slices], affine), {
      datatype: "float32",
      description: `liverstiff Grad-CAM ${cam.thresholdKpa} kPa`,
      sidecar: {
        kind: "liverstiff-gradcam",
        examId: cam.examId,
        role,
        thresholdKpa: cam.thresholdKpa,
        probability: cam.probability,
        logit: cam.logit,
        encoderLayer: cam.layer,
        layerSizePx: cam.layerSize,
      },
    });
    files[role] = path;
  }
  return {
    thresholdKpa: cam.thresholdKpa,
    probability: cam.probability,
    logit: cam.logit,
    layer: cam.layer,
    layerSize: cam.layerSize,
    files,
  };
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
  const files: OcclusionFiles["files"] = {};
  for (const [role, map] of Object.entries(o.maps) as [SeriesRole, Float32Array][]) {
    const affine = recordedPreparedAffine(prepared.meta, role);
    if (!affine) throw new LiverstiffError(`the prepared ${role} slices do not record their grid`, { role });
    const path = join(dir, folder, `${role}.occlusion.nii.gz`);
    writeNifti(path, makeVolume(map, [o.size, o.size, o.slices], affine), {
      datatype: "float32",
      description: `liverstiff occlusion ${o.thresholdKpa} kPa`,
      sidecar: {
        kind: "liverstiff-occlusion",
        examId: o.examId,
        role,
        thresholdKpa: o.thresholdKpa,
        probability: o.probability,
        logit: o.logit,
        patchPx: o.patchPx,
        stridePx: o.stridePx,
        value: "mean logit drop when a patch over the voxel is set to 0, floored at 0",
      },
    });
    files[role] = path;
  }
  return {
    thresholdKpa: o.thresholdKpa,
    probability: o.probability,
    logit: o.logit,
    patchPx: o.patchPx,
    stridePx: o.stridePx,
    files,
  };
}
