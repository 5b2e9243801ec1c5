// Formatting and escaping for the report: every string that comes from data goes through esc().

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/**
 * A self-contained page's opening up to <body>: no network access (the content security policy allows
 * inline styles, data: images and whatever else `csp` adds), and its generator named.
 */
export function pageStart(o: { title: string; generator: string; style: string; csp?: string }): string {
  const csp = `default-src 'none'; style-src 'unsafe-inline'; img-src data:${o.csp ? `; ${o.csp}` : ""}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="generator" content="${o.generator}">
<title>${esc(o.title)}</title>
<style>${o.style}</style>
</head>
<body>`;
}

const DASH = "\u2014";

function finite(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** A number with fixed decimals; a dash for null, undefined, NaN or infinities. */
export function num(x: number | null | undefined, digits = 3): string {
  return finite(x) ? x.toFixed(digits) : DASH;
}

/** "0.912 (0.881, 0.943)"; the interval is left out when absent. */
export function withCi(
  x: number | null | undefined,
  ci: readonly [number, number] | null | undefined,
  digits = 3,
): string {
  if (!finite(x)) return DASH;
  if (!ci || !finite(ci[0]) || !finite(ci[1])) return num(x, digits);
  return `${num(x, digits)} (${num(ci[0], digits)}, ${num(ci[1], digits)})`;
}

/** A proportion as a percentage with its interval: "84.1% (78.0, 88.8)". */
export function pctCi(
  x: number | null | undefined,
  ci: readonly [number, number] | null | undefined,
): string {
  if (!finite(x)) return DASH;
  const p = (v: number) => (100 * v).toFixed(1);
  if (!ci || !finite(ci[0]) || !finite(ci[1])) return `${p(x)}%`;
  return `${p(x)}% (${p(ci[0])}, ${p(ci[1])})`;
}

/** A p-value the way journals print it. */
export function pValue(p: number | null | undefined): string {
  if (!finite(p)) return DASH;
  if (p < 0.001) return "<0.001";
  return p.toFixed(3);
}

/** A threshold in kPa with one decimal: 3 -> "3.0". */
export function kpa(t: number): string {
  return t.toFixed(1);
}

/** Seconds as "12.3 s", "4 min 05 s" or "1 h 02 min". */
export function duration(seconds: unknown): string {
  if (!finite(seconds)) return esc(seconds);
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.round(seconds - 60 * m)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Mean ± SD. */
export function meanSd(x: { mean: number; sd: number } | undefined, digits = 3): string {
  if (!x || !finite(x.mean)) return DASH;
  return finite(x.sd) ? `${num(x.mean, digits)} \u00b1 ${num(x.sd, digits)}` : num(x.mean, digits);
}

/**
 * A proportion with the counts behind it and its interval on a second line:
 * "74.8% (172/230)" then "68.8–80.0". Counts are left out when unknown (older metrics.json files).
 */
export function pctCount(
  x: number | null | undefined,
  counts: readonly [number, number] | null | undefined,
  ci: readonly [number, number] | null | undefined,
): string {
  if (!finite(x)) return counts && counts[1] === 0 ? `${DASH} <span class="count">(0/0)</span>` : DASH;
  const p = (v: number) => (100 * v).toFixed(1);
  const c = counts ? ` <span class="count">(${esc(counts[0])}/${esc(counts[1])})</span>` : "";
  const interval =
    ci && finite(ci[0]) && finite(ci[1]) ? ` <span class="ci">${p(ci[0])}\u2013${p(ci[1])}</span>` : "";
  return `${p(x)}%${c}${interval}`;
}

/** A signed difference: "+0.042" / "\u22120.013". */
export function signed(x: number | null | undefined, digits = 3): string {
  if (!finite(x)) return DASH;
  return `${x < 0 ? "\u2212" : "+"}${Math.abs(x).toFixed(digits)}`;
}
