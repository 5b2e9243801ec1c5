// renderReport: a ValidationMetrics object (+ the run manifest) to one self-contained HTML page. No
// scripts, no external resources: inline CSS and inline SVG only, so that it opens offline and prints.
import { THRESHOLDS_KPA } from "../features/types.ts";
import { oracleShare } from "../validate/metrics.ts";
import type {
  RecipeComparison,
  SchemeMetrics,
  SchemeName,
  SubgroupMetrics,
  ThresholdMetrics,
  ValidationMetrics,
} from "../validate/types.ts";
import { cohortSection, confoundingNote, decisionNote } from "./cohort.ts";
import { duration, esc, kpa, meanSd, num, pctCount, pValue, signed, withCi } from "./format.ts";
import type { KpaPoint } from "./load.ts";
import { numbers } from "./load.ts";
import {
  type CalibrationSeries,
  calibrationSpec,
  type DecisionSeries,
  decisionCurveSpec,
  type ForestRow,
  foldStripSpec,
  forestSpec,
  kpaScatterSpec,
  ORACLE_COLOR,
  PUBLISHED_COLOR,
  RECIPE_COLORS,
  type RocSeries,
  renderSvg,
  rocSpec,
  type StripSeries,
} from "./plots.ts";
import { DEEPLIVERNET2 } from "./published.ts";
import { STYLE } from "./style.ts";

export interface RenderOptions {
  /** Page title (default "liverstiff validation report"). */
  title?: string;
  /** Shown in the header: where the run folder lives. */
  runDir?: string;
  /** Measured and predicted kPa per test exam (from predictions.csv) for the scatter plots. */
  kpaPoints?: KpaPoint[];
}

const PRIMARY_KPA = 3.0;
const SCHEME_TITLES: Record<string, string> = {
  cv10: "Multi-site 10-fold cross-validation",
  temporal: "Temporal hold-out",
  loso: "Leave-one-site-out",
};
const SCHEME_ORDER = ["cv10", "temporal", "loso"];
const SUBGROUP_ORDER = ["age", "vendor", "field strength", "site"];

function schemeTitle(s: string): string {
  return SCHEME_TITLES[s] ?? s;
}

function sameKpa(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-9;
}

function thresholdOf(m: SchemeMetrics | undefined, t: number): ThresholdMetrics | undefined {
  return m?.thresholds.find((x) => sameKpa(x.thresholdKpa, t));
}

/** Recipes and schemes in a stable order: recipes as they first appear, schemes cv10, temporal, loso. */
function layout(metrics: ValidationMetrics) {
  const recipes = [...new Set(metrics.schemes.map((s) => s.recipe))];
  const schemes = [...new Set(metrics.schemes.map((s) => s.scheme as string))].sort(
    (a, b) => rank(SCHEME_ORDER, a) - rank(SCHEME_ORDER, b),
  );
  const thresholds = [
    ...new Set(metrics.schemes.flatMap((s) => s.thresholds.map((t) => t.thresholdKpa))),
  ].sort((a, b) => a - b);
  const color = new Map(recipes.map((r, i) => [r, RECIPE_COLORS[i % RECIPE_COLORS.length]]));
  const get = (recipe: string, scheme: string) =>
    metrics.schemes.find((s) => s.recipe === recipe && s.scheme === scheme);
  return { recipes, schemes, thresholds, color, get };
}

type Layout = ReturnType<typeof layout>;

function rank(order: string[], x: string): number {
  const i = order.indexOf(x);
  return i < 0 ? order.length : i;
}

/** The oracle AUROC at t, on the scheme's own test exams when known, else on the whole cohort. */
function oracleAuc(metrics: ValidationMetrics, t: number, scheme?: string): number | undefined {
  const k = THRESHOLDS_KPA.findIndex((x) => sameKpa(x, t));
  const own = scheme ? metrics.oracle?.byScheme?.[scheme as SchemeName] : undefined;
  const v = k >= 0 ? (own ?? metrics.oracle?.aucByThreshold)?.[k] : undefined;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function swatch(color: string): string {
  return `<span class="swatch" style="background:${esc(color)}"></span>`;
}

function figure(svg: string, plot: string, caption?: string): string {
  return `<figure class="plot" data-plot="${esc(plot)}">${svg}${caption ? `<figcaption>${caption}</figcaption>` : ""}</figure>`;
}

// ---------------------------------------------------------------------------------------------- headline

function headlineSection(metrics: ValidationMetrics, L: Layout, forestSvg: string): string {
  const head = L.schemes.map(
    (s) => `<th scope="col">${esc(schemeTitle(s))}<div class="sub">${esc(s)}</div></th>`,
  );
  const rows = L.recipes.map((r) => {
    const cells = L.schemes.map((s) => {
      const m = L.get(r, s);
      const t = thresholdOf(m, PRIMARY_KPA);
      if (!t) return `<td data-col="${esc(s)}">\u2014</td>`;
      const oracle = oracleAuc(metrics, PRIMARY_KPA, s);
      const share = t.vsOracle ?? (oracle ? oracleShare(t.auc, oracle) : undefined);
      const ratio = oracle
        ? `<div class="sub oracle-share" data-col="share"><strong>${share ? num(share.shareOfAttainableGain, 2) : "\u2014"}</strong> of attainable gain \u00b7 ${num(t.auc / oracle, 2)} \u00d7 oracle</div>`
        : "";
      return (
        `<td data-col="${esc(s)}"><span class="v">${withCi(t.auc, t.aucDelongCi95)}</span>` +
        `<div class="sub">bootstrap ${num(t.aucBootstrapCi95?.[0])}\u2013${num(t.aucBootstrapCi95?.[1])} \u00b7 n = ${esc(t.n)} (${esc(t.nPos)} \u2265 3.0 kPa)</div>${ratio}</td>`
      );
    });
    return `<tr data-recipe="${esc(r)}"><th scope="row">${swatch(L.color.get(r)!)}${esc(r)}</th>${cells.join("")}</tr>`;
  });
  const oracle = oracleAuc(metrics, PRIMARY_KPA);
  if (oracle !== undefined) {
    rows.push(
      `<tr class="oracle" data-recipe="oracle"><th scope="row">${swatch(ORACLE_COLOR)}Oracle ceiling<div class="sub">${esc(metrics.oracle?.source ?? "")}</div></th>` +
        L.schemes
          .map(
            (s) =>
              `<td data-col="${esc(s)}"><span class="v">${num(oracleAuc(metrics, PRIMARY_KPA, s))}</span></td>`,
          )
          .join("") +
        "</tr>",
    );
  }
  rows.push(
    `<tr class="published" data-recipe="published"><th scope="row">${swatch(PUBLISHED_COLOR)}${esc(DEEPLIVERNET2.name)}<div class="sub">different data set: the authors' 4-site clinical cohort</div></th>` +
      L.schemes
        .map((s) => {
          const p = (DEEPLIVERNET2.auc as Record<string, { auc: number; ci95: readonly [number, number] }>)[
            s
          ];
          return `<td data-col="${esc(s)}">${p ? `<span class="v">${withCi(p.auc, p.ci95, 2)}</span>` : "\u2014"}</td>`;
        })
        .join("") +
      "</tr>",
  );
  return `<section id="headline">
<h2>Headline: AUROC at ${kpa(PRIMARY_KPA)} kPa</h2>
<p class="lead">Area under the ROC curve for detecting MRE liver stiffness \u2265 ${kpa(PRIMARY_KPA)} kPa (no/minimal vs
moderate/severe stiffening), pooled over the out-of-fold test predictions of each validation scheme, with DeLong 95%
confidence intervals; the second line gives the patient-clustered bootstrap interval.${
    oracleAuc(metrics, PRIMARY_KPA) !== undefined
      ? ` Against the oracle, the share of attainable gain is (AUROC \u2212 0.5) / (oracle \u2212 0.5): 0 for chance, 1 for the
oracle; AUROC / oracle is shown beside it but flatters, since chance alone scores 0.5 / oracle.`
      : ""
  }</p>
<table class="data headline" data-table="headline">
<thead><tr><th scope="col">Recipe</th>${head.join("")}</tr></thead>
<tbody>${rows.join("\n")}</tbody>
</table>
${forestSvg}
</section>`;
}

// ------------------------------------------------------------------------------------------- published

function publishedSection(metrics: ValidationMetrics, L: Layout): string {
  const rows = (["cv10", "temporal", "loso"] as const).map((s) => {
    const p = DEEPLIVERNET2.auc[s];
    const ours = L.recipes.map((r) => {
      const t = thresholdOf(L.get(r, s), PRIMARY_KPA);
      return `<td data-col="${esc(r)}">${t ? `${withCi(t.auc, t.aucDelongCi95)}<div class="sub">n = ${esc(t.n)}</div>` : "not run"}</td>`;
    });
    return `<tr data-scheme="${s}"><th scope="row">${esc(schemeTitle(s))}<div class="sub">paper: ${esc(p.validation)}</div></th><td data-col="published" class="published">${withCi(p.auc, p.ci95, 2)}</td>${ours.join("")}</tr>`;
  });
  const nExams = Math.max(0, ...metrics.schemes.map((s) => s.nExams ?? 0));
  const nPatients = Math.max(0, ...metrics.schemes.map((s) => s.nPatients ?? 0));
  return `<section id="published">
<h2>Published DeepLiverNet 2.0 beside this run</h2>
<div class="callout warn"><strong>Different data sets \u2014 not a head-to-head comparison.</strong> The published
numbers were measured by the authors on their own cohort (${esc(DEEPLIVERNET2.cohort)}). The numbers of this run
come from this run's cohort (up to ${esc(nExams)} exams of ${esc(nPatients)} patients per scheme), with
patient-grouped splits. Differences between the columns reflect the data as much as the methods; only the recipes of
this run, on identical splits, are compared statistically (see <a href="#comparison">Recipe comparison</a>).</div>
<table class="data" data-table="published">
<thead><tr><th scope="col">Validation (AUROC at ${kpa(PRIMARY_KPA)} kPa, 95% CI)</th><th scope="col">${esc(DEEPLIVERNET2.name)}<div class="sub">their cohort</div></th>${L.recipes
    .map(
      (r) =>
        `<th scope="col">${swatch(L.color.get(r)!)}${esc(r)}<div class="sub">this run's cohort</div></th>`,
    )
    .join("")}</tr></thead>
<tbody>${rows.join("\n")}</tbody>
</table>
<p class="note">Source: ${esc(DEEPLIVERNET2.citation)}. Their confidence-interval method is ${esc(DEEPLIVERNET2.ciMethod)};
ours are DeLong intervals.</p>
</section>`;
}

// ------------------------------------------------------------------------------------------ comparison

/** The primary p of a comparison: clustered by patient when the metrics have it (older files: unclustered). */
function mainP(c: RecipeComparison): number {
  return typeof c.pClustered === "number" ? c.pClustered : c.p;
}

/** Recipe x recipe at 3.0 kPa for one scheme: each cell is row minus column, clustered CI and p. */
function comparisonMatrix(scheme: string, list: RecipeComparison[], L: Layout): string {
  const at = list.filter((c) => c.scheme === scheme && sameKpa(c.thresholdKpa, PRIMARY_KPA));
  const recipes = L.recipes.filter((r) => at.some((c) => c.recipeA === r || c.recipeB === r));
  if (recipes.length < 2) return "";
  const cell = (row: string, col: string): string => {
    if (row === col) return '<td class="diag">\u2014</td>';
    const c = at.find(
      (x) => (x.recipeA === row && x.recipeB === col) || (x.recipeA === col && x.recipeB === row),
    );
    if (!c) return '<td class="num muted">not compared</td>';
    const flip = c.recipeA !== row;
    const delta = (flip ? -1 : 1) * (c.deltaAuc ?? c.aucA - c.aucB);
    const ci = c.deltaAucCi95
      ? flip
        ? [-c.deltaAucCi95[1], -c.deltaAucCi95[0]]
        : c.deltaAucCi95
      : undefined;
    const p = mainP(c);
    const sig = p < 0.05;
    return `<td class="num${sig ? " sig" : ""}" data-row="${esc(row)}" data-col="${esc(col)}"><span class="v">${signed(delta)}</span>${ci ? ` <span class="ci">${signed(ci[0])}, ${signed(ci[1])}</span>` : ""} <span class="p">p = ${pValue(p)}</span></td>`;
  };
  const rows = recipes.map(
    (r) =>
      `<tr data-recipe="${esc(r)}"><th scope="row">${swatch(L.color.get(r)!)}${esc(r)}</th>${recipes.map((c) => cell(r, c)).join("")}</tr>`,
  );
  return `<h3>${esc(schemeTitle(scheme))} <span class="tag">${esc(scheme)}</span> at ${kpa(PRIMARY_KPA)} kPa</h3>
<table class="data matrix" data-table="comparison-matrix-${esc(scheme)}">
<thead><tr><th scope="col">\u0394AUROC (row \u2212 column)</th>${recipes.map((r) => `<th scope="col">${swatch(L.color.get(r)!)}${esc(r)}</th>`).join("")}</tr></thead>
<tbody>${rows.join("\n")}</tbody></table>`;
}

function comparisonSection(comparisons: RecipeComparison[], L: Layout): string {
  if (comparisons.length === 0) {
    return `<section id="comparison"><h2>Recipe comparison</h2><p class="note">No paired comparison in this run (it needs two recipes on identical splits).</p></section>`;
  }
  const sorted = [...comparisons].sort(
    (a, b) =>
      rank(SCHEME_ORDER, a.scheme) - rank(SCHEME_ORDER, b.scheme) ||
      rank(L.recipes, a.recipeA) - rank(L.recipes, b.recipeA) ||
      rank(L.recipes, a.recipeB) - rank(L.recipes, b.recipeB) ||
      a.thresholdKpa - b.thresholdKpa,
  );
  const groups = new Map<string, RecipeComparison[]>();
  for (const c of sorted) {
    const key = JSON.stringify([c.scheme, c.recipeA, c.recipeB]);
    const list = groups.get(key);
    if (list) list.push(c);
    else groups.set(key, [c]);
  }
  const bodies = [...groups.values()].map((list) => {
    const { scheme, recipeA, recipeB } = list[0];
    const rows = list.map((c) => {
      const p = mainP(c);
      const sig = typeof p === "number" && p < 0.05;
      const diff = c.deltaAuc ?? c.aucA - c.aucB;
      const better = sig ? (diff > 0 ? c.recipeA : c.recipeB) : "";
      const ci = c.deltaAucCi95 ? `${signed(c.deltaAucCi95[0])}, ${signed(c.deltaAucCi95[1])}` : "\u2014";
      return `<tr data-scheme="${esc(c.scheme)}" data-threshold="${kpa(c.thresholdKpa)}" data-pair="${esc(`${c.recipeA} vs ${c.recipeB}`)}"${sig ? ' class="sig"' : ""}>
<th scope="row" class="nw">\u2265 ${kpa(c.thresholdKpa)} kPa</th><td class="num" data-col="n">${esc(c.n)}${c.nPatients !== undefined ? ` <span class="count">(${esc(c.nPatients)} patients)</span>` : ""}</td>
<td class="num" data-col="aucA">${num(c.aucA)}</td><td class="num" data-col="aucB">${num(c.aucB)}</td>
<td class="num" data-col="diff">${signed(diff)}</td><td class="num" data-col="ci">${ci}</td>
<td class="num" data-col="z">${num(c.zClustered ?? c.z, 2)}</td><td class="num" data-col="p">${pValue(p)}</td>
<td class="num" data-col="p-unclustered">${typeof c.pClustered === "number" ? pValue(c.p) : "\u2014"}</td>
<td>${sig ? `<span class="badge">${esc(better)} better</span>` : '<span class="muted">n.s.</span>'}</td></tr>`;
    });
    return `<tbody><tr class="group"><th colspan="10" scope="rowgroup">${esc(schemeTitle(scheme))} <span class="tag">${esc(scheme)}</span>
<span class="muted">\u00b7 A = ${esc(recipeA)}, B = ${esc(recipeB)}</span></th></tr>${rows.join("\n")}</tbody>`;
  });
  const clustered = comparisons.some((c) => typeof c.pClustered === "number");
  return `<section id="comparison">
<h2>Recipe comparison (paired DeLong test${clustered ? ", clustered by patient" : ""})</h2>
<p class="lead">Every pair of recipes scored the same test exams on identical splits; the paired DeLong test asks whether
their AUROCs differ, on the exams both predicted. ${
    clustered
      ? "Repeat exams of a patient are one cluster (Obuchowski's variance), so a patient scanned twice does not count as two independent cases: \u0394AUROC with its patient-clustered 95% CI, z and two-sided p. The unclustered paired DeLong p (exams as independent) is shown beside it."
      : "z = (AUROC<sub>A</sub> \u2212 AUROC<sub>B</sub>) / SE of the difference; two-sided p."
  } Cells and rows with p &lt; 0.05 are highlighted. No correction for multiple testing (${comparisons.length} tests) is applied.</p>
${L.schemes.map((s) => comparisonMatrix(s, comparisons, L)).join("\n")}
<h3>All pairs and thresholds</h3>
<table class="data" data-table="comparison">
<thead><tr><th scope="col">Threshold</th><th scope="col">n</th><th scope="col">AUROC A</th><th scope="col">AUROC B</th>
<th scope="col">\u0394 (A \u2212 B)</th><th scope="col">95% CI of \u0394</th><th scope="col">z</th><th scope="col">p</th><th scope="col">p, unclustered</th><th scope="col"></th></tr></thead>
${bodies.join("\n")}
</table>
</section>`;
}

// ---------------------------------------------------------------------------------------------- scheme

function paperTable(scheme: string, L: Layout): string {
  const bodies = L.recipes.map((r) => {
    const m = L.get(r, scheme);
    if (!m) return "";
    const rows = m.thresholds.map((t): [number, string] => {
      const c = t.atCutoff;
      const k = countsOf(t);
      return [
        t.thresholdKpa,
        `<tr data-recipe="${esc(r)}" data-threshold="${kpa(t.thresholdKpa)}"${sameKpa(t.thresholdKpa, PRIMARY_KPA) ? ' class="primary"' : ""}>
<th scope="row" class="nw">\u2265 ${kpa(t.thresholdKpa)} kPa</th>
<td class="num" data-col="n">${esc(t.nPos)} / ${esc(t.n)}</td>
<td class="num" data-col="auc">${withCi(t.auc, t.aucDelongCi95)}</td>
<td class="num" data-col="boot">${t.aucBootstrapCi95 ? `${num(t.aucBootstrapCi95[0])}, ${num(t.aucBootstrapCi95[1])}` : "\u2014"}</td>
<td class="num" data-col="sensitivity">${pctCount(c?.sensitivity, k?.sensitivity, c?.sensitivity_wilson95)}</td>
<td class="num" data-col="specificity">${pctCount(c?.specificity, k?.specificity, c?.specificity_wilson95)}</td>
<td class="num" data-col="accuracy">${pctCount(c?.accuracy, k?.accuracy, c?.accuracy_wilson95)}</td>
<td class="num" data-col="ppv">${pctCount(c?.ppv, k?.ppv, c?.ppv_wilson95)}</td>
<td class="num" data-col="npv">${pctCount(c?.npv, k?.npv, c?.npv_wilson95)}</td></tr>`,
      ];
    });
    for (const u of m.unevaluable ?? []) {
      rows.push([
        u.thresholdKpa,
        `<tr data-recipe="${esc(r)}" data-threshold="${kpa(u.thresholdKpa)}" class="unevaluable"><th scope="row" class="nw">\u2265 ${kpa(u.thresholdKpa)} kPa</th><td colspan="8" class="muted">not evaluable: ${esc(u.reason)}</td></tr>`,
      ]);
    }
    rows.sort((a, b) => a[0] - b[0]);
    return `<tbody><tr class="group"><th colspan="9" scope="rowgroup">${swatch(L.color.get(r)!)}${esc(r)} <span class="muted">\u00b7 ${esc(m.nExams)} exams, ${esc(m.nPatients)} patients</span></th></tr>${rows.map((x) => x[1]).join("\n")}</tbody>`;
  });
  return `<table class="data paper" data-table="paper-${esc(scheme)}">
<thead><tr><th scope="col">Threshold</th><th scope="col">Positives / n</th><th scope="col">AUROC (95% CI, DeLong)</th><th scope="col">Bootstrap 95% CI</th>
<th scope="col">Sensitivity</th><th scope="col">Specificity</th><th scope="col">Accuracy</th><th scope="col">PPV</th><th scope="col">NPV</th></tr></thead>
${bodies.join("\n")}
</table>`;
}

/** The counts behind the proportions; older metrics.json files carry only TP, TN, FP, FN. */
function countsOf(t: ThresholdMetrics): ThresholdMetrics["atCutoffCounts"] | undefined {
  if (t.atCutoffCounts) return t.atCutoffCounts;
  const c = t.atCutoff;
  if (!c || ![c.tp, c.tn, c.fp, c.fn].every((x) => typeof x === "number")) return undefined;
  return {
    sensitivity: [c.tp, c.tp + c.fn],
    specificity: [c.tn, c.tn + c.fp],
    ppv: [c.tp, c.tp + c.fp],
    npv: [c.tn, c.tn + c.fn],
    accuracy: [c.tp + c.tn, c.tp + c.tn + c.fp + c.fn],
  };
}

function calibrationTable(scheme: string, L: Layout): string {
  const rows: string[] = [];
  for (const t of L.thresholds) {
    const present = L.recipes.flatMap((r) => {
      const c = thresholdOf(L.get(r, scheme), t)?.calibration;
      return c ? [[r, c] as const] : [];
    });
    present.forEach(([r, c], i) => {
      rows.push(`<tr data-recipe="${esc(r)}" data-threshold="${kpa(t)}"${i === 0 ? ' class="first"' : ""}>
${i === 0 ? `<th class="nw" scope="rowgroup" rowspan="${present.length}">\u2265 ${kpa(t)} kPa</th>` : ""}<td>${swatch(L.color.get(r)!)}${esc(r)}</td>
<td class="num" data-col="brier">${num(c.brier)}</td><td class="num" data-col="ece">${num(c.ece)}</td>
<td class="num" data-col="intercept">${num(c.intercept, 2)}</td><td class="num" data-col="slope">${num(c.slope, 2)}</td>
<td class="note">${esc(c.fit_note ?? "")}</td></tr>`);
    });
  }
  return `<table class="data compact" data-table="calibration-${esc(scheme)}">
<thead><tr><th scope="col">Threshold</th><th scope="col">Recipe</th><th scope="col">Brier</th><th scope="col">ECE</th>
<th scope="col">Intercept</th><th scope="col">Slope</th><th scope="col"></th></tr></thead>
<tbody>${rows.join("\n")}</tbody></table>`;
}

function foldsTable(scheme: string, L: Layout): string {
  const per = L.recipes.map((r) => L.get(r, scheme));
  const names = [...new Set(per.flatMap((m) => m?.folds.map((f) => f.fold) ?? []))].sort((a, b) =>
    a.localeCompare(b, "en", { numeric: true }),
  );
  if (names.length === 0) return "";
  const rows = names.map((name) => {
    const first = per.map((m) => m?.folds.find((f) => f.fold === name)).find((f) => f);
    const cells = per.map((m) => {
      const f = m?.folds.find((x) => x.fold === name);
      // The fold's time sits under its AUROC: one column per recipe keeps six recipes within the page.
      return `<td class="num" data-col="auc">${f ? num(f.auc) : "\u2014"}${f ? ` <span class="ci">${duration(f.seconds)}</span>` : ""}</td>`;
    });
    return `<tr data-fold="${esc(name)}"><th scope="row" class="nw">${esc(name)}</th><td class="num">${esc(first?.nTrain ?? "")}</td><td class="num">${esc(first?.nVal ?? "")}</td><td class="num">${esc(first?.nTest ?? "")}</td>${cells.join("")}</tr>`;
  });
  const summary = per.map((m) => `<td class="num" data-col="mean-sd">${meanSd(m?.foldAuc)}</td>`);
  const foot = per.some((m) => m?.foldAuc)
    ? `<tfoot><tr data-fold="mean-sd"><th scope="row" colspan="4">Mean \u00b1 SD over ${scheme === "loso" ? "sites" : "folds"}</th>${summary.join("")}</tr></tfoot>`
    : "";
  const what = scheme === "loso" ? "Held-out site" : "Fold";
  return `<table class="data compact" data-table="folds-${esc(scheme)}">
<thead><tr><th scope="col">${what}</th><th scope="col">Train</th><th scope="col">Val</th><th scope="col">Test</th>${L.recipes
    .map(
      (r) => `<th scope="col">${swatch(L.color.get(r)!)}${esc(r)} AUROC <span class="sub">(time)</span></th>`,
    )
    .join("")}</tr></thead>
<tbody>${rows.join("\n")}</tbody>
${foot}
</table>`;
}

function subgroupTable(scheme: string, L: Layout): string {
  const per = L.recipes.map((r) => L.get(r, scheme));
  const keys = new Map<string, SubgroupMetrics>();
  for (const m of per) for (const g of m?.subgroups ?? []) keys.set(`${g.by}\u0000${g.group}`, g);
  if (keys.size === 0) return '<p class="note">No subgroup results in this run.</p>';
  const ordered = [...keys.values()].sort(
    (a, b) =>
      rank(SUBGROUP_ORDER, a.by) - rank(SUBGROUP_ORDER, b.by) ||
      a.by.localeCompare(b.by) ||
      a.group.localeCompare(b.group, "en", { numeric: true }),
  );
  let lastBy = "";
  const rows = ordered.map((g) => {
    const cells = per.map((m) => {
      const s = m?.subgroups.find((x) => x.by === g.by && x.group === g.group);
      if (!s) return '<td class="num">\u2014</td>';
      return `<td class="num" data-col="auc">${s.auc === null ? '<span class="muted">one class only</span>' : withCi(s.auc, s.aucDelongCi95)}</td>`;
    });
    const byCell = g.by !== lastBy ? esc(g.by) : "";
    const cls = g.by !== lastBy ? ' class="first"' : "";
    lastBy = g.by;
    return `<tr data-by="${esc(g.by)}" data-group="${esc(g.group)}"${cls}><td class="by">${byCell}</td><th scope="row">${esc(g.group)}</th><td class="num" data-col="n">${esc(g.nPos)} / ${esc(g.n)}</td>${cells.join("")}</tr>`;
  });
  return `<table class="data compact" data-table="subgroups-${esc(scheme)}">
<thead><tr><th scope="col">By</th><th scope="col">Group</th><th scope="col">\u2265 3.0 kPa / n</th>${L.recipes
    .map((r) => `<th scope="col">${swatch(L.color.get(r)!)}${esc(r)} AUROC (95% CI)</th>`)
    .join("")}</tr></thead>
<tbody>${rows.join("\n")}</tbody></table>`;
}

function kpaTable(scheme: string, L: Layout): string {
  const rows = L.recipes.flatMap((r) => {
    const k = L.get(r, scheme)?.kpa;
    if (!k) return [];
    return [
      `<tr data-recipe="${esc(r)}"><th scope="row">${swatch(L.color.get(r)!)}${esc(r)}</th><td class="num">${esc(k.pearson?.n ?? "")}</td>
<td class="num" data-col="r">${withCi(k.pearson?.r, k.pearson?.ci)}</td><td class="num" data-col="mae">${num(k.mae, 2)}</td>
<td class="num" data-col="rmse">${num(k.rmse, 2)}</td><td class="num" data-col="bias">${k.bias >= 0 ? "+" : ""}${num(k.bias, 2)}</td></tr>`,
    ];
  });
  if (rows.length === 0) return "";
  return `<table class="data compact" data-table="kpa-${esc(scheme)}">
<thead><tr><th scope="col">Recipe</th><th scope="col">n</th><th scope="col">Pearson r (95% CI)</th><th scope="col">MAE (kPa)</th><th scope="col">RMSE (kPa)</th><th scope="col">Bias (kPa)</th></tr></thead>
<tbody>${rows.join("\n")}</tbody></table>`;
}

interface SchemePlots {
  roc: string[];
  calibration: string[];
  folds: string;
  kpa: string;
  decision: string;
}

function schemeSection(scheme: string, L: Layout, plots: SchemePlots): string {
  const any = L.recipes.map((r) => L.get(r, scheme)).find((m) => m);
  const temporal = any?.temporal
    ? `<p class="facts">Split date <strong>${esc(any.temporal.splitDate)}</strong>: trained on earlier exams, tested on exams from that date on; ${esc(any.temporal.droppedTestExams)} later exams were left out because their patient was in the training part.</p>`
    : "";
  const kpaHtml = kpaTable(scheme, L);
  const folds = foldsTable(scheme, L);
  return `<section id="scheme-${esc(scheme)}" class="scheme">
<h2>${esc(schemeTitle(scheme))} <span class="tag">${esc(scheme)}</span></h2>
${temporal}
<h3>Diagnostic accuracy per threshold</h3>
<p class="note">AUROC with DeLong 95% CI and the patient-clustered, class-stratified bootstrap 95% CI. Sensitivity,
specificity, accuracy, PPV and NPV at the cut-off chosen (Youden) on each fold's inner validation part and applied
unchanged to its test part, pooled over folds, with Wilson 95% CIs.</p>
${paperTable(scheme, L)}
<h3>ROC curves</h3>
<p class="note">Pooled out-of-fold ROC curves; the dashed diagonal is chance. Diamonds mark the pooled sensitivity and
specificity at the training-chosen cut-offs: each fold applies its own cut-off, so a diamond can lie off the pooled curve.</p>
<div class="plots">${plots.roc.join("\n")}</div>
<h3>Calibration</h3>
<p class="note">Reliability diagrams: observed frequency of stiffness \u2265 threshold (Wilson 95% CI) against the mean
predicted probability in ten equal-width bins (dot size: exams in the bin); the dashed diagonal is perfect calibration.
Brier score and expected calibration error (ECE): lower is better; calibration intercept 0 and slope 1 are ideal.</p>
<div class="plots">${plots.calibration.join("\n")}</div>
${calibrationTable(scheme, L)}
${kpaHtml ? `<h3>Predicted stiffness (kPa)</h3>${kpaHtml}${plots.kpa ? `<div class="plots">${plots.kpa}</div>` : ""}` : ""}
${folds ? `<h3>${scheme === "loso" ? "Per held-out site" : scheme === "cv10" ? "Per fold" : "The split"} (AUROC at ${kpa(PRIMARY_KPA)} kPa)</h3>${plots.folds}${folds}` : ""}
${plots.decision ? `<h3>Decision curve at ${kpa(PRIMARY_KPA)} kPa</h3><div class="plots wide">${plots.decision}</div>${decisionNote()}` : ""}
<h3>Subgroups (AUROC at ${kpa(PRIMARY_KPA)} kPa)</h3>
${confoundingNote(L.recipes.map((r) => L.get(r, scheme)))}
${subgroupTable(scheme, L)}
</section>`;
}

// -------------------------------------------------------------------------------------------- manifest

function pick(obj: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (obj[k] !== undefined && obj[k] !== null) return obj[k];
  return undefined;
}

function inline(value: unknown): string {
  if (value === undefined) return '<span class="muted">not recorded</span>';
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return esc(value);
  return `<code>${esc(JSON.stringify(value))}</code>`;
}

function recipeNames(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    return value
      .map((x) =>
        typeof x === "string"
          ? x
          : typeof x === "object" && x && "name" in x
            ? String(x.name)
            : JSON.stringify(x),
      )
      .join(", ");
  }
  if (typeof value === "object" && value) return Object.keys(value).join(", ");
  return String(value);
}

function keyValueList(value: unknown, format: (v: unknown) => string = inline): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return inline(value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '<span class="muted">none</span>';
  return `<dl class="kv">${entries.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${format(v)}</dd>`).join("")}</dl>`;
}

/** "cohort: evaluation (synthetic, seed 20261203) · " when the run names its cohort, else nothing. */
function cohortLabel(manifest: Record<string, unknown>): string {
  const c = manifest.cohort as { name?: unknown; description?: unknown } | undefined;
  if (!c || typeof c.name !== "string") return "";
  const d = typeof c.description === "string" ? ` (${esc(c.description)})` : "";
  return `\u00b7 cohort: <strong data-cohort="${esc(c.name)}">${esc(c.name)}</strong>${d} `;
}

function manifestSection(manifest: Record<string, unknown>): string {
  const known: [string, string[], (v: unknown) => string][] = [
    ["Code version", ["codeVersion", "code_version", "version", "gitCommit", "git"], inline],
    ["Command", ["command", "argv"], inline],
    ["Recipes", ["recipes", "recipe"], (v) => esc(recipeNames(v) ?? "")],
    ["Seed", ["seed"], inline],
    [
      "Data fingerprint",
      ["dataFingerprint", "data_fingerprint", "fingerprint"],
      (v) => `<code>${esc(v)}</code>`,
    ],
    ["Created", ["createdAt", "created_at", "startedAt", "finishedAt"], inline],
    [
      "Library versions",
      ["libraries", "libraryVersions", "library_versions", "versions"],
      (v) => keyValueList(v),
    ],
    [
      "Timings",
      ["timings", "timing", "durations"],
      (v) => keyValueList(v, (x) => (typeof x === "number" ? duration(x) : inline(x))),
    ],
  ];
  const used = new Set<string>();
  const rows = known.map(([label, keys, format]) => {
    const key = keys.find((k) => manifest[k] !== undefined && manifest[k] !== null);
    if (key) used.add(key);
    const v = pick(manifest, ...keys);
    return `<tr data-field="${esc(label)}"><th scope="row">${esc(label)}</th><td>${v === undefined ? inline(undefined) : format(v)}</td></tr>`;
  });
  const rest = Object.entries(manifest).filter(([k]) => !used.has(k));
  for (const [k, v] of rest) {
    rows.push(
      `<tr data-field="${esc(k)}"><th scope="row">${esc(k)}</th><td>${typeof v === "object" && v !== null && !Array.isArray(v) ? keyValueList(v) : inline(v)}</td></tr>`,
    );
  }
  return `<section id="manifest">
<h2>Run manifest</h2>
<p class="note">Everything needed to trace the numbers above: same code, recipes, seed and data give the same predictions.</p>
<table class="data manifest" data-table="manifest"><tbody>${rows.join("\n")}</tbody></table>
<details><summary>manifest.json in full</summary><pre>${esc(JSON.stringify(manifest, null, 2))}</pre></details>
</section>`;
}

// ---------------------------------------------------------------------------------------------- plots

const MAX_SCATTER_POINTS = 1500;

/** `max` items spread evenly over the list (a systematic sample, deterministic). */
function every<T>(items: T[], max: number): T[] {
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]);
}

async function makeSchemePlots(scheme: string, L: Layout, kpaPoints: KpaPoint[]): Promise<SchemePlots> {
  const roc: Promise<string>[] = [];
  const cal: Promise<string>[] = [];
  for (const t of L.thresholds) {
    const rocSeries: RocSeries[] = [];
    const calSeries: CalibrationSeries[] = [];
    for (const r of L.recipes) {
      const m = thresholdOf(L.get(r, scheme), t);
      if (!m) continue;
      const color = L.color.get(r)!;
      if (m.roc) {
        const c = m.atCutoff;
        rocSeries.push({
          label: `${r} (AUROC ${num(m.auc)})`,
          color,
          fpr: numbers(m.roc.fpr),
          tpr: numbers(m.roc.tpr),
          ...(c && Number.isFinite(c.sensitivity)
            ? { operating: { fpr: 1 - c.specificity, tpr: c.sensitivity } }
            : {}),
        });
      }
      if (m.calibration?.bins) {
        calSeries.push({
          label: `${r} (Brier ${num(m.calibration.brier)})`,
          color,
          bins: m.calibration.bins.map((b) => ({
            predicted: b.mean_predicted,
            observed: b.observed,
            lo: b.observed_wilson95?.[0] ?? b.observed,
            hi: b.observed_wilson95?.[1] ?? b.observed,
            n: b.n,
          })),
        });
      }
    }
    const title = `\u2265 ${kpa(t)} kPa \u00b7 ${scheme}`;
    if (rocSeries.length > 0) {
      roc.push(
        renderSvg(rocSpec(title, rocSeries), `ROC curves, ${title}`).then((svg) =>
          figure(svg, `roc-${scheme}-${kpa(t)}`),
        ),
      );
    }
    if (calSeries.length > 0) {
      cal.push(
        renderSvg(calibrationSpec(title, calSeries), `Reliability diagram, ${title}`).then((svg) =>
          figure(svg, `calibration-${scheme}-${kpa(t)}`),
        ),
      );
    }
  }
  let folds = Promise.resolve("");
  if (scheme !== "temporal") {
    const strip: StripSeries[] = L.recipes.flatMap((r) => {
      const m = L.get(r, scheme);
      const values = (m?.folds ?? [])
        .filter((f) => typeof f.auc === "number")
        .map((f) => ({ group: scheme, auc: f.auc as number, fold: f.fold }));
      return values.length > 0 ? [{ label: r, color: L.color.get(r)!, values }] : [];
    });
    if (strip.length > 0) {
      const title = `AUROC at ${kpa(PRIMARY_KPA)} kPa per ${scheme === "loso" ? "held-out site" : "fold"} (ticks: means)`;
      folds = renderSvg(foldStripSpec(title, strip, [scheme]), title).then((svg) =>
        figure(svg, `folds-${scheme}`),
      );
    }
  }
  let kpaPlot = Promise.resolve("");
  let sampled = 0;
  let total = 0;
  const scatter = L.recipes.flatMap((r) => {
    const all = kpaPoints.filter((p) => p.scheme === scheme && p.recipe === r);
    // Big cohorts: a systematic sample keeps the page light (every point is an SVG element).
    const points = all.length > MAX_SCATTER_POINTS ? every(all, MAX_SCATTER_POINTS) : all;
    sampled += points.length;
    total += all.length;
    return points.length > 0 ? [{ label: r, color: L.color.get(r)!, points }] : [];
  });
  if (scatter.length > 0) {
    const title = `Predicted vs measured kPa \u00b7 ${scheme}`;
    const caption = sampled < total ? `A systematic sample of ${sampled} of ${total} test exams.` : undefined;
    kpaPlot = renderSvg(kpaScatterSpec(title, scatter), title).then((svg) =>
      figure(svg, `kpa-${scheme}`, caption),
    );
  }
  return {
    roc: await Promise.all(roc),
    calibration: await Promise.all(cal),
    folds: await folds,
    kpa: await kpaPlot,
    decision: await decisionPlot(scheme, L),
  };
}

/** Every recipe's decision curve at 3.0 kPa on one scheme, with treat-all and treat-none. */
async function decisionPlot(scheme: string, L: Layout): Promise<string> {
  const series: DecisionSeries[] = [];
  let treatAll: { threshold: number; netBenefit: number }[] = [];
  for (const r of L.recipes) {
    const curve = L.get(r, scheme)?.decisionCurve;
    if (!curve || !sameKpa(curve.thresholdKpa, PRIMARY_KPA) || !Array.isArray(curve.rows)) continue;
    series.push({
      label: r,
      color: L.color.get(r)!,
      points: curve.rows.map((x) => ({ threshold: x.threshold, netBenefit: x.net_benefit })),
    });
    // Recipes of one scheme share the test exams, hence the prevalence and the treat-all line.
    if (treatAll.length === 0)
      treatAll = curve.rows.map((x) => ({ threshold: x.threshold, netBenefit: x.treat_all }));
  }
  if (series.length === 0) return "";
  const title = `Net benefit, \u2265 ${kpa(PRIMARY_KPA)} kPa \u00b7 ${scheme}`;
  const svg = await renderSvg(decisionCurveSpec(title, series, treatAll), `Decision curves, ${title}`);
  return figure(svg, `decision-${scheme}`);
}

async function makeForest(metrics: ValidationMetrics, L: Layout): Promise<string> {
  const rows: ForestRow[] = [];
  const oracle = oracleAuc(metrics, PRIMARY_KPA);
  for (const s of L.schemes) {
    for (const r of L.recipes) {
      const t = thresholdOf(L.get(r, s), PRIMARY_KPA);
      if (t) {
        rows.push({
          group: s,
          label: r,
          color: L.color.get(r)!,
          auc: t.auc,
          lo: t.aucDelongCi95?.[0] ?? null,
          hi: t.aucDelongCi95?.[1] ?? null,
        });
      }
    }
    const p = (DEEPLIVERNET2.auc as Record<string, { auc: number; ci95: readonly [number, number] }>)[s];
    if (p) {
      rows.push({
        group: s,
        label: "DeepLiverNet 2.0, published (different data set)",
        color: PUBLISHED_COLOR,
        auc: p.auc,
        lo: p.ci95[0],
        hi: p.ci95[1],
      });
    }
    const own = oracleAuc(metrics, PRIMARY_KPA, s);
    if (oracle !== undefined && own !== undefined)
      rows.push({ group: s, label: "Oracle ceiling", color: ORACLE_COLOR, auc: own, lo: null, hi: null });
  }
  if (rows.length === 0) return "";
  const title = `AUROC at ${kpa(PRIMARY_KPA)} kPa by validation scheme`;
  const svg = await renderSvg(forestSpec(title, rows, L.schemes), title);
  return figure(svg, "headline-forest");
}

// ----------------------------------------------------------------------------------------------- page

/** The whole report as one self-contained HTML document. */
export async function renderReport(
  metrics: ValidationMetrics,
  manifest: Record<string, unknown>,
  opts: RenderOptions = {},
): Promise<string> {
  const L = layout(metrics);
  const title = opts.title ?? "liverstiff validation report";
  const [forest, ...schemePlots] = await Promise.all([
    makeForest(metrics, L),
    ...L.schemes.map((s) => makeSchemePlots(s, L, opts.kpaPoints ?? [])),
  ]);
  const nav = [
    ["headline", "Headline"],
    ...(metrics.cohort || metrics.flow ? [["cohort", "Cohort"]] : []),
    ["published", "Published vs ours"],
    ["comparison", "Recipe comparison"],
    ...L.schemes.map((s) => [`scheme-${s}`, schemeTitle(s)]),
    ["manifest", "Manifest"],
    ["about", "How to read"],
  ];
  const disclaimer =
    "Research software, not a medical device. These results describe a validation run; they are not for diagnosis or for any clinical decision.";
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="liverstiff report">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="top">
<div class="wrap">
<h1>${esc(title)}</h1>
<p class="meta">MR-elastography liver stiffness from routine abdominal MRI \u00b7 recipes: ${L.recipes.map((r) => `${swatch(L.color.get(r)!)}<strong>${esc(r)}</strong>`).join(", ")}
\u00b7 schemes: ${L.schemes.map(esc).join(", ")} \u00b7 thresholds: ${L.thresholds.map(kpa).join(", ")} kPa
${cohortLabel(manifest)}\u00b7 metrics created ${esc(metrics.createdAt)}${opts.runDir ? ` \u00b7 run folder <code>${esc(opts.runDir)}</code>` : ""}</p>
<p class="disclaimer" role="note"><strong>${esc(disclaimer.split(".")[0])}.</strong>${esc(disclaimer.slice(disclaimer.indexOf(".") + 1))}</p>
<nav><ul>${nav.map(([id, label]) => `<li><a href="#${esc(id)}">${esc(label)}</a></li>`).join("")}</ul></nav>
</div>
</header>
<main class="wrap">
${headlineSection(metrics, L, forest)}
${cohortSection(metrics)}
${publishedSection(metrics, L)}
${comparisonSection(metrics.comparisons ?? [], L)}
${L.schemes.map((s, i) => schemeSection(s, L, schemePlots[i])).join("\n")}
${manifestSection(manifest)}
${aboutSection()}
</main>
<footer class="wrap"><p>${esc(disclaimer)} Generated by liverstiff from <code>metrics.json</code> and <code>manifest.json</code>; plots rendered with Vega-Lite.</p></footer>
</body>
</html>
`;
  // Wide tables scroll sideways on narrow screens instead of widening the page. Only the report's own
  // markup contains "<table" or "</table>" (text from the data is escaped).
  return page
    .replace(/<table class="data/g, '<div class="table-wrap"><table class="data')
    .replace(/<\/table>/g, "</table></div>");
}

function aboutSection(): string {
  return `<section id="about">
<h2>How to read this report</h2>
<ul class="about">
<li><strong>Schemes.</strong> cv10: ten patient-grouped folds stratified by site and by the 3.0 kPa label, out-of-fold
predictions pooled. temporal: trained on exams before a split date, tested on later exams of patients never seen in
training. loso: each site in turn is the test set, predictions pooled over sites. No patient is ever on both sides of a
split.</li>
<li><strong>AUROC.</strong> Probability that a randomly chosen exam at or above the threshold gets a higher score than one
below it. DeLong's interval treats exams as independent; the bootstrap resamples whole patients (repeat exams stay
together), stratified by class, and is the safer interval when patients have several exams.</li>
<li><strong>Cut-off metrics.</strong> Each fold chooses its own Youden cut-off on its inner validation part (10% of its
training patients) and applies it unchanged to its test exams, as a deployed model would. Wilson score intervals.</li>
<li><strong>Calibration.</strong> Intercept (calibration-in-the-large) and slope from logistic recalibration on the logit of
the predicted probability; ECE is the exam-weighted mean gap between the reliability points and the diagonal.</li>
<li><strong>Oracle ceiling.</strong> Only for synthetic cohorts: the AUROC of the hidden true stiffness against the measured
(noisy) MRE label, the best any model could reach on those labels. The share of attainable gain,
(AUROC \u2212 0.5) / (oracle \u2212 0.5), says how much of the way from chance to that ceiling a recipe goes.</li>
<li><strong>Paired comparisons.</strong> Recipes are compared on the exams both predicted with the paired DeLong test,
clustered by patient: repeat exams of one patient are not independent, and treating them as such makes intervals too
narrow. The unclustered p is shown beside the clustered one.</li>
<li><strong>Decision curves.</strong> Net benefit weighs true positives against false positives at the odds a clinician
would accept for calling an exam stiff; a recipe helps where its curve is above both treat-all and treat-none.</li>
<li><strong>Published numbers.</strong> DeepLiverNet 2.0's AUROCs come from its authors' cohort, not from this run's data;
they frame the order of magnitude, they are not a paired comparison.</li>
</ul>
</section>`;
}

/** The headline as plain text (for a terminal): AUROC at 3.0 kPa with DeLong CI per recipe and scheme. */
export function headlineText(metrics: ValidationMetrics): string {
  const L = layout(metrics);
  const oracle = oracleAuc(metrics, PRIMARY_KPA);
  const rows: string[][] = [["AUROC at 3.0 kPa (95% CI)", ...L.schemes]];
  for (const r of L.recipes) {
    rows.push([
      r,
      ...L.schemes.map((s) =>
        withCi(
          thresholdOf(L.get(r, s), PRIMARY_KPA)?.auc,
          thresholdOf(L.get(r, s), PRIMARY_KPA)?.aucDelongCi95,
        ),
      ),
    ]);
  }
  if (oracle !== undefined)
    rows.push(["oracle", ...L.schemes.map((s) => num(oracleAuc(metrics, PRIMARY_KPA, s)))]);
  rows.push([
    "DeepLiverNet 2.0 (published, other data)",
    ...L.schemes.map((s) => {
      const p = (DEEPLIVERNET2.auc as Record<string, { auc: number; ci95: readonly [number, number] }>)[s];
      return p ? withCi(p.auc, p.ci95, 2) : "-";
    }),
  ]);
  const widths = rows[0].map((_, j) => Math.max(...rows.map((row) => row[j].length)));
  return rows
    .map((row) =>
      row
        .map((c, j) => c.padEnd(widths[j]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
