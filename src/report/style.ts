// The report's stylesheet, inlined into the page (no external fonts or files: system font stacks only).
export const STYLE = `
:root { --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --soft: #f8fafc; --accent: #0f4c81; --warn: #92400e; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #ffffff;
  font: 14px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Helvetica, Arial, "Noto Sans", "Liberation Sans", sans-serif; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 28px; }
header.top { background: linear-gradient(180deg, #0f2d4f 0%, #133b66 100%); color: #f9fafb; padding: 22px 0 0; margin-bottom: 8px; }
header.top h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
header.top .meta { margin: 0 0 12px; color: #cbd5e1; font-size: 13px; }
header.top .meta strong { color: #f9fafb; }
header.top code { color: #e2e8f0; background: rgba(255,255,255,0.08); }
.disclaimer { margin: 0 0 14px; padding: 8px 12px; border-left: 4px solid #fbbf24; background: rgba(251,191,36,0.12);
  color: #fde68a; font-size: 13px; border-radius: 3px; }
.disclaimer strong { color: #fef3c7; }
nav ul { list-style: none; margin: 0; padding: 0 0 0; display: flex; flex-wrap: wrap; gap: 2px; }
nav a { display: block; padding: 8px 12px; color: #e2e8f0; text-decoration: none; font-size: 13px; border-radius: 4px 4px 0 0; }
nav a:hover { background: rgba(255,255,255,0.1); color: #ffffff; }
section { padding: 18px 0 10px; border-bottom: 1px solid var(--line); }
section:last-of-type { border-bottom: none; }
h2 { font-size: 19px; margin: 10px 0 8px; font-weight: 650; color: #0f2d4f; }
h3 { font-size: 15px; margin: 22px 0 6px; font-weight: 600; color: #1f2937; }
p.lead { margin: 4px 0 12px; max-width: 900px; color: #374151; }
p.note, td.note { color: var(--muted); font-size: 12.5px; max-width: 980px; }
p.facts { background: var(--soft); border: 1px solid var(--line); padding: 8px 12px; border-radius: 4px; }
.tag { font-size: 12px; font-weight: 500; color: var(--accent); background: #e0ecf8; border-radius: 10px; padding: 1px 8px; vertical-align: middle; }
.muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; background: #f3f4f6; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.table-wrap { overflow-x: auto; margin: 8px 0 14px; }
.table-wrap table.data { margin: 0; }
table.data { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-variant-numeric: tabular-nums; table-layout: auto; }
table.data th, table.data td { padding: 5px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; overflow-wrap: break-word; }
table.data thead th { font-size: 12px; font-weight: 600; color: #374151; background: var(--soft); border-bottom: 2px solid #d1d5db; }
table.data thead th .sub { font-weight: 400; }
/* Numbers wrap between their parts (value, counts, interval), never inside one: tables fit their column. */
table.data td.num { text-align: right; }
table.data tbody th { font-weight: 500; }
.nw { white-space: nowrap; }
.count { color: #4b5563; white-space: nowrap; }
td .ci { display: block; font-size: 11.5px; color: var(--muted); white-space: nowrap; }
td .p { display: block; font-size: 11.5px; color: #374151; white-space: nowrap; }
table.matrix { width: auto; min-width: 50%; }
table.matrix td { text-align: center; }
table.matrix td.diag { color: var(--muted); text-align: center; background: var(--soft); }
table.matrix td.sig { background: #ecfdf5; }
table.matrix td .v { font-weight: 600; }
table.cohort td.num { text-align: left; }
.sep { color: var(--muted); }
ol.flow { list-style: none; margin: 8px 0 14px; padding: 0; max-width: 760px; }
ol.flow > li { border: 1px solid #cbd5e1; border-radius: 4px; padding: 6px 12px; margin: 0 0 18px; background: var(--soft); position: relative; }
ol.flow > li:not(:last-child)::after { content: "\\2193"; position: absolute; left: 24px; bottom: -18px; color: var(--muted); line-height: 18px; }
ol.flow > li.split { border: none; background: none; padding: 0; }
ol.flow .n { font-weight: 650; font-variant-numeric: tabular-nums; display: inline-block; min-width: 4.5em; }
ol.flow .lost { color: var(--warn); }
ol.flow-schemes { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 8px; }
ol.flow-schemes > li { border: 1px solid #cbd5e1; border-radius: 4px; padding: 6px 12px; background: #ffffff; }
.callout ul { margin: 4px 0 0; padding-left: 20px; }
.plots.wide { grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); }
table.data tr.group th { background: #f1f5f9; font-weight: 600; padding-top: 7px; }
table.data tr.primary { background: #fffbea; }
table.data tr.sig { background: #ecfdf5; }
table.data tr.first td, table.data tr.first th { border-top: 1px solid #cbd5e1; }
table.data tfoot th, table.data tfoot td { font-weight: 600; border-top: 2px solid #d1d5db; }
table.paper th, table.paper td { padding: 5px 7px; font-size: 13px; }
table.compact { width: auto; min-width: 55%; }
table.compact th, table.compact td { padding: 3px 10px; font-size: 13px; }
table.headline td .v { font-size: 15px; font-weight: 600; }
table.headline tr.published td, table.headline tr.published th { color: #4b5563; font-style: italic; }
table.headline tr.oracle td, table.headline tr.oracle th { color: #374151; }
td.published { color: #4b5563; font-style: italic; }
.sub { font-size: 11.5px; color: var(--muted); font-weight: 400; font-style: normal; }
.badge { display: inline-block; font-size: 11.5px; background: #047857; color: #ffffff; border-radius: 10px; padding: 0 8px; white-space: nowrap; }
.callout { padding: 10px 14px; border-radius: 4px; margin: 8px 0 12px; max-width: 980px; }
.callout.warn { background: #fffbeb; border: 1px solid #fcd34d; color: #78350f; }
.callout a { color: #78350f; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 6px 12px; margin: 6px 0 10px; }
figure.plot { margin: 6px 0; }
figure.plot svg { max-width: 100%; height: auto; display: block; }
figure.plot figcaption { font-size: 12px; color: var(--muted); }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 0 14px; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; font-variant-numeric: tabular-nums; }
table.manifest th { width: 190px; color: #374151; }
details { margin: 8px 0 14px; }
details summary { cursor: pointer; color: var(--accent); }
pre { background: #0f172a; color: #e2e8f0; padding: 12px; border-radius: 4px; overflow: auto; font-size: 12px; max-height: 420px; }
ul.about li { margin-bottom: 6px; max-width: 980px; }
footer { color: var(--muted); font-size: 12px; padding-top: 6px; padding-bottom: 30px; border-top: 1px solid var(--line); }
a { color: var(--accent); }
@page { size: A4; margin: 12mm; }
@media print {
  body { font-size: 10px; }
  .wrap { max-width: none; padding: 0; }
  header.top { background: none; color: var(--ink); }
  header.top .meta, .disclaimer, .disclaimer strong, header.top .meta strong { color: var(--ink); }
  nav { display: none; }
  figure.plot { break-inside: avoid; }
  /* On paper nothing scrolls: tables must fit the page width, so they shrink their type and padding. */
  .table-wrap { overflow: visible; }
  table.data { font-size: 8.5px; }
  table.data th, table.data td, table.paper th, table.paper td, table.compact th, table.compact td { padding: 2px 4px; font-size: 8.5px; }
  table.data thead th { font-size: 8.5px; }
  table.compact { min-width: 0; }
  td .ci, td .p, .sub { font-size: 7.5px; }
  table.headline td .v { font-size: 10px; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  pre { white-space: pre-wrap; word-break: break-all; max-height: none; }
  h2 { font-size: 14px; }
  h3 { font-size: 11.5px; }
}
`;

// The QC page's additions (report/qc.ts): one card per exam, three role columns, a filter bar that only
// the page's script shows. Printed on A4, cards do not break across pages and the filter bar is hidden.
export const QC_STYLE = `
[hidden] { display: none !important; }
p.counts { font-size: 15px; margin: 12px 0 4px; }
.filters { position: sticky; top: 0; z-index: 1; background: #ffffff; border-bottom: 1px solid var(--line);
  padding: 8px 0; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: center; }
.filters input[type="search"] { min-width: 320px; padding: 4px 8px; font: inherit; border: 1px solid #cbd5e1; border-radius: 4px; }
.filters output { color: var(--muted); }
article.exam { border: 1px solid var(--line); border-left: 5px solid #047857; border-radius: 5px; padding: 8px 14px; margin: 12px 0; break-inside: avoid; }
article.exam.warned { border-left-color: #d97706; }
article.exam.excluded { border-left-color: #b91c1c; }
article.exam > header { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline; }
article.exam > header h2 { font-size: 16px; margin: 0; }
article.exam > header h2 .muted { font-size: 13px; font-weight: 400; }
.status.usable { color: #047857; font-weight: 600; }
.status.excluded { color: #b91c1c; font-weight: 600; }
dl.exam-facts { display: flex; flex-wrap: wrap; gap: 0 18px; margin: 2px 0 6px; font-size: 13px; }
dl.exam-facts div { display: flex; gap: 6px; }
dl.exam-facts dt { color: var(--muted); }
dl.exam-facts dd { margin: 0; }
ul.warnings { margin: 4px 0 8px; padding: 4px 10px 4px 26px; background: #fffbeb; border: 1px solid #fcd34d; color: #78350f; border-radius: 4px; font-size: 13px; }
.roles { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px 14px; }
section.role { border-top: 2px solid var(--line); padding: 4px 0 0; font-size: 12.5px; overflow-wrap: anywhere; }
section.role.missing { color: var(--muted); }
section.role h3 { margin: 0 0 4px; font-size: 13px; }
section.role h3 code { font-size: inherit; }
section.role p { margin: 2px 0; }
img.thumb { display: block; max-width: 100%; height: auto; background: #000000; margin: 2px 0 4px; }
p.no-thumb { color: var(--warn); font-style: italic; }
p.geometry, ul.reasons, p.label { color: #4b5563; }
p.choice { font-weight: 500; }
p.label { margin-top: 4px; font-weight: 600; font-size: 12px; }
section.role ul { margin: 2px 0; padding-left: 16px; }
ul.reasons { font-size: 11.5px; }
ul.candidates .why { color: #4b5563; }
details.unassigned { margin: 6px 0 2px; font-size: 12.5px; }
@media screen and (max-width: 720px) { .roles { grid-template-columns: 1fr; } }
@media print {
  .filters { display: none !important; }
  header.top code { color: var(--ink); background: #f3f4f6; }
  p.counts { font-size: 10px; }
  article.exam { padding: 3px 6px; margin: 4px 0; border-left-width: 3px; }
  article.exam > header h2 { font-size: 11px; }
  dl.exam-facts, ul.warnings, details.unassigned { font-size: 8px; }
  section.role { font-size: 7.5px; }
  section.role h3 { font-size: 8.5px; }
  ul.reasons { font-size: 7px; }
  img.thumb { width: 26mm; }
}
`;
