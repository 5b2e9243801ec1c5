// The DIMSE side of the service: a C-STORE SCP (and C-ECHO) that a scanner or a PACS pushes studies to, on
// dcmjs-dimse. Each instance is streamed to a file as it arrives (never held in memory whole), with a
// Part-10 header in the transfer syntax it was sent in, and filed under its study; a study that has been
// quiet for `studyIdleSeconds` becomes a job (receive.ts decides whether it is new, a retry or already
// there). With a destination (`--send-to AE@host:port`) each finished job's SR and Secondary Capture are
// sent there by C-STORE, and sent again while the destination refuses them.
import { randomBytes } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  type WriteStream,
} from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { basename, join } from "node:path";
import { Writable } from "node:stream";
import dcmjs from "dcmjs";
import dimse from "dcmjs-dimse";
import { describeError, LiverstiffError } from "../core/index.ts";
import { part10Header } from "../deploy/index.ts";
import { isSupportedTransferSyntax } from "../dicom/index.ts";
import { jobPaths, receiveFiles } from "./receive.ts";
import type { AttachContext } from "./service.ts";

export const DEFAULT_AE_TITLE = "LIVERSTIFF";
export const DEFAULT_STUDY_IDLE_SECONDS = 30;
/** Seconds between two tries of results a destination refused. */
const RESEND_SECONDS = 30;
/** A peer silent this long in an association is dropped (a stalled modality does not hold a socket). */
const PDU_TIMEOUT_MS = 60_000;

const {
  Status,
  PresentationContextResult,
  RejectResult,
  RejectSource,
  RejectReason,
  SopClass,
  StorageClass,
} = dimse.constants;
/** C-STORE failure statuses (PS3.4 B.2.3): out of resources, and cannot understand. */
const STATUS_OUT_OF_RESOURCES = 0xa700;
const STATUS_CANNOT_UNDERSTAND = 0xc000;

export interface DicomNode {
  aeTitle: string;
  host: string;
  port: number;
}

export interface DimseOptions {
  host: string;
  port: number;
  /** The called AE title the SCP answers to. */
  aeTitle: string;
  studyIdleSeconds: number;
  /** Where finished jobs' SR and Secondary Capture are sent by C-STORE. */
  sendTo?: DicomNode;
  /** The largest instance accepted, in bytes (the upload limit's). */
  maxInstanceBytes: number;
}

export interface DimseStatus {
  aeTitle: string;
  host: string;
  port: number;
  studyIdleSeconds: number;
  sendTo?: string;
  associations: number;
  instancesReceived: number;
  instancesRefused: number;
  studiesQueued: number;
  studiesWaiting: number;
  resultsSent: number;
  lastError?: string;
}

/** AE titles: 1-16 characters of the default repertoire, no backslash, not all spaces (PS3.5 6.2). */
export function checkAeTitle(ae: string, what: string): string {
  const t = ae.trim();
  if (t.length === 0 || ae.length > 16 || !/^[\x20-\x7e]+$/.test(ae) || ae.includes("\\"))
    throw new LiverstiffError(`${what} must be an AE title of 1 to 16 printable characters, without "\\"`, {
      aeTitle: ae,
    });
  return t;
}

/** "AE@host:port" (the destination of --send-to). */
export function parseDicomNode(text: string): DicomNode {
  const m = /^([^@]+)@(\[[^\]]+\]|[^:@]+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 1 && port <= 65535))
    throw new LiverstiffError("a DICOM node is given as AE@host:port (e.g. ORTHANC@127.0.0.1:4242)", {
      node: text,
    });
  return { aeTitle: checkAeTitle(m[1]!, "the AE title"), host: m[2]!.replace(/^\[|\]$/g, ""), port };
}

const UID = /^[0-9]+(\.[0-9]+)*$/;
const isUid = (s: unknown): s is string => typeof s === "string" && s.length <= 64 && UID.test(s);

/** One instance's file while it arrives: the header, then the data set, cut off past the size limit. */
class InstanceFile extends Writable {
  bytes = 0;
  tooLarge = false;
  failure: string | undefined;
  private readonly file: WriteStream;

  constructor(
    readonly path: string,
    header: Uint8Array,
    private readonly maxBytes: number,
  ) {
    super();
    this.file = createWriteStream(path);
    this.file.on("error", (err) => {
      this.failure = describeError(err);
    });
    this.file.write(header);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) this.tooLarge = true;
    if (this.tooLarge || this.failure) callback();
    else this.file.write(chunk, () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.file.end(() => callback());
  }
}

/** The study and instance UIDs of a received file (read up to the series UID only). */
function studyOf(path: string): { studyInstanceUid: unknown; sopInstanceUid: unknown } {
  const bytes = readFileSync(path);
  const dict = dcmjs.data.DicomMessage.readFile(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    { untilTag: "0020000E", includeUntilTagValue: false },
  );
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  return { studyInstanceUid: ds.StudyInstanceUID, sopInstanceUid: ds.SOPInstanceUID };
}

/** Sends files by C-STORE; rejects naming the first refusal or the network error. */
export function cStore(files: readonly string[], from: string, to: DicomNode): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = new dimse.Client();
    const refused: string[] = [];
    let stored = 0;
    for (const file of files) {
      const request = new dimse.requests.CStoreRequest(file);
      request.on("response", (response: { getStatus(): number }) => {
        const status = response.getStatus();
        if (status === Status.Success) stored++;
        else refused.push(`${basename(file)}: status 0x${status.toString(16).padStart(4, "0")}`);
      });
      client.addRequest(request);
    }
    let failed: string | undefined;
    client.on("associationRejected", () => {
      failed = `${to.aeTitle}@${to.host}:${to.port} rejected the association`;
    });
    client.on("networkError", (err: Error) => {
      failed ??= `${to.aeTitle}@${to.host}:${to.port}: ${describeError(err)}`;
    });
    client.on("closed", () => {
      if (failed) reject(new Error(failed));
      else if (refused.length > 0 || stored < files.length)
        reject(new Error(`C-STORE refused: ${refused.join("; ") || "no answer"}`));
      else resolve(stored);
    });
    client.send(to.host, to.port, from, to.aeTitle, {
      connectTimeout: 10_000,
      associationTimeout: 30_000,
      pduTimeout: PDU_TIMEOUT_MS,
    });
  });
}

export class DimseReceiver {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly folders: { receiving: string; studies: string };
  /** Studies being received: when their last instance arrived. */
  private readonly lastSeenMs = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  private lastResendMs = 0;
  private readonly sending = new Set<number>();
  private readonly state: DimseStatus;

  constructor(
    private readonly ctx: AttachContext,
    private readonly options: DimseOptions,
  ) {
    const root = join(ctx.dataDir, "incoming", "dimse");
    this.folders = { receiving: join(root, "receiving"), studies: join(root, "studies") };
    this.state = {
      aeTitle: options.aeTitle,
      host: options.host,
      port: options.port,
      studyIdleSeconds: options.studyIdleSeconds,
      ...(options.sendTo
        ? { sendTo: `${options.sendTo.aeTitle}@${options.sendTo.host}:${options.sendTo.port}` }
        : {}),
      associations: 0,
      instancesReceived: 0,
      instancesRefused: 0,
      studiesQueued: 0,
      studiesWaiting: 0,
      resultsSent: 0,
    };
    ctx.onJobFinished((jobId) => this.queue(() => this.sendResults(jobId)));
  }

  status(): DimseStatus {
    return { ...this.state, studiesWaiting: this.lastSeenMs.size };
  }

  /** Listens; studies left half-received by the last stop wait one idle time again. */
  async start(): Promise<number> {
    rmSync(this.folders.receiving, { recursive: true, force: true });
    mkdirSync(this.folders.receiving, { recursive: true });
    mkdirSync(this.folders.studies, { recursive: true });
    for (const uid of readdirSync(this.folders.studies)) this.lastSeenMs.set(uid, Date.now());
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new LiverstiffError(
            `cannot listen for DICOM on ${this.options.host}:${this.options.port}: ${err.code ?? err.message}`,
            { host: this.options.host, port: this.options.port },
          ),
        ),
      );
      server.listen(this.options.port, this.options.host, () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : this.options.port);
      });
    });
    this.state.port = port;
    const tickMs = Math.max(100, Math.min(1000, (this.options.studyIdleSeconds * 1000) / 4));
    this.timer = setInterval(() => this.tick(), tickMs);
    return port;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.work;
  }

  /** Runs one step of work after the others (admitting studies and sending results never overlap). */
  private queue(step: () => Promise<void>): void {
    this.work = this.work.then(step).catch((err) => {
      this.state.lastError = describeError(err);
      this.ctx.log(`DIMSE: ${this.state.lastError}`);
    });
  }

  private tick(): void {
    const idleMs = this.options.studyIdleSeconds * 1000;
    const now = Date.now();
    for (const [uid, seen] of this.lastSeenMs) {
      if (now - seen < idleMs) continue;
      this.lastSeenMs.delete(uid);
      this.queue(() => this.admit(uid));
    }
    if (this.options.sendTo && now - this.lastResendMs >= RESEND_SECONDS * 1000) {
      this.lastResendMs = now;
      this.queue(async () => {
        for (const job of this.ctx.store.jobsToStore("dimse"))
          if (job.storeState === "failed") await this.sendResults(job.id);
      });
    }
  }

  /** A quiet study's files become a job. */
  private async admit(studyInstanceUid: string): Promise<void> {
    const from = join(this.folders.studies, studyInstanceUid);
    if (!existsSync(from)) return;
    const staging = join(
      this.ctx.dataDir,
      "incoming",
      `${Date.now()}-dimse-${randomBytes(6).toString("hex")}`,
    );
    renameSync(from, staging);
    try {
      const received = await receiveFiles(
        this.ctx.store,
        this.ctx.dataDir,
        staging,
        "dimse",
        !!this.options.sendTo,
      );
      this.state.studiesQueued++;
      this.ctx.log(
        `DIMSE: study ${studyInstanceUid} quiet for ${this.options.studyIdleSeconds} s: ${received.map((r) => `job ${r.job.id} (${r.outcome})`).join(", ")}`,
      );
    } catch (err) {
      this.ctx.store.audit({
        studyInstanceUid,
        action: "receive",
        outcome: "failed",
        detail: describeError(err),
      });
    }
    this.ctx.notifyWorker();
  }

  private async sendResults(jobId: number): Promise<void> {
    const to = this.options.sendTo;
    const { store, dataDir } = this.ctx;
    const job = store.job(jobId);
    if (!to || job?.source !== "dimse" || job.state !== "done" || job.storeState === "stored") return;
    if (this.sending.has(jobId)) return;
    this.sending.add(jobId);
    try {
      const exam = (store.exams(jobId) ?? []).find((e) => e.studyInstanceUid === job.studyInstanceUid);
      const files = [exam?.dicom?.sr, exam?.dicom?.sc].filter((f): f is string => !!f);
      if (files.length === 0) {
        store.setStoreState(jobId, "failed", "predict wrote no SR or Secondary Capture for the study");
        return;
      }
      const out = jobPaths(dataDir, jobId).out;
      const sent = await cStore(
        files.map((f) => join(out, basename(f))),
        this.options.aeTitle,
        to,
      );
      store.setStoreState(
        jobId,
        "stored",
        `${sent} instances (SR and Secondary Capture) sent to ${this.state.sendTo}`,
      );
      this.state.resultsSent++;
      this.ctx.log(
        `DIMSE: job ${jobId} study ${job.studyInstanceUid}: SR and Secondary Capture sent to ${this.state.sendTo}`,
      );
    } catch (err) {
      store.setStoreState(jobId, "failed", describeError(err));
    } finally {
      this.sending.delete(jobId);
    }
  }

  /** One association on its socket, with the SCP's behaviour from `scpClass`. */
  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    const Scp = this.scpClass();
    const scp = new Scp(socket, { pduTimeout: PDU_TIMEOUT_MS, associationTimeout: PDU_TIMEOUT_MS });
    (scp as unknown as { connected: boolean }).connected = true;
    scp.on("networkError", (err: Error) => {
      this.ctx.log(`DIMSE: ${socket.remoteAddress ?? "peer"}: ${describeError(err)}`);
      socket.destroy();
    });
  }

  private scpClass() {
    const receiver = this;
    const { options, folders, state } = this;
    return class LiverstiffScp extends dimse.Scp {
      private callingAeTitle = "";

      override associationRequested(association: dimse.association.Association): void {
        if (association.getCalledAeTitle().trim() !== options.aeTitle) {
          this.sendAssociationReject(
            RejectResult.Permanent,
            RejectSource.ServiceUser,
            RejectReason.CalledAeNotRecognized,
          );
          return;
        }
        state.associations++;
        this.callingAeTitle = association.getCallingAeTitle().trim();
        const storage = new Set<string>(Object.values(StorageClass) as string[]);
        for (const c of association.getPresentationContexts()) {
          const context = association.getPresentationContext(c.id);
          const abstract = context.getAbstractSyntaxUid();
          if (abstract !== SopClass.Verification && !storage.has(abstract)) {
            context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
            continue;
          }
          // Stored as sent: only transfer syntaxes the reader decodes are accepted, in the peer's order.
          const syntax = context.getTransferSyntaxUids().find((ts) => isSupportedTransferSyntax(ts));
          if (syntax) context.setResult(PresentationContextResult.Accept, syntax);
          else context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        }
        this.sendAssociationAccept();
      }

      override associationReleaseRequested(): void {
        this.sendAssociationReleaseResponse();
      }

      override cEchoRequest(
        request: dimse.requests.CEchoRequest,
        callback: (response: dimse.responses.CEchoResponse) => void,
      ): void {
        const response = dimse.responses.CEchoResponse.fromRequest(request);
        response.setStatus(Status.Success);
        callback(response);
      }

      override createStoreWritableStream(
        context: dimse.association.PresentationContext,
        request: dimse.requests.CStoreRequest,
      ): Writable {
        const path = join(folders.receiving, `${Date.now()}-${randomBytes(6).toString("hex")}.dcm`);
        const header = part10Header({
          sopClassUid: request.getAffectedSopClassUid(),
          sopInstanceUid: request.getAffectedSopInstanceUid(),
          transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? "",
          ...(this.callingAeTitle ? { sourceAeTitle: this.callingAeTitle } : {}),
        });
        return new InstanceFile(path, header, options.maxInstanceBytes);
      }

      override createDatasetFromStoreWritableStream(
        writable: Writable,
        _context: dimse.association.PresentationContext,
        callback: (dataset: dimse.Dataset) => void,
      ): void {
        const done = () => {
          const dataset = new dimse.Dataset({});
          received.set(dataset, writable as InstanceFile);
          callback(dataset);
        };
        if (writable.writableFinished) done();
        else writable.once("finish", done);
      }

      override cStoreRequest(
        request: dimse.requests.CStoreRequest,
        callback: (response: dimse.responses.CStoreResponse) => void,
      ): void {
        const response = dimse.responses.CStoreResponse.fromRequest(request);
        const file = received.get(request.getDataset() as dimse.Dataset);
        const outcome = file ? receiver.file(file) : "no data set received";
        if (outcome === "stored") {
          response.setStatus(Status.Success);
        } else {
          state.instancesRefused++;
          response.setStatus(file?.tooLarge ? STATUS_OUT_OF_RESOURCES : STATUS_CANNOT_UNDERSTAND);
          response.setErrorComment(outcome.slice(0, 64));
          receiver.ctx.log(`DIMSE: instance from ${this.callingAeTitle || "peer"} refused: ${outcome}`);
        }
        callback(response);
      }
    };
  }

  /** Files a received instance under its study; returns "stored" or why it was refused. */
  private file(f: InstanceFile): string {
    try {
      if (f.failure) return `cannot write it: ${f.failure}`;
      if (f.tooLarge) return `larger than ${Math.round(this.options.maxInstanceBytes / 2 ** 20)} MiB`;
      const { studyInstanceUid, sopInstanceUid } = studyOf(f.path);
      if (!isUid(studyInstanceUid)) return "no valid StudyInstanceUID";
      if (!isUid(sopInstanceUid)) return "no valid SOPInstanceUID";
      const dir = join(this.folders.studies, studyInstanceUid);
      mkdirSync(dir, { recursive: true });
      renameSync(f.path, join(dir, `${sopInstanceUid}.dcm`));
      this.lastSeenMs.set(studyInstanceUid, Date.now());
      this.state.instancesReceived++;
      return "stored";
    } catch (err) {
      return `unreadable: ${describeError(err)}`;
    } finally {
      rmSync(f.path, { force: true });
    }
  }
}

/** The data sets handed from the stream to cStoreRequest, and their files. */
const received = new WeakMap<object, InstanceFile>();

/** The attach hook for `startService`: the SCP, listening once the service does. */
export function dimseAttachment(options: DimseOptions) {
  return async (ctx: AttachContext) => {
    const receiver = new DimseReceiver(ctx, options);
    await receiver.start();
    return {
      stop: () => receiver.stop(),
      status: () => receiver.status() as unknown as Record<string, unknown>,
    };
  };
}
