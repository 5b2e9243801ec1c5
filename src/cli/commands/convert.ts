import type { Command } from "commander";
import { progressReporter } from "../progress.ts";

export function register(program: Command): void {
  program
    .command("convert")
    .description(
      "Write each assembled DICOM series as NIfTI (.nii.gz, RAS affine as dcm2niix writes) with a JSON sidecar " +
        "of its key header fields and its series role; a dual-echo series gives one file per echo, a multi-volume " +
        "series one 4D file (with .bval/.bvec for diffusion).",
    )
    .argument("<inputs...>", "DICOM files or folders")
    .requiredOption("--out <dir>", "output folder")
    .option("--rules <file>", "series-role rules (YAML or JSON) for the role in the sidecar")
    .option("--lenient", "also write stacks with gaps or uneven spacing (with a warning in the sidecar)")
    .option("--json", "print the result as JSON")
    .action(
      async (inputs: string[], opts: { out: string; rules?: string; lenient?: boolean; json?: boolean }) => {
        const { convertToNifti } = await import("../../volume/index.ts");
        const { loadRoleRules } = await import("../../dicom/index.ts");
        const rules = opts.rules ? loadRoleRules(opts.rules) : undefined;
        const bars = progressReporter();
        let r: Awaited<ReturnType<typeof convertToNifti>>;
        try {
          r = await convertToNifti({
            inputs,
            outDir: opts.out,
            rules,
            lenientSpacing: opts.lenient,
            onProgress: bars.sink,
          });
        } finally {
          bars.stop();
        }
        // Nothing written is a failure, whichever way the result is printed.
        if (r.converted.length === 0) process.exitCode = 1;
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        for (const c of r.converted) {
          const dims = [...(c.dims ?? []), ...((c.volumes ?? 1) > 1 ? [c.volumes] : [])].join("x");
          process.stdout.write(`${c.file}  ${dims} ${c.orientation}  role ${c.role ?? "-"}\n`);
        }
        for (const f of r.failed) {
          process.stdout.write(
            `not converted: series ${f.seriesNumber ?? "?"} (${f.description ?? ""}): ${f.error}\n`,
          );
        }
        for (const e of r.index.errors) process.stdout.write(`skipped file ${e.file}: ${e.reason}\n`);
        process.stdout.write(
          `${r.converted.length} volume(s) written, ${r.failed.length} series not converted, ` +
            `${r.index.errors.length} unusable and ${r.index.skipped.length} non-DICOM file(s)\n`,
        );
      },
    );
}
