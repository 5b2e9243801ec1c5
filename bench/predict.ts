// A bundle trained on one synthetic cohort predicts a second cohort made with another seed, one exam per
// call, from its DICOM files to a JSON report and a PNG, as a site would run it:
//   npm run bench -- predict [--exams N] [--train-exams N] [--recipe R] [--train-work DIR] [--bundle DIR]
//                            [--test-cohort DIR] [--limit N] [--no-organs]
// Prints the AUROC of the 3.0 kPa probabilities on the second cohort next to the recipe's cv10 estimate,
// and seconds per exam after start-up (bundle and encoder loaded). Cohorts, work folder and bundle are
// cached under .cache/bench-predict/ (a re-run reuses them; training resumes finished folds).
// Last line: one JSON object.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { MaskSource } from "../src/cohort/index.ts";
import { writeJsonAtomic } from "../src/core/index.ts";
import { loadBundle, predictExams, trainBundle } from "../src/deploy/index.ts";
import { THRESHOLD_SUFFIXES, THRESHOLDS_KPA } from "../src/features/index.ts";
import { loadSegmenter } from "../src/segment/index.ts";
import { auroc, delong } from "../src/stats/index.ts";
import { cohortExamDirs, ensureCohort, ingestCohort, say } from "./lib/cohort.ts";

const { values: args } = parseArgs({
  options: {
    exams: { type: "string", default: "200" },
    "train-exams": { type: "string", default: "600" },
    "train-seed": { type: "string", default: "20240601" },
    "test-seed": { type: "string", default: "20240607" },
    recipe: { type: "string", default: "liverstiff" },
    "train-work": { type: "string" },
    bundle: { type: "string" },
    "test-cohort": { type: "string" },
    limit: { type: "string" },
    "no-organs": { type: "boolean", default: false },
  },
});

const cache = resolve(".cache", "bench-predict");
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

function truthOf(cohort: string): Map<string, { kpa: number; oracle: number[] }> {
  const out = new Map<string, { kpa: number; oracle: number[] }>();
  for (const line of readFileSync(join(cohort, "truth.jsonl"), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    out.set(String(o.accession), {
      kpa: Number(o.kpa),
      oracle: THRESHOLD_SUFFIXES.map((s) => Number(o[`oracle_p_ge_${s}`])),
    });
  }
  return out;
}

// Organ masks as a site without label maps has them: the shipped segmenter, for training and predict.
const segmenter = args["no-organs"] ? undefined : loadSegmenter();
const masks: MaskSource | undefined = segmenter ? { kind: "network", segmenter, role: "t2" } : undefined;

const recipeName = args.recipe!;
const testExams = Number(args.exams);
const trainExams = Number(args["train-exams"]);
mkdirSync(cache, { recursive: true });

// 1. The training work folder and the bundle.
let bundleDir = args.bundle;
if (!bundleDir) {
  let work = args["train-work"];
  if (!work) {
    const cohortA = join(cache, `cohort-${trainExams}-${args["train-seed"]}`);
    await ensureCohort(cohortA, trainExams, Number(args["train-seed"]));
    work = join(cache, `work-${trainExams}-${args["train-seed"]}`);
    await ingestCohort(cohortA, work, recipeName, masks);
  }
  bundleDir = join(cache, `bundle-${recipeName.replace(/[^\w.-]/g, "_")}`);
  say(`training the bundle ${bundleDir} on ${work}`);
  const t = performance.now();
  await trainBundle({ workdir: work, recipe: recipeName, out: bundleDir, bootstrapResamples: 500 });
  say(`  ${((performance.now() - t) / 1000).toFixed(0)} s`);
}

// 2. The second cohort.
const cohortB = args["test-cohort"] ?? join(cache, `cohort-${testExams}-${args["test-seed"]}`);
if (!args["test-cohort"]) await ensureCohort(cohortB, testExams, Number(args["test-seed"]));
const examDirs = cohortExamDirs(cohortB).slice(0, args.limit ? Number(args.limit) : undefined);

// 3. Start-up, then one exam per call: DICOM -> JSON report + PNG.
const t0 = performance.now();
const bundle = loadBundle(bundleDir);
const startupSeconds = (performance.now() - t0) / 1000;
const outDir = join(cache, "predictions");
rmSync(outDir, { recursive: true, force: true });
const seconds: number[] = [];
const rows: { accession: string; p: number[]; kpaPred?: number }[] = [];
let unusable = 0;
let warned = 0;
try {
  for (const [i, dir] of examDirs.entries()) {
    const started = performance.now();
    const report = await predictExams({
      inputs: [dir],
      bundle,
      pngDir: join(outDir, "figures"),
      ...(masks ? { masks } : {}),
    });
    const name = dir.split("/").pop()!;
    writeJsonAtomic(join(outDir, `${name}.json`), report);
    seconds.push((performance.now() - started) / 1000);
    for (const e of report.exams) {
      if (e.status !== "predicted") {
        unusable++;
        continue;
      }
      if (e.warnings.length > 0) warned++;
      rows.push({
        accession: e.accession ?? e.examId,
        p: e.thresholds!.map((t) => t.probability),
        kpaPred: e.kpaPred?.value,
      });
    }
    if (i % 20 === 19)
      say(
        `  ${i + 1}/${examDirs.length} exams, ${(seconds.reduce((a, b) => a + b, 0) / seconds.length).toFixed(2)} s/exam`,
      );
  }
} finally {
  bundle.dispose();
  segmenter?.dispose();
}

// 4. Accuracy on the second cohort against its labels, next to the cv10 estimate.
const truth = truthOf(cohortB);
const labelled = rows.filter((r) => truth.has(r.accession) && Number.isFinite(truth.get(r.accession)!.kpa));
const aucs = THRESHOLDS_KPA.map((t, k) => {
  const labels = labelled.map((r) => (truth.get(r.accession)!.kpa >= t ? 1 : 0));
  const scores = labelled.map((r) => r.p[k]!);
  const d = delong(labels, scores);
  const oracle = auroc(
    labels,
    labelled.map((r) => truth.get(r.accession)!.oracle[k]!),
  );
  return { thresholdKpa: t, auc: d.auc, ci95: d.ci, oracle };
});
const manifest = JSON.parse(readFileSync(join(bundleDir, "bundle.json"), "utf8"));
const cv = manifest.validation.auc as { thresholdKpa: number; auc: number; ci95: [number, number] }[];
const cv3 = cv.find((a) => a.thresholdKpa === 3)!;
const test3 = aucs.find((a) => a.thresholdKpa === 3)!;
const sorted = [...seconds].sort((a, b) => a - b);
const mean = seconds.reduce((a, b) => a + b, 0) / seconds.length;
say("");
say("threshold  AUROC second cohort (95% CI)   cv10 estimate (95% CI)   oracle (second cohort)");
for (const a of aucs) {
  const c = cv.find((x) => x.thresholdKpa === a.thresholdKpa);
  say(
    `>= ${a.thresholdKpa.toFixed(1)} kPa  ${a.auc.toFixed(3)} (${a.ci95[0].toFixed(3)}, ${a.ci95[1].toFixed(3)})      ${c ? `${c.auc.toFixed(3)} (${c.ci95[0].toFixed(3)}, ${c.ci95[1].toFixed(3)})` : "-"}      ${a.oracle.toFixed(3)}`,
  );
}
console.log(
  JSON.stringify({
    bench: "predict",
    recipe: manifest.recipe.name,
    train_exams: manifest.trainingSet.exams,
    test_exams: examDirs.length,
    predicted: rows.length,
    unusable,
    exams_with_warnings: warned,
    startup_seconds: round(startupSeconds, 2),
    seconds_per_exam_median: round(sorted[Math.floor(sorted.length / 2)]!, 3),
    seconds_per_exam_max: round(sorted[sorted.length - 1]!, 3),
    auroc_3_0_second_cohort: round(test3.auc),
    auroc_3_0_second_cohort_ci95: test3.ci95.map((x) => round(x)),
    auroc_3_0_cv10: round(cv3.auc),
    auroc_3_0_cv10_ci95: cv3.ci95.map((x) => round(x)),
    auroc_3_0_difference: round(test3.auc - cv3.auc),
    auroc_3_0_within_0_05: Math.abs(test3.auc - cv3.auc) <= 0.05,
    oracle_auroc_3_0_second_cohort: round(test3.oracle),
    auroc_by_threshold_second_cohort: aucs.map((a) => round(a.auc)),
    auroc_by_threshold_cv10: cv.map((a) => round(a.auc)),
    seconds_per_exam: round(mean, 3),
  }),
);
