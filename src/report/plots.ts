// The report's plots: vega-lite specifications compiled with vega-lite and rendered to SVG strings by
// vega's headless SVG renderer (renderer "none": no DOM, no canvas; text widths are estimated from the
// font size, which is why the fonts are fixed here).
import * as vega from "vega";
import { logger, None, parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { esc } from "./format.ts";

export const FONT = "Helvetica, Arial, sans-serif";
/** Colours for recipes in order of appearance (colour-blind-safe, Okabe-Ito). */
export const RECIPE_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
export const PUBLISHED_COLOR = "#6B7280";
export const ORACLE_COLOR = "#111827";

const CONFIG = {
  // No per-mark ARIA labels (they triple the size of a scatter plot); each SVG gets one label instead.
  aria: false,
  font: FONT,
  background: "#ffffff",
  padding: 6,
  view: { stroke: "#d1d5db" },
  axis: {
    labelFontSize: 10,
    titleFontSize: 11,
    titleFontWeight: "normal" as const,
    gridColor: "#eef0f3",
    domainColor: "#9ca3af",
    tickColor: "#9ca3af",
    labelColor: "#374151",
    titleColor: "#111827",
  },
  legend: { labelFontSize: 10, titleFontSize: 10, labelLimit: 220, symbolSize: 80 },
  title: { fontSize: 12, fontWeight: "bold" as const, anchor: "start" as const, color: "#111827", offset: 6 },
};

/**
 * Helvetica's advance widths (per 1000 units of font size) for ASCII 32..126, from its AFM file. Arial and
 * Liberation Sans share them, so text laid out with these widths fits whichever of them the viewer has.
 */
// biome-ignore format: a table
const HELVETICA = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
  1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
  667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
  333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
  556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/** Width of a text in the report's font, in pixels (bold text is about 7% wider). */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let units = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    units += c >= 32 && c <= 126 ? HELVETICA[c - 32] : 556;
  }
  return (units * fontSize * (bold ? 1.07 : 1)) / 1000;
}

interface TextItem {
  text?: unknown;
  fontSize?: number;
  fontWeight?: string | number;
}

// Without a canvas, vega estimates every character as 0.8 em wide, which puts legends and labels in the
// wrong place; the report's SVGs use Helvetica-metric fonts, so measure with Helvetica's widths instead.
const metrics = (vega as unknown as { textMetrics?: { width: (item: TextItem, text?: unknown) => number } })
  .textMetrics;
if (metrics) {
  metrics.width = (item: TextItem, text?: unknown) => {
    const value = text ?? item.text;
    const s = Array.isArray(value)
      ? value.map(String).reduce((a, b) => (a.length >= b.length ? a : b), "")
      : String(value ?? "");
    const weight = item.fontWeight;
    return textWidth(
      s,
      item.fontSize ?? 11,
      weight === "bold" || (typeof weight === "number" && weight >= 600),
    );
  };
}

/** Renders a vega-lite spec to an SVG string, labelled for screen readers. */
export async function renderSvg(spec: TopLevelSpec, label: string): Promise<string> {
  // Stages never print: vega-lite's and vega's warnings (e.g. merged legends) are silenced; errors throw.
  const vg = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec, {
    logger: logger(None),
  }).spec;
  const view = new View(parse(vg), { renderer: "none", logLevel: None });
  try {
    const svg = await view.toSVG();
    return svg.replace(/^<svg /, `<svg role="img" aria-label="${esc(label)}" `);
  } finally {
    view.finalize();
  }
}

export interface Series {
  /** Legend entry. */
  label: string;
  color: string;
}

export interface RocSeries extends Series {
  fpr: number[];
  tpr: number[];
  /** The operating point at the training-chosen cut-offs (1 - specificity, sensitivity). */
  operating?: { fpr: number; tpr: number };
}

/** At most `max` points of a curve, evenly spaced along it, ends kept (ROC curves of big cohorts). */
function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const out: T[] = [];
  const step = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * step)]);
  return out;
}

const unitScale = { domain: [0, 1], nice: false, zero: true };

const legendBelow = { title: null, orient: "bottom" as const, direction: "vertical" as const, offset: 6 };

/** The colour channel that tells series apart by their label, each in its own colour. */
function labelColor<L extends object>(domain: string[], range: unknown[], legend: L) {
  return { field: "label", type: "nominal" as const, scale: { domain, range }, legend };
}

/** Each series' own colour, keyed by its label. */
function seriesColor<L extends object>(series: Series[], legend: L) {
  return labelColor(
    series.map((s) => s.label),
    series.map((s) => s.color),
    legend,
  );
}

/** The dashed grey reference line y = x, from lo to hi. */
function identityLine(x: string, y: string, lo: number, hi: number) {
  return {
    data: {
      values: [
        { [x]: lo, [y]: lo },
        { [x]: hi, [y]: hi },
      ],
    },
    mark: { type: "line", color: "#9ca3af", strokeDash: [4, 4], strokeWidth: 1 },
  };
}

interface Axis {
  field: string;
  scale: object;
  title: string;
}

/** A small square plot of y against x (both quantitative): the identity line over [lo, hi], then `layers`. */
function squareAgainstIdentity(
  title: string,
  x: Axis,
  y: Axis,
  [lo, hi]: [number, number],
  layers: object[],
): TopLevelSpec {
  return {
    width: 170,
    height: 170,
    title,
    encoding: {
      x: { field: x.field, type: "quantitative", scale: x.scale, title: x.title },
      y: { field: y.field, type: "quantitative", scale: y.scale, title: y.title },
    },
    layer: [identityLine(x.field, y.field, lo, hi), ...layers],
  } as TopLevelSpec;
}

/** ROC curves of several recipes on one threshold, the chance diagonal, and the operating points. */
export function rocSpec(title: string, series: RocSeries[]): TopLevelSpec {
  const curve = series.flatMap((s) =>
    thin(
      s.fpr
        .map((f, i) => ({ fpr: f, tpr: s.tpr[i] }))
        .filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr)),
      600,
    ).map((p, i) => ({ ...p, i, label: s.label })),
  );
  const ops = series.flatMap((s) => (s.operating ? [{ ...s.operating, label: s.label }] : []));
  const color = seriesColor(series, legendBelow);
  return squareAgainstIdentity(
    title,
    { field: "fpr", scale: unitScale, title: "1 \u2212 specificity" },
    { field: "tpr", scale: unitScale, title: "Sensitivity" },
    [0, 1],
    [
      {
        data: { values: curve },
        mark: { type: "line", strokeWidth: 1.8, interpolate: "linear" },
        encoding: { color, order: { field: "i", type: "quantitative" } },
      },
      {
        data: { values: ops },
        mark: { type: "point", shape: "diamond", filled: true, size: 70, stroke: "#ffffff", strokeWidth: 1 },
        encoding: { color: { ...color, legend: null } },
      },
    ],
  );
}

export interface CalibrationSeries extends Series {
  bins: { predicted: number; observed: number; lo: number; hi: number; n: number }[];
}

/** Reliability diagram: observed frequency (Wilson 95% CI) against mean predicted probability per bin. */
export function calibrationSpec(title: string, series: CalibrationSeries[]): TopLevelSpec {
  const pts = series.flatMap((s) => s.bins.map((b) => ({ ...b, label: s.label })));
  const color = seriesColor(series, {
    title: null,
    orient: "top-left" as const,
    fillColor: "rgba(255,255,255,0.85)",
    padding: 3,
  });
  const x = {
    field: "predicted",
    type: "quantitative" as const,
    scale: unitScale,
    title: "Mean predicted probability",
  };
  return {
    width: 220,
    height: 220,
    title,
    layer: [
      {
        ...identityLine("predicted", "observed", 0, 1),
        encoding: {
          x,
          y: { field: "observed", type: "quantitative", scale: unitScale, title: "Observed frequency" },
        },
      },
      {
        data: { values: pts },
        encoding: { x, color },
        layer: [
          {
            mark: { type: "rule", strokeWidth: 1, opacity: 0.6 },
            encoding: {
              y: { field: "lo", type: "quantitative" },
              y2: { field: "hi" },
              color: { ...color, legend: null },
            },
          },
          {
            mark: { type: "line", strokeWidth: 1.4, opacity: 0.9 },
            encoding: { y: { field: "observed", type: "quantitative" } },
          },
          {
            mark: { type: "point", filled: true, opacity: 1 },
            encoding: {
              y: { field: "observed", type: "quantitative" },
              size: { field: "n", type: "quantitative", scale: { range: [15, 160] }, legend: null },
            },
          },
        ],
      },
    ],
  } as TopLevelSpec;
}

export interface ForestRow {
  /** Row label (y axis), e.g. "cv10". */
  group: string;
  /** Series within the row, e.g. a recipe or "DeepLiverNet 2.0 (published)". */
  label: string;
  color: string;
  auc: number;
  lo: number | null;
  hi: number | null;
}

/** AUROC point estimates with 95% CIs, grouped by validation scheme. */
export function forestSpec(title: string, rows: ForestRow[], groupOrder: string[]): TopLevelSpec {
  const labels = [...new Map(rows.map((r) => [r.label, r.color])).entries()];
  const values = rows.map((r) => ({ ...r, lo: r.lo ?? r.auc, hi: r.hi ?? r.auc }));
  const lowest = Math.min(0.5, ...values.map((r) => r.lo));
  const color = labelColor(
    labels.map((l) => l[0]),
    labels.map((l) => l[1]),
    { title: null, orient: "right" as const, labelLimit: 360 },
  );
  const y = { field: "group", type: "nominal" as const, sort: groupOrder, title: null };
  return {
    width: 560,
    height: { step: 13 },
    title,
    data: { values },
    encoding: {
      y,
      yOffset: { field: "label", type: "nominal", sort: labels.map((l) => l[0]) },
      color,
    },
    layer: [
      {
        mark: { type: "rule", strokeWidth: 2 },
        encoding: {
          x: {
            field: "lo",
            type: "quantitative",
            scale: { domain: [Math.floor(lowest * 20) / 20, 1], nice: false },
            title: "AUROC at 3.0 kPa (95% CI)",
          },
          x2: { field: "hi" },
        },
      },
      {
        mark: { type: "point", filled: true, size: 60, opacity: 1 },
        encoding: { x: { field: "auc", type: "quantitative" } },
      },
    ],
  } as TopLevelSpec;
}

export interface StripSeries extends Series {
  values: { group: string; auc: number; fold: string }[];
}

/** Per-fold (or per-site) AUROC as dots, one row per scheme, with each recipe's mean as a tick. */
export function foldStripSpec(title: string, series: StripSeries[], groupOrder: string[]): TopLevelSpec {
  const values = series.flatMap((s) => s.values.map((v) => ({ ...v, label: s.label })));
  const color = seriesColor(series, {
    title: null,
    orient: "bottom" as const,
    direction: "horizontal" as const,
  });
  const lowest = Math.min(0.5, ...values.map((v) => v.auc));
  const x = {
    field: "auc",
    type: "quantitative" as const,
    scale: { domain: [Math.floor(lowest * 10) / 10, 1], nice: false },
    title: "AUROC at 3.0 kPa per fold / held-out site",
  };
  const y = { field: "group", type: "nominal" as const, sort: groupOrder, title: null };
  return {
    width: 560,
    height: { step: 18 },
    title,
    data: { values },
    encoding: { y, yOffset: { field: "label", type: "nominal", sort: series.map((s) => s.label) }, color },
    layer: [
      { mark: { type: "point", filled: false, size: 45, strokeWidth: 1.3 }, encoding: { x } },
      {
        mark: { type: "tick", thickness: 2.5, size: 16 },
        encoding: { x: { ...x, aggregate: "mean" } },
      },
    ],
  } as TopLevelSpec;
}

export interface ScatterSeries extends Series {
  points: { kpa: number; kpaPred: number }[];
}

/** Predicted against measured stiffness, with the identity line. */
export function kpaScatterSpec(title: string, series: ScatterSeries[]): TopLevelSpec {
  const values = series.flatMap((s) => s.points.map((p) => ({ ...p, label: s.label })));
  const hi = Math.ceil(Math.max(6, ...values.flatMap((v) => [v.kpa, v.kpaPred])));
  const lo = Math.floor(Math.min(1, ...values.flatMap((v) => [v.kpa, v.kpaPred])));
  const scale = { domain: [lo, hi], nice: false };
  const color = seriesColor(series, legendBelow);
  return squareAgainstIdentity(
    title,
    { field: "kpa", scale, title: "Measured MRE stiffness (kPa)" },
    { field: "kpaPred", scale, title: "Predicted stiffness (kPa)" },
    [lo, hi],
    [
      {
        data: { values },
        mark: { type: "circle", size: 14, opacity: 0.45 },
        encoding: { color },
      },
    ],
  );
}

export interface DecisionSeries extends Series {
  points: { threshold: number; netBenefit: number }[];
}

/**
 * Decision curves: net benefit against threshold probability per recipe, with the treat-all and
 * treat-none references. The y axis runs from a little below 0 to a little above the prevalence (treat-all
 * at p_t = 0); lines are cut where they leave it (here, not by vega's clip paths, whose ids are counted
 * across renders and would make the page differ from one render to the next).
 */
export function decisionCurveSpec(
  title: string,
  series: DecisionSeries[],
  treatAll: { threshold: number; netBenefit: number }[],
): TopLevelSpec {
  const refAll = "Treat all";
  const refNone = "Treat none";
  const prevalence = Math.max(0.01, ...treatAll.map((p) => p.netBenefit));
  const top = Math.ceil(prevalence * 1.1 * 20) / 20;
  const bottom = -Math.max(0.05, Math.ceil(top * 0.25 * 20) / 20);
  const values = [
    ...series.flatMap((s) => cutBelow(s.points, bottom, s.label)),
    ...cutBelow(treatAll, bottom, refAll),
    ...treatAll.map((p) => ({ threshold: p.threshold, netBenefit: 0, label: refNone, part: `${refNone}/0` })),
  ];
  const domain = [...series.map((s) => s.label), refAll, refNone];
  const color = labelColor(domain, [...series.map((s) => s.color), "#9ca3af", "#111827"], legendBelow);
  return {
    width: 300,
    height: 200,
    title,
    data: { values },
    mark: { type: "line", strokeWidth: 1.6 },
    encoding: {
      x: {
        field: "threshold",
        type: "quantitative",
        scale: { domain: [0, 1], nice: false },
        title: "Threshold probability",
      },
      y: {
        field: "netBenefit",
        type: "quantitative",
        scale: { domain: [bottom, top], nice: false },
        title: "Net benefit",
      },
      color,
      strokeDash: {
        field: "label",
        type: "nominal",
        scale: { domain, range: [...series.map(() => [1, 0]), [5, 3], [2, 2]] },
        legend: null,
      },
      detail: { field: "part", type: "nominal" },
      order: { field: "threshold", type: "quantitative" },
    },
  } as TopLevelSpec;
}

/**
 * The parts of a curve at or above `bottom`, each crossing replaced by the point where it meets `bottom`;
 * every stretch above gets its own `part` so that no line joins across a gap.
 */
export function cutBelow(
  points: { threshold: number; netBenefit: number }[],
  bottom: number,
  label: string,
): { threshold: number; netBenefit: number; label: string; part: string }[] {
  const out: { threshold: number; netBenefit: number; label: string; part: string }[] = [];
  let part = 0;
  const at = (p: { threshold: number; netBenefit: number }) => ({ ...p, label, part: `${label}/${part}` });
  points.forEach((p, i) => {
    const prev = points[i - 1];
    const above = p.netBenefit >= bottom;
    const prevAbove = prev !== undefined && prev.netBenefit >= bottom;
    if (prev !== undefined && above !== prevAbove) {
      const f = (bottom - prev.netBenefit) / (p.netBenefit - prev.netBenefit);
      const cross = { threshold: prev.threshold + f * (p.threshold - prev.threshold), netBenefit: bottom };
      if (above) part++;
      out.push(at(cross));
    }
    if (above) out.push(at(p));
  });
  return out;
}
