// What every section of the report shares: the layout of recipes, schemes and thresholds, the oracle,
// the published numbers and the small pieces of markup (swatches, figures).
import { THRESHOLDS_KPA } from "../../features/types.ts";
import type { SchemeMetrics, SchemeName, ThresholdMetrics, ValidationMetrics } from "../../validate/types.ts";
import { esc } from "../format.ts";
import { RECIPE_COLORS } from "../plots.ts";
import { DEEPLIVERNET2 } from "../published.ts";

export const PRIMARY_KPA = 3.0;
const SCHEME_TITLES: Record<string, string> = {
  cv10: "Multi-site 10-fold cross-validation",
  temporal: "Temporal hold-out",
  loso: "Leave-one-site-out",
};
export const SCHEME_ORDER = ["cv10", "temporal", "loso"];

export function schemeTitle(s: string): string {
  return SCHEME_TITLES[s] ?? s;
}

export function sameKpa(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-9;
}

export function thresholdOf(m: SchemeMetrics | undefined, t: number): ThresholdMetrics | undefined {
  return m?.thresholds.find((x) => sameKpa(x.thresholdKpa, t));
}

/** Recipes and schemes in a stable order: recipes as they first appear, schemes cv10, temporal, loso. */
export function layout(metrics: ValidationMetrics) {
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

export type Layout = ReturnType<typeof layout>;

export function rank(order: string[], x: string): number {
  const i = order.indexOf(x);
  return i < 0 ? order.length : i;
}

/** The oracle AUROC at t, on the scheme's own test exams when known, else on the whole cohort. */
export function oracleAuc(metrics: ValidationMetrics, t: number, scheme?: string): number | undefined {
  const k = THRESHOLDS_KPA.findIndex((x) => sameKpa(x, t));
  const own = scheme ? metrics.oracle?.byScheme?.[scheme as SchemeName] : undefined;
  const v = k >= 0 ? (own ?? metrics.oracle?.aucByThreshold)?.[k] : undefined;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

export function swatch(color: string): string {
  return `<span class="swatch" style="background:${esc(color)}"></span>`;
}

export function figure(svg: string, plot: string, caption?: string): string {
  return `<figure class="plot" data-plot="${esc(plot)}">${svg}${caption ? `<figcaption>${caption}</figcaption>` : ""}</figure>`;
}

/** DeepLiverNet 2.0's published AUROC and CI for a scheme, when the paper has one. */
export function publishedAuc(scheme: string): { auc: number; ci95: readonly [number, number] } | undefined {
  return (DEEPLIVERNET2.auc as Record<string, { auc: number; ci95: readonly [number, number] }>)[scheme];
}
