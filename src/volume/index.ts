// volume/: geometry. Stacks MR frames into 3D volumes with a voxel -> LPS mm affine, reads and writes
// NIfTI-1 (with dcm2niix/BIDS sidecars), reorients and resamples. Knows nothing of labels or exams.
export {
  type AssembledVolume,
  type AssembleOptions,
  assembleVolume,
  framesByEcho,
  framesForDecision,
  framesForEcho,
  type GeometryIssue,
  planStack,
  type StackPlan,
} from "./assemble.ts";
export { type ConvertedSeries, type ConvertOptions, type ConvertResult, convertToNifti } from "./convert.ts";
export {
  affineColumn,
  affineSpacing,
  applyAffine,
  cross,
  flipLpsRas,
  identity4,
  invertAffine,
  type Mat4,
  matmul4,
  maxAbsDiff,
  normalize,
  orientationCode,
  planeOfNormal,
  setAffineColumn,
  type Vec3,
} from "./geometry.ts";
export { asOutputWriteError, OutputWriteError } from "./io-errors.ts";
export {
  type NiftiImage,
  type NiftiSidecar,
  readNifti,
  sidecarPath,
  type WriteNiftiOptions,
  writeNifti,
} from "./nifti.ts";
export {
  cropOrPadInPlane,
  type ResampleOptions,
  resampleToGrid,
  resampleToSpacing,
  resizeInPlane,
} from "./resample.ts";
export { makeVolume, reorientToCanonical, sliceView, type Volume, volumeCentre } from "./volume.ts";
