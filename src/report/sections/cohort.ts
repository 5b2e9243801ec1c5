// The report's cohort section (Table 1 per site and overall, the STARD-style flow of exams) and the notes
// that sit beside the subgroup table and the decision curves.
import type { CohortFlow, CohortSummary, SchemeMetrics, ValidationMetrics } from "../../validate/types.ts";
import { esc, kpa, num } from "../format.ts";

const DASH = "\u2014";
const SCHEME_TITLES: Record<string, string> = {
  cv10: "10-fold cross-validation",
  temporal: "temporal hold-out",
  loso: "leave-one-site-out",
};

/** "GE 106 · Philips 81" (keys in numeric-aware order). */
function breakdown(counts: Record<string, number> | undefined, unit = ""): string {
  const entries = Object.entries(counts ?? {}).sort(([a], [b]) =>
    a.localeCompare(b, "en", { numeric: true }),
  );
  if (entries.length === 0) return DASH;
  return entries
    .map(([k, n]) => `<span class="nw">${esc(k)}${unit} ${esc(n)}</span>`)
    .join('<span class="sep"> \u00b7 </span>');
}

function pctOf(n: number, of: number): string {
  return of > 0 ? `${esc(n)} (${((100 * n) / of).toFixed(1)}%)` : DASH;
}

function cohortRows(groups: CohortSummary[]): string[] {
  const thresholds = groups[0]?.positives.map((p) => p.thresholdKpa) ?? [];
  const row = (key: string, label: string, cell: (g: CohortSummary) => string) =>
    `<tr data-row="${esc(key)}"><th scope="row">${label}</th>${groups
      .map((g) => `<td class="num" data-col="${esc(g.group)}">${cell(g)}</td>`)
      .join("")}</tr>`;
  return [
    row("exams", "Exams", (g) => esc(g.exams)),
    row("patients", "Patients", (g) => esc(g.patients)),
    row("vendors", "Vendor", (g) => breakdown(g.vendors)),
    row("field", "Field strength", (g) => breakdown(g.fieldStrengths, " T")),
    row("age", "Age, years (mean \u00b1 SD)", (g) =>
      g.age
        ? `${num(g.age.mean, 1)} \u00b1 ${num(g.age.sd, 1)}${g.age.n < g.exams ? ` <span class="count">(n = ${esc(g.age.n)})</span>` : ""}`
        : DASH,
    ),
    row("sex", "Sex", (g) => breakdown(g.sex)),
    row("pediatric", "Pediatric (&lt; 18 y)", (g) => pctOf(g.pediatric.n, g.pediatric.of)),
    row(
      "kpa",
      "MRE stiffness, kPa (median [IQR])",
      (g) => `${num(g.kpa.median, 2)} <span class="nw">[${num(g.kpa.q1, 2)}\u2013${num(g.kpa.q3, 2)}]</span>`,
    ),
    ...thresholds.map((t) =>
      row(`ge-${kpa(t)}`, `\u2265 ${kpa(t)} kPa`, (g) =>
        pctOf(g.positives.find((p) => p.thresholdKpa === t)?.n ?? 0, g.exams),
      ),
    ),
  ];
}

function cohortTable(groups: CohortSummary[]): string {
  const head = groups
    .map((g) => `<th scope="col">${g.group === "all" ? "All sites" : esc(g.group)}</th>`)
    .join("");
  return `<table class="data cohort" data-table="cohort">
<thead><tr><th scope="col">Characteristic (per exam)</th>${head}</tr></thead>
<tbody>${cohortRows(groups).join("\n")}</tbody></table>`;
}

interface FlowStep {
  key: string;
  label: string;
  n: number | undefined;
  note?: string;
}

function flowSteps(flow: CohortFlow): FlowStep[] {
  const reasons = Object.entries(flow.excludedByReason ?? {})
    .filter(([, n]) => n > 0)
    .map(([code, n]) => `${esc(code.replace(/_/g, " "))}: ${esc(n)}`)
    .join("; ");
  return [
    { key: "files", label: "Files on disk", n: flow.files },
    { key: "dicom", label: "DICOM files indexed", n: flow.dicomFiles },
    { key: "series", label: "Series", n: flow.series },
    { key: "exams", label: "Exams found", n: flow.examsFound },
    { key: "usable", label: "Images usable (T1w and T2w assembled)", n: flow.usableImages },
    {
      key: "labelled",
      label: "Usable and labelled (MRE kPa)",
      n: flow.labelled,
      ...(reasons ? { note: `excluded by reason: ${reasons}` } : {}),
    },
    {
      key: "validated",
      label: "Validated (features for every recipe)",
      n: flow.validated,
      note: `${esc(flow.validatedPatients)} patients`,
    },
  ];
}

function flowList(flow: CohortFlow): string {
  const steps = flowSteps(flow).filter((s) => s.n !== undefined);
  const items = steps.map((s, i) => {
    const prev = steps[i - 1];
    // Files -> series -> exams change the unit; only exam counts lose exams.
    const examStep = ["usable", "labelled", "validated"].includes(s.key) && prev !== undefined;
    const lost = examStep && prev.n !== undefined && s.n! < prev.n ? prev.n - s.n! : 0;
    return `<li data-step="${esc(s.key)}"><span class="n">${esc(s.n)}</span> ${esc(s.label)}${lost > 0 ? ` <span class="lost">(\u2212${esc(lost)})</span>` : ""}${s.note ? `<div class="sub">${s.note}</div>` : ""}</li>`;
  });
  const tests = flow.schemes.map(
    (t) =>
      `<li data-step="test-${esc(t.scheme)}"><span class="n">${esc(t.testExams)}</span> tested in ${esc(SCHEME_TITLES[t.scheme] ?? t.scheme)} <span class="tag">${esc(t.scheme)}</span><div class="sub">${esc(t.testPatients)} patients${t.droppedTestExams ? `; ${esc(t.droppedTestExams)} later exams of patients seen in training left out` : ""}${t.testExams < flow.validated && !t.droppedTestExams ? `; ${esc(flow.validated - t.testExams)} exams only ever in training` : ""}</div></li>`,
  );
  return `<ol class="flow" data-flow="cohort">${items.join("")}<li class="split">${tests.length > 0 ? `<ol class="flow-schemes">${tests.join("")}</ol>` : ""}</li></ol>`;
}

/** The cohort section: empty when metrics.json predates the cohort table. */
export function cohortSection(metrics: ValidationMetrics): string {
  if (!metrics.cohort && !metrics.flow) return "";
  const flow = metrics.flow
    ? `<h3>Flow of exams (STARD)</h3>
<p class="note">From the files ingest saw to each validation scheme's pooled test part. Ingest counts are absent when
the run did not come from a work folder.</p>
${flowList(metrics.flow)}`
    : "";
  const table = metrics.cohort
    ? `<h3>Validated cohort by site</h3>${cohortTable(metrics.cohort)}
<p class="note">Per exam: a patient with repeat exams counts once per exam (the patients row counts them once).
Percentages of the column's exams; age and the pediatric share over exams with a recorded age.</p>`
    : "";
  return `<section id="cohort">
<h2>Cohort</h2>
${table}
${flow}
</section>`;
}

/** The note beside a scheme's subgroup table when two subgroup variables are not independent evidence. */
export function confoundingNote(per: (SchemeMetrics | undefined)[]): string {
  const seen = new Map<string, NonNullable<SchemeMetrics["subgroupConfounding"]>[number]>();
  for (const m of per)
    for (const c of m?.subgroupConfounding ?? []) seen.set(`${c.relation}\u0000${c.by.join("\u0000")}`, c);
  if (seen.size === 0) return "";
  const items = [...seen.values()].map((c) => {
    const map = c.groups.map((g) => `${esc(g.group)} = ${esc(g.within)}`).join(", ");
    const [a, b] = c.by.map(esc);
    return c.relation === "identical"
      ? `<li data-confounded="${a}|${b}"><strong>${a} and ${b} split these exams identically</strong> (${map}): their rows are the same comparison twice, not independent evidence; a ${a} effect cannot be told from a ${b} effect.</li>`
      : `<li data-nested="${a}|${b}"><strong>Each ${a} group lies within one ${b} group</strong> (${map.replace(/ = /g, " in ")}): ${b} differences are differences between ${a} groups, confounded with them.</li>`;
  });
  return `<div class="callout warn" data-note="confounding"><strong>Subgroups are confounded in this cohort</strong> (detected from the exams):<ul>${items.join("")}</ul></div>`;
}

/** What a decision curve shows, for the note under the plots. */
export function decisionNote(): string {
  return `<p class="note">Net benefit = TP/n \u2212 FP/n \u00d7 p<sub>t</sub> / (1 \u2212 p<sub>t</sub>) when exams with
a predicted probability \u2265 p<sub>t</sub> are called stiff (Vickers and Elkin 2006), against calling every exam stiff
(treat all) and none (treat none, 0). A recipe is useful at the threshold probabilities where its curve lies above both.</p>`;
}
