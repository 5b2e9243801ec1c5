// The web app's pages, rendered on the server: the worklist with the upload form, a page per study, the
// token form and error pages. Every value that comes from a DICOM file or a request is HTML-escaped here,
// where it is written into the page; the pages load only /static/app.css and /static/app.js.
import type { ExamReport } from "../deploy/index.ts";
import type { AuditEntry, Job } from "./store.ts";

export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Tagged template: interpolated values are escaped unless they are already `Html`. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (const [i, v] of values.entries()) {
    const part = Array.isArray(v)
      ? v.map((x) => (x instanceof Html ? x.text : escapeHtml(x))).join("")
      : v instanceof Html
        ? v.text
        : escapeHtml(v);
    out += part + strings[i + 1]!;
  }
  return new Html(out);
}

export const NOTICE = "Research use only. Not for diagnostic use. liverstiff is not a medical device.";

export interface PageContext {
  /** The service's state shown in the header: model and PACS. */
  modelLabel: string;
  pacsLabel?: string;
}

function layout(
  title: string,
  context: PageContext,
  main: Html,
  body: { poll?: string; signature?: string } = {},
): string {
  const poll = body.poll ? html` data-poll="${body.poll}" data-signature="${body.signature ?? ""}"` : html``;
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · liverstiff</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head><body${poll}>
<a class="skip" href="#main">Skip to main content</a>
<header class="top"><a class="home" href="/">liverstiff worklist</a>
<span class="muted">Model: ${context.modelLabel}</span>
${context.pacsLabel ? html`<span class="muted">PACS: ${context.pacsLabel}</span>` : html``}</header>
<p class="notice" role="note">${NOTICE}</p>
<main id="main" tabindex="-1">${main}</main>
</body></html>`.text
  }\n`;
}

/** "2026-12-03 14:57:03 UTC" in a <time> element. */
function time(iso: string | undefined): Html {
  if (!iso) return html`<span class="muted">–</span>`;
  return html`<time datetime="${iso}">${iso.replace("T", " ").replace(/\.\d+Z$/, " UTC")}</time>`;
}

const STATE_TEXT: Record<Job["state"], string> = {
  received: "waiting",
  predicting: "predicting",
  done: "done",
  failed: "failed",
};

function state(job: Job): Html {
  return html`<span class="state state-${job.state}">${STATE_TEXT[job.state]}</span>`;
}

export const studyPath = (uid: string) => `/studies/${encodeURIComponent(uid)}`;
export const apiStudyPath = (uid: string) => `/api/studies/${encodeURIComponent(uid)}`;

/** What the worklist's script compares to know the list changed. */
export function worklistSignature(jobs: readonly Job[]): string {
  return jobs.map((j) => `${j.id}:${j.state}`).join(",");
}

function uploadForm(): Html {
  return html`<form class="upload" method="post" action="/upload" enctype="multipart/form-data">
<h2 id="upload-title">Upload a study</h2>
<p>For a site without a PACS connection: a zip of an exam's DICOM files, or the exam's folder. The study
appears in the worklist and is predicted in turn.</p>
<label for="upload-zip">DICOM zip file</label>
<input id="upload-zip" name="files" type="file" accept=".zip,application/zip" aria-describedby="upload-help">
<label for="upload-folder">or a folder of DICOM files</label>
<input id="upload-folder" name="files" type="file" webkitdirectory multiple aria-describedby="upload-help">
<p id="upload-help" class="muted">Files are kept on this service's data folder only; nothing is sent elsewhere.</p>
<button type="submit">Upload</button>
</form>`;
}

export function worklistPage(jobs: readonly Job[], context: PageContext): string {
  const rows = jobs.map(
    (j) => html`<tr>
<td>${time(j.receivedAt)}</td>
<td><a href="${studyPath(j.studyInstanceUid)}">${j.accession ?? "(no accession)"}</a></td>
<td class="uid">${j.studyInstanceUid}</td>
<td>${state(j)}${j.state === "failed" && j.reason ? html`<br><span class="muted">${j.reason}</span>` : html``}</td>
<td>${j.category ?? ""}</td>
<td>${time(j.finishedAt)}</td>
</tr>`,
  );
  const table =
    jobs.length === 0
      ? html`<p>No study received yet.</p>`
      : html`<table><caption>Received studies, newest first</caption>
<thead><tr><th scope="col">Received</th><th scope="col">Accession</th><th scope="col">Study Instance UID</th>
<th scope="col">Status</th><th scope="col">Category</th><th scope="col">Finished</th></tr></thead>
<tbody>${rows}</tbody></table>`;
  return layout(
    "Worklist",
    context,
    html`<h1>Worklist</h1><p id="live-status" role="status" aria-live="polite"></p>${table}${uploadForm()}`,
    { poll: "/api/studies", signature: worklistSignature(jobs) },
  );
}

const pct = (p: number) => `${(100 * p).toFixed(1)}%`;
const kpa = (v: number) => `${v.toFixed(1)} kPa`;

function thresholdsTable(e: ExamReport): Html {
  const rows = (e.thresholds ?? []).map(
    (t) => html`<tr>
<th scope="row">≥ ${t.thresholdKpa.toFixed(1)} kPa</th>
<td class="num" data-probability="${t.probability}">${pct(t.probability)}</td>
<td class="num">${pct(t.interval[0])} – ${pct(t.interval[1])}</td>
<td class="num">${pct(t.cutoff)}</td>
<td>${t.positive ? (t.counted ? "above" : "above, not counted") : "below"}</td>
</tr>`,
  );
  return html`<table class="thresholds"><caption>Probability that MRE stiffness is at or above each threshold</caption>
<thead><tr><th scope="col">Threshold</th><th scope="col" class="num">Probability</th>
<th scope="col" class="num">Fold-model range</th><th scope="col" class="num">Cut-off</th><th scope="col">Call</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="muted">Probability: the mean of the bundle's fold models; the range is their lowest and highest (model
uncertainty only, not a confidence interval). The category is the highest threshold with every threshold up
to it above its cut-off.</p>`;
}

function kpaFacts(e: ExamReport): Html {
  const k = e.kpaPred;
  if (!k) return html``;
  const pi = k.predictionInterval;
  return html`<dt>Predicted stiffness</dt><dd>${kpa(k.value)} (fold models ${k.interval[0].toFixed(1)}–${k.interval[1].toFixed(1)} kPa${
    pi ? html`; 80% prediction interval ${pi[0].toFixed(1)}–${pi[1].toFixed(1)} kPa` : html``
  })</dd>`;
}

function seriesTable(e: ExamReport): Html {
  const rows = Object.entries(e.series).map(
    ([role, s]) => html`<tr><th scope="row">${role}</th><td class="num">${s.seriesNumber ?? ""}</td>
<td>${s.description ?? ""}</td><td class="num">${s.echoTimeMs ?? ""}</td>
<td>${s.dims ? s.dims.join(" × ") : ""}</td><td>${s.spacingMm ? s.spacingMm.map((x) => x.toFixed(2)).join(" × ") : ""}</td>
<td>${s.orientation ?? ""}</td></tr>`,
  );
  return html`<table><caption>Series chosen for each role</caption>
<thead><tr><th scope="col">Role</th><th scope="col" class="num">Series</th><th scope="col">Description</th>
<th scope="col" class="num">Echo time (ms)</th><th scope="col">Matrix</th><th scope="col">Spacing (mm)</th>
<th scope="col">Orientation</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function warningsList(e: ExamReport): Html {
  if (e.warnings.length === 0) return html`<p>No warnings.</p>`;
  return html`<ul class="warnings">${e.warnings.map((w) => html`<li><strong>${w.code}</strong>: ${w.message}</li>`)}</ul>`;
}

function examSection(e: ExamReport, uid: string): Html {
  const api = apiStudyPath(uid);
  if (e.status !== "predicted")
    return html`<h2>Exam ${e.accession ?? e.examId}</h2><p class="alert" role="alert">Not predicted: ${e.reason ?? ""}</p>${seriesTable(e)}`;
  const links = [
    e.dicom?.sr ? html`<li><a href="${api}/sr.dcm" download>DICOM SR (results)</a></li>` : html``,
    e.dicom?.sc
      ? html`<li><a href="${api}/sc.dcm" download>DICOM Secondary Capture (figure)</a></li>`
      : html``,
    html`<li><a href="${api}/report.json">JSON report</a></li>`,
    e.png ? html`<li><a href="${api}/figure.png">Figure (PNG)</a></li>` : html``,
  ];
  return html`<h2>Result</h2>
<dl class="facts">
<dt>Category</dt><dd class="category">${e.category?.label ?? ""}</dd>
<dt>At the category</dt><dd>P ${pct(e.category?.probability ?? 0)}, cut-off ${pct(e.category?.cutoff ?? 0)}</dd>
${kpaFacts(e)}
</dl>
${thresholdsTable(e)}
<h2>Warnings</h2>${warningsList(e)}
<h2>Series</h2>${seriesTable(e)}
<h2>Figure</h2>
${
  e.png
    ? html`<figure><img src="${api}/figure.png" width="1442" height="804"
alt="The prepared slices the model read for each role, framed by the model's attention, with the probabilities, cut-offs and category of exam ${e.accession ?? e.examId}">
<figcaption>The slices the model read (rows: roles), its attention on each, and the results.</figcaption></figure>`
    : html`<p>No figure was written.</p>`
}
<h2>Files</h2><ul class="links">${links}</ul>`;
}

function jobFacts(job: Job): Html {
  return html`<dl class="facts">
<dt>Status</dt><dd>${state(job)}</dd>
${job.reason ? html`<dt>Reason</dt><dd>${job.reason}</dd>` : html``}
<dt>Accession</dt><dd>${job.accession ?? "(none)"}</dd>
<dt>Study Instance UID</dt><dd class="uid">${job.studyInstanceUid}</dd>
<dt>Source</dt><dd>${job.source === "pacs" ? "PACS (DICOMweb)" : "upload"}, ${job.instances} MR instances</dd>
<dt>Received</dt><dd>${time(job.receivedAt)}</dd>
<dt>Started</dt><dd>${time(job.startedAt)}${job.attempts > 1 ? html` (attempt ${job.attempts})` : html``}</dd>
<dt>Finished</dt><dd>${time(job.finishedAt)}</dd>
${
  job.storeState !== "none"
    ? html`<dt>${job.source === "pacs" ? "Results in the PACS" : "Results sent (C-STORE)"}</dt><dd>${job.storeState}${job.storeReason ? html`: ${job.storeReason}` : html``}</dd>`
    : html``
}
</dl>`;
}

function auditTable(entries: readonly AuditEntry[]): Html {
  if (entries.length === 0) return html``;
  return html`<details><summary>Audit log of this study (${entries.length} entries)</summary>
<table><thead><tr><th scope="col">Time</th><th scope="col">Job</th><th scope="col">Action</th><th scope="col">Outcome</th>
<th scope="col">Detail</th></tr></thead><tbody>${entries.map(
    (
      a,
    ) => html`<tr><td>${time(a.time)}</td><td class="num">${a.jobId ?? ""}</td><td>${a.action}</td><td>${a.outcome}</td>
<td>${a.detail ?? ""}</td></tr>`,
  )}</tbody></table></details>`;
}

const RECEIVED_NOTE: Record<string, string> = {
  new: "The study was received and queued.",
  retry: "The study had failed before with the same instances; it was queued again.",
  duplicate: "This study was already received with the same instances; it was not processed again.",
};

export function studyPage(
  jobs: readonly Job[],
  exams: readonly ExamReport[] | undefined,
  audit: readonly AuditEntry[],
  context: PageContext,
  received?: string,
): string {
  const job = jobs[0]!;
  const own = (exams ?? []).filter((e) => e.studyInstanceUid === job.studyInstanceUid);
  const note =
    received && RECEIVED_NOTE[received]
      ? html`<p class="info" role="status">${RECEIVED_NOTE[received]}</p>`
      : html``;
  const pending = job.state === "received" || job.state === "predicting";
  const body = html`<h1>Study ${job.accession ?? job.studyInstanceUid}</h1>${note}
<section aria-labelledby="job-title"><h2 id="job-title">Job</h2>${jobFacts(job)}</section>
${pending ? html`<p role="status">This page reloads itself when the job's status changes.</p>` : html``}
${own.map((e) => examSection(e, job.studyInstanceUid))}
${
  jobs.length > 1
    ? html`<h2>Earlier versions of this study</h2><ul>${jobs
        .slice(1)
        .map(
          (j) =>
            html`<li>job ${j.id}, ${j.instances} MR instances, received ${time(j.receivedAt)}: ${state(j)}${j.category ? html`, ${j.category}` : html``}</li>`,
        )}</ul>`
    : html``
}
${auditTable(audit)}
<p><a href="/">Back to the worklist</a></p>`;
  return layout(
    `Study ${job.accession ?? job.studyInstanceUid}`,
    context,
    body,
    pending ? { poll: apiStudyPath(job.studyInstanceUid), signature: job.state } : {},
  );
}

export function messagePage(title: string, message: string, context: PageContext): string {
  return layout(
    title,
    context,
    html`<h1>${title}</h1><p class="alert" role="alert">${message}</p><p><a href="/">Back to the worklist</a></p>`,
  );
}

export function loginPage(context: PageContext, failed: boolean): string {
  return layout(
    "Sign in",
    context,
    html`<h1>Sign in</h1>
${failed ? html`<p class="alert" role="alert">That token is not this service's token.</p>` : html``}
<form method="post" action="/login" class="upload">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<p class="muted">The token in the file given to <code>liverstiff serve --token-file</code>.</p>
<button type="submit">Sign in</button></form>`,
  );
}
