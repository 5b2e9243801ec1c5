// The QC page: one self-contained HTML file with a card per exam of a work folder: its status, the series
// chosen for each role with the reasons recorded for the choice, the candidates that lost and why, the
// central prepared slice of each role as a small inline PNG, and the series that got no role. A person
// checks hundreds of exams in minutes; a text filter and two checkboxes (a small inline script, allowed by
// its hash in the page's Content-Security-Policy) narrow the list, and without scripts every card shows.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import {
  CATALOG_FILE,
  type Catalog,
  type ExamRecord,
  loadPrepared,
  openCatalog,
  type PreparedExam,
  preparedPath,
  type SeriesRecord,
} from "../cohort/index.ts";
import { describeError, LiverstiffError, writeFileAtomic } from "../core/index.ts";
import { esc, pageStart } from "./format.ts";
import { QC_STYLE, STYLE } from "./style.ts";
import { centralSliceIndex, pngDataUri, sliceThumbnail, THUMBNAIL_MAX_PX } from "./thumbnail.ts";

type Role = NonNullable<SeriesRecord["role"]>;

/** The roles a card shows, in this order. */
export const QC_ROLES: readonly Role[] = ["t1_in", "t1_opp", "t2"];

const ROLE_TITLE: Record<Role, string> = {
  t1_in: "T1w in-phase",
  t1_opp: "T1w opposed-phase",
  t2: "T2w",
};

export const QC_NOTICE =
  "Research software, not a medical device. This page checks which series a model reads; it is not for diagnosis or for any clinical decision.";

const DASH = "\u2014";

export interface QcOptions {
  /** The preparation whose slices the thumbnails show (e.g. "s9-128-mm400-zscore-f32"). */
  prepName: string;
  /** Largest side of a thumbnail in pixels (default 128); larger preparations are box-averaged down. */
  thumbnailMaxPx?: number;
  /** When the page was made (default now). */
  createdAt?: Date;
}

export interface QcCounts {
  exams: number;
  /** Images usable and labelled (no exclusion). */
  usable: number;
  /** Exams with an exclusion, by its code (e.g. no_t2, no_label). */
  excludedByReason: Record<string, number>;
  /** Exams with at least one warning (see `examWarnings`). */
  withWarnings: number;
  /** Exams with usable images but no prepared slices for the preparation. */
  withoutPrepared: number;
}

export interface QcPage {
  html: string;
  counts: QcCounts;
}

/** One exam as the page shows it. */
interface QcExam {
  exam: ExamRecord;
  series: SeriesRecord[];
  /** The exam-scope exclusion code of the latest run (when the exam is excluded). */
  exclusionCode?: string;
}

type PreparedSlices = { prepared: PreparedExam } | { missing: string };

/** Opens a work folder's catalog, or says clearly that there is none. */
function openWorkCatalog(workdir: string): Catalog {
  if (!existsSync(join(workdir, CATALOG_FILE))) {
    throw new LiverstiffError(`no catalog in work folder ${workdir}: run liverstiff ingest first`, {
      workdir,
      expected: CATALOG_FILE,
    });
  }
  return openCatalog(workdir);
}

/** Every exam with its series; excluded ones first, then by site, study date and exam id. */
function loadExams(cat: Catalog): QcExam[] {
  const codes = new Map(cat.exclusions({ scope: "exam" }).map((x) => [x.examId, x.code]));
  const exams = cat.exams().map((exam) => ({
    exam,
    series: cat.series(exam.examId),
    exclusionCode: exam.exclusionReason ? (codes.get(exam.examId) ?? "excluded") : undefined,
  }));
  const key = (e: QcExam) => [
    e.exam.exclusionReason ? 0 : 1,
    e.exam.site,
    e.exam.studyDate ?? "",
    e.exam.examId,
  ];
  return exams.sort((a, b) => compareKeys(key(a), key(b)));
}

function compareKeys(a: (string | number)[], b: (string | number)[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}

function loadSlices(workdir: string, exam: ExamRecord, prepName: string): PreparedSlices {
  if (!existsSync(preparedPath(workdir, prepName, exam.examId))) {
    const why = exam.usable ? "" : " (the exam's images are not usable)";
    return { missing: `no prepared slices for ${prepName}${why}` };
  }
  try {
    return { prepared: loadPrepared(workdir, exam.examId, prepName) };
  } catch (err) {
    return { missing: `prepared slices for ${prepName} cannot be read: ${describeError(err)}` };
  }
}

// ------------------------------------------------------------------------------------------- warnings

function chosenFor(series: readonly SeriesRecord[], role: Role): SeriesRecord | undefined {
  return series.find((s) => s.role === role && s.chosen);
}

function candidatesFor(series: readonly SeriesRecord[], role: Role): SeriesRecord[] {
  return series.filter((s) => s.role === role && !s.chosen);
}

/**
 * Choices a person should look at, recognised from the notes ingest records (the rule names of
 * dicom/select.ts and cohort/ingest.ts): a tie, a choice by series number alone, a first-ranked candidate
 * that could not be used or was not axial.
 */
const WEAK_CHOICES: readonly { pattern: RegExp; says: (n: number) => string }[] = [
  {
    pattern: /tie, broken by UID/,
    says: (n) => `chosen among ${n} candidates by a tie (broken by UID order)`,
  },
  {
    pattern: /later series \(a repeat/,
    says: (n) => `chosen among ${n} candidates by the later series number alone`,
  },
  {
    pattern: /ranked first but cannot be used/,
    says: () => "the first-ranked candidate cannot be used; the next one was taken",
  },
  {
    pattern: /axial acquisition preferred over/,
    says: () => "the first-ranked candidate is not axial; an axial one was taken",
  },
];

function choiceWarnings(series: readonly SeriesRecord[], role: Role): string[] {
  const chosen = chosenFor(series, role);
  if (!chosen) return [];
  const n = 1 + candidatesFor(series, role).length;
  return WEAK_CHOICES.filter((w) => w.pattern.test(chosen.note ?? "")).map(
    (w) => `${ROLE_TITLE[role]}: ${w.says(n)}`,
  );
}

/** What deserves a second look in an exam whose status alone does not say it. */
export function examWarnings(
  exam: ExamRecord,
  series: readonly SeriesRecord[],
  slices: PreparedSlices,
): string[] {
  const warnings = QC_ROLES.flatMap((role) => choiceWarnings(series, role));
  if (exam.usable) {
    for (const role of QC_ROLES) {
      if (!chosenFor(series, role)) warnings.push(`no ${ROLE_TITLE[role]} series (an optional role)`);
    }
    if ("missing" in slices) warnings.push(slices.missing);
  }
  return warnings;
}

// ------------------------------------------------------------------------------------------- formatting

function orDash(v: string | number | undefined): string {
  return v === undefined || v === "" ? DASH : esc(v);
}

function trimmed(x: number, digits = 2): string {
  return String(Number(x.toFixed(digits)));
}

function scanner(e: ExamRecord): string {
  const field = e.fieldStrengthT === undefined ? "" : `${trimmed(e.fieldStrengthT, 1)} T`;
  const parts = [e.vendor ?? e.manufacturer, e.model, field].filter((p) => p);
  return parts.length > 0 ? esc(parts.join(" ")) : DASH;
}

function ageSex(e: ExamRecord): string {
  const age = e.ageYears === undefined ? "?" : `${trimmed(e.ageYears, 1)} y`;
  return esc(`${age}, ${e.sex ?? "?"}`);
}

function kpaText(e: ExamRecord): string {
  if (e.kpa === undefined) return "no label";
  return esc(`${e.kpa.toFixed(2)} kPa${e.labelLine ? ` (labels line ${e.labelLine})` : ""}`);
}

function statusHtml(q: QcExam): string {
  if (!q.exam.exclusionReason) return `<span class="status usable">usable</span>`;
  return `<span class="status excluded">excluded: ${esc(q.exam.exclusionReason)} <code>${esc(q.exclusionCode)}</code></span>`;
}

function geometry(s: SeriesRecord): string {
  const dims = s.dims ? s.dims.join("\u00d7") : DASH;
  const spacing = s.spacingMm ? `${s.spacingMm.map((x) => trimmed(x)).join("\u00d7")} mm` : DASH;
  return `${esc(dims)} \u00b7 ${esc(spacing)} \u00b7 ${orDash(s.orientation)}`;
}

function seriesTitle(s: SeriesRecord): string {
  const te = s.echoTimeMs === undefined ? "" : ` \u00b7 TE ${trimmed(s.echoTimeMs)} ms`;
  return `series <strong>${orDash(s.seriesNumber)}</strong> \u00b7 ${orDash(s.description)}${esc(te)}`;
}

// ------------------------------------------------------------------------------------------- the card

function thumbnailHtml(role: Role, slices: PreparedSlices, maxPx: number): string {
  if ("missing" in slices) return `<p class="no-thumb">${esc(slices.missing)}</p>`;
  const p = slices.prepared;
  const values = p.roles[role];
  if (!values) return `<p class="no-thumb">no prepared slices for this role</p>`;
  const k = centralSliceIndex(p.slices);
  const plane = p.height * p.width;
  const t = sliceThumbnail(values.subarray(k * plane, (k + 1) * plane), p.height, p.width, maxPx);
  const alt = `${ROLE_TITLE[role]}, central prepared slice ${k + 1} of ${p.slices}`;
  return (
    `<img class="thumb" src="${pngDataUri(t.png)}" width="${t.width}" height="${t.height}" alt="${esc(alt)}"` +
    ` data-role="${role}" data-slice="${k}" title="${esc(alt)}">`
  );
}

function listHtml(items: readonly string[], cls: string): string {
  if (items.length === 0) return "";
  return `<ul class="${cls}">${items.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>`;
}

function candidatesHtml(others: readonly SeriesRecord[]): string {
  if (others.length === 0) return "";
  const items = others.map(
    (s) =>
      `<li data-series-number="${orDash(s.seriesNumber)}">${seriesTitle(s)}: <span class="why">${orDash(s.note ?? "ranked lower")}</span></li>`,
  );
  return `<p class="label">other candidates</p><ul class="candidates">${items.join("")}</ul>`;
}

function roleHtml(q: QcExam, role: Role, slices: PreparedSlices, maxPx: number): string {
  const chosen = chosenFor(q.series, role);
  const others = candidatesFor(q.series, role);
  const head = `<h3>${ROLE_TITLE[role]} <code>${role}</code></h3>`;
  if (!chosen) {
    const none = others.length > 0 ? "no candidate could be used" : "no series took this role";
    return `<section class="role missing" data-role="${role}">${head}<p class="none">${none}</p>${candidatesHtml(others)}</section>`;
  }
  return (
    `<section class="role" data-role="${role}" data-series-number="${orDash(chosen.seriesNumber)}">${head}` +
    thumbnailHtml(role, slices, maxPx) +
    `<p class="chosen">${seriesTitle(chosen)}</p>` +
    `<p class="geometry">${chosen.frames} frames \u00b7 ${geometry(chosen)}</p>` +
    `<p class="choice">${orDash(chosen.note)}</p>` +
    listHtml(chosen.reasons, "reasons") +
    candidatesHtml(others) +
    "</section>"
  );
}

function unassignedHtml(series: readonly SeriesRecord[]): string {
  const none = series.filter((s) => s.role === null);
  if (none.length === 0) return "";
  const rows = none.map(
    (s) =>
      `<tr><td class="num">${orDash(s.seriesNumber)}</td><td>${orDash(s.description)}</td><td class="num">${s.frames}</td><td>${esc(s.reasons.join("; "))}</td></tr>`,
  );
  return (
    `<details class="unassigned"><summary>${none.length} series without a role</summary>` +
    `<table class="data compact"><thead><tr><th>#</th><th>description</th><th>frames</th><th>why no role</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table></details>`
  );
}

function searchText(q: QcExam): string {
  const e = q.exam;
  const words = [e.examId, e.accessionNumber, e.site, ...q.series.map((s) => s.description)];
  return words
    .filter((w) => w)
    .join(" ")
    .toLowerCase();
}

function factsHtml(e: ExamRecord): string {
  const facts: [string, string][] = [
    ["study date", orDash(e.studyDate)],
    ["site", orDash(e.site)],
    ["scanner", scanner(e)],
    ["age, sex", ageSex(e)],
    ["MRE", kpaText(e)],
  ];
  return `<dl class="exam-facts">${facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join("")}</dl>`;
}

function cardHtml(q: QcExam, slices: PreparedSlices, warnings: readonly string[], maxPx: number): string {
  const e = q.exam;
  const status = e.exclusionReason ? "excluded" : "usable";
  const cls = ["exam", status, warnings.length > 0 ? "warned" : ""].filter((c) => c).join(" ");
  return (
    `<article class="${cls}" id="${esc(e.examId)}" data-exam="${esc(e.examId)}" data-accession="${esc(e.accessionNumber)}"` +
    ` data-status="${status}" data-warnings="${warnings.length}" data-search="${esc(searchText(q))}">` +
    `<header><h2>${orDash(e.accessionNumber)} <span class="muted">${esc(e.examId)}</span></h2>${statusHtml(q)}</header>` +
    factsHtml(e) +
    listHtml(warnings, "warnings") +
    `<div class="roles">${QC_ROLES.map((r) => roleHtml(q, r, slices, maxPx)).join("")}</div>` +
    unassignedHtml(q.series) +
    "</article>"
  );
}

// ------------------------------------------------------------------------------------------- the page

/** The filter: words of the text box must all appear in a card's accession, exam id, site or descriptions. */
const QC_SCRIPT = `(() => {
  const bar = document.getElementById("qc-filters");
  const text = document.getElementById("qc-text");
  const excluded = document.getElementById("qc-excluded");
  const warned = document.getElementById("qc-warned");
  const shown = document.getElementById("qc-shown");
  const cards = Array.from(document.querySelectorAll("article.exam"));
  const apply = () => {
    const words = text.value.toLowerCase().split(/\\s+/).filter((w) => w.length > 0);
    const flagged = excluded.checked || warned.checked;
    let n = 0;
    for (const card of cards) {
      const matches = words.every((w) => card.dataset.search.includes(w));
      const wanted = !flagged || (excluded.checked && card.dataset.status === "excluded") ||
        (warned.checked && card.dataset.warnings !== "0");
      card.hidden = !(matches && wanted);
      if (!card.hidden) n++;
    }
    shown.textContent = n + " of " + cards.length + " exams shown";
  };
  text.addEventListener("input", apply);
  excluded.addEventListener("change", apply);
  warned.addEventListener("change", apply);
  bar.hidden = false;
  apply();
})();`;

function scriptHash(script: string): string {
  return `sha256-${createHash("sha256").update(script, "utf8").digest("base64")}`;
}

function countsHtml(c: QcCounts, prepName: string): string {
  const excluded = Object.entries(c.excludedByReason).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const total = excluded.reduce((s, [, n]) => s + n, 0);
  const byReason = excluded.map(([code, n]) => `<code>${esc(code)}</code> ${n}`).join(", ");
  return (
    `<p class="counts"><strong>${c.exams}</strong> exams \u00b7 <strong>${c.usable}</strong> usable \u00b7 ` +
    `<strong>${total}</strong> excluded${total > 0 ? ` (${byReason})` : ""} \u00b7 ` +
    `<strong>${c.withWarnings}</strong> with warnings \u00b7 ` +
    `<strong>${c.withoutPrepared}</strong> usable without prepared slices for <code>${esc(prepName)}</code></p>`
  );
}

function filtersHtml(): string {
  return `<div class="filters" id="qc-filters" role="search" hidden>
<label>Filter <input type="search" id="qc-text" placeholder="accession, exam id, site or series description" autocomplete="off"></label>
<span>show only: <label><input type="checkbox" id="qc-excluded"> excluded</label>
<label><input type="checkbox" id="qc-warned"> with warnings</label></span>
<output id="qc-shown" aria-live="polite"></output>
</div>`;
}

function pageHtml(parts: {
  workName: string;
  prepName: string;
  createdAt: Date;
  counts: QcCounts;
  cards: string[];
}): string {
  const title = `liverstiff series QC: ${parts.workName}`;
  const created = parts.createdAt.toISOString().replace(/\.\d{3}Z$/, "Z");
  return `${pageStart({
    title,
    generator: "liverstiff qc",
    style: STYLE + QC_STYLE,
    csp: `script-src '${scriptHash(QC_SCRIPT)}'`,
  })}
<header class="top">
<div class="wrap">
<h1>${esc(title)}</h1>
<p class="meta">work folder <strong>${esc(parts.workName)}</strong> \u00b7 preparation <code>${esc(parts.prepName)}</code> \u00b7 created ${esc(created)}</p>
<p class="disclaimer" role="note"><strong>Research use only.</strong> ${esc(QC_NOTICE)}</p>
</div>
</header>
<main class="wrap">
${countsHtml(parts.counts, parts.prepName)}
<p class="note">One card per exam, excluded exams first, then by site and study date. Per role: the chosen series, the reasons
recorded for the choice, the candidates that lost and why, and the central prepared slice (greyscale, windowed to that
slice's 1st\u201399th percentile). Warnings flag a choice made by a tie or by series number alone, a first-ranked candidate
that was not used, a missing optional role and missing prepared slices.</p>
${filtersHtml()}
${parts.cards.join("\n")}
</main>
<footer class="wrap"><p>${esc(QC_NOTICE)} Generated by liverstiff qc from the work folder's catalog and prepared slices.</p></footer>
<script>${QC_SCRIPT}</script>
</body>
</html>
`;
}

function emptyCounts(exams: number): QcCounts {
  return { exams, usable: 0, excludedByReason: {}, withWarnings: 0, withoutPrepared: 0 };
}

function count(c: QcCounts, q: QcExam, slices: PreparedSlices, warnings: readonly string[]): void {
  if (q.exclusionCode) c.excludedByReason[q.exclusionCode] = (c.excludedByReason[q.exclusionCode] ?? 0) + 1;
  else c.usable++;
  if (warnings.length > 0) c.withWarnings++;
  if (q.exam.usable && "missing" in slices) c.withoutPrepared++;
}

/**
 * Reads a work folder's catalog and prepared slices and returns the QC page (one self-contained HTML
 * string) with its counts. Throws a LiverstiffError naming the folder when it holds no catalog.
 */
export function renderQcPage(workdir: string, options: QcOptions): QcPage {
  const maxPx = options.thumbnailMaxPx ?? THUMBNAIL_MAX_PX;
  const cat = openWorkCatalog(workdir);
  let exams: QcExam[];
  try {
    exams = loadExams(cat);
  } finally {
    cat.close();
  }
  const counts = emptyCounts(exams.length);
  // One exam's slices at a time: 600 exams never sit in memory together.
  const cards = exams.map((q) => {
    const slices = loadSlices(workdir, q.exam, options.prepName);
    const warnings = examWarnings(q.exam, q.series, slices);
    count(counts, q, slices, warnings);
    return cardHtml(q, slices, warnings, maxPx);
  });
  const workName = basename(resolve(workdir));
  const html = pageHtml({
    workName,
    prepName: options.prepName,
    createdAt: options.createdAt ?? new Date(),
    counts,
    cards,
  });
  return { html, counts };
}

/** The preparations cached in a work folder, with how many exams have each (to suggest one). */
export function preparationsIn(workdir: string): Record<string, number> {
  const cat = openWorkCatalog(workdir);
  try {
    const out: Record<string, number> = {};
    for (const e of cat.exams()) {
      for (const p of cat.preparedFor(e.examId)) out[p.prepName] = (out[p.prepName] ?? 0) + 1;
    }
    return out;
  } finally {
    cat.close();
  }
}

export interface WriteQcOptions extends QcOptions {
  /** Where to write the page (default WORKDIR/qc.html). */
  out?: string;
}

/** Renders the QC page and writes it atomically; returns the path, its size in bytes and the counts. */
export function writeQcPage(
  workdir: string,
  options: WriteQcOptions,
): { path: string; bytes: number; counts: QcCounts } {
  const { out, ...render } = options;
  const page = renderQcPage(workdir, render);
  const path = out ?? join(workdir, "qc.html");
  writeFileAtomic(path, page.html);
  return { path, bytes: Buffer.byteLength(page.html), counts: page.counts };
}
