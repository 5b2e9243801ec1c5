// explain/: why a model gave its probability, as maps on the prepared slices. Grad-CAM from a threshold's
// logit back to a layer of the encoder (the project's CNN, ResNet, Swin), through every head (liverstiff's
// attention and ridge members, deepliver2's MLPs), for deploy's `predict --cam-out`; occlusion sensitivity (any encoder, any
// head) as a second opinion, `predict --occlusion`. See docs/explain.md.
export {
  cnnOf,
  DEFAULT_CAM_THRESHOLD_KPA,
  type ExamCam,
  GradCam,
  type GradCamOptions,
  type LayerGradCam,
  layerGradCam,
  thresholdIndex,
} from "./gradcam.ts";
export {
  type DifferentiableHead,
  differentiableHead,
  PREDICT_TOLERANCE,
  type RoleFeatures,
  redrawParameters,
  redrawTensors,
  unexplainableReason,
} from "./head.ts";
export {
  DEFAULT_OCCLUSION_PATCH_PX,
  type ExamOcclusion,
  type OcclusionOptions,
  occlusionMaps,
} from "./occlusion.ts";
export { type CamEncoder, camEncoderOf, cnnCamEncoder, DEFAULT_CAM_LAYER } from "./targets.ts";
