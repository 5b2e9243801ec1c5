import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { delongClustered, delongPairedClustered, evaluateBinary } from "../../src/stats/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { assertRel, procCases } from "./helpers.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = scratchDir("liverstiff-evaluate-");

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "bin/liverstiff.mjs"), "evaluate", ...args], {
    cwd: root,
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The pROC "paired" case as a predictions table: two exams per patient, a kPa column that encodes the
// label around 3.0 kPa, and a second model's score.
const paired = procCases().find((c) => c.name === "paired");
assert.ok(paired?.scores2);
const csv = join(dir, "predictions.csv");
writeFileSync(
  csv,
  `exam,patient,label,kpa,p_model,p_other\n${paired.labels
    .map(
      (l, i) =>
        `e${i},pt${Math.floor(i / 2)},${l},${l ? 3 + (i % 7) / 2 : 2.99 - (i % 5) / 4},${paired.scores[i]},${paired.scores2?.[i]}`,
    )
    .join("\n")}\n`,
);

test("evaluate --json: the fixture's AUROC, DeLong CI, Youden and paired test, through the real CLI", () => {
  const r = cli(
    csv,
    "--score-col",
    "p_model",
    "--label-col",
    "label",
    "--compare-col",
    "p_other",
    "--json",
    "--resamples",
    "500",
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, "one JSON object");
  const j = JSON.parse(lines[0]);
  assert.equal(j.input.score_col, "p_model");
  assert.equal(j.n, paired.labels.length);
  assertRel(j.auc, paired.auc, 1e-9, "auc");
  assertRel(j.delong_var, paired.delong_var, 1e-9, "delong_var");
  assertRel(j.delong_ci95[0], paired.delong_ci95[0], 1e-9, "delong_ci95");
  assertRel(j.delong_ci95[1], paired.delong_ci95[1], 1e-9, "delong_ci95");
  assert.equal(j.youden.threshold, paired.youden.threshold);
  assert.deepEqual(
    [j.youden.tp, j.youden.tn, j.youden.fp, j.youden.fn],
    [paired.youden.tp, paired.youden.tn, paired.youden.fp, paired.youden.fn],
  );
  assertRel(j.youden.sensitivity_wilson95[0], paired.youden.sensitivity_wilson95[0], 1e-9, "wilson");
  assertRel(j.auc2, paired.auc2 as number, 1e-9, "auc2");
  assertRel(j.delong_paired_z, paired.delong_paired_z as number, 1e-9, "z");
  assertRel(j.delong_paired_p, paired.delong_paired_p as number, 1e-9, "p");
  // The bootstrap is the library's, with the same seed and resamples.
  const lib = evaluateBinary(paired.labels, paired.scores, {
    scores2: paired.scores2,
    bootstrap: { resamples: 500, seed: 1 },
    probabilities: false,
  });
  assert.deepEqual(j.bootstrap_ci95, lib.bootstrap_ci95);
  assert.deepEqual(j.auc_difference_bootstrap_ci95, lib.auc_difference_bootstrap_ci95);
});

test("evaluate --kpa-col --threshold --cluster-col: labels from kPa, bootstrap by patient", () => {
  const r = cli(
    csv,
    "--score-col",
    "p_model",
    "--kpa-col",
    "kpa",
    "--threshold",
    "3.0",
    "--cluster-col",
    "patient",
    "--compare-col",
    "p_other",
    "--json",
    "--resamples",
    "300",
    "--seed",
    "9",
  );
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertRel(j.auc, paired.auc, 1e-9, "auc from kPa labels");
  assert.equal(j.input.threshold_kpa, 3);
  assert.equal(j.bootstrap.clustered, true);
  assert.equal(j.bootstrap.n_clusters, paired.labels.length / 2);
  const clusters = paired.labels.map((_, i) => `pt${Math.floor(i / 2)}`);
  const lib = evaluateBinary(paired.labels, paired.scores, {
    clusters,
    bootstrap: { resamples: 300, seed: 9 },
  });
  assert.deepEqual(j.bootstrap_ci95, lib.bootstrap_ci95);
  assert.deepEqual(j.obuchowski_ci95, delongClustered(paired.labels, paired.scores, clusters).ci);
  const o = delongPairedClustered(paired.labels, paired.scores, paired.scores2 as number[], clusters);
  assert.equal(j.obuchowski_paired_z, o.z);
  assert.equal(j.obuchowski_paired_p, o.p);
  assertRel(j.delong_paired_z, paired.delong_paired_z as number, 1e-9, "paired DeLong z is still reported");
});

test("evaluate prints a readable table by default", () => {
  const r = cli(csv, "--score-col", "p_model", "--label-col", "label", "--bootstrap", "none");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /AUROC\s+0\.8030/);
  assert.match(r.stdout, /DeLong 95% CI\s+0\.7713 to 0\.8348/);
  assert.match(r.stdout, /Youden cut-off\s+0\.746025/);
  assert.match(r.stdout, /sensitivity\s+0\.708/);
});

test("evaluate: bad files and columns are one-line errors naming the file, column and row", () => {
  const missing = cli(csv, "--score-col", "nope", "--label-col", "label");
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^liverstiff: error: the score column is not in the header .*file=.*predictions\.csv, column=nope\)\n$/,
  );

  const bad = join(dir, "bad.csv");
  writeFileSync(bad, "label,score\n0,0.1\n1,0.9\n0,abc\n1,0.7\n");
  const r = cli(bad, "--score-col", "score", "--label-col", "label");
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /score value is not a finite number: "abc" \(file=.*bad\.csv, column=score, row=3\)/,
  );

  const lab = join(dir, "labels.csv");
  writeFileSync(lab, "label,score\n0,0.1\n2,0.9\n0,0.2\n1,0.7\n");
  assert.match(
    cli(lab, "--score-col", "score", "--label-col", "label").stderr,
    /label must be 0 or 1.*column=label, row=2/,
  );

  const one = join(dir, "one-class.csv");
  writeFileSync(one, "label,score\n0,0.1\n0,0.9\n0,0.2\n1,0.7\n");
  assert.match(
    cli(one, "--score-col", "score", "--label-col", "label").stderr,
    /at least 2 positive and 2 negative/,
  );

  const ragged = join(dir, "ragged.csv");
  writeFileSync(ragged, "label,score\n0,0.1\n1,0.9,7\n");
  assert.match(
    cli(ragged, "--score-col", "score", "--label-col", "label").stderr,
    /not valid CSV.*file=.*ragged\.csv/,
  );

  assert.match(
    cli(join(dir, "absent.csv"), "--score-col", "s", "--label-col", "l").stderr,
    /cannot read the predictions file/,
  );
  assert.match(cli(csv, "--score-col", "p_model", "--kpa-col", "kpa").stderr, /needs --threshold/);
  assert.match(cli(csv, "--score-col", "p_model").stderr, /needs --label-col, or --kpa-col/);
});
