import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DicomFileError } from "../../src/dicom/errors.ts";
import { asOutputWriteError, convertToNifti, OutputWriteError, readNifti } from "../../src/volume/index.ts";
import { numberedExam, TEMPLATE, writeExam } from "../fixtures/cohort/corpus.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-convert-");

describe("convertToNifti", { skip: existsSync(TEMPLATE) ? false : `template absent: ${TEMPLATE}` }, () => {
  it("gives identical files in-process and with worker threads, and reports unstackable series", async () => {
    const root = join(tmp, "export");
    writeExam(root, numberedExam(1, ["t2", "t1_in", "t2_mixed"]));
    const a = await convertToNifti({ inputs: [root], outDir: join(tmp, "a"), workers: 0 });
    const b = await convertToNifti({ inputs: [root], outDir: join(tmp, "b"), workers: 2, gzip: false });
    assert.deepEqual(
      a.converted.map((c) => [c.seriesNumber, c.role, c.dims]),
      [
        [2, "t2", [256, 256, 6]],
        [3, "t1_in", [256, 256, 6]],
      ],
    );
    assert.equal(a.failed.length, 1);
    assert.match(a.failed[0].error!, /mixed slice orientations/);
    assert.deepEqual(
      b.converted.map((c) => c.file!.replace(/.*\//, "")),
      ["002_t2_ssfse_tra.nii", "003_t1_in_phase_tra.nii"],
    );
    for (const c of a.converted) {
      const other = b.converted.find((x) => x.seriesInstanceUid === c.seriesInstanceUid)!;
      const va = readNifti(c.file!).volume;
      const vb = readNifti(other.file!).volume;
      assert.deepEqual(Array.from(va.data), Array.from(vb.data));
      assert.deepEqual(va.affine, vb.affine);
    }
    assert.deepEqual(readdirSync(join(tmp, "a")).filter((f) => f.endsWith(".json")).length, 2);
    const side = JSON.parse(readFileSync(join(tmp, "a", "003_t1_in_phase_tra.json"), "utf8"));
    assert.equal(side.EchoTime, 0.0044);
    assert.equal(side.MagneticFieldStrength, 1.5);
    assert.equal(side.Liverstiff.role, "t1_in");
  });
});

// A folder the operating system refuses to create (sysfs: EPERM as root, EACCES or EROFS otherwise).
const REFUSED = "/sys/liverstiff-convert-test/out";
function refusedWrite(): string | undefined {
  try {
    mkdirSync(REFUSED, { recursive: true });
    rmSync("/sys/liverstiff-convert-test", { recursive: true, force: true });
    return "/sys accepted a new folder here";
  } catch (e) {
    return asOutputWriteError(e) ? undefined : `unexpected ${(e as Error).message}`;
  }
}

const BIN = fileURLToPath(new URL("../../bin/liverstiff.mjs", import.meta.url));

/** The CLI in its own process: exit code and output as a user sees them. */
function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += String(d);
    });
    child.stderr.on("data", (d) => {
      stderr += String(d);
    });
    child.on("close", (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
}

describe("convert: failures of the output, and nothing written", {
  skip: existsSync(TEMPLATE) ? false : `template absent: ${TEMPLATE}`,
}, () => {
  const root = join(tmp, "export-io");
  writeExam(root, { n: 1, patientId: "P2", accession: "A2", date: "20240106", series: ["t2", "t1_in"] });

  it("an output that cannot be written stops with one error naming the path; nothing is blamed on the images", async (t) => {
    const why = refusedWrite();
    if (why) return t.skip(why);
    const err = await convertToNifti({ inputs: [root], outDir: REFUSED }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof OutputWriteError, String(err));
    assert.match(
      err.message,
      /^cannot write \/sys\/liverstiff-convert-test\/out\/002_t2_ssfse_tra\.nii\.gz: /,
    );
    assert.match(err.code, /^(EPERM|EACCES|EROFS)$/);
    // --quiet: progress lines aside, the error is the one line on stderr.
    const cli = await runCli(["convert", root, "--out", REFUSED, "--json", "--quiet"]);
    assert.equal(cli.code, 1);
    assert.equal(cli.stdout, "");
    assert.equal(cli.stderr.trim().split("\n").length, 1);
    assert.match(
      cli.stderr,
      /liverstiff: error: cannot write \/sys\/liverstiff-convert-test\/out\/\S+\.nii\.gz/,
    );
  });

  it("a failed write leaves neither a temporary file nor an image without its sidecar", async () => {
    const out = join(tmp, "partial");
    // The image's target is a folder: its rename fails after the sidecar and the image were written.
    mkdirSync(join(out, "003_t1_in_phase_tra.nii.gz"), { recursive: true });
    const r = await convertToNifti({ inputs: [root], outDir: out });
    assert.equal(r.failed.length, 1);
    assert.deepEqual(readdirSync(out).sort(), [
      "002_t2_ssfse_tra.json",
      "002_t2_ssfse_tra.nii.gz",
      "003_t1_in_phase_tra.nii.gz",
    ]);
  });

  it("convert exits non-zero when nothing was written, with --json as without", async () => {
    const empty = join(tmp, "empty-input");
    mkdirSync(empty, { recursive: true });
    const [plain, json, ok] = await Promise.all([
      runCli(["convert", empty, "--out", join(tmp, "o1")]),
      runCli(["convert", empty, "--out", join(tmp, "o2"), "--json"]),
      runCli(["convert", root, "--out", join(tmp, "o3"), "--json"]),
    ]);
    assert.equal(plain.code, 1);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout).converted.length, 0);
    assert.equal(ok.code, 0);
    assert.equal(JSON.parse(ok.stdout).converted.length, 2);
  });

  it("tells output-write errors from input errors", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
      path: "/out/.002_t2.nii.gz.123.abcd1234.tmp",
    });
    assert.equal(
      asOutputWriteError(enospc)?.message,
      "cannot write /out/002_t2.nii.gz: no space left on the device (ENOSPC)",
    );
    // As a worker passes it on: text only.
    const text = asOutputWriteError("EROFS: read-only file system, open '/cache/x.bin'");
    assert.equal(text?.path, "/cache/x.bin");
    assert.equal(text?.code, "EROFS");
    // A DICOM file that cannot be read is the input's problem, whatever its text says.
    const unreadable = new DicomFileError(
      "unreadable",
      "cannot read file: EACCES: permission denied, open '/d/x.dcm'",
    );
    assert.equal(asOutputWriteError(unreadable), undefined);
    assert.equal(asOutputWriteError(Object.assign(new Error("ENOENT"), { code: "ENOENT" })), undefined);
    // Permission errors count for the output folder only (elsewhere they may be an input's).
    const denied = "EACCES: permission denied, open '/data/in/x.nii.gz'";
    assert.equal(asOutputWriteError(denied, undefined, "/work/out"), undefined);
    assert.equal(asOutputWriteError(denied, undefined, "/data")?.code, "EACCES");
    assert.equal(asOutputWriteError(enospc, undefined, "/elsewhere")?.code, "ENOSPC");
  });
});
