// The tables of a scheme section: accuracy per threshold, calibration, folds, subgroups and kPa.
import type { SubgroupMetrics, ThresholdMetrics } from "../../validate/types.ts";
import { duration, esc, kpa, meanSd, num, pctCount, withCi } from "../format.ts";
import { type Layout, PRIMARY_KPA, rank, sameKpa, swatch, thresholdOf } from "./layout.ts";

const SUBGROUP_ORDER = ["age", "vendor", "field strength", "site"];

export function paperTable(scheme: string, L: Layout): string {
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

export function calibrationTable(scheme: string, L: Layout): string {
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

export function foldsTable(scheme: string, L: Layout): string {
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

export function subgroupTable(scheme: string, L: Layout): string {
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

export function kpaTable(scheme: string, L: Layout): string {
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
