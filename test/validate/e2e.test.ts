// The main job end to end on a small synthetic cohort, through the CLI as a user runs it: `liverstiff demo`
// (synthesise DICOM, ingest, validate two recipes with every scheme, report), then an interrupted re-run of
// `liverstiff validate` that must end with the same predictions. Recipes are the shipped ones with fewer
// epochs (copied and edited, as users are told to), so that the test fits CI time.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../fixtures/cli.ts";
import { smallRecipe } from "../helpers/recipes.ts";

const run = (args: string[]) => runCli(args, { timeout: 900_000 });

interface Row {
  [column: string]: string;
}

function readCsv(path: string): Row[] {
  const [header, ...lines] = readFileSync(path, "utf8").trim().split("\n");
  const cols = header!.split(",");
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [cols[i]!, v])));
}

describe("demo and validate end to end on a small synthetic cohort", () => {
  let dir = "";
  let out = "";
  let recipes: string[] = [];
  let demo: ReturnType<typeof run>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ls-e2e-"));
    out = join(dir, "demo");
    recipes = [
      smallRecipe(dir, "liverstiff", "ours-small", { maxEpochs: 40, patience: 10 }, { ensemble: 1 }),
      smallRecipe(dir, "deepliver2-fast", "published-small", { maxEpochs: 20, patience: 5 }),
    ];
    demo = run([
      "demo",
      "--out",
      out,
      "--exams",
      "48",
      "--seed",
      "7",
      "--resamples",
      "200",
      // Folds in two worker processes; the byte-identity test below compares them with --jobs 1.
      "--jobs",
      "2",
      "--recipe",
      ...recipes,
    ]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs, prints the headline table and the report path", () => {
    assert.equal(demo.status, 0, demo.stderr);
    assert.match(demo.stdout, /AUROC at 3\.0 kPa/);
    assert.match(demo.stdout, /ours-small\s+cv10/);
    assert.match(demo.stdout, /published-small\s+loso/);
    assert.match(demo.stdout, /oracle AUROC/);
    assert.match(demo.stdout, /report: .*report\.html/);
    // The stage table, and the demo's record of how its folds ran.
    assert.match(demo.stdout, /^folds\s+\d+/m);
    const manifest = JSON.parse(readFileSync(join(out, "run", "manifest.json"), "utf8"));
    assert.deepEqual(manifest.parallelism, { threadsPerFold: 1, jobs: 2 });
    assert.deepEqual(
      manifest.demoStages.map((s: { stage: string }) => s.stage),
      ["synth", "ingest", "features", "folds", "metrics", "report"],
    );
    const folds = manifest.demoStages[3];
    assert.ok(folds.seconds > 0 && folds.cpuSeconds > 0, "worker processes' CPU counted");
    const html = readFileSync(join(out, "run", "report.html"), "utf8");
    assert.match(html, /<svg/);
    assert.ok(html.includes("ours-small") && html.includes("published-small"));
  });

  it("keeps every patient on one side of every split, and tests each exam once in cv10", () => {
    const rows = readCsv(join(out, "run", "predictions.csv"));
    for (const recipe of ["ours-small", "published-small"]) {
      const cv = rows.filter((r) => r.recipe === recipe && r.scheme === "cv10");
      const exams = cv.map((r) => r.exam_id);
      assert.equal(new Set(exams).size, exams.length, "an exam tested twice");
      const foldOf = new Map<string, string>();
      for (const r of cv) {
        const seen = foldOf.get(r.patient_id!);
        assert.ok(
          seen === undefined || seen === r.fold,
          `patient ${r.patient_id} in folds ${seen} and ${r.fold}`,
        );
        foldOf.set(r.patient_id!, r.fold!);
      }
      const loso = rows.filter((r) => r.recipe === recipe && r.scheme === "loso");
      for (const r of loso) assert.equal(r.site, r.fold);
    }
    // Both recipes were tested on identical splits.
    const key = (r: Row) => `${r.scheme}/${r.fold}/${r.exam_id}`;
    const a = rows
      .filter((r) => r.recipe === "ours-small")
      .map(key)
      .sort();
    const b = rows
      .filter((r) => r.recipe === "published-small")
      .map(key)
      .sort();
    assert.deepEqual(a, b);
  });

  it("gives monotone threshold probabilities for the ordinal recipe", () => {
    const rows = readCsv(join(out, "run", "predictions.csv")).filter((r) => r.recipe === "ours-small");
    assert.ok(rows.length > 0);
    const cols = ["p_ge_2_5", "p_ge_3_0", "p_ge_3_5", "p_ge_4_0", "p_ge_5_0"];
    for (const r of rows) {
      const p = cols.map((c) => Number(r[c]));
      for (let k = 1; k < p.length; k++) assert.ok(p[k]! <= p[k - 1]!, `${r.exam_id}: ${p.join(" ")}`);
      assert.ok(Number(r.kpa_pred) > 0);
    }
  });

  it("resumes after an interruption with the same predictions as the uninterrupted run", () => {
    const runDir = join(out, "run");
    const before = readFileSync(join(runDir, "predictions.csv"), "utf8");
    const foldDir = join(runDir, "folds", "ours-small", "cv10");
    // As after kill -9: some folds never written, metrics and report not yet written.
    for (const f of readdirSync(foldDir).slice(0, 3)) rmSync(join(foldDir, f));
    rmSync(join(runDir, "metrics.json"));
    const again = run([
      "validate",
      join(out, "work"),
      "--out",
      runDir,
      "--resamples",
      "200",
      "--truth",
      join(out, "cohort", "truth.jsonl"),
      "--no-report",
      "--recipe",
      ...recipes,
    ]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /folds trained 3, resumed 27/);
    assert.equal(readFileSync(join(runDir, "predictions.csv"), "utf8"), before);
    assert.ok(existsSync(join(runDir, "metrics.json")));
    const manifest = JSON.parse(readFileSync(join(runDir, "manifest.json"), "utf8"));
    assert.equal(manifest.seed, 42);
    assert.ok(manifest.dataFingerprint && manifest.codeVersion);
  });

  it("trains the same bytes in one process (--jobs 1) as the demo did in two worker processes", () => {
    const runDir = join(out, "run");
    const serial = join(dir, "serial");
    const r = run([
      "validate",
      join(out, "work"),
      "--out",
      serial,
      "--scheme",
      "temporal,loso",
      "--resamples",
      "200",
      "--no-report",
      "--jobs",
      "1",
      "--recipe",
      ...recipes,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /folds trained 10, resumed 0/);
    assert.match(r.stdout, /^folds\s+\d+/m, "the stage table");
    // predictions.csv: the demo's temporal and loso lines, in order, are the serial run's file.
    const lines = readFileSync(join(runDir, "predictions.csv"), "utf8").trimEnd().split("\n");
    const scheme = lines[0]!.split(",").indexOf("scheme");
    const kept = [lines[0], ...lines.slice(1).filter((l) => /^(temporal|loso)$/.test(l.split(",")[scheme]!))];
    const serialCsv = readFileSync(join(serial, "predictions.csv"), "utf8");
    assert.ok(kept.length - 1 > 0);
    assert.equal(`${kept.join("\n")}\n`, serialCsv);
    let compared = 0;
    for (const recipe of ["ours-small", "published-small"])
      for (const s of ["temporal", "loso"])
        for (const f of readdirSync(join(serial, "folds", recipe, s))) {
          const rows = (d: string) =>
            JSON.stringify(JSON.parse(readFileSync(join(d, "folds", recipe, s, f), "utf8")).rows);
          assert.equal(rows(serial), rows(runDir), `${recipe}/${s}/${f}`);
          compared++;
        }
    assert.equal(compared, 10);
  });

  it("refuses a bad scheme and a missing work folder with one clear line", () => {
    const bad = run(["validate", join(out, "work"), "--scheme", "bogus"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--scheme must be/);
    const missing = run(["validate", join(dir, "nope")]);
    assert.notEqual(missing.status, 0);
    assert.doesNotMatch(missing.stderr, /^\s+at /m, "no stack trace");
  });
});
