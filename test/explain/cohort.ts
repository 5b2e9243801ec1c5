// A small synthetic cohort for the explain tests and bench: synth -> DICOM -> ingest (the recipe's
// preparation, the generator's label maps as organ masks) -> features with the recipe's encoder.
import { join } from "node:path";
import { ingest, loadPrepared } from "../../src/cohort/index.ts";
import { computeFeatures, type Encoder, type ExamFeatures } from "../../src/features/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import type { PreparedSlices, Recipe } from "../../src/train/index.ts";
import { prepareRecipe } from "../../src/validate/workdir.ts";

export interface ExplainCohort {
  dir: string;
  workdir: string;
  prepName: string;
  recipe: Recipe;
  encoder: Encoder;
  exams: ExamFeatures[];
  prepared(examId: string): PreparedSlices;
}

export async function explainCohort(
  dir: string,
  o: { exams: number; seed: number; recipe?: string; organs?: boolean },
): Promise<ExplainCohort> {
  const cohort = join(dir, "cohort");
  const workdir = join(dir, "work");
  await synthesize({ out: cohort, exams: o.exams, seed: o.seed, workers: 1 });
  const { recipe, encoder, prep, prepName } = prepareRecipe(o.recipe ?? "liverstiff");
  await ingest({
    roots: [join(cohort, "dicom")],
    labelsCsv: join(cohort, "labels.csv"),
    workdir,
    prep,
    ...(o.organs === false
      ? {}
      : {
          masks: { kind: "files" as const, dir: join(cohort, "labelmaps"), convention: "synthetic" as const },
        }),
  });
  const exams = await computeFeatures({ workdir, prep: prepName, encoder });
  return {
    dir: cohort,
    workdir,
    prepName,
    recipe,
    encoder,
    exams,
    prepared: (id) => loadPrepared(workdir, id, prepName),
  };
}
