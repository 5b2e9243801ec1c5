import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { LiverstiffError, writeJsonAtomic } from "../../core/index.ts";
import { type MaskCliOptions, maskOptions, openMaskSource } from "../masks.ts";
import { progressReporter } from "../progress.ts";

interface PredictCliOptions extends MaskCliOptions {
  model: string;
  json?: string;
  png?: string;
  figures: boolean;
  dicomOut?: string;
  pdf?: boolean;
  keepWork?: string;
  trust?: string;
  rules?: string;
  overrides?: string;
  camOut?: string;
  camThreshold: string;
  occlusion?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command("predict")
    .description(
      "Predict liver stiffness categories for new exams with a bundle made by `liverstiff train`: each exam is " +
        "ingested with the same rules as `ingest` and gets, per threshold, the probability with the fold " +
        "models' range, the category and its cut-off, the predicted kPa, the series used, warnings, and a PNG " +
        "of the slices used with the model's attention. Research use only; not a medical device. Exits 1 when " +
        "an exam or input could not be used (the others are still predicted).",
    )
    .argument("<inputs...>", "exam folders and/or DICOM files")
    .requiredOption("--model <bundle>", "model bundle folder (from `liverstiff train`)")
    .option("--json <file>", "write the full report as JSON (use - for stdout)")
    .option("--png <dir>", "folder for the figures (default: next to --json, else ./liverstiff-predict)")
    .option("--no-figures", "skip the PNG figures")
    .option(
      "--dicom-out <dir>",
      "write per predicted exam a DICOM Comprehensive SR of the results and a Secondary Capture of the figure, in the exam's study",
    )
    .option("--pdf", "with --dicom-out: also a one-page PDF report per exam, as a DICOM Encapsulated PDF")
    .option("--keep-work <dir>", "ingest into this folder and keep it (default: a temporary folder)")
    .option(
      "--rules <file>",
      "a site's own series-role rules (YAML or JSON), used instead of the rules the bundle was trained with",
    )
    .option(
      "--overrides <file>",
      "a site's per-exam series overrides (CSV, YAML or JSON, as for ingest), laid over the bundle's",
    )
    .option(
      "--cam-out <dir>",
      "write Grad-CAM maps: <dir>/<accession>/<role>.nii.gz (float32, on the prepared slices' grid, in patient space)",
    )
    .option(
      "--cam-threshold <kPa>",
      "the threshold whose logit the maps explain (2.5, 3.0, 3.5, 4.0 or 5.0)",
      "3.0",
    )
    .option(
      "--occlusion",
      "with --cam-out, also occlusion-sensitivity maps (<role>.occlusion.nii.gz): any encoder and head, one encoder pass per 16-px patch position (slower)",
    )
    .option(
      "--trust <public-key>",
      "PEM Ed25519 public key: refuse the bundle unless `train --sign` signed it with the matching private key",
    );
  for (const o of maskOptions()) command.addOption(o);
  command.action(async (inputs: string[], opts: PredictCliOptions) => {
    const { formatPredictions, loadBundle, predictExams } = await import("../../deploy/index.ts");
    if (opts.pdf && !opts.dicomOut)
      throw new LiverstiffError("--pdf writes an Encapsulated PDF beside the SR: give --dicom-out DIR too");
    if (opts.occlusion && !opts.camOut)
      throw new LiverstiffError(
        "--occlusion writes its maps beside the Grad-CAM maps: give --cam-out DIR too",
      );
    const bundle = loadBundle(opts.model, { trust: opts.trust });
    const progress = progressReporter();
    let masks: Awaited<ReturnType<typeof openMaskSource>> | undefined;
    try {
      masks = await openMaskSource(opts);
      const pngDir = !opts.figures
        ? undefined
        : resolve(
            opts.png ??
              (opts.json && opts.json !== "-" ? join(dirname(opts.json), "figures") : "liverstiff-predict"),
          );
      const report = await predictExams({
        inputs,
        bundle,
        pngDir,
        ...(opts.dicomOut ? { dicomDir: resolve(opts.dicomOut), dicomPdf: opts.pdf ?? false } : {}),
        workdir: opts.keepWork,
        ...(opts.rules ? { rulesPath: opts.rules } : {}),
        ...(opts.overrides ? { overridesPath: opts.overrides } : {}),
        ...(opts.camOut
          ? {
              camDir: resolve(opts.camOut),
              camThresholdKpa: Number(opts.camThreshold),
              occlusion: opts.occlusion ?? false,
            }
          : {}),
        onProgress: progress.sink,
        ...(masks.source ? { masks: masks.source } : {}),
      });
      progress.stop();
      if (opts.json === "-") process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        if (opts.json) writeJsonAtomic(opts.json, report);
        process.stdout.write(`${formatPredictions(report)}\n`);
        if (opts.json) process.stdout.write(`report: ${opts.json}\n`);
      }
      const failed = report.counts.unusable > 0 || report.inputs.some((i) => i.problem);
      if (failed) {
        const reasons = [
          ...report.exams
            .filter((e) => e.status !== "predicted")
            .map((e) => `exam ${e.accession ?? e.examId}: ${e.reason}`),
          ...report.inputs.filter((i) => i.problem).map((i) => `input ${i.path}: ${i.problem}`),
        ];
        process.stderr.write(
          `liverstiff: ${reasons.length} not predicted:\n${reasons.map((r) => `  ${r}`).join("\n")}\n`,
        );
        process.exitCode = 1;
      }
    } finally {
      progress.stop();
      masks?.close();
      bundle.dispose();
    }
  });
}
