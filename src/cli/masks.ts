// Where ingest, predict and demo take liver and spleen masks from: the user's label maps (--masks), else
// the shipped segmentation network (segment/, liverstiff-seg-v1 on the t2 series), or none (--no-organs).
import { existsSync } from "node:fs";
import { Option } from "commander";
import type { MaskSource } from "../cohort/index.ts";
import { LiverstiffError } from "../core/index.ts";
import type { LabelConvention } from "../segment/index.ts";

export interface MaskCliOptions {
  masks?: string;
  /** Checked by commander (`.choices`). */
  maskLabels: LabelConvention;
  organs: boolean;
}

const CONVENTIONS: readonly LabelConvention[] = ["totalsegmentator", "synthetic"];

/** The three options, the same on every command that ingests. */
export function maskOptions(): Option[] {
  return [
    new Option(
      "--masks <dir>",
      "liver/spleen label maps (NIfTI, one per exam named <accession>, <StudyInstanceUID> or a role series' " +
        "SeriesInstanceUID, .nii.gz or .nii) instead of the shipped segmentation network",
    ),
    new Option("--mask-labels <convention>", "label codes of --masks")
      .choices(CONVENTIONS)
      .default("totalsegmentator"),
    new Option(
      "--no-organs",
      "no liver/spleen masks and no organ measures (heads that read them say so per exam)",
    ),
  ];
}

/** An open mask source; close() frees the network's memory when one was loaded. */
export interface OpenMaskSource {
  source?: MaskSource;
  close(): void;
}

export async function openMaskSource(opts: MaskCliOptions): Promise<OpenMaskSource> {
  if (!opts.organs) return { close: () => {} };
  if (opts.masks) {
    if (!existsSync(opts.masks))
      throw new LiverstiffError("mask folder does not exist", { masks: opts.masks });
    return {
      source: { kind: "files", dir: opts.masks, convention: opts.maskLabels },
      close: () => {},
    };
  }
  const { DEFAULT_SEGMENTER_PATH, loadSegmenter } = await import("../segment/index.ts");
  const segmenter = loadSegmenter(DEFAULT_SEGMENTER_PATH);
  return {
    source: { kind: "network", segmenter, role: "t2", weightsPath: DEFAULT_SEGMENTER_PATH },
    close: () => segmenter.dispose(),
  };
}
