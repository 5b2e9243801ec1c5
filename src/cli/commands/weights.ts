import type { Command } from "commander";
import { textTable } from "../table.ts";

export function register(program: Command): void {
  const weights = program
    .command("weights")
    .description(
      "Pretrained backbone weights (Swin-B for DeepLiverNet 2.0, Swin-T/S, ResNet-18/50): where each is " +
        "published, verify a local safetensors file (sha256, names, shapes), install it into the weights cache.",
    );

  weights
    .command("list")
    .description("the supported backbones, where their weights are published, and what is installed")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const { BACKBONES } = await import("../../nn/models/catalog.ts");
      const { readInstalled, weightsCacheDir } = await import("../../features/backbones.ts");
      const dir = weightsCacheDir();
      const rows = BACKBONES.map((b) => ({
        backbone: b.name,
        featureDim: b.featureDim,
        inputSize: b.inputSize,
        description: b.description,
        sources: b.sources,
        installed: readInstalled(b.name, dir) ?? null,
      }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ cache: dir, backbones: rows })}\n`);
        return;
      }
      const out = [["backbone", "features", "installed", "description"]];
      for (const r of rows) {
        out.push([
          r.backbone,
          String(r.featureDim),
          r.installed ? `yes (sha256 ${r.installed.sha256.slice(0, 12)}…)` : "no",
          r.description,
        ]);
      }
      process.stdout.write(`${textTable(out)}\n\nweights cache: ${dir}\n\npublished weights:\n`);
      for (const r of rows) {
        for (const s of r.sources) {
          process.stdout.write(`  ${r.backbone}  ${s.id}  ${s.url}${s.note ? `  (${s.note})` : ""}\n`);
        }
      }
      process.stdout.write(
        "\nDownload a file yourself (`liverstiff weights download BACKBONE` prints the commands), then\n" +
          "`liverstiff weights install BACKBONE FILE`.\n",
      );
    });

  weights
    .command("download")
    .description("print the commands that fetch a backbone's published weights (nothing is downloaded here)")
    .argument("<backbone>", "swin_b, swin_s, swin_t, resnet50 or resnet18")
    .argument("[file]", "where the file should go", "weights.safetensors")
    .action(async (backbone: string, file: string) => {
      const { backboneSpec, BACKBONES } = await import("../../nn/models/catalog.ts");
      const { LiverstiffError } = await import("../../core/index.ts");
      const s = backboneSpec(backbone);
      if (!s) {
        throw new LiverstiffError(
          `unknown backbone "${backbone}" (supported: ${BACKBONES.map((b) => b.name).join(", ")})`,
          { backbone },
        );
      }
      for (const src of s.sources) {
        process.stdout.write(
          `# ${src.id}${src.note ? ` (${src.note})` : ""}\n${src.download.replaceAll("FILE", file)}\n`,
        );
      }
      process.stdout.write(`# then: liverstiff weights install ${backbone} ${file}\n`);
    });

  weights
    .command("verify")
    .description("check a local safetensors file against a backbone: sha256, every tensor name and shape")
    .argument("<backbone>", "swin_b, swin_s, swin_t, resnet50 or resnet18")
    .argument("<file>", "a safetensors file with timm or torchvision names")
    .option("--sha256 <hex>", "expected sha256 of the file")
    .option("--json", "print JSON")
    .action(async (backbone: string, file: string, opts: { sha256?: string; json?: boolean }) => {
      const { verifyWeights } = await import("../../features/backbones.ts");
      const { describeWeightsCheck, WeightsMismatchError } = await import("../../nn/models/index.ts");
      const check = verifyWeights(backbone, file, opts.sha256);
      if (opts.json) process.stdout.write(`${JSON.stringify(check)}\n`);
      if (!check.ok) throw new WeightsMismatchError(check, backbone);
      if (!opts.json) {
        process.stdout.write(
          `${file}: fits ${backbone} (${check.scheme} names, ${check.matched} tensors, ${check.ignored.length} ignored: ` +
            `classifier / recomputed buffers)\nsha256 ${check.sha256}  ${check.bytes} bytes\n`,
        );
        if (describeWeightsCheck(check, backbone))
          process.stdout.write(`${describeWeightsCheck(check, backbone)}\n`);
      }
    });

  weights
    .command("install")
    .description(
      "verify a local safetensors file and copy it into the weights cache (its sha256 is recorded)",
    )
    .argument("<backbone>", "swin_b, swin_s, swin_t, resnet50 or resnet18")
    .argument("<file>", "a safetensors file with timm or torchvision names")
    .option("--sha256 <hex>", "expected sha256 of the file")
    .option("--dir <dir>", "weights cache folder (default $XDG_CACHE_HOME/liverstiff/weights)")
    .action(async (backbone: string, file: string, opts: { sha256?: string; dir?: string }) => {
      const { installWeights } = await import("../../features/backbones.ts");
      const rec = installWeights(backbone, file, { dir: opts.dir, expectedSha256: opts.sha256 });
      process.stdout.write(
        `installed ${backbone}: ${rec.file} (${rec.scheme} names, ${rec.tensors} tensors, sha256 ${rec.sha256})\n`,
      );
    });
}
