import type { Command } from "commander";

interface QcCliOptions {
  out?: string;
  prep?: string;
}

export function register(program: Command): void {
  program
    .command("qc")
    .description(
      "Write one self-contained HTML page to check the series choice of every exam in WORKDIR: status, the " +
        "series chosen for each role and why, the candidates that lost, the central prepared slice of each role " +
        "and the series without a role, with a text filter and 'only excluded / with warnings' checkboxes.",
    )
    .argument("<workdir>", "work directory written by liverstiff ingest")
    .option("--out <file>", "where to write the page (default: WORKDIR/qc.html)")
    .option(
      "--prep <name>",
      "the preparation whose slices are shown, e.g. s9-128-mm400-zscore-f32 (default: the one ingest caches " +
        "for the liverstiff recipe)",
    )
    .action(async (workdir: string, opts: QcCliOptions) => {
      const started = Date.now();
      const { preparationsIn, writeQcPage } = await import("../../report/index.ts");
      const prepName = opts.prep ?? (await defaultPrepName());
      const { path, bytes, counts } = writeQcPage(workdir, { prepName, out: opts.out });
      const excluded = Object.entries(counts.excludedByReason)
        .map(([code, n]) => `${code} ${n}`)
        .join(", ");
      const lines = [
        `wrote ${path} (${(bytes / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `exams ${counts.exams}, usable ${counts.usable}, excluded ${counts.exams - counts.usable}${excluded ? ` (${excluded})` : ""}`,
        `with warnings ${counts.withWarnings}; usable without prepared slices for ${prepName}: ${counts.withoutPrepared}`,
      ];
      if (counts.withoutPrepared > 0) lines.push(otherPreparations(preparationsIn(workdir), prepName));
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}

/** The preparation ingest caches by default: that of the default recipe (validate/ resolves it). */
async function defaultPrepName(): Promise<string> {
  const { recipePreparation } = await import("../../validate/workdir.ts");
  return recipePreparation().prepName;
}

function otherPreparations(cached: Record<string, number>, shown: string): string {
  const others = Object.entries(cached).filter(([name]) => name !== shown);
  if (others.length === 0) return "no other preparation is cached in this work folder";
  return `cached here: ${others.map(([name, n]) => `${name} (${n} exams)`).join(", ")}; choose one with --prep`;
}
