// The service put together: the data folder (locked: one service per folder), the job store, the worker,
// the HTTP server and (given a PACS) the DICOMweb poller; `close` stops them in the reverse order.
import { createServer, type Server } from "node:http";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { acquireLock, codeVersion, type FolderLock, LiverstiffError } from "../core/index.ts";
import type { LoadedBundle } from "../deploy/index.ts";
import { type HttpContext, requestHandler } from "./http.ts";
import type { OrgansFrom } from "./predict-process.ts";
import { JobStore } from "./store.ts";
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from "./upload.ts";
import { PredictionWorker } from "./worker.ts";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8765;
/** Shorter tokens are refused: a token guards a service on the hospital network. */
export const MIN_TOKEN_LENGTH = 16;

export interface ServiceOptions {
  /** The bundle, loaded (and so checked) by the caller; the prediction process loads it again from its path. */
  bundle: LoadedBundle;
  /** The public key the bundle must be signed with (given to the prediction process too). */
  trust?: string;
  /** Liver and spleen masks: the shipped network (default), a user's label maps, or none. */
  organs?: OrgansFrom;
  /** Given: Grad-CAM maps for this threshold's logit with every prediction, drawn over the figure's slices. */
  camThresholdKpa?: number;
  dataDir: string;
  host?: string;
  /** 0: any free port (the chosen one is in `url`). */
  port?: number;
  /** The API token; required for a bind that is not loopback. */
  token?: string;
  limits?: Partial<UploadLimits>;
  /**
   * Components started after the server listens and stopped first on close, by name: "pacs" (the DICOMweb
   * poller), "dimse" (the C-STORE SCP). Their status is in /api/health under their name.
   */
  attach?: Partial<Record<AttachmentName, Attachment>>;
  log?: (line: string) => void;
}

export type AttachmentName = "pacs" | "dimse";
export interface Attached {
  stop(): Promise<void> | void;
  status(): Record<string, unknown>;
}
export type Attachment = (service: AttachContext) => Attached | Promise<Attached>;

/** What an attached component (the PACS poller, the DIMSE SCP) gets: the store, the data folder, the worker's wake-up. */
export interface AttachContext {
  store: JobStore;
  dataDir: string;
  bundle: LoadedBundle;
  notifyWorker: () => void;
  log: (line: string) => void;
  /** Registers a hook run after each job ends. */
  onJobFinished: (hook: (jobId: number) => void) => void;
}

export interface RunningService {
  /** http://HOST:PORT/ */
  url: string;
  port: number;
  store: JobStore;
  /** The attached components' status by name (the DIMSE SCP's port among it). */
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host === "::1" || host === "[::1]") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

export function checkToken(host: string, token: string | undefined): void {
  if (!isLoopbackHost(host) && !token)
    throw new LiverstiffError(
      `refusing to listen on ${host} without an API token: a service reachable from other machines needs --token-file (a file holding a random token of ${MIN_TOKEN_LENGTH} or more characters)`,
      { host },
    );
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH)
    throw new LiverstiffError(`the API token is too short: give ${MIN_TOKEN_LENGTH} or more characters`);
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new LiverstiffError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { host, port }),
      ),
    );
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const host = options.host ?? DEFAULT_HOST;
  checkToken(host, options.token);
  const log = options.log ?? (() => {});
  const lock: FolderLock = acquireLock(options.dataDir, "serve");
  const digest = options.bundle.manifest.integrity.digest;
  const store = JobStore.open(options.dataDir, digest);
  const hooks: ((jobId: number) => void)[] = [];
  try {
    const resumed = store.resumeInterrupted();
    if (resumed.length > 0) log(`resuming ${resumed.length} job(s) interrupted by the last stop`);
    store.audit({ action: "service", outcome: "started", detail: `liverstiff ${codeVersion().version}` });
    const worker = new PredictionWorker({
      store,
      bundlePath: resolve(options.bundle.path),
      ...(options.trust ? { trust: options.trust } : {}),
      organs: options.organs ?? { kind: "network" },
      ...(options.camThresholdKpa !== undefined ? { camThresholdKpa: options.camThresholdKpa } : {}),
      dataDir: options.dataDir,
      log,
      onFinished: (job) => {
        for (const h of hooks) h(job.id);
      },
    });
    const attached = new Map<AttachmentName, Attached>();
    const started = new Date().toISOString();
    const context: HttpContext = {
      store,
      dataDir: options.dataDir,
      limits: { ...DEFAULT_UPLOAD_LIMITS, ...options.limits },
      ...(options.token ? { token: options.token } : {}),
      loopback: isLoopbackHost(host),
      page: { modelLabel: `${options.bundle.manifest.recipe.name} (${digest.slice(0, 12)})` },
      health: () => ({
        status: "ok",
        service: "liverstiff serve",
        version: codeVersion().version,
        startedAt: started,
        bundle: { recipe: options.bundle.manifest.recipe.name, digest },
        ...Object.fromEntries([...attached].map(([name, a]) => [name, a.status()])),
      }),
      onReceived: () => worker.notify(),
      log,
    };
    const server = createServer({ requestTimeout: 600_000, headersTimeout: 30_000 }, requestHandler(context));
    server.on("clientError", (_err, socket) => {
      if (socket.writable)
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nmalformed request\n");
      else socket.destroy();
    });
    const port = await listen(server, host, options.port ?? DEFAULT_PORT);
    worker.start();
    const stopAttached = async () => {
      for (const a of [...attached.values()].reverse()) await a.stop();
      attached.clear();
    };
    try {
      for (const [name, attach] of Object.entries(options.attach ?? {}) as [AttachmentName, Attachment][]) {
        attached.set(
          name,
          await attach({
            store,
            dataDir: options.dataDir,
            bundle: options.bundle,
            notifyWorker: () => worker.notify(),
            log,
            onJobFinished: (hook) => hooks.push(hook),
          }),
        );
      }
    } catch (err) {
      await stopAttached();
      await worker.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw err;
    }
    const labels = [attached.has("pacs") ? "DICOMweb" : "", attached.has("dimse") ? "DIMSE" : ""].filter(
      Boolean,
    );
    if (labels.length > 0) context.page.pacsLabel = `connected (${labels.join(", ")})`;
    const urlHost = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
    let closed: Promise<void> | undefined;
    return {
      url: `http://${urlHost}:${port}/`,
      port,
      store,
      status: () => Object.fromEntries([...attached].map(([name, a]) => [name, a.status()])),
      close: () =>
        (closed ??= (async () => {
          await stopAttached();
          await worker.stop();
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          });
          store.audit({ action: "service", outcome: "stopped" });
          store.close();
          lock.release();
        })()),
    };
  } catch (err) {
    store.close();
    lock.release();
    throw err;
  }
}
