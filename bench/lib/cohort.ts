// Synthetic cohorts for the benches: made once per (exams, seed) and reused, ingested with a recipe's
// preparation, and listed as one folder per exam.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ingest, type MaskSource } from "../../src/cohort/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import { prepareRecipe } from "../../src/validate/workdir.ts";

export const say = (s: string) => process.stderr.write(`${s}\n`);

/** Synthesises `exams` exams with `seed` into DIR unless its manifest already says so. */
export async function ensureCohort(dir: string, exams: number, seed: number): Promise<void> {
  const manifest = join(dir, "manifest.json");
  if (existsSync(manifest)) {
    const m = JSON.parse(readFileSync(manifest, "utf8")) as { seed?: unknown; exams?: unknown };
    if (Number(m.seed) === seed && m.exams === exams) return;
  }
  say(`synthesizing ${exams} exams (seed ${seed}) into ${dir}`);
  await synthesize({ out: dir, exams, seed, force: true });
}

/** Ingests a synthetic cohort (its DICOM and labels.csv) into WORK with the recipe's preparation. */
export async function ingestCohort(
  cohort: string,
  work: string,
  recipe: string,
  masks: MaskSource | undefined,
): Promise<void> {
  say(`ingesting ${cohort}`);
  await ingest({
    roots: [join(cohort, "dicom")],
    labelsCsv: join(cohort, "labels.csv"),
    workdir: work,
    prep: prepareRecipe(recipe).prep,
    ...(masks ? { masks } : {}),
  });
}

/** The exam folders of a synthetic cohort (dicom/SITE/EXAM), sorted by site, then exam. */
export function cohortExamDirs(cohort: string): string[] {
  return readdirSync(join(cohort, "dicom"))
    .sort()
    .flatMap((site) =>
      readdirSync(join(cohort, "dicom", site))
        .sort()
        .map((e) => join(cohort, "dicom", site, e)),
    );
}
