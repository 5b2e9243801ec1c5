import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { LiverstiffError } from "../../src/core/index.ts";
import { THRESHOLDS_KPA } from "../../src/features/types.ts";
import {
  checkMetrics,
  headlineText,
  readRunFolder,
  renderReport,
  writeReport,
} from "../../src/report/index.ts";
import { numbers } from "../../src/report/load.ts";
import { textWidth } from "../../src/report/plots.ts";
import type { ValidationMetrics } from "../../src/validate/types.ts";
import {
  attr,
  ci3,
  type Element,
  FIXTURE_DIR,
  findAll,
  findOne,
  fixtureManifest,
  fixtureMetrics,
  parseHtml,
  pctCount,
  text,
} from "./helpers.ts";

const metrics = fixtureMetrics();
const manifest = fixtureManifest();
let html = "";
let root: Element;
const tmp = mkdtempSync(join(tmpdir(), "liverstiff-report-"));

before(async () => {
  const run = readRunFolder(FIXTURE_DIR);
  html = await renderReport(run.metrics, run.manifest, { kpaPoints: run.kpaPoints, runDir: "fixture" });
  root = parseHtml(html);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

function scheme(recipe: string, name: string) {
  const m = metrics.schemes.find((s) => s.recipe === recipe && s.scheme === name);
  assert.ok(m, `fixture has ${recipe} x ${name}`);
  return m;
}

function at(recipe: string, name: string, t: number) {
  const x = scheme(recipe, name).thresholds.find((y) => y.thresholdKpa === t);
  assert.ok(x, `fixture has ${recipe} x ${name} at ${t}`);
  return x;
}

test("the fixture is what the report tests need: 2 recipes x 3 schemes x 5 thresholds, oracle, comparisons", () => {
  assert.deepEqual([...new Set(metrics.schemes.map((s) => s.recipe))].sort(), ["deepliver2", "liverstiff"]);
  assert.deepEqual([...new Set(metrics.schemes.map((s) => s.scheme))].sort(), ["cv10", "loso", "temporal"]);
  for (const s of metrics.schemes)
    assert.deepEqual(
      s.thresholds.map((t) => t.thresholdKpa),
      [...THRESHOLDS_KPA],
    );
  assert.equal(metrics.comparisons.length, 15);
  assert.equal(metrics.oracle?.aucByThreshold.length, 5);
});

test("headline table: AUROC at 3.0 kPa with its DeLong CI per recipe and scheme, the oracle and the paper", () => {
  const table = findOne(root, "table", { "data-table": "headline" });
  for (const recipe of ["deepliver2", "liverstiff"]) {
    for (const s of ["cv10", "temporal", "loso"]) {
      const t = at(recipe, s, 3.0);
      const row = findOne(table, "tr", { "data-recipe": recipe });
      const cell = text(findOne(row, "td", { "data-col": s }));
      assert.ok(cell.startsWith(ci3(t.auc, t.aucDelongCi95)), `${recipe} ${s}: ${cell}`);
      assert.ok(
        cell.includes(`${t.aucBootstrapCi95[0].toFixed(3)}\u2013${t.aucBootstrapCi95[1].toFixed(3)}`),
      );
      const ratio = t.auc / metrics.oracle!.aucByThreshold[1];
      assert.ok(cell.includes(`${ratio.toFixed(2)} \u00d7 oracle`), cell);
    }
  }
  const oracle = findOne(table, "tr", { "data-recipe": "oracle" });
  assert.equal(
    text(findOne(oracle, "td", { "data-col": "cv10" })),
    metrics.oracle!.aucByThreshold[1].toFixed(3),
  );
  const published = findOne(table, "tr", { "data-recipe": "published" });
  assert.equal(text(findOne(published, "td", { "data-col": "cv10" })), "0.83 (0.82, 0.84)");
  assert.equal(text(findOne(published, "td", { "data-col": "temporal" })), "0.82 (0.80, 0.84)");
  assert.equal(text(findOne(published, "td", { "data-col": "loso" })), "0.79 (0.75, 0.81)");
  assert.match(text(published), /different data set/);
});

test("published numbers sit beside ours, labelled as a different data set", () => {
  const section = findOne(root, "section", { id: "published" });
  assert.match(text(section), /Different data sets/);
  assert.match(text(section), /4695 exams of 4295 patients/);
  const table = findOne(section, "table", { "data-table": "published" });
  const loso = findOne(table, "tr", { "data-scheme": "loso" });
  assert.equal(text(findOne(loso, "td", { "data-col": "published" })), "0.79 (0.75, 0.81)");
  const t = at("liverstiff", "loso", 3.0);
  assert.ok(text(findOne(loso, "td", { "data-col": "liverstiff" })).startsWith(ci3(t.auc, t.aucDelongCi95)));
});

test("paper-style tables: AUROC, sensitivity, specificity, accuracy, PPV, NPV with CIs at the training cut-off", () => {
  for (const [recipe, s, k] of [
    ["deepliver2", "loso", 4.0],
    ["liverstiff", "cv10", 3.0],
    ["liverstiff", "temporal", 2.5],
    ["deepliver2", "cv10", 5.0],
  ] as const) {
    const t = at(recipe, s, k);
    const table = findOne(root, "table", { "data-table": `paper-${s}` });
    const row = findOne(table, "tr", { "data-recipe": recipe, "data-threshold": k.toFixed(1) });
    const cell = (col: string) => text(findOne(row, "td", { "data-col": col }));
    assert.equal(cell("n"), `${t.nPos} / ${t.n}`);
    assert.equal(cell("auc"), ci3(t.auc, t.aucDelongCi95));
    assert.equal(cell("boot"), `${t.aucBootstrapCi95[0].toFixed(3)}, ${t.aucBootstrapCi95[1].toFixed(3)}`);
    const c = t.atCutoff;
    // Each proportion with its counts, then its Wilson interval.
    assert.equal(cell("sensitivity"), pctCount(c.sensitivity, c.tp, c.tp + c.fn, c.sensitivity_wilson95));
    assert.equal(cell("specificity"), pctCount(c.specificity, c.tn, c.tn + c.fp, c.specificity_wilson95));
    assert.equal(cell("accuracy"), pctCount(c.accuracy, c.tp + c.tn, t.n, c.accuracy_wilson95));
    assert.equal(cell("ppv"), pctCount(c.ppv!, c.tp, c.tp + c.fp, c.ppv_wilson95!));
    assert.equal(cell("npv"), pctCount(c.npv!, c.tn, c.tn + c.fn, c.npv_wilson95!));
    assert.deepEqual(t.atCutoffCounts.sensitivity, [c.tp, c.tp + c.fn]);
    // The counts behind the proportions agree with the row's n.
    assert.equal(c.tp + c.fn, t.nPos);
    assert.equal(c.tp + c.tn + c.fp + c.fn, t.n);
  }
  for (const s of ["cv10", "temporal", "loso"]) {
    const rows = findAll(findOne(root, "table", { "data-table": `paper-${s}` }), "tr").filter(
      (r) => attr(r, "data-threshold") !== undefined,
    );
    assert.equal(rows.length, 10, `${s}: 2 recipes x 5 thresholds`);
  }
});

const pFmt = (p: number) => (p < 0.001 ? "<0.001" : p.toFixed(3));
const signedFmt = (x: number) => `${x < 0 ? "\u2212" : "+"}${Math.abs(x).toFixed(3)}`;

test("recipe comparison: patient-clustered paired DeLong (CI, z, p) with the unclustered p beside it", () => {
  const table = findOne(root, "table", { "data-table": "comparison" });
  for (const c of metrics.comparisons) {
    const row = findOne(table, "tr", {
      "data-scheme": c.scheme,
      "data-threshold": c.thresholdKpa.toFixed(1),
    });
    const cell = (col: string) => text(findOne(row, "td", { "data-col": col }));
    assert.equal(cell("z"), c.zClustered.toFixed(2));
    assert.equal(cell("p"), pFmt(c.pClustered));
    assert.equal(cell("p-unclustered"), pFmt(c.p));
    assert.equal(cell("ci"), `${signedFmt(c.deltaAucCi95[0])}, ${signedFmt(c.deltaAucCi95[1])}`);
    assert.equal(cell("n"), `${c.n} (${c.nPatients} patients)`);
    assert.equal(
      attr(row, "class") === "sig",
      c.pClustered < 0.05,
      `${c.scheme} ${c.thresholdKpa}: highlighted iff the clustered p < 0.05`,
    );
  }
});

test("comparison matrix per scheme at 3.0 kPa: row minus column, antisymmetric, clustered CI and p", () => {
  for (const scheme of ["cv10", "temporal", "loso"]) {
    const table = findOne(root, "table", { "data-table": `comparison-matrix-${scheme}` });
    const c = metrics.comparisons.find((x) => x.scheme === scheme && x.thresholdKpa === 3)!;
    const cell = (r: string, col: string) => text(findOne(table, "td", { "data-row": r, "data-col": col }));
    const [lo, hi] = c.deltaAucCi95;
    assert.equal(
      cell(c.recipeA, c.recipeB),
      `${signedFmt(c.deltaAuc)} ${signedFmt(lo)}, ${signedFmt(hi)} p = ${pFmt(c.pClustered)}`,
    );
    assert.equal(
      cell(c.recipeB, c.recipeA),
      `${signedFmt(-c.deltaAuc)} ${signedFmt(-hi)}, ${signedFmt(-lo)} p = ${pFmt(c.pClustered)}`,
    );
    assert.equal(findAll(table, "td", { class: "diag" }).length, 2);
  }
});

test("share of attainable gain leads the headline ratio; cohort table, flow and confounding note", () => {
  const table = findOne(root, "table", { "data-table": "headline" });
  const t = at("liverstiff", "cv10", 3.0);
  const row = findOne(table, "tr", { "data-recipe": "liverstiff" });
  const share = text(findOne(findOne(row, "td", { "data-col": "cv10" }), "div", { "data-col": "share" }));
  const oracle = metrics.oracle!.aucByThreshold[1]!;
  assert.equal(
    share,
    `${((t.auc - 0.5) / (oracle - 0.5)).toFixed(2)} of attainable gain \u00b7 ${(t.auc / oracle).toFixed(2)} \u00d7 oracle`,
  );
  const cohort = findOne(root, "table", { "data-table": "cohort" });
  const all = metrics.cohort!.at(-1)!;
  const cohortCell = (r: string, col: string) =>
    text(findOne(findOne(cohort, "tr", { "data-row": r }), "td", { "data-col": col }));
  assert.equal(cohortCell("exams", "all"), String(all.exams));
  assert.equal(
    cohortCell("patients", "site-B"),
    String(metrics.cohort!.find((g) => g.group === "site-B")!.patients),
  );
  assert.equal(cohortCell("age", "all"), `${all.age!.mean.toFixed(1)} \u00b1 ${all.age!.sd.toFixed(1)}`);
  assert.equal(
    cohortCell("pediatric", "all"),
    `${all.pediatric.n} (${((100 * all.pediatric.n) / all.pediatric.of).toFixed(1)}%)`,
  );
  assert.equal(cohortCell("ge-3.0", "all"), `141 (${((100 * 141) / all.exams).toFixed(1)}%)`);
  const flow = findOne(root, "ol", { "data-flow": "cohort" });
  const step = (k: string) => text(findOne(flow, "li", { "data-step": k }));
  assert.match(step("exams"), new RegExp(`^${metrics.flow!.examsFound} Exams found`));
  assert.match(step("labelled"), /missing t2: 4/);
  assert.match(step("test-temporal"), /^61 tested in temporal hold-out .*6 later exams/);
  const note = findOne(findOne(root, "section", { id: "scheme-cv10" }), "div", {
    "data-note": "confounding",
  });
  assert.match(text(note), /Each site group lies within one vendor group \(site-A in GE, site-B in Siemens/);
});

test("calibration table: Brier, ECE, intercept and slope per recipe and threshold", () => {
  const table = findOne(root, "table", { "data-table": "calibration-temporal" });
  const t = at("liverstiff", "temporal", 3.5);
  const row = findOne(table, "tr", { "data-recipe": "liverstiff", "data-threshold": "3.5" });
  assert.equal(text(findOne(row, "td", { "data-col": "brier" })), t.calibration.brier.toFixed(3));
  assert.equal(text(findOne(row, "td", { "data-col": "ece" })), t.calibration.ece.toFixed(3));
  assert.equal(text(findOne(row, "td", { "data-col": "slope" })), t.calibration.slope!.toFixed(2));
  assert.equal(text(findOne(row, "td", { "data-col": "intercept" })), t.calibration.intercept!.toFixed(2));
});

test("folds: per-fold AUROC with mean ± SD for cv10, per held-out site for loso", () => {
  const cv = findOne(root, "table", { "data-table": "folds-cv10" });
  const m = scheme("liverstiff", "cv10");
  const foot = findOne(cv, "tr", { "data-fold": "mean-sd" });
  const cells = findAll(foot, "td", { "data-col": "mean-sd" }).map(text);
  assert.ok(
    cells.includes(`${m.foldAuc!.mean.toFixed(3)} \u00b1 ${m.foldAuc!.sd.toFixed(3)}`),
    cells.join(" | "),
  );
  assert.equal(findAll(cv, "tr").filter((r) => /^fold-\d+$/.test(attr(r, "data-fold") ?? "")).length, 10);
  const fold7 = m.folds.find((f) => f.fold === "fold-7")!;
  const row = findOne(cv, "tr", { "data-fold": "fold-7" });
  assert.ok(
    findAll(row, "td", { "data-col": "auc" })
      .map(text)
      .some((x) => x.startsWith(`${fold7.auc!.toFixed(3)} `)),
  );
  const loso = findOne(root, "table", { "data-table": "folds-loso" });
  const sites = findAll(loso, "tr")
    .map((r) => attr(r, "data-fold"))
    .filter((f) => f?.startsWith("site-"));
  assert.deepEqual(sites, ["site-A", "site-B", "site-C", "site-D"]);
});

test("subgroups: pediatric vs adult, vendor, field strength and site, with AUROC and CI", () => {
  const table = findOne(root, "table", { "data-table": "subgroups-cv10" });
  const bys = new Set(findAll(table, "tr").map((r) => attr(r, "data-by")));
  for (const by of ["age", "vendor", "field strength", "site"]) assert.ok(bys.has(by), by);
  const g = scheme("deepliver2", "cv10").subgroups.find(
    (x) => x.by === "age" && x.group.startsWith("pediatric"),
  )!;
  const row = findOne(table, "tr", { "data-by": "age", "data-group": g.group });
  assert.equal(text(findOne(row, "td", { "data-col": "n" })), `${g.nPos} / ${g.n}`);
  assert.equal(text(findAll(row, "td", { "data-col": "auc" })[0]), ci3(g.auc!, g.aucDelongCi95!));
});

test("kPa output: Pearson r with CI, MAE for the regressing recipe only", () => {
  const table = findOne(root, "table", { "data-table": "kpa-loso" });
  const k = scheme("liverstiff", "loso").kpa!;
  const row = findOne(table, "tr", { "data-recipe": "liverstiff" });
  assert.equal(text(findOne(row, "td", { "data-col": "r" })), ci3(k.pearson.r, k.pearson.ci));
  assert.equal(text(findOne(row, "td", { "data-col": "mae" })), k.mae.toFixed(2));
  assert.equal(findAll(table, "tr", { "data-recipe": "deepliver2" }).length, 0);
});

test("manifest summary: code version, recipes, seed, data fingerprint, timings; and the disclaimer", () => {
  const table = findOne(root, "table", { "data-table": "manifest" });
  const field = (name: string) => text(findOne(findOne(table, "tr", { "data-field": name }), "td"));
  assert.equal(field("Code version"), manifest.codeVersion);
  assert.equal(field("Seed"), "42");
  assert.equal(field("Data fingerprint"), manifest.dataFingerprint);
  assert.equal(field("Recipes"), "deepliver2, liverstiff");
  assert.match(field("Timings"), /trainSeconds\s*21 min 30 s/);
  assert.match(field("Library versions"), /vega-lite\s*6\.4\.3/);
  assert.match(text(findOne(root, "header")), /Research software, not a medical device/);
});

test("every plot is an inline SVG: ROC and calibration per scheme x threshold, forest, folds, kPa", () => {
  const figures = findAll(root, "figure");
  const names = figures.map((f) => attr(f, "data-plot"));
  const expected = ["headline-forest", "folds-cv10", "folds-loso", "kpa-cv10", "kpa-temporal", "kpa-loso"];
  expected.push("decision-cv10", "decision-temporal", "decision-loso");
  for (const s of ["cv10", "temporal", "loso"]) {
    for (const t of THRESHOLDS_KPA)
      expected.push(`roc-${s}-${t.toFixed(1)}`, `calibration-${s}-${t.toFixed(1)}`);
  }
  assert.deepEqual([...names].sort(), [...expected].sort());
  for (const f of figures) {
    const svgs = findAll(f, "svg");
    assert.equal(svgs.length, 1, attr(f, "data-plot"));
    assert.ok(Number(attr(svgs[0], "width")) > 100, `${attr(f, "data-plot")} has a width`);
    assert.ok(findAll(svgs[0], "path").length > 3, `${attr(f, "data-plot")} draws marks`);
  }
  // ROC curves of both recipes are drawn (two legend entries carrying each recipe's AUROC).
  const roc = findOne(root, "figure", { "data-plot": "roc-loso-3.0" });
  const label = text(roc);
  assert.ok(label.includes(`deepliver2 (AUROC ${at("deepliver2", "loso", 3.0).auc.toFixed(3)})`), label);
  assert.ok(label.includes(`liverstiff (AUROC ${at("liverstiff", "loso", 3.0).auc.toFixed(3)})`), label);
});

test("self-contained: no scripts, no external URLs, no linked resources", () => {
  assert.equal(findAll(root, "script").length, 0);
  for (const tag of ["link", "img", "iframe", "object", "embed", "video", "audio", "source"]) {
    assert.equal(findAll(root, tag).length, 0, tag);
  }
  for (const el of findAll(root, "*")) {
    for (const a of el.attrs) {
      if (["src", "href", "xlink:href", "srcset", "action", "poster"].includes(a.name)) {
        assert.ok(!/^\s*(https?:)?\/\//i.test(a.value), `<${el.tagName} ${a.name}="${a.value}">`);
        if (a.name === "href") assert.ok(a.value.startsWith("#"), `only in-page links: ${a.value}`);
      }
    }
  }
  assert.ok(!/url\(\s*['"]?(https?:)?\/\//i.test(html), "no remote url() in CSS");
  assert.ok(!/@import/i.test(html), "no @import");
  // And the page forbids the browser to fetch anything, should something slip in.
  const csp = findAll(root, "meta").find((m) => attr(m, "http-equiv") === "Content-Security-Policy");
  assert.ok(csp && attr(csp, "content")?.startsWith("default-src 'none'"));
});

test("strings from the data are escaped: a site named <script> stays text", async () => {
  const evil = structuredClone(metrics) as ValidationMetrics;
  const site = "<script>alert(1)</script>";
  const recipe = `<img src=x onerror="alert(2)">`;
  for (const s of evil.schemes) {
    for (const g of s.subgroups) if (g.group === "site-B") g.group = site;
    for (const f of s.folds) if (f.fold === "site-C") f.fold = "</table><b>x</b>";
    if (s.recipe === "deepliver2") s.recipe = recipe;
  }
  for (const c of evil.comparisons) c.recipeB = recipe;
  for (const g of evil.cohort ?? []) if (g.group === "site-B") g.group = site;
  for (const s of evil.schemes)
    for (const c of s.subgroupConfounding ?? []) for (const g of c.groups) g.within = site;
  evil.flow!.excludedByReason = { [site]: 2 };
  const page = await renderReport(evil, { ...manifest, note: "</pre><script>alert(3)</script>" });
  assert.ok(!/<script/i.test(page), "no <script> tag anywhere");
  assert.ok(!/<img/i.test(page), "no <img> tag anywhere (also not in the SVG legends)");
  assert.ok(!page.includes("<b>x</b>"));
  const doc = parseHtml(page);
  const table = findOne(doc, "table", { "data-table": "subgroups-loso" });
  const row = findOne(table, "tr", { "data-by": "site", "data-group": site });
  assert.equal(text(findOne(row, "th")), site);
  const folds = findOne(doc, "table", { "data-table": "folds-loso" });
  assert.equal(
    text(findOne(findOne(folds, "tr", { "data-fold": "</table><b>x</b>" }), "th")),
    "</table><b>x</b>",
  );
  const headline = findOne(doc, "table", { "data-table": "headline" });
  assert.equal(text(findOne(findOne(headline, "tr", { "data-recipe": recipe }), "th")), recipe);
  assert.match(
    text(findOne(doc, "table", { "data-table": "manifest" })),
    /<\/pre><script>alert\(3\)<\/script>/,
  );
});

test("writeReport writes report.html atomically into the run folder and returns its path", async () => {
  const dir = join(tmp, "run");
  cpSync(FIXTURE_DIR, dir, { recursive: true });
  const { path } = await writeReport(dir);
  assert.equal(path, join(dir, "report.html"));
  const written = readFileSync(path, "utf8");
  const run = readRunFolder(dir);
  assert.equal(
    written,
    await renderReport(run.metrics, run.manifest, { runDir: dir, kpaPoints: run.kpaPoints }),
  );
  assert.deepEqual(readdirSync(dir).sort(), [
    "manifest.json",
    "metrics.json",
    "predictions.csv",
    "report.html",
  ]);
  const other = join(tmp, "elsewhere", "r.html");
  assert.equal((await writeReport(dir, { out: other, title: "Site X <test>" })).path, other);
  assert.match(readFileSync(other, "utf8"), /<title>Site X &lt;test&gt;<\/title>/);
});

test("bad run folders fail with a LiverstiffError naming the file and field", async () => {
  const empty = join(tmp, "empty");
  cpSync(FIXTURE_DIR, empty, { recursive: true, filter: (src) => !src.endsWith("metrics.json") });
  await assert.rejects(writeReport(empty), (e: unknown) => {
    assert.ok(e instanceof LiverstiffError);
    assert.match(String(e.context.file), /metrics\.json$/);
    return true;
  });
  const broken = join(tmp, "broken");
  cpSync(FIXTURE_DIR, broken, { recursive: true });
  writeFileSync(join(broken, "metrics.json"), "{ not json");
  await assert.rejects(writeReport(broken), /not valid JSON/);
  assert.ok(!existsSync(join(broken, "report.html")), "nothing written on failure");
  const v2 = { ...metrics, formatVersion: 2 };
  assert.throws(
    () => checkMetrics(v2),
    (e: unknown) => e instanceof LiverstiffError && e.context.field === "formatVersion",
  );
  const noAuc = structuredClone(metrics) as unknown as { schemes: { thresholds: { auc?: number }[] }[] };
  delete noAuc.schemes[2].thresholds[1].auc;
  assert.throws(
    () => checkMetrics(noAuc),
    (e: unknown) => e instanceof LiverstiffError && e.context.field === "schemes[2].thresholds[1].auc",
  );
});

test("partial runs render: one recipe, one scheme, an unevaluable threshold, no oracle, no comparisons", async () => {
  const m = structuredClone(metrics) as ValidationMetrics;
  const only = m.schemes.find((s) => s.recipe === "liverstiff" && s.scheme === "temporal")!;
  only.thresholds = only.thresholds.filter((t) => t.thresholdKpa !== 5.0);
  only.unevaluable = [
    { thresholdKpa: 5.0, reason: "1 exams >= 5 kPa and 60 below: at least 2 of each are needed" },
  ];
  delete only.kpa;
  const partial: ValidationMetrics = { ...m, schemes: [only], comparisons: [] };
  delete partial.oracle;
  const page = await renderReport(partial, {});
  const doc = parseHtml(page);
  const row = findOne(doc, "tr", { "data-recipe": "liverstiff", "data-threshold": "5.0" });
  assert.match(text(row), /not evaluable: 1 exams >= 5 kPa/);
  assert.equal(findAll(doc, "figure", { "data-plot": "roc-temporal-5.0" }).length, 0);
  assert.equal(findAll(doc, "figure", { "data-plot": "roc-temporal-3.0" }).length, 1);
  assert.equal(findAll(doc, "tr", { "data-recipe": "oracle" }).length, 0);
  assert.match(text(findOne(doc, "section", { id: "comparison" })), /No paired comparison/);
  assert.match(text(findOne(doc, "table", { "data-table": "manifest" })), /not recorded/);
  // The published row is still there, beside a run that has only the temporal scheme.
  const published = findOne(doc, "tr", { "data-recipe": "published" });
  assert.equal(text(findOne(published, "td", { "data-col": "temporal" })), "0.82 (0.80, 0.84)");
});

test("a metrics.json from before the reviewer statistics still renders: counts from TP/TN/FP/FN, unclustered p", async () => {
  const old = structuredClone(metrics) as ValidationMetrics;
  delete old.cohort;
  delete old.flow;
  for (const s of old.schemes) {
    delete s.decisionCurve;
    delete s.subgroupConfounding;
    for (const t of s.thresholds) {
      delete (t as Partial<typeof t>).atCutoffCounts;
      delete t.vsOracle;
    }
  }
  for (const c of old.comparisons)
    for (const k of [
      "deltaAuc",
      "deltaAucCi95",
      "zClustered",
      "pClustered",
      "deltaAucCi95Unclustered",
      "nPatients",
    ])
      delete (c as unknown as Record<string, unknown>)[k];
  const doc = parseHtml(await renderReport(old, manifest));
  assert.equal(findAll(doc, "section", { id: "cohort" }).length, 0);
  assert.equal(findAll(doc, "figure", { "data-plot": "decision-cv10" }).length, 0);
  const t = at("liverstiff", "cv10", 3.0);
  const c = t.atCutoff;
  const row = findOne(findOne(doc, "table", { "data-table": "paper-cv10" }), "tr", {
    "data-recipe": "liverstiff",
    "data-threshold": "3.0",
  });
  assert.equal(
    text(findOne(row, "td", { "data-col": "npv" })),
    pctCount(c.npv!, c.tn, c.tn + c.fn, c.npv_wilson95!),
  );
  const cmp = metrics.comparisons.find((x) => x.scheme === "loso" && x.thresholdKpa === 4)!;
  const crow = findOne(findOne(doc, "table", { "data-table": "comparison" }), "tr", {
    "data-scheme": "loso",
    "data-threshold": "4.0",
  });
  assert.equal(text(findOne(crow, "td", { "data-col": "p" })), pFmt(cmp.p));
  assert.equal(text(findOne(crow, "td", { "data-col": "z" })), cmp.z.toFixed(2));
  // The headline still shows the share of attainable gain, computed from the oracle.
  const shares = findAll(findOne(doc, "table", { "data-table": "headline" }), "div", { "data-col": "share" });
  assert.equal(shares.length, 6);
  const oracle = metrics.oracle!.aucByThreshold[1]!;
  const headline = findOne(doc, "table", { "data-table": "headline" });
  const cv = findOne(findOne(headline, "tr", { "data-recipe": "liverstiff" }), "td", { "data-col": "cv10" });
  assert.ok(text(cv).includes(`${((t.auc - 0.5) / (oracle - 0.5)).toFixed(2)} of attainable gain`), text(cv));
});

test("kPa scatter plots of big cohorts are a systematic sample, and say so", async () => {
  const run = readRunFolder(FIXTURE_DIR);
  const many = Array.from({ length: 5 }, () => run.kpaPoints).flat();
  const loso = many.filter((p) => p.scheme === "loso" && p.recipe === "liverstiff").length;
  assert.ok(loso > 1500);
  const only = { ...run.metrics, schemes: run.metrics.schemes.filter((s) => s.scheme === "loso") };
  const doc = parseHtml(await renderReport(only, {}, { kpaPoints: many }));
  const fig = findOne(doc, "figure", { "data-plot": "kpa-loso" });
  assert.equal(text(findOne(fig, "figcaption")), `A systematic sample of 1500 of ${loso} test exams.`);
  const marks = findAll(fig, "g").filter((g) => /\bmark-symbol role-mark\b/.test(attr(g, "class") ?? ""));
  assert.equal(marks.length, 1, "one layer of scatter points");
  assert.equal(findAll(marks[0], "path").length, 1500);
});

test("headlineText: the terminal version of the headline table", () => {
  const lines = headlineText(metrics).split("\n");
  assert.equal(lines.length, 5);
  const t = at("liverstiff", "loso", 3.0);
  assert.match(lines[2], /^liverstiff\s/);
  assert.ok(lines[2].includes(ci3(t.auc, t.aucDelongCi95)));
  assert.ok(lines[4].includes("0.79 (0.75, 0.81)"));
});

test("numbers() reads ROC arrays whatever JSON made of them", () => {
  assert.deepEqual(numbers([0, 0.5, null, 1]), [0, 0.5, Number.NaN, 1]);
  assert.deepEqual(numbers(Float64Array.of(0.25, 0.75)), [0.25, 0.75]);
  assert.deepEqual(numbers({ 0: 0.1, 1: 0.2, 2: 0.3 }), [0.1, 0.2, 0.3]);
  assert.deepEqual(numbers(undefined), []);
});

test("text widths follow Helvetica's metrics (legends laid out without a canvas)", () => {
  // "Sensitivity" at 11 px: S 667, e 556, n 556, s 500, i 222, t 278, i 222, v 500, i 222, t 278, y 500.
  assert.equal(textWidth("Sensitivity", 11), (4501 * 11) / 1000);
  assert.ok(textWidth("iiii", 10) < textWidth("MMMM", 10) / 3);
});
