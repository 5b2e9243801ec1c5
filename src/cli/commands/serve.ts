import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { LiverstiffError } from "../../core/index.ts";
import { type MaskCliOptions, maskOptions } from "../masks.ts";

/** A commander parser for an integer option within [min, max]: anything else is a usage error. */
function integerIn(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < min || n > max)
      throw new InvalidArgumentError(
        `give an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}`,
      );
    return n;
  };
}

interface ServeCliOptions extends MaskCliOptions {
  model: string;
  data: string;
  host: string;
  port: number;
  tokenFile?: string;
  trust?: string;
  maxUploadMb: number;
  maxFiles: number;
  pacs?: string;
  pacsPollS: number;
  pacsFromDate?: string;
  pacsSettleS: number;
  dimsePort?: number;
  aeTitle: string;
  studyIdleS: number;
  sendTo?: string;
  cam?: boolean;
  camThreshold: number;
}

function readToken(path: string): string {
  let token: string;
  try {
    token = readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new LiverstiffError(`cannot read the token file: ${(err as NodeJS.ErrnoException).code ?? err}`, {
      file: path,
    });
  }
  if (/\s/.test(token))
    throw new LiverstiffError("the token file must hold one token, without spaces", { file: path });
  return token;
}

/** Resolves when SIGINT or SIGTERM arrives. */
function stopSignal(): Promise<string> {
  return new Promise((resolveSignal) => {
    const on = (signal: string) => () => resolveSignal(signal);
    process.once("SIGINT", on("SIGINT"));
    process.once("SIGTERM", on("SIGTERM"));
  });
}

/** predict's mask options, as the prediction process takes them. */
function organsFrom(opts: MaskCliOptions) {
  if (!opts.organs) return { kind: "none" as const };
  if (!opts.masks) return { kind: "network" as const };
  if (!existsSync(opts.masks)) throw new LiverstiffError("mask folder does not exist", { masks: opts.masks });
  return { kind: "files" as const, dir: resolve(opts.masks), convention: opts.maskLabels };
}

export function register(program: Command): void {
  const command = program
    .command("serve")
    .description(
      "Run liverstiff as a long-running service: a web app and JSON API where studies are uploaded (a zip or " +
        "a folder of DICOM files) and their predictions, figures and DICOM SR are shown; with --pacs, new MR " +
        "studies on a DICOMweb PACS are predicted and get their SR and Secondary Capture stored back; jobs and an audit " +
        "log in SQLite under --data. Binds 127.0.0.1 unless --host says otherwise; any other address needs " +
        "--token-file. Research use only; not a medical device.",
    )
    .requiredOption("--model <bundle>", "model bundle folder (from `liverstiff train`)")
    .option(
      "--data <dir>",
      "folder for the jobs, received studies, results and audit log",
      "liverstiff-serve",
    )
    .option("--host <address>", "address to listen on (127.0.0.1: this computer only)", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", integerIn(0, 65535), 8765)
    .option(
      "--token-file <file>",
      "file holding the API token, required on every request but /api/health (and for any --host but loopback)",
    )
    .option(
      "--trust <public-key>",
      "PEM Ed25519 public key: refuse the bundle unless signed with its private key",
    )
    .option("--max-upload-mb <n>", "largest upload body, in MiB", integerIn(1), 2048)
    .option("--max-files <n>", "most files in one upload (zip entries included)", integerIn(1), 20000)
    .option(
      "--pacs <url>",
      "DICOMweb root of a PACS (e.g. http://127.0.0.1:8042/dicom-web): poll it for MR studies, predict them, store the SR and Secondary Capture back",
    )
    .option("--pacs-poll-s <seconds>", "seconds between two polls of the PACS", integerIn(1), 30)
    .option(
      "--pacs-settle-s <seconds>",
      "retrieve a PACS study once its MR series have not changed for this long (a study still arriving is not predicted half-stored)",
      integerIn(0),
      10,
    )
    .option("--pacs-from-date <yyyymmdd>", "only PACS studies with a StudyDate on or after this date")
    .option(
      "--dimse-port <n>",
      "also listen for DICOM (C-STORE and C-ECHO) on this port, at --host: a scanner or PACS pushes studies here (0: any free port)",
      integerIn(0, 65535),
    )
    .option("--ae-title <ae>", "the AE title the DICOM listener answers to", "LIVERSTIFF")
    .option(
      "--study-idle-s <seconds>",
      "predict a pushed study once no instance of it has arrived for this long",
      integerIn(1),
      30,
    )
    .option(
      "--send-to <AE@host:port>",
      "send each pushed study's SR and Secondary Capture by C-STORE to this DICOM node (e.g. ORTHANC@127.0.0.1:4242)",
    );
  command
    .option(
      "--cam",
      "with every prediction, Grad-CAM maps (NIfTI in the job's results) drawn over the figure's slices, so the web app, the Secondary Capture and the PACS show them (about 1 s more per exam)",
    )
    .option("--cam-threshold <kPa>", "the threshold whose logit the maps explain", Number, 3.0);
  for (const o of maskOptions()) command.addOption(o);
  command.action(async (opts: ServeCliOptions) => {
    const { checkExplainable, loadBundle } = await import("../../deploy/index.ts");
    const { checkAeTitle, checkToken, dimseAttachment, pacsAttachment, parseDicomNode, startService } =
      await import("../../clinic/index.ts");
    if (opts.pacsFromDate !== undefined && !/^\d{8}$/.test(opts.pacsFromDate))
      throw new LiverstiffError("--pacs-from-date must be a date as YYYYMMDD", { date: opts.pacsFromDate });
    const token = opts.tokenFile ? readToken(opts.tokenFile) : undefined;
    checkToken(opts.host, token); // before the bundle is loaded: a refused start is quick
    const aeTitle = checkAeTitle(opts.aeTitle, "--ae-title");
    const sendTo = opts.sendTo ? parseDicomNode(opts.sendTo) : undefined;
    if (sendTo && opts.dimsePort === undefined)
      throw new LiverstiffError("--send-to sends the results of pushed studies: give --dimse-port too");
    const bundle = loadBundle(opts.model, { trust: opts.trust });
    if (opts.cam) checkExplainable(bundle, opts.camThreshold);
    const log = (line: string) => process.stderr.write(`liverstiff serve: ${line}\n`);
    try {
      const service = await startService({
        bundle,
        ...(opts.trust ? { trust: resolve(opts.trust) } : {}),
        organs: organsFrom(opts),
        ...(opts.cam ? { camThresholdKpa: opts.camThreshold } : {}),
        dataDir: resolve(opts.data),
        host: opts.host,
        port: opts.port,
        ...(token ? { token } : {}),
        limits: {
          maxUploadBytes: opts.maxUploadMb * 1024 ** 2,
          maxUnzippedBytes: 2 * opts.maxUploadMb * 1024 ** 2,
          maxFiles: opts.maxFiles,
        },
        log,
        attach: {
          ...(opts.pacs
            ? {
                pacs: pacsAttachment({
                  url: opts.pacs,
                  pollSeconds: opts.pacsPollS,
                  settleSeconds: opts.pacsSettleS,
                  ...(opts.pacsFromDate ? { fromDate: opts.pacsFromDate } : {}),
                }),
              }
            : {}),
          ...(opts.dimsePort !== undefined
            ? {
                dimse: dimseAttachment({
                  host: opts.host,
                  port: opts.dimsePort,
                  aeTitle,
                  studyIdleSeconds: opts.studyIdleS,
                  maxInstanceBytes: opts.maxUploadMb * 1024 ** 2,
                  ...(sendTo ? { sendTo } : {}),
                }),
              }
            : {}),
        },
      });
      const dimse = service.status().dimse as { aeTitle: string; port: number } | undefined;
      process.stdout.write(
        `liverstiff serve: listening on ${service.url} (model ${bundle.manifest.recipe.name}, data ${resolve(opts.data)})` +
          `${dimse ? `; DICOM ${dimse.aeTitle}@${opts.host}:${dimse.port}` : ""}\n`,
      );
      const signal = await stopSignal();
      log(`${signal}: stopping (a job being predicted resumes at the next start)`);
      await service.close();
    } finally {
      bundle.dispose();
    }
    // A prediction still running in this process is abandoned: its job is back in the queue.
    process.exit(0);
  });
}
