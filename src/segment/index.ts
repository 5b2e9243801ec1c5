// segment/: organ localisation. A small 2D U-Net (liverstiff-seg-v1, weights shipped under
// assets/segment/) labels each axial slice of an MR volume as background / liver / spleen on a fixed
// 400 mm grid and maps the labels back onto the volume's own voxels; label maps made elsewhere
// (TotalSegmentator's MR convention, the synthetic cohort's codes) read into the same OrganMask.
// Imports volume/, core/ and the engine only. See docs/segment.md.
export {
  gridImages,
  gridToVolumeLabels,
  intensityRange,
  labelsToGrid,
  type SliceGrid,
  sliceGrid,
} from "./grid.ts";
export {
  dice,
  keepLargestComponents,
  LABEL_CONVENTIONS,
  type LabelConvention,
  maskOnVolume,
  ORGAN_LABELS,
  ORGANS,
  type Organ,
  type OrganMask,
  organLabelsFromCodes,
  organVolumesMl,
  readOrganMaskNifti,
} from "./mask.ts";
export { SEG_V1_CONFIG, SegNet, type SegNetConfig } from "./model.ts";
export {
  DEFAULT_SEGMENTER_NAME,
  DEFAULT_SEGMENTER_PATH,
  loadSegmenter,
  manifestPathFor,
  predictSlices,
  readSegmenterManifest,
  type Segmenter,
  type SegmenterManifest,
  sha256File,
  writeSegmenter,
} from "./segmenter.ts";
export {
  buildSliceBank,
  SEG_TRAIN_DEFAULTS,
  type SegTrainOptions,
  type SegTrainResult,
  type SliceBank,
  trainSegNet,
} from "./train.ts";
