// `liverstiff serve` as a site runs it, with real components: a bundle trained through the CLI, the real
// service process, uploads over HTTP, the web app in headless Chromium (playwright-core). The web app
// shows the same probabilities as `predict --json` for the same exam; a study sent twice is processed
// once; a restart during a job resumes it; a non-loopback bind needs a token; a zip naming `../` is
// refused; malformed requests get an answer and leave the service up; with --cam the figure carries the
// Grad-CAM maps.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { zipSync } from "fflate";
import { PNG } from "pngjs";
import type { PredictReport } from "../../src/deploy/index.ts";
import { CHROMIUM, chromiumSkip } from "../report/helpers.ts";
import {
  filesUnder,
  getJson,
  ok,
  run,
  type Served,
  type SmallBundle,
  serve,
  trainSmallBundle,
  waitFor,
  zipExams,
} from "./helpers.ts";

const pct = (p: number) => `${(100 * p).toFixed(1)}%`;

describe("liverstiff serve: web app, API, jobs", () => {
  let dir = "";
  let small: SmallBundle;
  let exam = "";
  let predicted: PredictReport;
  let zip: Uint8Array;
  const running: Served[] = [];

  const start = async (args: string[]) => {
    const s = await serve(["--model", small.bundle, ...args]);
    running.push(s);
    return s;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ls-serve-"));
    small = trainSmallBundle(dir);
    exam = small.examDirs[0]!;
    ok(run(["predict", exam, "--model", small.bundle, "--json", join(dir, "predict.json"), "--no-figures"]));
    predicted = JSON.parse(readFileSync(join(dir, "predict.json"), "utf8"));
    zip = zipExams([exam]);
    writeFileSync(join(dir, "exam.zip"), zip);
  });
  after(async () => {
    for (const s of running) await s.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows an uploaded exam in the web app with the same probabilities as predict --json", {
    skip: chromiumSkip,
  }, async () => {
    const served = await start(["--data", join(dir, "data-web")]);
    const origin = served.url.replace(/\/$/, "");
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      const requested: string[] = [];
      page.on("request", (r) => requested.push(r.url()));
      const worklist = await page.goto(served.url);
      const headers = worklist!.headers();
      assert.match(headers["content-security-policy"] ?? "", /default-src 'none'/);
      assert.equal(
        Object.keys(headers).filter((h) => h.startsWith("access-control-")).length,
        0,
        "no CORS headers",
      );
      // Keyboard: the skip link, then the controls in order, each with its label.
      const focused: string[] = [];
      for (let k = 0; k < 8; k++) {
        await page.keyboard.press("Tab");
        focused.push(
          await page.evaluate<string>('document.activeElement?.id || document.activeElement?.tagName || ""'),
        );
      }
      const order = ["upload-zip", "upload-folder", "BUTTON"].map((x) => focused.indexOf(x));
      assert.ok(
        order.every((i) => i >= 0),
        `the upload controls are reached by Tab: ${focused.join(", ")}`,
      );
      assert.deepEqual(
        [...order].sort((a, b) => a - b),
        order,
        "in reading order",
      );
      await page.getByLabel("DICOM zip file").setInputFiles(join(dir, "exam.zip"));
      await page.getByRole("button", { name: "Upload" }).focus();
      await Promise.all([page.waitForURL(/\/studies\//), page.keyboard.press("Enter")]);
      // The study page reloads itself until the job is done.
      await page.waitForSelector(".state-done", { timeout: 180_000 });
      const expected = predicted.exams[0]!;
      const shown = await page.$$eval("table.thresholds tbody tr", (rows) =>
        rows.map((r) => [...r.querySelectorAll("th, td")].map((c) => c.textContent?.trim() ?? "")),
      );
      assert.equal(shown.length, 5);
      for (const [k, t] of expected.thresholds!.entries()) {
        assert.equal(shown[k]![1], pct(t.probability), `P at ${t.thresholdKpa} kPa`);
        assert.equal(shown[k]![2], `${pct(t.interval[0])} – ${pct(t.interval[1])}`);
        assert.equal(shown[k]![3], pct(t.cutoff));
      }
      assert.equal((await page.textContent(".category"))?.trim(), expected.category!.label);
      assert.match(
        (await page.textContent("main")) ?? "",
        new RegExp(`${expected.kpaPred!.value.toFixed(1)} kPa`),
      );
      const figureWidth = await page.$eval(
        "figure img",
        (img) => (img as unknown as { naturalWidth: number }).naturalWidth,
      );
      assert.ok(figureWidth > 500, "the figure loaded");
      for (const name of [
        "DICOM SR (results)",
        "DICOM Secondary Capture (figure)",
        "JSON report",
        "Figure (PNG)",
      ]) {
        const href = await page.getByRole("link", { name }).getAttribute("href");
        const res = await fetch(new URL(href!, origin));
        assert.equal(res.status, 200, name);
      }
      assert.ok(
        requested.every((u) => u.startsWith(origin)),
        `nothing loaded from elsewhere: ${requested.filter((u) => !u.startsWith(origin))}`,
      );
      // The API gives predict's own exam entry, with the job.
      const uid = expected.studyInstanceUid;
      const api = await getJson(`${origin}/api/studies/${uid}`);
      assert.equal(api.status, 200);
      assert.equal(api.body.job.state, "done");
      const entry = api.body.exams[0];
      for (const [k, t] of expected.thresholds!.entries()) {
        assert.ok(Math.abs(entry.thresholds[k].probability - t.probability) < 1e-6);
        assert.deepEqual(entry.thresholds[k].cutoff, t.cutoff);
      }
      assert.deepEqual(entry.series, expected.series);
      assert.deepEqual(
        entry.warnings.map((w: { code: string }) => w.code),
        expected.warnings.map((w) => w.code),
      );
      const sr = await fetch(`${origin}/api/studies/${uid}/sr.dcm`);
      assert.equal(sr.headers.get("content-type"), "application/dicom");
      assert.equal(
        Buffer.from(await sr.arrayBuffer())
          .subarray(128, 132)
          .toString(),
        "DICM",
      );
      // The worklist lists it as done, with its category.
      await page.goto(served.url);
      const row = await page.$eval("tbody tr", (r) => r.textContent ?? "");
      assert.match(row, /done/);
      assert.ok(row.includes(expected.category!.label));
    } finally {
      await browser.close();
    }
  });

  it("with --cam, writes the Grad-CAM maps and draws them over the figure the web app and the PACS get", async () => {
    const served = await start(["--data", join(dir, "data-cam"), "--cam"]);
    const post = await getJson(`${served.url}api/studies`, {
      method: "POST",
      headers: { "content-type": "application/zip" },
      body: zip,
    });
    assert.equal(post.status, 202);
    const uid = post.body.studyInstanceUid as string;
    const study = await waitFor("the job to finish", async () => {
      const s = await getJson(`${served.url}api/studies/${uid}`);
      return s.body.job.state === "done" ? s.body : undefined;
    });
    const entry = study.exams[0];
    assert.equal(entry.cam.thresholdKpa, 3.0);
    assert.equal(
      entry.cam.probability.toFixed(6),
      predicted.exams[0]!.thresholds![1]!.probability.toFixed(6),
    );
    assert.deepEqual(Object.keys(entry.cam.files).sort(), Object.keys(predicted.exams[0]!.series).sort());
    // The same exam's figure without maps (predict) and with them (serve --cam): same size, other slices.
    ok(
      run([
        "predict",
        exam,
        "--model",
        small.bundle,
        "--png",
        join(dir, "png-plain"),
        "--json",
        join(dir, "png-plain.json"),
      ]),
    );
    const plain = PNG.sync.read(
      readFileSync(
        join(dir, "png-plain", readdirSync(join(dir, "png-plain")).find((f) => f.endsWith(".png"))!),
      ),
    );
    const figure = await fetch(`${served.url}api/studies/${uid}/figure.png`);
    assert.equal(figure.status, 200);
    const withMaps = PNG.sync.read(Buffer.from(await figure.arrayBuffer()));
    assert.deepEqual([withMaps.width, withMaps.height], [plain.width, plain.height]);
    assert.ok(!Buffer.from(withMaps.data).equals(Buffer.from(plain.data)), "the overlay changed the figure");
  });

  it("processes a study uploaded twice once, and refuses a zip naming ../ or an absolute path", async () => {
    const served = await start(["--data", join(dir, "data-twice")]);
    const post = (body: Uint8Array, type = "application/zip") =>
      getJson(`${served.url}api/studies`, { method: "POST", headers: { "content-type": type }, body });
    const first = await post(zip);
    assert.equal(first.status, 202);
    assert.equal(first.body.outcome, "new");
    assert.equal(first.body.studyInstanceUid, predicted.exams[0]!.studyInstanceUid);
    const second = await post(zip);
    assert.equal(second.body.outcome, "duplicate");
    assert.equal(second.body.job, first.body.job);
    await waitFor("the job to finish", async () => {
      const s = await getJson(`${served.url}api/studies/${first.body.studyInstanceUid}`);
      return s.body.job.state === "done" ? true : undefined;
    });
    const third = await post(zip);
    assert.equal(third.body.outcome, "duplicate", "also once it is done");
    // The same files as a folder upload (multipart, one part per file, with the browser's relative names).
    const folder = new FormData();
    for (const [path, data] of Object.entries(filesUnder(exam)))
      folder.append("files", new Blob([data]), `exam/${path}`);
    const fourth = await getJson(`${served.url}api/studies`, { method: "POST", body: folder });
    assert.equal(fourth.body.outcome, "duplicate", "as multipart files too");
    assert.equal(fourth.body.job, first.body.job);
    const list = await getJson(`${served.url}api/studies`);
    assert.equal(list.body.studies.length, 1);
    assert.deepEqual(list.body.counts, { received: 0, predicting: 0, done: 1, failed: 0 });
    const audit = await getJson(`${served.url}api/audit`);
    const actions = audit.body.entries.map(
      (e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`,
    );
    assert.equal(actions.filter((a: string) => a === "predict:done").length, 1);
    assert.equal(actions.filter((a: string) => a === "receive:duplicate").length, 3);
    for (const e of audit.body.entries) assert.match(e.bundleDigest, /^[0-9a-f]{64}$/);

    for (const name of ["../evil.dcm", "a/../../evil.dcm", "/etc/evil.dcm", "C:\\evil.dcm"]) {
      const r = await post(zipSync({ "ok/1.dcm": new Uint8Array(200), [name]: new Uint8Array([1, 2, 3]) }));
      assert.equal(r.status, 400, name);
      assert.match(r.body.error, /path outside its own folder/);
    }
    const form = new FormData();
    form.append("files", new Blob([new Uint8Array(10)]), "../x.dcm");
    const multipart = await fetch(`${served.url}api/studies`, { method: "POST", body: form });
    assert.equal(multipart.status, 400);
    assert.deepEqual(
      readdirSync(join(dir, "data-twice", "incoming")),
      [],
      "nothing left from refused uploads",
    );
    assert.deepEqual(readdirSync(join(dir, "data-twice", "jobs")), ["1"]);
  });

  it("answers malformed requests with a reason and stays up", async () => {
    const served = await start(["--data", join(dir, "data-bad"), "--max-upload-mb", "1", "--max-files", "3"]);
    const u = served.url;
    const cases: [string, RequestInit, number, RegExp][] = [
      [
        "api/studies",
        { method: "POST", headers: { "content-type": "text/plain" }, body: "x" },
        415,
        /send a zip/,
      ],
      [
        "api/studies",
        { method: "POST", headers: { "content-type": "application/zip" }, body: "PK\x03\x04garbage" },
        400,
        /zip cannot be read/,
      ],
      [
        "api/studies",
        {
          method: "POST",
          headers: { "content-type": "multipart/form-data; boundary=zz" },
          body: "--zz\r\nbroken",
        },
        400,
        /multipart/,
      ],
      [
        "api/studies",
        {
          method: "POST",
          headers: { "content-type": "application/zip" },
          body: new Uint8Array(2 * 1024 ** 2),
        },
        413,
        /upload limit/,
      ],
      [
        "api/studies",
        {
          method: "POST",
          headers: { "content-type": "application/zip" },
          body: zipSync({
            a: new Uint8Array(1),
            b: new Uint8Array(1),
            c: new Uint8Array(1),
            d: new Uint8Array(1),
          }),
        },
        413,
        /more than 3 files/,
      ],
      [
        "api/studies",
        { method: "POST", headers: { "content-type": "application/dicom" }, body: "not dicom" },
        400,
        /no MR image/,
      ],
      ["api/studies/not-a-uid", {}, 400, /not a Study Instance UID/],
      ["api/studies/1.2.3", {}, 404, /no such study/],
      ["api/studies/1.2.3/../../jobs.sqlite", {}, 404, /./],
      ["api/nothing", {}, 404, /no such API resource/],
      ["api/studies", { method: "DELETE" }, 405, /use GET or POST/],
      [
        "api/studies",
        { method: "POST", headers: { origin: "http://elsewhere.example" }, body: "x" },
        403,
        /another origin/,
      ],
    ];
    for (const [path, init, status, message] of cases) {
      const r = await getJson(`${u}${path}`, init);
      assert.equal(r.status, status, `${init.method ?? "GET"} ${path}: ${JSON.stringify(r.body)}`);
      assert.match(typeof r.body === "string" ? r.body : r.body.error, message, path);
    }
    // A request addressed to another host name (DNS rebinding) is refused on a loopback bind.
    const rebinding = await new Promise<number>((resolve, reject) => {
      const { port } = new URL(u);
      request(
        { host: "127.0.0.1", port, path: "/api/studies", headers: { host: "attacker.example" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on("error", reject)
        .end();
    });
    assert.equal(rebinding, 421);
    const health = await getJson(`${u}api/health`);
    assert.equal(health.body.status, "ok");
    assert.equal(served.process.exitCode, null, "still running");
    assert.doesNotMatch(served.output(), /unexpected error|at .*\.ts:\d+/);
  });

  it("refuses a non-loopback bind without a token, and checks the token on every request but /api/health", async () => {
    const refused = run([
      "serve",
      "--model",
      small.bundle,
      "--host",
      "0.0.0.0",
      "--data",
      join(dir, "data-open"),
    ]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refusing to listen on 0\.0\.0\.0 without an API token/);
    assert.doesNotMatch(refused.stderr, /^\s+at /m);
    const token = "t0ken-for-the-test-0123456789";
    writeFileSync(join(dir, "token"), `${token}\n`);
    const served = await start([
      "--host",
      "0.0.0.0",
      "--token-file",
      join(dir, "token"),
      "--data",
      join(dir, "data-token"),
    ]);
    const u = served.url.replace("0.0.0.0", "127.0.0.1");
    assert.equal((await getJson(`${u}api/health`)).status, 200);
    assert.equal((await getJson(`${u}api/studies`)).status, 401);
    assert.equal(
      (await getJson(`${u}api/studies`, { headers: { authorization: "Bearer wrong" } })).status,
      401,
    );
    const authorised = await getJson(`${u}api/studies`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(authorised.status, 200);
    const page = await fetch(u, { redirect: "manual" });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/login");
    const login = await fetch(`${u}login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }),
    });
    assert.equal(login.status, 303);
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    assert.match(login.headers.get("set-cookie")!, /HttpOnly; SameSite=Strict/);
    assert.equal((await fetch(u, { headers: { cookie } })).status, 200);
  });

  it("resumes a job interrupted by a restart", async () => {
    const data = join(dir, "data-restart");
    const first = await start(["--data", data]);
    const three = zipExams(small.examDirs.slice(1, 4));
    const posted = await getJson(`${first.url}api/studies`, {
      method: "POST",
      headers: { "content-type": "application/zip" },
      body: three,
    });
    assert.equal(posted.body.studies.length, 3);
    const interrupted = await waitFor(
      "a job predicting",
      async () => {
        const list = await getJson(`${first.url}api/studies`);
        return list.body.studies.find((s: { job: { state: string } }) => s.job.state === "predicting");
      },
      60_000,
    );
    first.process.kill("SIGKILL");
    await first.exited;
    const second = await start(["--data", data]);
    await waitFor("every job done after the restart", async () => {
      const list = await getJson(`${second.url}api/studies`);
      return list.body.counts.done === 3 ? true : undefined;
    });
    const study = await getJson(`${second.url}api/studies/${interrupted.studyInstanceUid}`);
    assert.equal(study.body.job.state, "done");
    const audit = await getJson(`${second.url}api/audit`);
    const resumed = audit.body.entries.filter((e: { action: string }) => e.action === "resume");
    assert.ok(
      resumed.some((e: { jobId: number }) => e.jobId === interrupted.job.id),
      "the interrupted job was resumed",
    );
    assert.ok(study.body.job.attempts >= 2 || resumed.length > 0);
    assert.match(second.output(), /resuming 1 job/);
    // A clean stop (SIGTERM) exits 0 and leaves no lock.
    assert.equal(await second.stop("SIGTERM"), 0);
    assert.ok(!readdirSync(data).includes(".liverstiff.lock"));
  });
});
