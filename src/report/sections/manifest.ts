// The run manifest section, and the cohort label of the page header.
import { duration, esc } from "../format.ts";

function pick(obj: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (obj[k] !== undefined && obj[k] !== null) return obj[k];
  return undefined;
}

function inline(value: unknown): string {
  if (value === undefined) return '<span class="muted">not recorded</span>';
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return esc(value);
  return `<code>${esc(JSON.stringify(value))}</code>`;
}

function recipeNames(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    return value
      .map((x) =>
        typeof x === "string"
          ? x
          : typeof x === "object" && x && "name" in x
            ? String(x.name)
            : JSON.stringify(x),
      )
      .join(", ");
  }
  if (typeof value === "object" && value) return Object.keys(value).join(", ");
  return String(value);
}

function keyValueList(value: unknown, format: (v: unknown) => string = inline): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return inline(value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '<span class="muted">none</span>';
  return `<dl class="kv">${entries.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${format(v)}</dd>`).join("")}</dl>`;
}

/** "cohort: evaluation (synthetic, seed 20261203) · " when the run names its cohort, else nothing. */
export function cohortLabel(manifest: Record<string, unknown>): string {
  const c = manifest.cohort as { name?: unknown; description?: unknown } | undefined;
  if (!c || typeof c.name !== "string") return "";
  const d = typeof c.description === "string" ? ` (${esc(c.description)})` : "";
  return `\u00b7 cohort: <strong data-cohort="${esc(c.name)}">${esc(c.name)}</strong>${d} `;
}

export function manifestSection(manifest: Record<string, unknown>): string {
  const known: [string, string[], (v: unknown) => string][] = [
    ["Code version", ["codeVersion", "code_version", "version", "gitCommit", "git"], inline],
    ["Command", ["command", "argv"], inline],
    ["Recipes", ["recipes", "recipe"], (v) => esc(recipeNames(v) ?? "")],
    ["Seed", ["seed"], inline],
    [
      "Data fingerprint",
      ["dataFingerprint", "data_fingerprint", "fingerprint"],
      (v) => `<code>${esc(v)}</code>`,
    ],
    ["Created", ["createdAt", "created_at", "startedAt", "finishedAt"], inline],
    [
      "Library versions",
      ["libraries", "libraryVersions", "library_versions", "versions"],
      (v) => keyValueList(v),
    ],
    [
      "Timings",
      ["timings", "timing", "durations"],
      (v) => keyValueList(v, (x) => (typeof x === "number" ? duration(x) : inline(x))),
    ],
  ];
  const used = new Set<string>();
  const rows = known.map(([label, keys, format]) => {
    const key = keys.find((k) => manifest[k] !== undefined && manifest[k] !== null);
    if (key) used.add(key);
    const v = pick(manifest, ...keys);
    return `<tr data-field="${esc(label)}"><th scope="row">${esc(label)}</th><td>${v === undefined ? inline(undefined) : format(v)}</td></tr>`;
  });
  const rest = Object.entries(manifest).filter(([k]) => !used.has(k));
  for (const [k, v] of rest) {
    rows.push(
      `<tr data-field="${esc(k)}"><th scope="row">${esc(k)}</th><td>${typeof v === "object" && v !== null && !Array.isArray(v) ? keyValueList(v) : inline(v)}</td></tr>`,
    );
  }
  return `<section id="manifest">
<h2>Run manifest</h2>
<p class="note">Everything needed to trace the numbers above: same code, recipes, seed and data give the same predictions.</p>
<table class="data manifest" data-table="manifest"><tbody>${rows.join("\n")}</tbody></table>
<details><summary>manifest.json in full</summary><pre>${esc(JSON.stringify(manifest, null, 2))}</pre></details>
</section>`;
}
