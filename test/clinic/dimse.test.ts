// `liverstiff serve --dimse-port` with dcmtk as the other side (`bash scripts/setup.sh --test` installs
// dcmtk): echoscu verifies the SCP (and an unknown called AE title is rejected), storescu pushes exams as a
// modality would, each study is predicted once it has been quiet, and its SR and Secondary Capture arrive
// at a storescp named by --send-to; 20 studies pushed at once each become exactly one job, and a study
// pushed again unchanged is not predicted again.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import dcmjs, { type NaturalDataset } from "dcmjs";
import {
  filesUnder,
  freePort,
  getJson,
  type Served,
  type SmallBundle,
  serveDimse,
  storescu,
  trainSmallBundle,
  waitFor,
} from "./helpers.ts";

const IDLE_SECONDS = 2;

function requireDcmtk(): void {
  for (const tool of ["storescu", "storescp", "echoscu"])
    if (spawnSync("which", [tool]).status !== 0)
      assert.fail(`${tool} not found: bash scripts/setup.sh --test installs dcmtk`);
}

/** storescu of exam folders, all at once, as modalities pushing at the same time; their exit codes. */
function push(port: number, examDirs: readonly string[]): Promise<number[]> {
  return Promise.all(
    examDirs.map((dir) =>
      storescu(port, "LIVERSTIFF", dir).then(
        () => 0,
        () => 1,
      ),
    ),
  );
}

function readDataset(path: string): NaturalDataset {
  dcmjs.log.setLevel("silent");
  const bytes = readFileSync(path);
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(
    dcmjs.data.DicomMessage.readFile(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    ).dict,
  );
}

function studyUidOf(examDir: string): string {
  const first = Object.keys(filesUnder(examDir))[0]!;
  return readDataset(join(examDir, first)).StudyInstanceUID as string;
}

describe("liverstiff serve --dimse-port with dcmtk", () => {
  let dir = "";
  let small: SmallBundle;
  let destination: ChildProcess | undefined;
  let served: Served | undefined;
  let dimsePort = 0;
  const received = () => join(dir, "received");

  before(async () => {
    requireDcmtk();
    dir = mkdtempSync(join(tmpdir(), "ls-dimse-"));
    small = trainSmallBundle(dir);
    mkdirSync(received());
    const destPort = await freePort();
    destination = spawn("storescp", ["-aet", "DEST", "-od", received(), String(destPort)], {
      stdio: "ignore",
    });
    ({ served, dimsePort } = await serveDimse({
      bundle: small.bundle,
      dataDir: join(dir, "data"),
      idleSeconds: IDLE_SECONDS,
      sendTo: `DEST@127.0.0.1:${destPort}`,
    }));
  });
  after(async () => {
    await served?.stop("SIGKILL");
    destination?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers C-ECHO to its AE title and rejects another", () => {
    const echo = (aec: string) =>
      spawnSync("echoscu", ["-aet", "SCANNER", "-aec", aec, "127.0.0.1", String(dimsePort)], {
        encoding: "utf8",
      });
    assert.equal(echo("LIVERSTIFF").status, 0, echo("LIVERSTIFF").stderr);
    const wrong = echo("SOMEONE");
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr + wrong.stdout, /Called AE Title Not Recognized/i);
  });

  it("predicts a pushed study once it is quiet and sends its SR and Secondary Capture to --send-to", async (t) => {
    const exam = small.examDirs[0]!;
    const uid = studyUidOf(exam);
    const t0 = performance.now();
    assert.deepEqual(await push(dimsePort, [exam]), [0]);
    const pushed = performance.now();
    const files = await waitFor(
      "the SR and the SC at storescp",
      async () => {
        const names = readdirSync(received());
        return names.some((n) => n.startsWith("SR")) && names.some((n) => n.startsWith("SC"))
          ? names
          : undefined;
      },
      120_000,
    );
    t.diagnostic(
      `pushed in ${((pushed - t0) / 1000).toFixed(1)} s; SR and SC at the destination ${((performance.now() - pushed) / 1000).toFixed(1)} s after the last C-STORE (idle time ${IDLE_SECONDS} s)`,
    );
    for (const name of files) {
      const ds = readDataset(join(received(), name));
      assert.equal(ds.StudyInstanceUID, uid, `${name} is in the pushed study`);
    }
    const api = (await getJson(`${served!.url}api/studies/${uid}`)).body;
    assert.equal(api.job.source, "dimse");
    assert.equal(api.job.state, "done");
    assert.equal(api.job.store.state, "stored", JSON.stringify(api.job.store));
    const sr = readDataset(join(received(), files.find((n) => n.startsWith("SR"))!));
    const srFromApi = await (await fetch(`${served!.url}api/studies/${uid}/sr.dcm`)).arrayBuffer();
    const apiSr = dcmjs.data.DicomMetaDictionary.naturalizeDataset(
      dcmjs.data.DicomMessage.readFile(srFromApi).dict,
    );
    assert.equal(sr.SOPInstanceUID, apiSr.SOPInstanceUID, "the SR sent is the one the service shows");
  });

  it("20 studies pushed at once are each predicted once; an unchanged study pushed again is not", async () => {
    const exams = small.examDirs.slice(1, 21);
    const codes = await push(dimsePort, exams);
    assert.deepEqual(codes, new Array(20).fill(0));
    const uids = exams.map(studyUidOf);
    let seen: unknown;
    const jobs = await waitFor(
      "20 jobs done and sent",
      async () => {
        const list = (await getJson(`${served!.url}api/studies`)).body.studies as {
          studyInstanceUid: string;
          job: { state: string; store?: { state: string } };
        }[];
        const mine = list.filter((s) => uids.includes(s.studyInstanceUid));
        seen = mine.map((s) => `${s.job.state}/${s.job.store?.state}`);
        return mine.length === 20 &&
          mine.every((s) => s.job.state === "done" && s.job.store?.state === "stored")
          ? list
          : undefined;
      },
      300_000,
    ).catch((err) => {
      throw new Error(`${err.message}: jobs ${JSON.stringify(seen)}\n${served!.output().slice(-3000)}`);
    });
    for (const uid of uids)
      assert.equal(jobs.filter((s) => s.studyInstanceUid === uid).length, 1, `one job for study ${uid}`);
    const srs = readdirSync(received()).filter((n) => n.startsWith("SR"));
    assert.equal(srs.length, 21, "one SR per study at the destination");
    // The first study again, unchanged: received, found to be a duplicate, not predicted again.
    assert.deepEqual(await push(dimsePort, [small.examDirs[0]!]), [0]);
    await new Promise((r) => setTimeout(r, (IDLE_SECONDS + 2) * 1000));
    const after = (await getJson(`${served!.url}api/studies`)).body.studies as unknown[];
    assert.equal(after.length, 21, "no new job for the study pushed again");
    assert.equal(readdirSync(received()).filter((n) => n.startsWith("SR")).length, 21);
    assert.ok(existsSync(join(dir, "data", "incoming", "dimse", "studies")));
    assert.deepEqual(
      readdirSync(join(dir, "data", "incoming", "dimse", "studies")),
      [],
      "nothing left waiting",
    );
  });
});
