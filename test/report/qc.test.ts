// The QC page (liverstiff qc) on a small synthetic cohort written as DICOM and ingested, with three
// changes made to its files before ingest: one exam loses its T2w series (excluded: no_t2), one gets a
// second copy of its T2w series under a later SeriesNumber (two candidates, decided by series number
// alone: a warning), and one series description becomes `<script>alert(1)</script>` (it must be escaped).
// LIVERSTIFF_QC_PAGE=path keeps the page.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { PNG } from "pngjs";
import {
  type ExamRecord,
  ingest,
  loadPrepared,
  openCatalog,
  type SeriesRecord,
} from "../../src/cohort/index.ts";
import { examWarnings, renderQcPage, sliceThumbnail } from "../../src/report/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import { recipePreparation } from "../../src/validate/workdir.ts";
import { runCli } from "../fixtures/cli.ts";
import { scratchDir } from "../fixtures/scratch.ts";
import { attr, CHROMIUM, chromiumSkip, type Element, findAll, parseHtml, text } from "./helpers.ts";

// dcmjs ships no type declarations; the few calls used here are typed loosely.
// biome-ignore lint/suspicious/noExplicitAny: untyped third-party module
const dcmjs: any = createRequire(import.meta.url)("dcmjs");

const INJECTED = "<script>alert(1)</script>";
const tmp = scratchDir("liverstiff-qc-");
const cohort = join(tmp, "cohort");
const work = join(tmp, "work");
const { prepName, prep } = recipePreparation();

interface TruthSeries {
  accession: string;
  series_instance_uid: string;
  series_number: number;
  kind: string;
  files: string[];
}

/** What the cohort's changes did, for the tests to check. */
const changed = { noT2: "", twoT2: "", copyNumber: 0, injected: "" };
let exams: ExamRecord[] = [];
const seriesOf = new Map<string, SeriesRecord[]>();
let html = "";
let root: Element;

/** Rewrites every file of a series through dcmjs into `outDir` (or in place), after `edit` changes it. */
function rewriteSeries(
  files: string[],
  outDir: string | undefined,
  edit: (ds: Record<string, unknown>) => void,
) {
  dcmjs.log.setLevel("silent");
  for (const file of files) {
    const buf = readFileSync(file);
    const dict = dcmjs.data.DicomMessage.readFile(
      buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    );
    const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, unknown>;
    edit(ds);
    (dict.meta as Record<string, unknown>)["00020003"] = { vr: "UI", Value: [ds.SOPInstanceUID] };
    dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds);
    const out = outDir ? join(outDir, basename(file)) : file;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, Buffer.from(dict.write()));
  }
}

function changeCohort() {
  const truth = readFileSync(join(cohort, "truth-series.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as TruthSeries);
  const accessions = [...new Set(truth.map((t) => t.accession))].sort();
  const find = (acc: string, kind: string) => truth.find((t) => t.accession === acc && t.kind === kind)!;
  const abs = (files: string[]) => files.map((f) => join(cohort, f));
  // 1. No T2w series.
  changed.noT2 = accessions[0]!;
  rmSync(dirname(abs(find(changed.noT2, "t2").files)[0]!), { recursive: true });
  // 2. A second T2w series: the same images under new UIDs and a later SeriesNumber.
  changed.twoT2 = accessions[1]!;
  const t2 = find(changed.twoT2, "t2");
  changed.copyNumber = t2.series_number + 50;
  const copyDir = join(dirname(dirname(abs(t2.files)[0]!)), String(changed.copyNumber));
  rewriteSeries(abs(t2.files), copyDir, (ds) => {
    ds.SeriesInstanceUID = `${ds.SeriesInstanceUID}.99`;
    ds.SOPInstanceUID = `${ds.SOPInstanceUID}.99`;
    ds.SeriesNumber = changed.copyNumber;
  });
  // 3. A description with markup, on a series that gets no role either way (diffusion-weighted).
  changed.injected = accessions[2]!;
  rewriteSeries(abs(find(changed.injected, "dwi").files), undefined, (ds) => {
    ds.SeriesDescription = INJECTED;
  });
}

before(async () => {
  await synthesize({ out: cohort, exams: 4, seed: 7, workers: 1 });
  changeCohort();
  await ingest({
    roots: [join(cohort, "dicom")],
    labelsCsv: join(cohort, "labels.csv"),
    workdir: work,
    prep,
  });
  const cat = openCatalog(work);
  try {
    exams = cat.exams();
    for (const e of exams) seriesOf.set(e.examId, cat.series(e.examId));
  } finally {
    cat.close();
  }
  html = renderQcPage(work, { prepName, createdAt: new Date("2026-01-02T03:04:05Z") }).html;
  root = parseHtml(html);
  if (process.env.LIVERSTIFF_QC_PAGE) writeFileSync(process.env.LIVERSTIFF_QC_PAGE, html);
});

function cards(): Element[] {
  return findAll(root, "article").filter((a) => (attr(a, "class") ?? "").split(" ").includes("exam"));
}

function cardOf(accession: string): Element {
  const card = cards().find((c) => attr(c, "data-accession") === accession);
  assert.ok(card, `a card for ${accession}`);
  return card;
}

function examOf(accession: string): ExamRecord {
  return exams.find((e) => e.accessionNumber === accession)!;
}

/** The 1st and 99th percentiles as the page documents them, computed here on its own. */
function window(values: Float32Array): [number, number] {
  const sorted = Array.from(values)
    .filter((v) => Number.isFinite(v))
    .sort((a, b) => a - b);
  const lo = sorted[Math.floor(0.01 * (sorted.length - 1))]!;
  const hi = sorted[Math.floor(0.99 * (sorted.length - 1))]!;
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

function expectedGrey(v: number, [lo, hi]: [number, number]): number {
  return Math.min(255, Math.max(0, Math.round(((v - lo) / (hi - lo)) * 255)));
}

function decodeDataUri(src: string): PNG {
  const prefix = "data:image/png;base64,";
  assert.ok(src.startsWith(prefix), "an inline PNG");
  return PNG.sync.read(Buffer.from(src.slice(prefix.length), "base64"));
}

describe("liverstiff qc: the page", () => {
  it("the cohort's changes took effect in the catalog", () => {
    assert.equal(exams.length, 4);
    assert.match(examOf(changed.noT2).exclusionReason ?? "", /no T2w series/);
    const t2s = seriesOf.get(examOf(changed.twoT2).examId)!.filter((s) => s.role === "t2");
    assert.equal(t2s.length, 2);
    assert.equal(t2s.find((s) => s.chosen)?.seriesNumber, changed.copyNumber, "the later series wins");
  });

  it("has one card per exam with its accession, excluded exams first", () => {
    const all = cards();
    assert.equal(all.length, exams.length);
    assert.deepEqual(
      all.map((c) => attr(c, "data-accession")).sort(),
      exams.map((e) => e.accessionNumber).sort(),
    );
    for (const c of all) assert.ok(text(c).includes(attr(c, "data-accession")!));
    assert.equal(attr(all[0]!, "data-accession"), changed.noT2);
  });

  it("shows each chosen series number in its exam's card, under its role", () => {
    for (const e of exams) {
      const card = cardOf(e.accessionNumber!);
      for (const s of seriesOf.get(e.examId)!.filter((x) => x.chosen)) {
        const role = findAll(card, "section", { "data-role": s.role! });
        assert.equal(role.length, 1);
        assert.equal(attr(role[0]!, "data-series-number"), String(s.seriesNumber));
        assert.ok(text(role[0]!).includes(`series ${s.seriesNumber}`));
      }
    }
  });

  it("shows each role's central prepared slice as a PNG windowed to the slice's 1st-99th percentile", () => {
    let checked = 0;
    for (const e of exams.filter((x) => x.usable)) {
      const prepared = loadPrepared(work, e.examId, prepName);
      const imgs = findAll(cardOf(e.accessionNumber!), "img");
      assert.equal(imgs.length, e.roles.length);
      for (const img of imgs) {
        const role = attr(img, "data-role") as keyof typeof prepared.roles;
        const png = decodeDataUri(attr(img, "src")!);
        assert.equal(png.width, prep.size);
        assert.equal(png.height, prep.size);
        const plane = prep.size * prep.size;
        const k = Math.floor(prepared.slices / 2);
        assert.equal(attr(img, "data-slice"), String(k));
        const slice = prepared.roles[role]!.subarray(k * plane, (k + 1) * plane);
        const w = window(slice);
        for (let i = 0; i < plane; i++) {
          const g = expectedGrey(slice[i]!, w);
          assert.deepEqual([...png.data.subarray(4 * i, 4 * i + 3)], [g, g, g], `${role} pixel ${i}`);
        }
        checked++;
      }
    }
    assert.ok(checked >= 6, `${checked} thumbnails checked`);
  });

  it("box-averages a larger preparation down to at most 128 px before windowing the means", () => {
    const size = 256;
    const slice = Float32Array.from({ length: size * size }, (_, i) => ((i * 7919) % 1000) / 10);
    const t = sliceThumbnail(slice, size, size);
    const png = PNG.sync.read(t.png);
    assert.deepEqual([png.width, png.height], [128, 128]);
    const w = window(slice);
    for (const [y, x] of [
      [0, 0],
      [17, 90],
      [127, 127],
    ] as const) {
      const at = (yy: number, xx: number) => slice[yy * size + xx]!;
      const mean =
        (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
      assert.equal(png.data[4 * (y * 128 + x)], expectedGrey(mean, w));
    }
  });

  it("shows an excluded exam's reason and code", () => {
    const card = cardOf(changed.noT2);
    assert.equal(attr(card, "data-status"), "excluded");
    assert.match(text(card), /excluded: no T2w series no_t2/);
    assert.match(text(findAll(card, "section", { "data-role": "t2" })[0]!), /no series took this role/);
  });

  it("gives the reasons for a choice among candidates, the loser and why, and flags a choice by series number", () => {
    const card = cardOf(changed.twoT2);
    const t2 = text(findAll(card, "section", { "data-role": "t2" })[0]!);
    assert.match(t2, /chosen over 1 other candidate\(s\): later series/);
    const loser = findAll(card, "li", { "data-series-number": String(changed.copyNumber - 50) });
    assert.equal(loser.length, 1);
    assert.match(text(loser[0]!), /not chosen: later series/);
    assert.notEqual(attr(card, "data-warnings"), "0");
    assert.match(
      text(findAll(card, "ul", { class: "warnings" })[0]!),
      /T2w: chosen among 2 candidates by the later/,
    );
    for (const e of exams.filter((x) => x.accessionNumber !== changed.twoT2 && x.usable)) {
      assert.equal(
        attr(cardOf(e.accessionNumber!), "data-warnings"),
        "0",
        `${e.accessionNumber}: no warning`,
      );
    }
  });

  it("warns of a tie, a fallback from the first-ranked candidate, a missing optional role and missing slices", () => {
    const exam = examOf(changed.twoT2);
    const base = seriesOf.get(exam.examId)!;
    const note = (role: string, text: string) =>
      base.map((s) => (s.role === role && s.chosen ? { ...s, note: text } : s));
    const tie = note("t2", "chosen: chosen over 1 other candidate(s): tie, broken by UID");
    assert.deepEqual(examWarnings(exam, tie, { missing: "none" }).slice(0, 1), [
      "T2w: chosen among 2 candidates by a tie (broken by UID order)",
    ]);
    const fallback = note("t1_in", "chosen: series 9 ranked first but cannot be used");
    assert.match(
      examWarnings(exam, fallback, { missing: "x" })[0]!,
      /^T1w in-phase: the first-ranked candidate/,
    );
    const noOpp = base.filter((s) => s.role !== "t1_opp");
    const missing = examWarnings(exam, noOpp, { missing: "no prepared slices for P" });
    assert.ok(missing.includes("no T1w opposed-phase series (an optional role)"), missing.join("; "));
    assert.ok(missing.includes("no prepared slices for P"));
  });

  it("escapes a series description that holds markup", () => {
    assert.ok(!html.includes(INJECTED), "the description is not markup");
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"), "it is shown, escaped");
    assert.equal(findAll(root, "script").length, 1, "the page's own script only");
    const details = findAll(cardOf(changed.injected), "details");
    assert.equal(details.length, 1);
    assert.equal(attr(details[0]!, "open"), undefined, "series without a role are collapsed");
    assert.ok(text(details[0]!).includes(INJECTED), "in the collapsed list of series without a role");
  });

  it("names the work folder, not its path, and holds nothing it would have to fetch", () => {
    assert.ok(!html.includes(tmp), "no absolute path");
    assert.match(text(findAll(root, "h1")[0]!), /series QC: work$/);
    assert.match(html, /2026-01-02T03:04:05Z/);
    assert.match(html, /Research use only/);
    for (const el of findAll(root, "*")) {
      for (const name of ["src", "href"]) {
        const v = attr(el, name);
        if (v !== undefined) assert.ok(v.startsWith("data:image/png;base64,") || v.startsWith("#"), v);
      }
    }
    assert.equal(findAll(root, "link").length, 0);
  });

  it("says in an exam's card when it has no prepared slices for the preparation, and does not fail", () => {
    const page = renderQcPage(work, { prepName: "s3-32-mm400-zscore-f32" });
    const usable = exams.filter((e) => e.usable);
    assert.equal(page.counts.withoutPrepared, usable.length);
    const again = parseHtml(page.html);
    assert.equal(findAll(again, "img").length, 0);
    const card = findAll(again, "article").find(
      (a) => attr(a, "data-accession") === usable[0]!.accessionNumber,
    )!;
    assert.match(text(card), /no prepared slices for s3-32-mm400-zscore-f32/);
  });
});

function cli(...args: string[]) {
  const r = runCli(args);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("liverstiff qc: the command", () => {
  it("writes WORKDIR/qc.html by default and prints the path and the counts", (t) => {
    const started = Date.now();
    const r = cli("qc", work);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, r.err);
    const path = join(work, "qc.html");
    assert.ok(existsSync(path));
    assert.ok(r.out.includes(path));
    assert.match(r.out, /exams 4, usable 3, excluded 1 \(no_t2 1\)/);
    assert.match(r.out, /with warnings 1/);
    const bytes = readFileSync(path).length;
    t.diagnostic(
      `qc.html for ${exams.length} exams: ${(bytes / 1024).toFixed(0)} KiB; liverstiff qc took ${seconds.toFixed(1)} s`,
    );
    // 3 thumbnails of 128 x 128 per exam must keep 600 exams well under a few tens of MB.
    assert.ok(bytes / exams.length < 60_000, `${bytes} bytes for ${exams.length} exams`);
  });

  it("writes where --out says, with the preparation --prep names", () => {
    const out = join(tmp, "elsewhere", "page.html");
    const r = cli("qc", work, "--out", out, "--prep", "s3-32-mm400-zscore-f32");
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(out));
    assert.match(r.out, /usable without prepared slices for s3-32-mm400-zscore-f32: 3/);
    assert.match(r.out, new RegExp(`cached here: ${prepName} \\(3 exams\\); choose one with --prep`));
  });

  it("fails with exit code 1 and names the folder when it holds no catalog", () => {
    const nowhere = join(tmp, "no-work-here");
    const r = cli("qc", nowhere);
    assert.equal(r.code, 1);
    assert.match(r.err, /^liverstiff: error: no catalog in work folder .*no-work-here/);
    assert.ok(!existsSync(join(nowhere, "qc.html")));
  });
});

describe("liverstiff qc: in Chromium", { skip: chromiumSkip }, () => {
  it("loads offline without console errors, and the filter and the checkboxes hide cards", async () => {
    const { chromium } = await import("playwright-core");
    const path = join(tmp, "chromium-qc.html");
    const { writeFileAtomic } = await import("../../src/core/index.ts");
    writeFileAtomic(path, html);
    const url = pathToFileURL(path).href;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      await page.route("**/*", (route) => (route.request().url() === url ? route.continue() : route.abort()));
      await page.goto(url, { waitUntil: "load" });
      const visible = `[...document.querySelectorAll("article.exam")].filter((c) => c.offsetParent !== null).map((c) => c.dataset.accession)`;
      assert.equal(((await page.evaluate(visible)) as string[]).length, 4);
      await page.fill("#qc-text", changed.twoT2);
      assert.deepEqual(await page.evaluate(visible), [changed.twoT2]);
      assert.equal(await page.textContent("#qc-shown"), "1 of 4 exams shown");
      await page.fill("#qc-text", "");
      await page.check("#qc-excluded");
      assert.deepEqual(await page.evaluate(visible), [changed.noT2]);
      await page.check("#qc-warned");
      assert.deepEqual(
        ((await page.evaluate(visible)) as string[]).sort(),
        [changed.noT2, changed.twoT2].sort(),
      );
      // Printed on A4 (210 mm less 12 mm margins each side, at 96 px per inch) nothing is wider than the page.
      const a4ContentPx = Math.floor(((210 - 2 * 12) / 25.4) * 96);
      await page.emulateMedia({ media: "print" });
      await page.setViewportSize({ width: a4ContentPx, height: 1000 });
      assert.ok(((await page.evaluate("document.documentElement.scrollWidth")) as number) <= a4ContentPx);
      assert.equal(await page.locator("#qc-filters:visible").count(), 0, "no filter bar on paper");
      assert.deepEqual(problems, []);
      await page.close();
      // Without scripts every card shows and the filter bar (which would do nothing) stays hidden.
      const noJs = await browser.newPage({ javaScriptEnabled: false });
      await noJs.goto(url, { waitUntil: "load" });
      assert.equal(await noJs.locator("article.exam:visible").count(), 4);
      assert.equal(await noJs.locator("#qc-filters:visible").count(), 0);
      await noJs.close();
    } finally {
      await browser.close();
    }
  });
});
