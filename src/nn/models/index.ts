// nn/models/: pretrained-backbone architectures on src/nn (Swin Transformer V1, ResNet), their weights
// files (timm and torchvision names, checked before use) and the catalog of supported backbones.
// See docs/backbones.md.
export { BACKBONES, type BackboneSpec, backboneSpec, type WeightsSource } from "./catalog.ts";
export { ChannelsLastLinear } from "./channels-last-linear.ts";
export {
  type BackboneFamily,
  describeWeightsCheck,
  detectScheme,
  inspectBackboneWeights,
  isDerivedBuffer,
  loadBackboneWeights,
  mapKey,
  type NamingScheme,
  sha256File,
  type WeightsCheck,
  WeightsMismatchError,
} from "./checkpoint.ts";
export {
  BasicBlock,
  Bottleneck,
  RESNET_CONFIGS,
  ResNet,
  type ResNetConfig,
  type ResNetOutput,
  type ResNetVariant,
  resnet,
} from "./resnet.ts";
export {
  PatchMerging,
  relativePositionIndex,
  SWIN_CONFIGS,
  SwinBlock,
  type SwinConfig,
  type SwinOutput,
  SwinStage,
  SwinTransformer,
  type SwinVariant,
  shiftedWindowMask,
  swin,
  WindowAttention,
} from "./swin.ts";
