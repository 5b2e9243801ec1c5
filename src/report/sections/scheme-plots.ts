// The plots of a scheme section (ROC, calibration, folds, kPa, decision curve), rendered in parallel.
import { kpa, num } from "../format.ts";
import type { KpaPoint } from "../load.ts";
import { numbers } from "../load.ts";
import {
  type CalibrationSeries,
  calibrationSpec,
  type DecisionSeries,
  decisionCurveSpec,
  foldStripSpec,
  kpaScatterSpec,
  type RocSeries,
  renderSvg,
  rocSpec,
  type StripSeries,
} from "../plots.ts";
import { figure, type Layout, PRIMARY_KPA, sameKpa, thresholdOf } from "./layout.ts";

/** The rendered figures of one scheme section (empty where the metrics have nothing to plot). */
export interface SchemePlots {
  roc: string[];
  calibration: string[];
  folds: string;
  kpa: string;
  decision: string;
}

const MAX_SCATTER_POINTS = 1500;

/** `max` items spread evenly over the list (a systematic sample, deterministic). */
function every<T>(items: T[], max: number): T[] {
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]);
}

export async function makeSchemePlots(
  scheme: string,
  L: Layout,
  kpaPoints: KpaPoint[],
): Promise<SchemePlots> {
  const roc: Promise<string>[] = [];
  const cal: Promise<string>[] = [];
  for (const t of L.thresholds) {
    const { rocSeries, calSeries } = thresholdSeries(scheme, t, L);
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
  const folds = foldStripPlot(scheme, L);
  const kpaPlot = kpaScatterPlot(scheme, L, kpaPoints);
  return {
    roc: await Promise.all(roc),
    calibration: await Promise.all(cal),
    folds: await folds,
    kpa: await kpaPlot,
    decision: await decisionPlot(scheme, L),
  };
}

/** Each recipe's ROC curve (with its operating point) and reliability bins at one threshold. */
function thresholdSeries(
  scheme: string,
  t: number,
  L: Layout,
): { rocSeries: RocSeries[]; calSeries: CalibrationSeries[] } {
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
  return { rocSeries, calSeries };
}

/** AUROC per fold (or held-out site) and recipe; none for the temporal split, which has one. */
async function foldStripPlot(scheme: string, L: Layout): Promise<string> {
  if (scheme === "temporal") return "";
  const strip: StripSeries[] = L.recipes.flatMap((r) => {
    const m = L.get(r, scheme);
    const values = (m?.folds ?? [])
      .filter((f) => typeof f.auc === "number")
      .map((f) => ({ group: scheme, auc: f.auc as number, fold: f.fold }));
    return values.length > 0 ? [{ label: r, color: L.color.get(r)!, values }] : [];
  });
  if (strip.length === 0) return "";
  const title = `AUROC at ${kpa(PRIMARY_KPA)} kPa per ${scheme === "loso" ? "held-out site" : "fold"} (ticks: means)`;
  const svg = await renderSvg(foldStripSpec(title, strip, [scheme]), title);
  return figure(svg, `folds-${scheme}`);
}

/** Predicted against measured kPa per recipe, sampled when the cohort is big. */
async function kpaScatterPlot(scheme: string, L: Layout, kpaPoints: KpaPoint[]): Promise<string> {
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
  if (scatter.length === 0) return "";
  const title = `Predicted vs measured kPa \u00b7 ${scheme}`;
  const caption = sampled < total ? `A systematic sample of ${sampled} of ${total} test exams.` : undefined;
  const svg = await renderSvg(kpaScatterSpec(title, scatter), title);
  return figure(svg, `kpa-${scheme}`, caption);
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
