// features/: encoders that turn prepared slices into per-slice feature vectors (the project's own
// small CNN, pretrained self-supervised; TorchScript backbones; a registry by name) and the feature
// cache that train/ and validate/ read through computeFeatures(). See docs/features.md.

// Importing backbones.ts registers the Swin and ResNet encoders (src/nn/models/) by name.
export {
  type BackboneEncoderOptions,
  createBackboneEncoder,
  type InstalledWeights,
  installedPaths,
  installWeights,
  randomBackboneEncoder,
  readInstalled,
  verifyWeights,
  weightsCacheDir,
} from "./backbones.ts";
export {
  type ComputeFeaturesOptions,
  computeFeatures,
  encodeExam,
  encoderDirName,
  FEATURES_CODE_VERSION,
  type FeatureCacheStats,
  featuresFingerprint,
  featuresPath,
  readCachedFeatures,
} from "./cache.ts";
export { CNN_V1_CONFIG, type CnnConfig, ConvBlock, LiverCnn } from "./cnn.ts";
export {
  createEncoder,
  type Encoder,
  type EncoderFactory,
  type EncoderFactoryOptions,
  encoderFactory,
  encoderNames,
  ModuleEncoder,
  type ModuleEncoderOptions,
  registerEncoder,
  resizeSlices,
} from "./encoder.ts";
export { IMAGENET_NORMALIZE, loadTorchScriptEncoder, type TorchScriptEncoderOptions } from "./torchscript.ts";
export * from "./types.ts";
export {
  DEFAULT_ENCODER_NAME,
  DEFAULT_MANIFEST_PATH,
  DEFAULT_WEIGHTS_PATH,
  type EncoderManifest,
  loadCnnEncoder,
  loadCnnModel,
  loadDefaultEncoder,
  REPRODUCE_COMMAND,
  randomCnnEncoder,
  readEncoderManifest,
  saveCnnWeights,
  sha256File,
} from "./weights.ts";
