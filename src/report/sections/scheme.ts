// One validation scheme's section: its tables and plots in reading order.
import { esc, kpa } from "../format.ts";
import { confoundingNote, decisionNote } from "./cohort.ts";
import { type Layout, PRIMARY_KPA, schemeTitle } from "./layout.ts";
import type { SchemePlots } from "./scheme-plots.ts";
import { calibrationTable, foldsTable, kpaTable, paperTable, subgroupTable } from "./scheme-tables.ts";

export function schemeSection(scheme: string, L: Layout, plots: SchemePlots): string {
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
