// `liverstiff serve --pacs` against a real Orthanc (Debian's orthanc and orthanc-dicomweb: `bash
// scripts/setup.sh --test` installs them), started here on loopback ports with a temporary configuration
// and storage: an exam stored into Orthanc (POST /instances of its files) is found by QIDO-RS, retrieved
// by WADO-RS, predicted, and its SR and Secondary Capture arrive in the same study by STOW-RS within one
// poll cycle; the service's own results do not make the study look changed.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import dcmjs, { type NaturalDataset } from "dcmjs";
import {
  filesUnder,
  getJson,
  type Served,
  type SmallBundle,
  serve,
  startOrthanc,
  trainSmallBundle,
  waitFor,
} from "./helpers.ts";

const POLL_SECONDS = 3;

function readDataset(bytes: ArrayBuffer): NaturalDataset {
  dcmjs.log.setLevel("silent");
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(bytes).dict);
}

describe("liverstiff serve --pacs with a real Orthanc", () => {
  let dir = "";
  let small: SmallBundle;
  let orthanc: { url: string; process: ChildProcess };
  let served: Served | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ls-orthanc-"));
    small = trainSmallBundle(dir);
    orthanc = await startOrthanc(join(dir, "orthanc"));
  });
  after(async () => {
    await served?.stop("SIGKILL");
    orthanc?.process.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores the SR and the Secondary Capture into the exam's own study within one poll cycle", async (t) => {
    served = await serve([
      "--model",
      small.bundle,
      "--data",
      join(dir, "data"),
      "--pacs",
      `${orthanc.url}/dicom-web`,
      "--pacs-poll-s",
      String(POLL_SECONDS),
      "--pacs-settle-s",
      "1",
    ]);
    const exam = small.examDirs[0]!;
    const t0 = performance.now();
    let studyId = "";
    for (const data of Object.values(filesUnder(exam))) {
      const r = await getJson(`${orthanc.url}/instances`, { method: "POST", body: data });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      studyId = r.body.ParentStudy;
    }
    const stored = performance.now();
    const modalities = async () => {
      const series = (await getJson(`${orthanc.url}/studies/${studyId}/series`)).body as {
        ID: string;
        MainDicomTags: { Modality: string };
      }[];
      return series;
    };
    const series = await waitFor(
      "the SR and the SC in Orthanc",
      async () => {
        const s = await modalities();
        const m = s.map((x) => x.MainDicomTags.Modality);
        return m.includes("SR") && m.includes("OT") ? s : undefined;
      },
      120_000,
    );
    const arrived = performance.now();
    const seconds = (arrived - stored) / 1000;
    t.diagnostic(
      `stored ${Object.keys(filesUnder(exam)).length} instances into Orthanc in ${((stored - t0) / 1000).toFixed(1)} s; SR and SC in the study ${seconds.toFixed(1)} s later (poll every ${POLL_SECONDS} s)`,
    );
    // One poll cycle, plus the settle time, the prediction and the transfers.
    assert.ok(seconds < POLL_SECONDS + 1 + 60, `${seconds} s`);
    const study = (await getJson(`${orthanc.url}/studies/${studyId}`)).body;
    const uid = study.MainDicomTags.StudyInstanceUID as string;
    // The SR, read back from Orthanc: in the same study, with the same patient, made by the bundle.
    const sr = series.find((s) => s.MainDicomTags.Modality === "SR")!;
    const instances = (await getJson(`${orthanc.url}/series/${sr.ID}/instances`)).body as { ID: string }[];
    assert.equal(instances.length, 1);
    const file = await (await fetch(`${orthanc.url}/instances/${instances[0]!.ID}/file`)).arrayBuffer();
    const ds = readDataset(file);
    assert.equal(ds.StudyInstanceUID, uid);
    assert.equal(ds.SOPClassUID, "1.2.840.10008.5.1.4.1.1.88.33");
    assert.equal(ds.PatientID, study.PatientMainDicomTags.PatientID);
    const bundle = JSON.parse(readFileSync(join(small.bundle, "bundle.json"), "utf8"));
    assert.ok(JSON.stringify(ds).includes(bundle.integrity.digest), "the SR names the bundle's digest");
    // The service's view: one job, done, stored back; the results did not make the study look changed.
    const job = await getJson(`${served.url}api/studies/${uid}`);
    assert.equal(job.body.job.state, "done");
    assert.equal(job.body.job.source, "pacs");
    assert.equal(job.body.job.store.state, "stored");
    await new Promise((r) => setTimeout(r, 2.5 * POLL_SECONDS * 1000));
    const list = await getJson(`${served.url}api/studies`);
    assert.equal(list.body.studies.length, 1);
    assert.equal(list.body.studies[0].job.id, job.body.job.id, "not processed again");
    const after = (await modalities()).map((x) => x.MainDicomTags.Modality);
    assert.equal(after.filter((m) => m === "SR").length, 1, "one SR series: nothing stored twice");
    assert.equal(after.filter((m) => m === "OT").length, 1, "one SC series");
    assert.equal(after.length, series.length);
    const srInstances = (await getJson(`${orthanc.url}/series/${sr.ID}/instances`)).body as unknown[];
    assert.equal(srInstances.length, 1, "one SR instance");
    const health = await getJson(`${served.url}api/health`);
    assert.equal(health.body.pacs.resultsStored, 1);
    assert.equal(health.body.pacs.lastError, undefined);
    // The audit log: received from the PACS, predicted, stored; no names or birth dates anywhere in it.
    const audit = await getJson(`${served.url}api/audit`);
    const actions = audit.body.entries.map(
      (e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`,
    );
    for (const a of ["receive:new", "predict:done", "store:stored"]) assert.ok(actions.includes(a), a);
    const text = JSON.stringify(audit.body);
    if (ds.PatientName && String(ds.PatientName).length > 2)
      assert.ok(
        !text.includes(
          String((ds.PatientName as { Alphabetic?: string }[])[0]?.Alphabetic ?? ds.PatientName),
        ),
      );
    if (ds.PatientBirthDate) assert.ok(!text.includes(String(ds.PatientBirthDate)));
  });
});
