// The published DeepLiverNet 2.0 numbers beside this run, with why they are not a paired comparison.
import type { ValidationMetrics } from "../../validate/types.ts";
import { esc, kpa, withCi } from "../format.ts";
import { DEEPLIVERNET2 } from "../published.ts";
import { type Layout, PRIMARY_KPA, schemeTitle, swatch, thresholdOf } from "./layout.ts";

export function publishedSection(metrics: ValidationMetrics, layout: Layout): string {
  const rows = (["cv10", "temporal", "loso"] as const).map((s) => {
    const p = DEEPLIVERNET2.auc[s];
    const ours = layout.recipes.map((r) => {
      const t = thresholdOf(layout.get(r, s), PRIMARY_KPA);
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
<thead><tr><th scope="col">Validation (AUROC at ${kpa(PRIMARY_KPA)} kPa, 95% CI)</th><th scope="col">${esc(DEEPLIVERNET2.name)}<div class="sub">their cohort</div></th>${layout.recipes
    .map(
      (r) =>
        `<th scope="col">${swatch(layout.color.get(r)!)}${esc(r)}<div class="sub">this run's cohort</div></th>`,
    )
    .join("")}</tr></thead>
<tbody>${rows.join("\n")}</tbody>
</table>
<p class="note">Source: ${esc(DEEPLIVERNET2.citation)}. Their confidence-interval method is ${esc(DEEPLIVERNET2.ciMethod)};
ours are DeLong intervals.</p>
</section>`;
}
