// The faithful comparator: DeepLiverNet 2.0's head at its published widths and training (recipes/
// deepliver2.json: Dense 4096-1024-256, batch 4, Adamax, up to 100 epochs, early stopping on validation
// accuracy with patience 20) on cv10 of a work folder, beside deepliver2-fast on the same folds:
//   npm run bench -- reproduce [--workdir DIR] [--out DIR] [--truth truth.jsonl] [--jobs N] [--threads N]
//                              [--status]
// It is hours of CPU on 2 cores: run it in the background. Every finished fold is a file, so an
// interrupted run resumes; `--status` reads the finished folds of both recipes without training and
// compares them on the test exams both have. Default work folder: the demo's (liverstiff-demo/work, the
// evaluation cohort). Last line: one JSON object.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { auroc, delongPaired } from "../src/stats/index.ts";
import { validateWorkdir } from "../src/validate/workdir.ts";

const { values: args } = parseArgs({
  options: {
    workdir: { type: "string", default: "liverstiff-demo/work" },
    out: { type: "string" },
    truth: { type: "string" },
    status: { type: "boolean", default: false },
    // Folds at once and libtorch threads per fold (validate's defaults: one fold per core, 1 thread).
    jobs: { type: "string" },
    threads: { type: "string" },
  },
});
const workdir = resolve(args.workdir!);
const outDir = resolve(args.out ?? join(workdir, "runs", "reproduce-deepliver2"));
const RECIPES = ["deepliver2", "deepliver2-fast"] as const;
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

interface FoldRow {
  examId: string;
  kpa: number;
  probabilities: number[];
}
interface FoldJson {
  rows: FoldRow[];
  summary: { seconds: number; fold: string };
}

function finishedFolds(recipe: string): Map<string, FoldJson> {
  const dir = join(outDir, "folds", recipe, "cv10");
  const out = new Map<string, FoldJson>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith(".json"))
    .sort())
    out.set(f, JSON.parse(readFileSync(join(dir, f), "utf8")) as FoldJson);
  return out;
}

/** Both recipes on the test exams of the folds that both finished: AUROC at 3.0 kPa and paired DeLong. */
function compare() {
  const faithful = finishedFolds(RECIPES[0]);
  const fast = finishedFolds(RECIPES[1]);
  const common = [...faithful.keys()].filter((k) => fast.has(k));
  const byExam = (folds: Map<string, FoldJson>) =>
    new Map(common.flatMap((k) => folds.get(k)!.rows.map((r) => [r.examId, r] as const)));
  const a = byExam(faithful);
  const b = byExam(fast);
  const ids = [...a.keys()].filter((id) => b.has(id)).sort();
  const labels = ids.map((id) => (a.get(id)!.kpa >= 3.0 ? 1 : 0));
  const pa = ids.map((id) => a.get(id)!.probabilities[1]!);
  const pb = ids.map((id) => b.get(id)!.probabilities[1]!);
  const seconds = (folds: Map<string, FoldJson>) =>
    [...folds.values()].map((f) => round(f.summary.seconds, 1));
  const both = labels.includes(0) && labels.includes(1);
  const paired = both ? delongPaired(labels, pa, pb) : undefined;
  return {
    foldsFinished: { deepliver2: faithful.size, "deepliver2-fast": fast.size, compared: common.length },
    exams: ids.length,
    aucFaithful: both ? round(auroc(labels, pa)) : null,
    aucFast: both ? round(auroc(labels, pb)) : null,
    deltaFaithfulMinusFast: paired ? round(paired.difference) : null,
    deltaCi95: paired ? paired.ci.map((x) => round(x)) : null,
    p: paired ? paired.p : null,
    foldSecondsFaithful: seconds(faithful),
    foldSecondsFast: seconds(fast),
  };
}

if (!args.status) {
  const t0 = performance.now();
  const say = (s: string) => process.stderr.write(`${s}\n`);
  say(`reproduce: ${RECIPES.join(" and ")} on cv10 of ${workdir} into ${outDir} (resumes finished folds)`);
  let last = "";
  await validateWorkdir({
    workdir,
    recipes: [...RECIPES],
    schemes: ["cv10"],
    outDir,
    ...(args.truth ? { truthJsonl: resolve(args.truth) } : {}),
    bootstrapResamples: 200,
    ...(args.jobs ? { jobs: Number(args.jobs) } : {}),
    ...(args.threads ? { threadsPerFold: Number(args.threads) } : {}),
    onProgress: (e) => {
      const line = `${e.stage} ${e.done}/${e.total ?? "?"} ${e.message ?? ""}`;
      if (line !== last && e.stage === "validate") say(`  ${line}`);
      last = line;
    },
  });
  say(`reproduce: finished in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
console.log(JSON.stringify({ bench: "reproduce", workdir, outDir, ...compare() }));
