// Shared by the serve tests: a small bundle trained through the CLI (a small copy of the shipped recipe on
// 40 synthetic exams, about a minute), exams zipped as a site would upload them, and `liverstiff serve`
// run as a real process on a free loopback port.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative } from "node:path";
import { zipSync } from "fflate";
import { assertCliOk, CLI, type CliResult, ingestCohortArgs, ROOT, runCli } from "../fixtures/cli.ts";
import { smallRecipe } from "../helpers/recipes.ts";

export { CLI, ROOT };

export function run(args: string[]): CliResult {
  return runCli(["-q", ...args]);
}

export const ok = assertCliOk;

export interface SmallBundle {
  bundle: string;
  /** Exam folders of the synthetic cohort (each one study), sorted. */
  examDirs: string[];
}

/** Synthesises 40 exams, ingests them and trains a bundle with a small copy of the shipped recipe. */
export function trainSmallBundle(dir: string): SmallBundle {
  const cohort = join(dir, "cohort");
  ok(run(["synth", "--out", cohort, "--exams", "40", "--seed", "11"]));
  smallRecipe(dir, "liverstiff", "ours-small", { maxEpochs: 30, patience: 8 }, { ensemble: 1 });
  ok(run(ingestCohortArgs(cohort, join(dir, "work"))));
  const bundle = join(dir, "bundle");
  ok(
    run([
      "train",
      join(dir, "work"),
      "--recipe",
      join(dir, "ours-small.json"),
      "--out",
      bundle,
      "--run",
      join(dir, "run"),
      "--resamples",
      "200",
    ]),
  );
  const sites = readdirSync(join(cohort, "dicom")).sort();
  const examDirs = sites.flatMap((s) =>
    readdirSync(join(cohort, "dicom", s))
      .sort()
      .map((e) => join(cohort, "dicom", s, e)),
  );
  return { bundle, examDirs };
}

/** Every file under a folder, by its path relative to `base`. */
export function filesUnder(dir: string, base = dir): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(out, filesUnder(path, base));
    else out[relative(base, path)] = readFileSync(path);
  }
  return out;
}

/** A zip of exam folders, each under its own folder name. */
export function zipExams(examDirs: string[]): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const dir of examDirs) {
    const name = dir.split("/").pop()!;
    for (const [path, data] of Object.entries(filesUnder(dir))) files[`${name}/${path}`] = data;
  }
  return zipSync(files, { level: 1 });
}

export interface Served {
  url: string;
  process: ChildProcess;
  output: () => string;
  /** Waits for the process to exit; returns its exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `liverstiff serve ARGS --port 0` and waits for its "listening on URL" line. */
export async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 120_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+\/)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening:\n${output}`));
    });
  });
  return {
    url,
    process: child,
    output: () => output,
    exited,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `fn` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 180_000,
): Promise<T> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// biome-ignore lint/suspicious/noExplicitAny: the tests read the API's answers as free JSON
export async function getJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

const ORTHANC = "/usr/sbin/Orthanc";
const DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

/**
 * Debian's Orthanc with its DICOMweb plugin on free loopback ports, a temporary configuration and storage
 * under `dir`; with `dicom`, its DICOM server too (AE title ORTHANC, accepting C-STORE from anyone).
 */
export async function startOrthanc(
  dir: string,
  options: { dicom?: boolean } = {},
): Promise<{ url: string; dicomPort: number; process: ChildProcess }> {
  for (const path of [ORTHANC, DICOMWEB_PLUGIN])
    if (!existsSync(path))
      assert.fail(`${path} not found: bash scripts/setup.sh --test installs orthanc and orthanc-dicomweb`);
  const [httpPort, dicomPort] = [await freePort(), await freePort()];
  mkdirSync(join(dir, "storage"), { recursive: true });
  const config = {
    Name: "liverstiff-test",
    StorageDirectory: join(dir, "storage"),
    IndexDirectory: join(dir, "storage"),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomServerEnabled: options.dicom ?? false,
    DicomAet: "ORTHANC",
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    Plugins: [DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: "/dicom-web/" },
  };
  writeFileSync(join(dir, "orthanc.json"), JSON.stringify(config));
  const child = spawn(ORTHANC, [join(dir, "orthanc.json")], { stdio: "ignore" });
  const url = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    "Orthanc to answer",
    async () => ((await fetch(`${url}/system`)).ok ? true : undefined),
    60_000,
  );
  return { url, dicomPort, process: child };
}

/** `liverstiff serve` with its DICOM listener (AE title LIVERSTIFF on a free port) sending results to `sendTo`. */
export async function serveDimse(o: {
  bundle: string;
  dataDir: string;
  idleSeconds: number;
  sendTo: string;
}): Promise<{ served: Served; dimsePort: number }> {
  const served = await serve([
    "--model",
    o.bundle,
    "--data",
    o.dataDir,
    "--dimse-port",
    "0",
    "--study-idle-s",
    String(o.idleSeconds),
    "--send-to",
    o.sendTo,
  ]);
  const m = /DICOM LIVERSTIFF@127\.0\.0\.1:(\d+)/.exec(served.output());
  if (!m) {
    await served.stop("SIGKILL");
    assert.fail(`serve did not say its DICOM port:\n${served.output()}`);
  }
  return { served, dimsePort: Number(m[1]) };
}

/**
 * dcmtk's storescu of one folder (recursively) to 127.0.0.1:port as the modality SCANNER; resolves with
 * the time its last C-STORE ended (performance.now), rejects when storescu fails.
 */
export function storescu(port: number, calledAeTitle: string, dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      "storescu",
      ["-aet", "SCANNER", "-aec", calledAeTitle, "+sd", "+r", "127.0.0.1", String(port), dir],
      { stdio: "ignore" },
    );
    p.on("error", reject);
    p.on("exit", (code) =>
      code === 0 ? resolve(performance.now()) : reject(new Error(`storescu of ${dir} exited ${code}`)),
    );
  });
}
