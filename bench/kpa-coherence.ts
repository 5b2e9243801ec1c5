// `npm run bench -- kpa-coherence RUN/predictions.csv`: how often the predicted kPa and the category would
// disagree under the two rules, on a run's pooled out-of-fold cv10 rows of the liverstiff recipe, with the
// cut-offs and the kPa error made from those rows as `train` makes a bundle's: the point outside the
// category (the old rule) against the category outside the 80% prediction interval (kpa_outside_category).
// Last line: one JSON object.
import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { combine } from "../src/deploy/ensemble.ts";
import { kpaErrorOf, monotonePooledCutoffs } from "../src/deploy/train.ts";

const file = process.argv[2]!;
const recs = parse(readFileSync(file, "utf8"), { columns: true }) as Record<string, string>[];
const rows = recs
  .filter((r) => r.recipe === "liverstiff" && r.scheme === "cv10")
  .map((r) => ({
    examId: r.exam_id,
    kpa: Number(r.kpa),
    kpaPred: Number(r.kpa_pred),
    probabilities: ["p_ge_2_5", "p_ge_3_0", "p_ge_3_5", "p_ge_4_0", "p_ge_5_0"].map((c) => Number(r[c])),
  }));
const cut = monotonePooledCutoffs(rows as never);
const err = kpaErrorOf(rows as never)!;
let old = 0,
  now = 0,
  covered = 0;
for (const r of rows) {
  const e = combine(
    r.examId,
    [{ examId: r.examId, probabilities: r.probabilities, kpaPred: r.kpaPred }],
    ["1"],
    cut,
    err,
  );
  if (!e.kpaPred!.inCategory) old++;
  if (!e.kpaPred!.agreesWithCategory) now++;
  const [lo, hi] = e.kpaPred!.predictionInterval!;
  if (r.kpa >= lo && r.kpa <= hi) covered++;
}
console.log(
  JSON.stringify({
    bench: "kpa-coherence",
    rows: rows.length,
    cutoffs: cut.map((c) => +c.toFixed(3)),
    kpaError: err,
    pointOutsideCategory: old,
    categoryOutsideInterval: now,
    measuredInsideInterval: covered,
  }),
);
