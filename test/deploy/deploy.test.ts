// `liverstiff train` and `liverstiff predict` end to end through the CLI, as a site runs them, on a small
// synthetic cohort: the bundle's layout and summary, predictions from DICOM that equal the validated fold
// models' predictions for the same exams, the report and figure, and every kind of bad input.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PNG } from "pngjs";
import type { BundleManifest, PredictReport } from "../../src/deploy/index.ts";
import { mrSlice, writeDicom } from "../dicom/write-dicom.ts";
import { assertCliOk, ingestCohortArgs, runCli } from "../fixtures/cli.ts";
import { smallRecipe } from "../helpers/recipes.ts";

const run = (args: string[]) => runCli(args);
const ok = assertCliOk;

function noStack(r: ReturnType<typeof run>): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(r.stderr, /unexpected error/);
}

interface TruthSeries {
  accession: string;
  site: string;
  series_number: number;
  role: string;
  files: string[];
}

function truthSeries(cohort: string): TruthSeries[] {
  return readFileSync(join(cohort, "truth-series.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

describe("train a bundle and predict new exams from DICOM", () => {
  let dir = "";
  let cohort = "";
  let work = "";
  let bundle = "";
  let runDir = "";
  let examDirs: string[] = [];
  let report: PredictReport;
  let manifest: BundleManifest;
  let overridden = "";
  let overriddenT2 = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ls-deploy-"));
    cohort = join(dir, "cohort");
    work = join(dir, "work");
    bundle = join(dir, "bundle");
    runDir = join(dir, "run");
    ok(run(["synth", "--out", cohort, "--exams", "40", "--seed", "11"]));
    // A small copy of the shipped recipe (fewer epochs, one ensemble member), as users are told to.
    smallRecipe(dir, "liverstiff", "ours-small", { maxEpochs: 30, patience: 8 }, { ensemble: 1 });
    // The site's series choice: a rules file (one extra exclusion keyword) and one per-exam override that
    // takes the T2w from an exam none of the predictions below uses, which makes it unusable.
    writeFileSync(join(dir, "rules.yaml"), 'keywords:\n  exclude: ["\\\\bnever_a_liver\\\\b"]\n');
    const truth = truthSeries(cohort);
    const firstSite = readdirSync(join(cohort, "dicom")).sort()[0]!;
    overridden = join(cohort, "dicom", firstSite, readdirSync(join(cohort, "dicom", firstSite)).sort()[2]!);
    overriddenT2 = truth.find((t) => t.accession === basename(overridden) && t.role === "t2")!.series_number;
    writeFileSync(
      join(dir, "overrides.csv"),
      `accession,series_number,role\n${basename(overridden)},${overriddenT2},none\n`,
    );
    ok(
      run(
        ingestCohortArgs(
          cohort,
          work,
          "--rules",
          join(dir, "rules.yaml"),
          "--overrides",
          join(dir, "overrides.csv"),
        ),
      ),
    );
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    writeFileSync(join(dir, "site.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
    writeFileSync(join(dir, "site.pub"), publicKey.export({ type: "spki", format: "pem" }));
    const trained = run([
      "train",
      work,
      "--recipe",
      join(dir, "ours-small.json"),
      "--out",
      bundle,
      "--run",
      runDir,
      "--resamples",
      "200",
      "--sign",
      join(dir, "site.key"),
    ]);
    ok(trained);
    assert.match(trained.stdout, /digest sha256 [0-9a-f]{64} signed/);
    assert.match(trained.stdout, /cut-off \d+\.\d%/);
    assert.match(trained.stdout, /10 fold models/);
    manifest = JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8"));
    const sites = readdirSync(join(cohort, "dicom")).sort();
    examDirs = sites.flatMap((s) =>
      readdirSync(join(cohort, "dicom", s))
        .sort()
        .slice(0, 2)
        .map((e) => join(cohort, "dicom", s, e)),
    );
    const predicted = run([
      "predict",
      ...examDirs,
      "--model",
      bundle,
      "--json",
      join(dir, "pred", "out.json"),
      "--trust",
      join(dir, "site.pub"),
    ]);
    ok(predicted);
    assert.match(predicted.stdout, /category: .* \(P \d+\.\d% (above|below) cut-off \d+\.\d%\)/);
    assert.match(predicted.stdout, /not a medical device/);
    assert.match(predicted.stdout, /category: (>=|<) \d\.\d kPa/);
    report = JSON.parse(readFileSync(join(dir, "pred", "out.json"), "utf8"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes a versioned bundle: ten checksummed fold models, recipe, preparation, encoder, cut-offs, training set", () => {
    assert.equal(manifest.format, "liverstiff-bundle");
    assert.equal(manifest.formatVersion, 3);
    assert.equal(manifest.integrity.signature?.algorithm, "ed25519");
    assert.equal(Object.keys(manifest.files).length, 10);
    assert.equal(manifest.members.length, 10);
    for (const m of manifest.members) {
      assert.ok(existsSync(join(bundle, m.file)), m.file);
      assert.match(m.sha256, /^[0-9a-f]{64}$/);
      assert.equal(m.nTrain + m.nVal + m.nTest, manifest.trainingSet.exams);
    }
    assert.equal(manifest.recipe.name, "ours-small");
    assert.equal(manifest.recipe.training.maxEpochs, 30);
    assert.equal(manifest.preparation.slices, manifest.recipe.preparation.slices ?? 5);
    assert.match(manifest.encoder.weightsSha256, /^[0-9a-f]{64}$/);
    assert.equal(manifest.cutoffs.values.length, 5);
    for (const c of manifest.cutoffs.values) assert.ok(c >= 0 && c <= 1);
    for (let k = 1; k < 5; k++) assert.ok(manifest.cutoffs.values[k]! >= manifest.cutoffs.values[k - 1]!);
    const t = manifest.trainingSet;
    assert.ok(t.exams >= 36 && t.exams <= 40, `${t.exams} exams`);
    assert.equal(
      Object.values(t.vendors).reduce((a, b) => a + b, 0),
      t.exams,
    );
    assert.equal(Object.keys(t.sites).length, 4);
    assert.ok(t.kpa.min <= t.kpa.quantiles.median && t.kpa.quantiles.median <= t.kpa.max);
    assert.ok(t.ageYears && t.ageYears.min < t.ageYears.max);
    assert.ok(t.protocol.t2 && t.protocol.t2.sliceStepMm.min > 0);
    assert.equal(t.features.t2?.mean.length, manifest.encoder.featureDim);
    // The kPa head's out-of-fold error: an 80% interval around 0 in log ratio.
    assert.ok(manifest.kpaError && manifest.kpaError.n === t.exams);
    const [lo, hi] = manifest.kpaError.logRatioQuantiles;
    assert.ok(lo < 0 && hi > 0, `${lo} ${hi}`);
    const auc3 = manifest.validation.auc.find((a) => a.thresholdKpa === 3);
    assert.ok(auc3 && auc3.auc >= 0 && auc3.auc <= 1);
  });

  it("predicts every exam it was given, with intervals, category, kPa, series per role and a figure", () => {
    assert.equal(report.counts.exams, examDirs.length);
    assert.equal(report.counts.predicted, examDirs.length);
    for (const e of report.exams) {
      assert.equal(e.status, "predicted");
      assert.equal(e.inputs.length, 1);
      assert.ok(e.series.t2 && (e.series.t1_in || e.series.t1_opp));
      const thresholds = e.thresholds!;
      assert.equal(thresholds.length, 5);
      for (const [k, t] of thresholds.entries()) {
        const ps = e.members!.map((m) => m.probabilities[k]!);
        const mean = ps.reduce((a, b) => a + b, 0) / ps.length;
        assert.ok(Math.abs(t.probability - mean) < 1e-12);
        assert.deepEqual(t.interval, [Math.min(...ps), Math.max(...ps)]);
        assert.equal(t.cutoff, manifest.cutoffs.values[k]);
        assert.equal(t.positive, t.probability > t.cutoff);
      }
      // The category is the highest threshold with every threshold up to it above its cut-off.
      const level = thresholds.findIndex((t) => !t.positive);
      const counted = level < 0 ? 5 : level;
      assert.equal(e.category!.thresholdKpa, counted === 0 ? null : thresholds[counted - 1]!.thresholdKpa);
      assert.deepEqual(
        thresholds.map((t) => t.counted),
        thresholds.map((_, k) => k < counted),
      );
      assert.ok(e.kpaPred && e.kpaPred.value > 0);
      assert.ok(e.kpaPred.interval[0] <= e.kpaPred.value && e.kpaPred.value <= e.kpaPred.interval[1]);
      const pi = e.kpaPred.predictionInterval!;
      assert.ok(
        pi[0] < e.kpaPred.value && e.kpaPred.value < pi[1],
        "the 80% prediction interval holds the kPa",
      );
      assert.equal(
        e.warnings.some((w) => w.code === "kpa_outside_category"),
        !e.kpaPred.agreesWithCategory,
      );
      const att = Object.values(e.attention!).flat();
      assert.equal(att.length, Object.keys(e.attention!).length * manifest.preparation.slices);
      assert.ok(Math.abs(att.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      const png = PNG.sync.read(readFileSync(e.png!));
      assert.ok(png.width > manifest.preparation.slices * manifest.preparation.size);
      assert.ok(png.height > Object.keys(e.attention!).length * manifest.preparation.size);
      // The figure's research-use band (its full check: test/deploy/figure.test.ts).
      const corner = (png.width + 2) * 4;
      assert.deepEqual([...png.data.subarray(corner, corner + 3)], [0xfd, 0xe2, 0xe2]);
      assert.ok(!e.warnings.some((w) => w.code === "figure_not_written"));
    }
  });

  it("still predicts, with a warning, an exam whose figure cannot be written", () => {
    const blocker = join(dir, "not-a-folder");
    writeFileSync(blocker, "a file where the figures' folder should be");
    const out = join(dir, "blocked.json");
    const r = run(["predict", examDirs[0]!, "--model", bundle, "--json", out, "--png", blocker]);
    ok(r);
    noStack(r);
    const j: PredictReport = JSON.parse(readFileSync(out, "utf8"));
    const e = j.exams[0]!;
    assert.equal(e.status, "predicted");
    assert.equal(e.png, undefined);
    // The same prediction as in the batch (up to float rounding of a one-exam batch).
    const before = report.exams.find((x) => x.examId === e.examId)!;
    for (const [k, t] of e.thresholds!.entries())
      assert.ok(Math.abs(t.probability - before.thresholds![k]!.probability) < 1e-6);
    assert.match(
      e.warnings.find((w) => w.code === "figure_not_written")?.message ?? "",
      /figure could not be/,
    );
  });

  it("gives the same probabilities as the validated fold models for the same exams", () => {
    // Each exam was in exactly one cv10 fold's test part; that fold's model in the bundle must give the
    // probabilities validation wrote for it (same weights, same preparation, features recomputed from DICOM).
    const folds = join(runDir, "folds", "ours-small", "cv10");
    const validated = new Map<string, { fold: string; probabilities: number[] }>();
    for (const f of readdirSync(folds).filter((x) => x.endsWith(".json")))
      for (const r of JSON.parse(readFileSync(join(folds, f), "utf8")).rows)
        validated.set(r.accession, { fold: r.fold, probabilities: r.probabilities });
    let compared = 0;
    for (const e of report.exams) {
      const v = validated.get(e.accession!);
      assert.ok(v, `exam ${e.accession} not in the validation run`);
      const member = e.members!.find((m) => m.fold === v.fold)!;
      for (let k = 0; k < 5; k++)
        assert.ok(
          Math.abs(member.probabilities[k]! - v.probabilities[k]!) < 1e-6,
          `${e.accession} fold ${v.fold} threshold ${k}: ${member.probabilities[k]} vs ${v.probabilities[k]}`,
        );
      compared++;
    }
    assert.equal(compared, examDirs.length);
  });

  it("refuses a folder with no MR images with one clear line and a non-zero exit", () => {
    const empty = join(dir, "no-mr");
    mkdirSync(empty);
    writeFileSync(join(empty, "notes.txt"), "not an image\n");
    writeDicom(join(empty, "ct.dcm"), mrSlice([[0x00080060, "CS", "CT"]]));
    const r = run(["predict", empty, "--model", bundle]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no MR exam found/);
    assert.ok(r.stderr.includes(empty), r.stderr);
    noStack(r);
  });

  it("reports an exam without T2w as not predicted, still predicts the others, and exits non-zero", () => {
    const truth = truthSeries(cohort);
    const exam = examDirs[0]!;
    const accession = exam.split("/").pop()!;
    const copy = join(dir, "no-t2", accession);
    cpSync(exam, copy, { recursive: true });
    const t2 = truth.filter((s) => s.accession === accession && s.role === "t2");
    assert.ok(t2.length > 0);
    for (const s of t2) rmSync(join(copy, String(s.series_number)), { recursive: true, force: true });
    const r = run(["predict", copy, examDirs[1]!, "--model", bundle, "--json", join(dir, "no-t2.json")]);
    assert.equal(r.status, 1);
    noStack(r);
    assert.match(r.stdout, /NOT PREDICTED: no T2w series/);
    assert.match(r.stderr, new RegExp(`exam ${accession}: no T2w series`));
    const j: PredictReport = JSON.parse(readFileSync(join(dir, "no-t2.json"), "utf8"));
    assert.equal(j.counts.predicted, 1);
    assert.equal(j.counts.unusable, 1);
    const bad = j.exams.find((e) => e.accession === accession)!;
    assert.equal(bad.status, "unusable");
    assert.equal(bad.thresholds, undefined);
  });

  it("carries ingest's rules and overrides in the bundle, applies them in predict, and takes a site's own", () => {
    const sc = manifest.seriesChoice;
    assert.equal(sc.rulesSource, "rules.yaml");
    assert.ok(sc.rules.keywords?.exclude?.includes("\\bnever_a_liver\\b"));
    assert.deepEqual(sc.overridesSources, ["overrides.csv"]);
    assert.deepEqual(
      sc.overrides.map((o) => [o.accession, o.seriesNumber, o.role]),
      [[basename(overridden), overriddenT2, "none"]],
    );
    // The predictions above chose series as training did.
    assert.deepEqual(report.seriesChoice, {
      rules: "bundle",
      overrides: ["bundle"],
      digest: sc.digest,
      trainingDigest: sc.digest,
      rulesAsTrained: true,
    });
    // The overridden exam: ingest left it out of training, and predict, through the bundle, without T2w.
    const shown = run(["inspect", work, basename(overridden)]);
    ok(shown);
    assert.match(shown.stdout, /status: excluded: no T2w series/);
    assert.match(shown.stdout, /no role: per-exam override overrides\.csv:2/);
    const listed = run(["inspect", work]);
    assert.match(
      listed.stdout,
      new RegExp(`^${basename(overridden)}\\s+ex_`, "m"),
      "inspect lists accessions",
    );
    const viaBundle = run(["predict", overridden, "--model", bundle, "--json", join(dir, "ov1.json")]);
    assert.equal(viaBundle.status, 1);
    assert.match(viaBundle.stdout, /NOT PREDICTED: no T2w series/);
    // A site's overrides file replaces the bundle's rows for that exam: its T2w is used again.
    writeFileSync(
      join(dir, "site.csv"),
      `accession,series_number,role\n${basename(overridden)},${overriddenT2},t2\n`,
    );
    const viaSite = run([
      "predict",
      overridden,
      "--model",
      bundle,
      "--overrides",
      join(dir, "site.csv"),
      "--json",
      join(dir, "ov2.json"),
      "--no-figures",
    ]);
    ok(viaSite);
    const j: PredictReport = JSON.parse(readFileSync(join(dir, "ov2.json"), "utf8"));
    assert.equal(j.exams[0]!.status, "predicted");
    assert.equal(j.exams[0]!.series.t2?.seriesNumber, overriddenT2);
    assert.deepEqual(j.seriesChoice.overrides, ["bundle", "site.csv"]);
    assert.notEqual(j.seriesChoice.digest, sc.digest);
    assert.equal(j.seriesChoice.rulesAsTrained, true);
    assert.match(
      viaSite.stdout,
      /series chosen by: the bundle's rules \(as in training\); overrides: bundle \+ site\.csv/,
    );
    // A site's rules file replaces the bundle's rules, and the report says they are not training's.
    writeFileSync(join(dir, "no-series.yaml"), 'force:\n  - pattern: "."\n    role: none\n');
    const viaRules = run([
      "predict",
      examDirs[0]!,
      "--model",
      bundle,
      "--rules",
      join(dir, "no-series.yaml"),
      "--json",
      join(dir, "ov3.json"),
    ]);
    assert.equal(viaRules.status, 1);
    assert.match(viaRules.stdout, /rules no-series\.yaml, NOT the rules training used/);
    const k: PredictReport = JSON.parse(readFileSync(join(dir, "ov3.json"), "utf8"));
    assert.equal(k.exams[0]!.status, "unusable");
    assert.equal(k.seriesChoice.rules, "no-series.yaml");
    assert.equal(k.seriesChoice.rulesAsTrained, false);
    // A bad overrides file is refused before any exam is read, naming the file and line.
    writeFileSync(join(dir, "bad.csv"), "accession,series_number,role\nX,1,t5\n");
    const bad = run(["predict", examDirs[0]!, "--model", bundle, "--overrides", join(dir, "bad.csv")]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid series override.*bad\.csv.*line=2/);
    noStack(bad);
  });

  it("refuses a corrupt bundle, naming the file", () => {
    const copy = join(dir, "corrupt");
    cpSync(bundle, copy, { recursive: true });
    const member = join(copy, manifest.members[2]!.file);
    truncateSync(member, 1000);
    const r = run(["predict", examDirs[0]!, "--model", copy]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /model bundle refused: a file does not match its sha256/);
    assert.ok(r.stderr.includes(manifest.members[2]!.file));
    noStack(r);
    writeFileSync(join(copy, "bundle.json"), "{ not json");
    const r2 = run(["predict", examDirs[0]!, "--model", copy]);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /corrupt model bundle: bundle\.json is not valid JSON/);
    noStack(r2);
    const r3 = run(["predict", examDirs[0]!, "--model", join(dir, "nowhere")]);
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /model bundle not found/);
  });

  it("refuses a bundle of another format version, saying which version it reads", () => {
    const copy = join(dir, "future");
    cpSync(bundle, copy, { recursive: true });
    const m = JSON.parse(readFileSync(join(copy, "bundle.json"), "utf8"));
    m.formatVersion = 4;
    m.codeVersion = { version: "9.0.0" };
    writeFileSync(join(copy, "bundle.json"), JSON.stringify(m));
    const r = run(["predict", examDirs[0]!, "--model", copy]);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /format version 4 \(written by liverstiff 9\.0\.0\) cannot be read.*reads version 3/,
    );
    noStack(r);
  });

  it("refuses an edited bundle.json naming the field, and a bundle under another trusted key", () => {
    const copy = join(dir, "edited");
    cpSync(bundle, copy, { recursive: true });
    const m = JSON.parse(readFileSync(join(copy, "bundle.json"), "utf8"));
    m.cutoffs.values = [0.01, 0.01, 0.01, 0.01, 0.01];
    writeFileSync(join(copy, "bundle.json"), JSON.stringify(m));
    const r = run(["predict", examDirs[0]!, "--model", copy]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bundle\.json was edited after it was written: cutoffs\.values changed/);
    noStack(r);
    const { publicKey } = generateKeyPairSync("ed25519");
    writeFileSync(join(dir, "other.pub"), publicKey.export({ type: "spki", format: "pem" }));
    const r2 = run(["predict", examDirs[0]!, "--model", bundle, "--trust", join(dir, "other.pub")]);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /signed by another key/);
    noStack(r2);
  });
});
