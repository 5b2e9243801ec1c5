// The headline section: AUROC at 3.0 kPa per recipe and scheme, the oracle, the paper, and the forest plot.
import { oracleShare } from "../../validate/metrics.ts";
import type { ValidationMetrics } from "../../validate/types.ts";
import { esc, kpa, num, withCi } from "../format.ts";
import { type ForestRow, forestSpec, ORACLE_COLOR, PUBLISHED_COLOR, renderSvg } from "../plots.ts";
import { DEEPLIVERNET2 } from "../published.ts";
import {
  figure,
  type Layout,
  layout,
  oracleAuc,
  PRIMARY_KPA,
  publishedAuc,
  schemeTitle,
  swatch,
  thresholdOf,
} from "./layout.ts";

export function headlineSection(metrics: ValidationMetrics, L: Layout, forestSvg: string): string {
  const head = L.schemes.map(
    (s) => `<th scope="col">${esc(schemeTitle(s))}<div class="sub">${esc(s)}</div></th>`,
  );
  const rows = [
    ...L.recipes.map((r) => headlineRecipeRow(metrics, L, r)),
    ...headlineReferenceRows(metrics, L),
  ];
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

/** One recipe's row: AUROC at 3.0 kPa with both intervals, and its share of the oracle's gain. */
function headlineRecipeRow(metrics: ValidationMetrics, L: Layout, r: string): string {
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
}

/** The reference rows below the recipes: the oracle ceiling (when known) and the published numbers. */
function headlineReferenceRows(metrics: ValidationMetrics, L: Layout): string[] {
  const rows: string[] = [];
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
          const p = publishedAuc(s);
          return `<td data-col="${esc(s)}">${p ? `<span class="v">${withCi(p.auc, p.ci95, 2)}</span>` : "\u2014"}</td>`;
        })
        .join("") +
      "</tr>",
  );
  return rows;
}

export async function makeForest(metrics: ValidationMetrics, L: Layout): Promise<string> {
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
    const p = publishedAuc(s);
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
      const p = publishedAuc(s);
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
