// The HTTP face of the service on node:http: the JSON API, the web app, uploads. Security, in order, for
// every request: a Host check against DNS rebinding on loopback binds; the API token (every path but
// /api/health, when the service has one; a non-loopback bind always has one); a same-origin check on every
// POST; bounded bodies. No CORS headers are ever sent; every page carries a strict Content-Security-Policy.
// Any malformed request gets a status and one line saying why; nothing a request sends can crash it.
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, join } from "node:path";
import { describeError, LiverstiffError } from "../core/index.ts";
import type { ExamReport } from "../deploy/index.ts";
import { APP_CSS, APP_JS } from "./assets.ts";
import {
  apiStudyPath,
  loginPage,
  messagePage,
  type PageContext,
  studyPage,
  studyPath,
  worklistPage,
} from "./pages.ts";
import { jobPaths, type ReceivedStudy, receiveFiles, stagingDir } from "./receive.ts";
import type { Job, JobStore } from "./store.ts";
import { mediaType, stageUpload, UploadError, type UploadLimits } from "./upload.ts";

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const TOKEN_COOKIE = "liverstiff_token";
const STUDY_UID = /^[0-9]+(\.[0-9]+)*$/;

export interface HttpContext {
  store: JobStore;
  dataDir: string;
  limits: UploadLimits;
  /** The API token; undefined: none (loopback binds only). */
  token?: string;
  /** True when bound to a loopback address: the Host header must then name a loopback host. */
  loopback: boolean;
  page: PageContext;
  health: () => Record<string, unknown>;
  /** A study was received: wake the worker. */
  onReceived: () => void;
  log: (line: string) => void;
}

/** An answer to a bad request: the status and one line. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

function baseHeaders(res: ServerResponse): void {
  res.setHeader("X-Content-Type-Options", "nosniff");
  // "same-origin", not "no-referrer": with no referrer, browsers send `Origin: null` on form posts.
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
  res.end(`${JSON.stringify(value, null, 2)}\n`);
}

function sendHtml(res: ServerResponse, status: number, page: string): void {
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  });
  res.end(page);
}

function sendFile(res: ServerResponse, path: string, type: string, downloadName?: string): void {
  if (!existsSync(path)) throw new HttpError(404, "no such file for this study");
  const headers: Record<string, string> = { "Content-Type": type };
  if (downloadName) headers["Content-Disposition"] = `attachment; filename="${downloadName}"`;
  res.writeHead(200, headers);
  res.end(readFileSync(path));
}

function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { Location: location, ...headers });
  res.end();
}

/** The request body, refused with 413 beyond `maxBytes` (as declared, or as it arrives). */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > maxBytes)
    throw new HttpError(413, `refused: the body exceeds the upload limit of ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes)
      throw new HttpError(413, `refused: the body exceeds the upload limit of ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

function tokenMatches(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(sha256(given), sha256(token));
}

function authorised(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization ?? "";
  const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
  return tokenMatches(bearer, token) || tokenMatches(cookie(req, TOKEN_COOKIE), token);
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

/** A POST from a page of another origin (a form on another site) is refused: no cross-site requests. */
function checkSameOrigin(req: IncomingMessage): void {
  if (req.headers["sec-fetch-site"] === "cross-site")
    throw new HttpError(403, "refused: a request from another site");
  const origin = req.headers.origin;
  if (origin && origin !== "null" && origin !== `http://${req.headers.host}`)
    throw new HttpError(403, "refused: a request from another origin");
  if (origin === "null") throw new HttpError(403, "refused: a request from an opaque origin");
}

/** The study's latest job, or 404. */
function latestJob(ctx: HttpContext, uid: string): Job[] {
  if (!STUDY_UID.test(uid) || uid.length > 64) throw new HttpError(400, "not a Study Instance UID");
  const jobs = ctx.store.jobsOfStudy(uid);
  if (jobs.length === 0) throw new HttpError(404, "no such study");
  return jobs;
}

function jobJson(job: Job) {
  return {
    id: job.id,
    state: job.state,
    ...(job.reason ? { reason: job.reason } : {}),
    ...(job.category ? { category: job.category } : {}),
    source: job.source,
    instances: job.instances,
    instanceDigest: job.instanceDigest,
    attempts: job.attempts,
    receivedAt: job.receivedAt,
    ...(job.startedAt ? { startedAt: job.startedAt } : {}),
    ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
    ...(job.storeState !== "none"
      ? { store: { state: job.storeState, ...(job.storeReason ? { reason: job.storeReason } : {}) } }
      : {}),
  };
}

/** A study's exam entries as predict --json writes them, with the service's URLs in place of its paths. */
function examsJson(exams: readonly ExamReport[], uid: string): ExamReport[] {
  const api = apiStudyPath(uid);
  return exams.map((e) => {
    const out: ExamReport = { ...e, inputs: e.inputs.map(() => "received") };
    if (e.png) out.png = `${api}/figure.png`;
    if (e.dicom) out.dicom = { sr: `${api}/sr.dcm`, ...(e.dicom.sc ? { sc: `${api}/sc.dcm` } : {}) };
    return out;
  });
}

function studySummary(job: Job) {
  return { studyInstanceUid: job.studyInstanceUid, accession: job.accession ?? null, job: jobJson(job) };
}

/** The file of a study's done job: the figure, the SR, the SC or the report. */
function studyFile(ctx: HttpContext, jobs: Job[], name: string, res: ServerResponse): void {
  const job = jobs[0]!;
  const paths = jobPaths(ctx.dataDir, job.id);
  if (name === "report.json") {
    sendFile(res, paths.report, "application/json; charset=utf-8");
    return;
  }
  const exam = (ctx.store.exams(job.id) ?? []).find((e) => e.studyInstanceUid === job.studyInstanceUid);
  const file = name === "figure.png" ? exam?.png : name === "sr.dcm" ? exam?.dicom?.sr : exam?.dicom?.sc;
  if (!file) throw new HttpError(404, `no ${name} for this study (its job is ${job.state})`);
  const download = `${(job.accession ?? job.studyInstanceUid).replace(/[^A-Za-z0-9._-]/g, "_")}.${name}`;
  if (name === "figure.png") sendFile(res, join(paths.out, basename(file)), "image/png");
  else sendFile(res, join(paths.out, basename(file)), "application/dicom", download);
}

async function receiveUpload(ctx: HttpContext, req: IncomingMessage): Promise<ReceivedStudy[]> {
  checkSameOrigin(req);
  const body = await readBody(req, ctx.limits.maxUploadBytes);
  const staging = stagingDir(ctx.dataDir);
  let files: number;
  try {
    files = await stageUpload(body, req.headers["content-type"], staging, ctx.limits);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  const received = await receiveFiles(ctx.store, ctx.dataDir, staging, "upload");
  ctx.log(`upload: ${files} files, ${received.map((r) => `job ${r.job.id} (${r.outcome})`).join(", ")}`);
  ctx.onReceived();
  return received;
}

async function api(
  ctx: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  parts: string[],
): Promise<void> {
  const method = req.method ?? "GET";
  if (parts[1] === "studies" && parts.length === 2) {
    if (method === "GET")
      return sendJson(res, 200, {
        counts: ctx.store.counts(),
        studies: ctx.store.latestJobs().map(studySummary),
      });
    if (method === "POST") {
      const received = await receiveUpload(ctx, req);
      const first = received[0]!;
      return sendJson(res, first.outcome === "duplicate" ? 200 : 202, {
        studyInstanceUid: first.studyInstanceUid,
        job: first.job.id,
        outcome: first.outcome,
        state: first.job.state,
        studies: received.map((r) => ({
          studyInstanceUid: r.studyInstanceUid,
          job: r.job.id,
          outcome: r.outcome,
          instances: r.instances,
        })),
      });
    }
    throw new HttpError(405, "use GET or POST");
  }
  if (parts[1] === "studies" && (parts.length === 3 || parts.length === 4)) {
    if (method !== "GET") throw new HttpError(405, "use GET");
    const jobs = latestJob(ctx, parts[2]!);
    if (parts.length === 4) {
      if (!["sr.dcm", "sc.dcm", "figure.png", "report.json"].includes(parts[3]!))
        throw new HttpError(404, "no such resource: sr.dcm, sc.dcm, figure.png or report.json");
      return studyFile(ctx, jobs, parts[3]!, res);
    }
    const job = jobs[0]!;
    return sendJson(res, 200, {
      ...studySummary(job),
      exams: examsJson(ctx.store.exams(job.id) ?? [], job.studyInstanceUid),
      history: jobs.slice(1).map(jobJson),
    });
  }
  if (parts[1] === "audit" && parts.length === 2) {
    if (method !== "GET") throw new HttpError(405, "use GET");
    return sendJson(res, 200, { entries: ctx.store.auditLog() });
  }
  throw new HttpError(404, "no such API resource");
}

async function web(ctx: HttpContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? "GET";
  const parts = url.pathname.split("/").filter(Boolean);
  if (url.pathname === "/") {
    if (method !== "GET") throw new HttpError(405, "use GET");
    return sendHtml(res, 200, worklistPage(ctx.store.latestJobs(), ctx.page));
  }
  if (url.pathname === "/upload") {
    if (method !== "POST") throw new HttpError(405, "use POST");
    const received = await receiveUpload(ctx, req);
    if (received.length === 1)
      return redirect(res, `${studyPath(received[0]!.studyInstanceUid)}?received=${received[0]!.outcome}`);
    return redirect(res, "/");
  }
  if (parts[0] === "studies" && parts.length === 2) {
    if (method !== "GET") throw new HttpError(405, "use GET");
    const jobs = latestJob(ctx, parts[1]!);
    const job = jobs[0]!;
    const page = studyPage(
      jobs,
      ctx.store.exams(job.id),
      ctx.store.auditLog(200, job.studyInstanceUid),
      ctx.page,
      url.searchParams.get("received") ?? undefined,
    );
    return sendHtml(res, 200, page);
  }
  throw new HttpError(404, "no such page");
}

async function login(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === "GET") return sendHtml(res, 200, loginPage(ctx.page, false));
  if (req.method !== "POST") throw new HttpError(405, "use GET or POST");
  checkSameOrigin(req);
  if (mediaType(req.headers["content-type"]) !== "application/x-www-form-urlencoded")
    throw new HttpError(415, "send the sign-in form");
  const given = new URLSearchParams((await readBody(req, 16 * 1024)).toString("utf8")).get("token") ?? "";
  if (!ctx.token || !tokenMatches(given, ctx.token)) {
    ctx.store.audit({ action: "sign-in", outcome: "refused" });
    return sendHtml(res, 401, loginPage(ctx.page, true));
  }
  ctx.store.audit({ action: "sign-in", outcome: "accepted" });
  redirect(res, "/", {
    "Set-Cookie": `${TOKEN_COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/`,
  });
}

function sendStatic(res: ServerResponse, name: string): void {
  if (name === "app.css") {
    res.writeHead(200, { "Content-Type": "text/css; charset=utf-8" });
    res.end(APP_CSS);
  } else if (name === "app.js") {
    res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
    res.end(APP_JS);
  } else throw new HttpError(404, "no such file");
}

/** How long a refused request's unread body is drained before the answer is sent regardless. */
const DRAIN_LIMIT_MS = 5000;

function drained(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, DRAIN_LIMIT_MS);
    function done(): void {
      clearTimeout(timer);
      resolve();
    }
    req.once("end", done);
    req.once("close", done);
    req.once("error", done);
    req.resume();
  });
}

function sendError(
  ctx: HttpContext,
  res: ServerResponse,
  isApi: boolean,
  status: number,
  message: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 413 || status === 400) res.setHeader("Connection", "close");
  if (isApi) sendJson(res, status, { error: message, status });
  else
    sendHtml(res, status, messagePage(status === 404 ? "Not found" : "Request refused", message, ctx.page));
}

/** The request handler: security checks, then the API, the web app or the static files. */
export function requestHandler(ctx: HttpContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    baseHeaders(res);
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://service.invalid");
    } catch {
      sendError(ctx, res, false, 400, "malformed request URL");
      return;
    }
    const isApi = url.pathname === "/api" || url.pathname.startsWith("/api/");
    const handle = async () => {
      if (ctx.loopback && !LOOPBACK_HOST.test(req.headers.host ?? ""))
        throw new HttpError(421, "refused: this service answers only requests addressed to a loopback host");
      if (req.method === "OPTIONS") throw new HttpError(405, "no cross-origin requests are served");
      if (url.pathname === "/api/health") {
        if (req.method !== "GET") throw new HttpError(405, "use GET");
        return sendJson(res, 200, ctx.health());
      }
      if (url.pathname.startsWith("/static/")) return sendStatic(res, url.pathname.slice("/static/".length));
      if (url.pathname === "/login") return login(ctx, req, res);
      if (ctx.token && !authorised(req, ctx.token)) {
        if (!isApi && req.method === "GET") return redirect(res, "/login");
        throw new HttpError(401, "an API token is required: send Authorization: Bearer TOKEN");
      }
      if (isApi) return api(ctx, req, res, url.pathname.split("/").filter(Boolean));
      return web(ctx, req, res, url);
    };
    handle().catch((err: unknown) => {
      const status =
        err instanceof HttpError || err instanceof UploadError
          ? err.status
          : err instanceof LiverstiffError
            ? 400
            : 500;
      if (status === 500) ctx.log(`internal error on ${req.method} ${url.pathname}: ${describeError(err)}`);
      const message = status === 500 ? "internal error (logged by the service)" : describeError(err);
      // A body left unread (a refused upload) is drained before the answer, so that the client is not
      // still sending when the connection closes (it would see a reset instead of the answer); a sender
      // that does not stop gets the answer after DRAIN_LIMIT_MS anyway.
      drained(req).then(() => sendError(ctx, res, isApi, status, message));
    });
  };
}
