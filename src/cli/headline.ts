import { oracleShare, type ValidationMetrics } from "../validate/index.ts";

const PRIMARY_KPA = 3.0;

export interface HeadlineRow {
  recipe: string;
  scheme: string;
  n: number;
  auc: number;
  auc_ci95: [number, number];
  auc_bootstrap_ci95: [number, number];
  sensitivity: number;
  specificity: number;
  /** [TP, TP + FN] and [TN, TN + FP] at the training-chosen cut-offs. */
  sensitivity_counts: [number, number];
  specificity_counts: [number, number];
  /** (AUROC - 0.5) / (oracle - 0.5): the headline ratio (absent when the oracle is not above chance). */
  share_of_attainable_gain?: number;
  /** AUROC / oracle, kept beside the share. */
  fraction_of_oracle?: number;
  /** The oracle AUROC at 3.0 kPa on this scheme's test exams. */
  oracle_auc?: number;
}

export interface Headline {
  rows: HeadlineRow[];
  oracle_auc_3_0?: number;
  /** Patient-clustered paired DeLong per recipe pair (p_unclustered: exams as independent). */
  comparisons: {
    scheme: string;
    recipes: string;
    n: number;
    patients: number;
    delta_auc: number;
    delta_auc_ci95: [number, number];
    p: number;
    p_unclustered: number;
  }[];
}

/** The AUROC at 3.0 kPa per recipe and scheme, the recipes' paired tests, and the oracle when known. */
export function headlineTable(metrics: ValidationMetrics, format: "json"): Headline;
export function headlineTable(metrics: ValidationMetrics, format: "text"): string;
export function headlineTable(metrics: ValidationMetrics, format: "json" | "text"): Headline | string {
  const oracle = metrics.oracle?.aucByThreshold[1];
  const rows: HeadlineRow[] = [];
  for (const s of metrics.schemes) {
    const t = s.thresholds.find((x) => x.thresholdKpa === PRIMARY_KPA);
    if (!t) continue;
    const row: HeadlineRow = {
      recipe: s.recipe,
      scheme: s.scheme,
      n: t.n,
      auc: t.auc,
      auc_ci95: t.aucDelongCi95,
      auc_bootstrap_ci95: t.aucBootstrapCi95,
      sensitivity: t.atCutoff.sensitivity,
      specificity: t.atCutoff.specificity,
      sensitivity_counts: [t.atCutoff.tp, t.atCutoff.tp + t.atCutoff.fn],
      specificity_counts: [t.atCutoff.tn, t.atCutoff.tn + t.atCutoff.fp],
    };
    const byScheme = metrics.oracle?.byScheme?.[s.scheme]?.[1];
    const own = Number.isFinite(byScheme) ? byScheme : oracle;
    if (own !== undefined) {
      row.oracle_auc = own;
      const share = oracleShare(t.auc, own);
      if (share) row.share_of_attainable_gain = share.shareOfAttainableGain;
      row.fraction_of_oracle = t.auc / own;
    }
    rows.push(row);
  }
  const comparisons = metrics.comparisons
    .filter((c) => c.thresholdKpa === PRIMARY_KPA)
    .map((c) => ({
      scheme: c.scheme,
      recipes: `${c.recipeA} vs ${c.recipeB}`,
      n: c.n,
      patients: c.nPatients,
      delta_auc: c.aucA - c.aucB,
      delta_auc_ci95: c.deltaAucCi95,
      p: c.pClustered,
      p_unclustered: c.p,
    }));
  if (format === "json")
    return oracle === undefined ? { rows, comparisons } : { rows, oracle_auc_3_0: oracle, comparisons };

  const f3 = (x: number) => x.toFixed(3);
  const f2 = (x: number) => x.toFixed(2);
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${f3(x)}`;
  const pText = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));
  const frac = ([k, n]: [number, number]) => `${f3(k / n)} (${k}/${n})`;
  const withOracle = oracle !== undefined;
  const lines = [
    `AUROC at ${PRIMARY_KPA.toFixed(1)} kPa (95% CI: DeLong; patient-clustered bootstrap)${withOracle ? "; share of gain = (AUROC - 0.5) / (oracle - 0.5)" : ""}`,
    `${"recipe".padEnd(18)}${"scheme".padEnd(10)}${"n".padStart(6)}  ${"AUROC".padEnd(7)}${"DeLong CI".padEnd(17)}${"bootstrap CI".padEnd(17)}${"sens".padEnd(18)}${"spec".padEnd(18)}${withOracle ? `${"gain share".padEnd(12)}AUROC/oracle` : ""}`,
  ];
  for (const r of rows)
    lines.push(
      `${r.recipe.padEnd(18)}${r.scheme.padEnd(10)}${String(r.n).padStart(6)}  ${f3(r.auc).padEnd(7)}${`(${f3(r.auc_ci95[0])}, ${f3(r.auc_ci95[1])})`.padEnd(17)}${`(${f3(r.auc_bootstrap_ci95[0])}, ${f3(r.auc_bootstrap_ci95[1])})`.padEnd(17)}${frac(r.sensitivity_counts).padEnd(18)}${frac(r.specificity_counts).padEnd(18)}${withOracle ? `${(r.share_of_attainable_gain !== undefined ? f2(r.share_of_attainable_gain) : "-").padEnd(12)}${r.fraction_of_oracle !== undefined ? f2(r.fraction_of_oracle) : ""}` : ""}`.trimEnd(),
    );
  if (oracle !== undefined) {
    const by = metrics.oracle?.byScheme ?? {};
    const parts = Object.entries(by)
      .filter(([, v]) => Number.isFinite(v?.[1]))
      .map(([scheme, v]) => `${scheme} ${f3(v![1]!)}`);
    lines.push(
      `oracle AUROC (hidden truth, same exams): ${parts.length > 0 ? parts.join(", ") : f3(oracle)}`,
    );
  }
  for (const c of comparisons)
    lines.push(
      `paired DeLong clustered by patient, ${c.scheme}: ${c.recipes}: ΔAUROC ${signed(c.delta_auc)} (${signed(c.delta_auc_ci95[0])}, ${signed(c.delta_auc_ci95[1])}), p = ${pText(c.p)} (unclustered p = ${pText(c.p_unclustered)}; ${c.n} exams of ${c.patients} patients)`,
    );
  lines.push(
    "Published DeepLiverNet 2.0 (different, real cohort): cv10 0.83 (0.82, 0.84); temporal 0.82 (0.80, 0.84); loso 0.79 (0.75, 0.81)",
  );
  return lines.join("\n");
}
