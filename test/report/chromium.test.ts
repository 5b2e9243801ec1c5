// Opens the fixture's report.html in headless Chromium (the Debian package, /usr/bin/chromium) with
// every network request blocked, checks that it loads without console errors or requests, that its plots
// are laid out, and takes a full-page PNG screenshot. Skipped, with the reason printed, without Chromium.
// LIVERSTIFF_REPORT_SCREENSHOT=path keeps the screenshot. A second test checks that no table is wider than
// its column, on screen and at the width of an A4 page printed with the report's own @page margins.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { PNG } from "pngjs";
import { renderReport, writeReport } from "../../src/report/index.ts";
import {
  CHROMIUM,
  chromiumSkip,
  FIXTURE_DIR,
  fixtureManifest,
  SIX_RECIPES,
  sixRecipeMetrics,
} from "./helpers.ts";

const skip = chromiumSkip;
if (skip) console.log(`# chromium.test.ts skipped: ${skip}`);

test("report.html opens in headless Chromium offline: no console errors, no requests, plots laid out, screenshot", {
  skip,
  timeout: 180_000,
}, async () => {
  const { chromium } = await import("playwright-core");
  const tmp = mkdtempSync(join(tmpdir(), "liverstiff-chromium-"));
  try {
    const run = join(tmp, "run");
    cpSync(FIXTURE_DIR, run, { recursive: true });
    const { path } = await writeReport(run);
    const url = pathToFileURL(path).href;
    const context = await chromium.launchPersistentContext(join(tmp, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
    });
    try {
      const problems: string[] = [];
      const requests: string[] = [];
      await context.route("**/*", (route) => {
        const u = route.request().url();
        requests.push(u);
        return u === url ? route.continue() : route.abort();
      });
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
      const response = await page.goto(url, { waitUntil: "load" });
      assert.ok(response?.ok(), "the page loads");
      // Runs in the page (a string, since this project's TypeScript has no DOM types).
      const layout = (await page.evaluate(`(() => {
        const svgs = [...document.querySelectorAll("figure.plot svg")].map((s) => s.getBoundingClientRect());
        const roc = document.querySelector('figure[data-plot="roc-cv10-3.0"] svg').getBoundingClientRect();
        return {
          title: document.title,
          svgs: svgs.length,
          drawn: svgs.filter((r) => r.width > 150 && r.height > 60).length,
          scrollWidth: document.documentElement.scrollWidth,
          scrollHeight: document.documentElement.scrollHeight,
          roc: { x: roc.x + window.scrollX, y: roc.y + window.scrollY, width: roc.width, height: roc.height },
        };
      })()`)) as {
        title: string;
        svgs: number;
        drawn: number;
        scrollWidth: number;
        scrollHeight: number;
        roc: { x: number; y: number; width: number; height: number };
      };
      assert.equal(layout.title, "liverstiff validation report");
      assert.equal(layout.svgs, 39, "every plot is in the page");
      assert.equal(layout.drawn, 39, "and laid out at a readable size");
      assert.ok(layout.scrollWidth <= 1280, `no horizontal overflow (${layout.scrollWidth} px)`);
      const png = PNG.sync.read(await page.screenshot({ fullPage: true, type: "png" }));
      if (process.env.LIVERSTIFF_REPORT_SCREENSHOT) {
        writeFileSync(process.env.LIVERSTIFF_REPORT_SCREENSHOT, PNG.sync.write(png));
      }
      assert.equal(png.width, 1280);
      assert.equal(png.height, layout.scrollHeight);
      const pixel = (x: number, y: number) => {
        const i = 4 * (Math.round(y) * png.width + Math.round(x));
        return [png.data[i], png.data[i + 1], png.data[i + 2]];
      };
      // The header band is painted dark blue.
      const [r0, g0, b0] = pixel(8, 8);
      assert.ok(b0 > r0 && b0 < 140 && g0 < 90, `header colour ${[r0, g0, b0]}`);
      // Inside the cv10 ROC plot at 3.0 kPa, both recipes' curves are painted (blue #0072B2, vermilion #D55E00).
      let blue = 0;
      let vermilion = 0;
      const { x, y, width, height } = layout.roc;
      for (let yy = y; yy < y + height; yy++) {
        for (let xx = x; xx < x + width; xx++) {
          const [r, g, b] = pixel(xx, yy);
          if (b > 140 && r < 60 && g > 80 && g < 150) blue++;
          if (r > 180 && g < 120 && b < 60) vermilion++;
        }
      }
      assert.ok(blue > 50 && vermilion > 50, `curves painted: ${blue} blue, ${vermilion} vermilion pixels`);
      assert.deepEqual(problems, []);
      assert.deepEqual(requests, [url], "the report requested nothing but itself");
    } finally {
      await context.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/** A4 (210 mm) less the stylesheet's 12 mm page margins on each side, in CSS pixels (96 per inch). */
const A4_CONTENT_PX = Math.floor(((210 - 2 * 12) / 25.4) * 96);

/** Tables wider than the box they sit in (their .table-wrap), or boxes wider than the page's main column. */
const OVERFLOWS = `(() => {
  const main = document.querySelector("main").getBoundingClientRect().width;
  return [...document.querySelectorAll("table")].flatMap((t) => {
    const box = t.parentElement;
    const width = t.getBoundingClientRect().width;
    const bad = width > box.clientWidth + 0.5 || t.scrollWidth > box.clientWidth + 0.5 || box.getBoundingClientRect().width > main + 0.5;
    return bad ? [t.getAttribute("data-table") + ": " + Math.ceil(width) + " px in " + box.clientWidth + " px"] : [];
  });
})()`;

test("every table fits its column at screen width and at A4 print width, with two recipes and with six", {
  skip,
  timeout: 180_000,
}, async () => {
  const { chromium } = await import("playwright-core");
  const tmp = mkdtempSync(join(tmpdir(), "liverstiff-chromium-width-"));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const run = join(tmp, "run");
    cpSync(FIXTURE_DIR, run, { recursive: true });
    const two = (await writeReport(run)).path;
    const six = join(tmp, "six.html");
    writeFileSync(six, await renderReport(sixRecipeMetrics(), fixtureManifest()));
    for (const [name, path] of [
      ["two recipes", two],
      ["six recipes", six],
    ] as const) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.route("**/*", (route) =>
        route.request().url().startsWith("file:") ? route.continue() : route.abort(),
      );
      await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
      const tables = (await page.evaluate("document.querySelectorAll('table.data').length")) as number;
      assert.ok(tables >= 20, `${name}: ${tables} tables`);
      if (name === "six recipes") {
        const heads = (await page.evaluate(
          `[...document.querySelectorAll('table[data-table="comparison-matrix-cv10"] thead th')].length`,
        )) as number;
        assert.equal(heads, SIX_RECIPES.length + 1, "the matrix has a column per recipe");
      }
      assert.deepEqual(await page.evaluate(OVERFLOWS), [], `${name}, screen 1280 px`);
      await page.emulateMedia({ media: "print" });
      await page.setViewportSize({ width: A4_CONTENT_PX, height: 1000 });
      const mainWidth = (await page.evaluate(
        "document.querySelector('main').getBoundingClientRect().width",
      )) as number;
      assert.ok(
        Math.abs(mainWidth - A4_CONTENT_PX) < 1,
        `print: the main column spans the page (${mainWidth})`,
      );
      assert.deepEqual(await page.evaluate(OVERFLOWS), [], `${name}, A4 print ${A4_CONTENT_PX} px`);
      await page.close();
    }
  } finally {
    await browser.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
