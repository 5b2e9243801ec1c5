// The supported pretrained backbones: how each is built, its feature size, and where its weights are
// published (timm on the Hugging Face Hub as safetensors; torchvision as .pth, converted once with the
// printed command). Nothing here touches the network.
import type { Module } from "../module.ts";
import type { BackboneFamily } from "./checkpoint.ts";
import { resnet } from "./resnet.ts";
import { swin } from "./swin.ts";

export interface WeightsSource {
  /** e.g. "timm/swin_base_patch4_window7_224.ms_in22k" or "torchvision/ResNet50_Weights.IMAGENET1K_V2". */
  id: string;
  library: "timm" | "torchvision";
  /** Where the file is published. */
  url: string;
  /** What the published file is (torchvision ships pickled .pth files). */
  format: "safetensors" | "pth";
  /** Shell commands that fetch it (and, for .pth, convert it to safetensors) into FILE. */
  download: string;
  note?: string;
}

export interface BackboneSpec {
  name: "swin_t" | "swin_s" | "swin_b" | "resnet18" | "resnet50";
  family: BackboneFamily;
  description: string;
  featureDim: number;
  inputSize: number;
  build(): Module & {
    forward(x: import("../../torch/index.ts").Tensor): import("../../torch/index.ts").Tensor;
  };
  sources: WeightsSource[];
}

const hf = (repo: string) => `curl -L -o FILE https://huggingface.co/${repo}/resolve/main/model.safetensors`;

/** Converts a torchvision .pth state dict to safetensors with Debian's python3-torch (no extra packages). */
const tvConvert = (url: string) =>
  `curl -L -o /tmp/tv.pth ${url} && /usr/bin/python3 scripts/parity/backbones_fixtures.py convert /tmp/tv.pth FILE`;

export const BACKBONES: readonly BackboneSpec[] = [
  {
    name: "swin_b",
    family: "swin",
    description:
      "Swin Transformer V1 Base, patch 4, window 7, 224 (DeepLiverNet 2.0's backbone), 1024 features",
    featureDim: 1024,
    inputSize: 224,
    build: () => swin("swin_b"),
    sources: [
      {
        id: "timm/swin_base_patch4_window7_224.ms_in22k",
        library: "timm",
        url: "https://huggingface.co/timm/swin_base_patch4_window7_224.ms_in22k",
        format: "safetensors",
        download: hf("timm/swin_base_patch4_window7_224.ms_in22k"),
        note: "ImageNet-22K, as the published recipe; its 21841-class head is ignored",
      },
      {
        id: "timm/swin_base_patch4_window7_224.ms_in22k_ft_in1k",
        library: "timm",
        url: "https://huggingface.co/timm/swin_base_patch4_window7_224.ms_in22k_ft_in1k",
        format: "safetensors",
        download: hf("timm/swin_base_patch4_window7_224.ms_in22k_ft_in1k"),
      },
      {
        id: "torchvision/Swin_B_Weights.IMAGENET1K_V1",
        library: "torchvision",
        url: "https://download.pytorch.org/models/swin_b-68c6b09e.pth",
        format: "pth",
        download: tvConvert("https://download.pytorch.org/models/swin_b-68c6b09e.pth"),
      },
    ],
  },
  {
    name: "swin_s",
    family: "swin",
    description: "Swin Transformer V1 Small, patch 4, window 7, 224, 768 features",
    featureDim: 768,
    inputSize: 224,
    build: () => swin("swin_s"),
    sources: [
      {
        id: "timm/swin_small_patch4_window7_224.ms_in22k",
        library: "timm",
        url: "https://huggingface.co/timm/swin_small_patch4_window7_224.ms_in22k",
        format: "safetensors",
        download: hf("timm/swin_small_patch4_window7_224.ms_in22k"),
      },
      {
        id: "torchvision/Swin_S_Weights.IMAGENET1K_V1",
        library: "torchvision",
        url: "https://download.pytorch.org/models/swin_s-5e29d889.pth",
        format: "pth",
        download: tvConvert("https://download.pytorch.org/models/swin_s-5e29d889.pth"),
      },
    ],
  },
  {
    name: "swin_t",
    family: "swin",
    description: "Swin Transformer V1 Tiny, patch 4, window 7, 224, 768 features",
    featureDim: 768,
    inputSize: 224,
    build: () => swin("swin_t"),
    sources: [
      {
        id: "timm/swin_tiny_patch4_window7_224.ms_in22k",
        library: "timm",
        url: "https://huggingface.co/timm/swin_tiny_patch4_window7_224.ms_in22k",
        format: "safetensors",
        download: hf("timm/swin_tiny_patch4_window7_224.ms_in22k"),
      },
      {
        id: "torchvision/Swin_T_Weights.IMAGENET1K_V1",
        library: "torchvision",
        url: "https://download.pytorch.org/models/swin_t-704ceda3.pth",
        format: "pth",
        download: tvConvert("https://download.pytorch.org/models/swin_t-704ceda3.pth"),
      },
    ],
  },
  {
    name: "resnet50",
    family: "resnet",
    description: "ResNet-50 (v1.5), 2048 features",
    featureDim: 2048,
    inputSize: 224,
    build: () => resnet("resnet50"),
    sources: [
      {
        id: "torchvision/ResNet50_Weights.IMAGENET1K_V2",
        library: "torchvision",
        url: "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
        format: "pth",
        download: tvConvert("https://download.pytorch.org/models/resnet50-11ad3fa6.pth"),
      },
      {
        id: "timm/resnet50.a1_in1k",
        library: "timm",
        url: "https://huggingface.co/timm/resnet50.a1_in1k",
        format: "safetensors",
        download: hf("timm/resnet50.a1_in1k"),
      },
    ],
  },
  {
    name: "resnet18",
    family: "resnet",
    description: "ResNet-18, 512 features",
    featureDim: 512,
    inputSize: 224,
    build: () => resnet("resnet18"),
    sources: [
      {
        id: "torchvision/ResNet18_Weights.IMAGENET1K_V1",
        library: "torchvision",
        url: "https://download.pytorch.org/models/resnet18-f37072fd.pth",
        format: "pth",
        download: tvConvert("https://download.pytorch.org/models/resnet18-f37072fd.pth"),
      },
      {
        id: "timm/resnet18.a1_in1k",
        library: "timm",
        url: "https://huggingface.co/timm/resnet18.a1_in1k",
        format: "safetensors",
        download: hf("timm/resnet18.a1_in1k"),
      },
    ],
  },
];

export function backboneSpec(name: string): BackboneSpec | undefined {
  return BACKBONES.find((b) => b.name === name);
}
