// evaluate that cannot mislead, on a predictions.csv as validate writes it (2 recipes x 3 schemes): refused
// while exams repeat, the single recipe and scheme's AUROC with --where; and predictions.csv cells that a
// spreadsheet would run as formulas are neutralised while numbers stay numbers.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "csv-parse/sync";
import { csvCell, Rng } from "../../src/core/index.ts";
import { evaluateBinary } from "../../src/stats/index.ts";
import type { PredictionRow } from "../../src/validate/index.ts";
import { predictionsCsv } from "../../src/validate/run.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = scratchDir("ls-evaluate-where-");

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, "bin/liverstiff.mjs"), "evaluate", ...args], {
    cwd: root,
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const HYPERLINK = '=HYPERLINK("http://x","y")';
const rng = new Rng(8);
const exams = Array.from({ length: 60 }, (_, i) => ({
  accession: i === 0 ? HYPERLINK : `ACC${i}`,
  examId: `ex${i}`,
  patientId: `P${Math.floor(i / 2)}`,
  site: ["A", "B", "C"][i % 3]!,
  kpa: Math.exp(rng.normal(Math.log(3), 0.3)),
}));
const rows: PredictionRow[] = [];
for (const recipe of ["R", "S"])
  for (const scheme of ["cv10", "temporal", "loso"] as const)
    for (const e of exams) {
      const noise = recipe === "R" ? 0.25 : 0.6;
      const p = (t: number) => 1 / (1 + Math.exp(-(Math.log(e.kpa / t) * 4 + rng.normal(0, noise) * 4)));
      rows.push({
        ...e,
        recipe,
        scheme,
        fold: scheme === "cv10" ? String(1 + (exams.indexOf(e) % 10)) : scheme === "loso" ? e.site : "test",
        probabilities: [p(2.5), p(3), p(3.5), p(4), p(5)],
        kpaPred: e.examId === "ex1" ? -0.5 : e.kpa,
        cutoffs: [0.5, 0.5, 0.5, 0.5, 0.5],
      });
    }
const file = join(dir, "predictions.csv");
writeFileSync(file, predictionsCsv(rows));

describe("evaluate on a predictions.csv with 2 recipes x 3 schemes", () => {
  const args = [
    file,
    "--score-col",
    "p_ge_3_0",
    "--kpa-col",
    "kpa",
    "--threshold",
    "3",
    "--bootstrap",
    "none",
  ];

  it("refuses the whole table: exams repeat, and says how to filter", () => {
    const r = cli(...args);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exam_id ex0 appears 6 times among the 360 rows evaluated \(60 ids repeat\)/);
    assert.match(r.stderr, /the rows differ in recipe \(R, S\), scheme \(cv10, loso, temporal\)/);
    assert.match(r.stderr, /--where recipe=R --where scheme=cv10/);
    assert.match(r.stderr, /--cluster-col/);
    // One filter is not enough: recipe R still has each exam under three schemes.
    const half = cli(...args, "--where", "recipe=R");
    assert.equal(half.code, 1);
    assert.match(half.stderr, /appears 3 times among the 180 rows/);
  });

  it("gives the single recipe and scheme's AUROC with --where recipe=R --where scheme=cv10", () => {
    const r = cli(...args, "--where", "recipe=R", "--where", "scheme=cv10", "--json");
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const subset = rows.filter((x) => x.recipe === "R" && x.scheme === "cv10");
    const direct = evaluateBinary(
      subset.map((x) => (x.kpa >= 3 ? 1 : 0)),
      subset.map((x) => x.probabilities[1]),
      { bootstrap: false },
    );
    assert.equal(out.n, 60);
    assert.equal(out.input.rows_evaluated, 60);
    assert.equal(out.input.rows_in_file, 360);
    assert.ok(Math.abs(out.auc - direct.auc) < 1e-12, `${out.auc} vs ${direct.auc}`);
    // Recipe S on the same scheme is a different (noisier) model: a different AUROC.
    const s = JSON.parse(cli(...args, "--where", "recipe=S", "--where", "scheme=cv10", "--json").stdout);
    assert.ok(s.auc < out.auc - 0.05, `${s.auc} vs ${out.auc}`);
    const text = cli(...args, "--where", "recipe=R", "--where", "scheme=cv10");
    assert.match(text.stdout, /rows 60 of 360 \(where recipe=R, scheme=cv10\)/);
  });

  it("names a --where column that does not exist or a value no row has; a malformed --where is a usage error", () => {
    const missing = cli(...args, "--where", "model=R");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--where names a column that is not in the header.*column=model/);
    const none = cli(...args, "--where", "recipe=T");
    assert.match(none.stderr, /no row has recipe=T \(values there: R, S\)/);
    assert.equal(cli(...args, "--where", "recipe").code, 2);
  });
});

describe("CSV cells (OWASP CSV injection)", () => {
  it("neutralises formula-like text and keeps negative numbers numeric", () => {
    for (const cell of ["=1+1", "+1+1x", "-x", "@SUM(A1)", "\tx", "\rx"])
      assert.ok(csvCell(cell).replace(/^"/, "").startsWith("'"), cell);
    assert.equal(csvCell(-1.5), "-1.5");
    assert.equal(csvCell("-1.5"), "-1.5");
    assert.equal(csvCell("+3e-2"), "+3e-2");
    assert.equal(csvCell("ACC1"), "ACC1");
    assert.equal(csvCell(HYPERLINK), `"'=HYPERLINK(""http://x"",""y"")"`);
  });

  it("predictions.csv: the =HYPERLINK accession is text, the negative kPa a number", () => {
    const text = readFileSync(file, "utf8");
    const table = parse(text, { columns: true }) as Record<string, string>[];
    const first = table.find((r) => r.exam_id === "ex0")!;
    assert.equal(first.accession, `'${HYPERLINK}`);
    const negative = table.find((r) => r.exam_id === "ex1")!;
    assert.equal(negative.kpa_pred, "-0.5");
    assert.equal(Number(negative.kpa_pred), -0.5);
    for (const line of text.split("\n")) assert.doesNotMatch(line, /(^|,)"?[=+@]/);
  });
});
