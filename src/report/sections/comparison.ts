// The recipe comparison section: paired DeLong tests, a matrix per scheme and every pair and threshold.
import type { RecipeComparison } from "../../validate/types.ts";
import { esc, kpa, num, pValue, signed } from "../format.ts";
import { type Layout, PRIMARY_KPA, rank, SCHEME_ORDER, sameKpa, schemeTitle, swatch } from "./layout.ts";

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

export function comparisonSection(comparisons: RecipeComparison[], L: Layout): string {
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
