// The hospital path end to end: a modality (dcmtk's storescu) pushes N studies at once to `liverstiff
// serve --dimse-port`, which predicts each once it is quiet and sends its SR and Secondary Capture by
// C-STORE to a real Orthanc (its DICOM port; --send-to). Measured per study: seconds from the end of its
// last C-STORE to its SR being in Orthanc (polled every 0.2 s through Orthanc's REST API); and studies
// per minute over the whole batch. Peer, same run: storescu of the same studies straight into Orthanc
// (the transfer alone). Last line: one JSON object.
//   npm run bench -- serve [--studies 20] [--idle-s 2]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import dcmjs from "dcmjs";
import { serveDimse, startOrthanc, storescu, trainSmallBundle } from "../test/clinic/helpers.ts";

const { values: args } = parseArgs({
  options: { studies: { type: "string", default: "20" }, "idle-s": { type: "string", default: "2" } },
});
const N = Number(args.studies);
const IDLE_S = Number(args["idle-s"]);
const say = (s: string) => process.stderr.write(`${s}\n`);
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function studyUidOf(examDir: string): string {
  const walk = (d: string): string =>
    readdirSync(d, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : join(d, e.name),
    )[0]!;
  const b = readFileSync(walk(examDir));
  dcmjs.log.setLevel("silent");
  const dict = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), {
    untilTag: "0020000E",
  });
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict).StudyInstanceUID as string;
}

/** Whether the study has an SR series in Orthanc. */
async function hasSr(orthanc: string, studyUid: string): Promise<boolean> {
  const found = (await (
    await fetch(`${orthanc}/tools/find`, {
      method: "POST",
      body: JSON.stringify({ Level: "Series", Query: { StudyInstanceUID: studyUid, Modality: "SR" } }),
    })
  ).json()) as string[];
  return found.length > 0;
}

const dir = mkdtempSync(join(tmpdir(), "ls-bench-serve-"));
try {
  say(`serve bench: training a small bundle (40 synthetic exams) in ${dir}`);
  const small = trainSmallBundle(dir);
  if (small.examDirs.length < 2 * N)
    throw new Error(`the small cohort has ${small.examDirs.length} exams, fewer than 2 x ${N}`);
  const peerExams = small.examDirs.slice(0, N);
  const exams = small.examDirs.slice(N, 2 * N);
  const orthanc = await startOrthanc(join(dir, "orthanc"), { dicom: true });
  try {
    // Peer: the transfer alone, the same kind of studies straight into Orthanc, all at once.
    const p0 = performance.now();
    const peerEnds = await Promise.all(peerExams.map((e) => storescu(orthanc.dicomPort, "ORTHANC", e)));
    const peerSeconds = peerEnds.map((t) => (t - p0) / 1000);
    say(
      `peer: ${N} studies stored into Orthanc by storescu at once in ${(Math.max(...peerSeconds)).toFixed(1)} s`,
    );

    const { served, dimsePort: port } = await serveDimse({
      bundle: small.bundle,
      dataDir: join(dir, "data"),
      idleSeconds: IDLE_S,
      sendTo: `ORTHANC@127.0.0.1:${orthanc.dicomPort}`,
    });
    try {
      const uids = exams.map(studyUidOf);
      const t0 = performance.now();
      const pushedAt = await Promise.all(exams.map((e) => storescu(port, "LIVERSTIFF", e)));
      const arrivedAt = new Map<string, number>();
      const deadline = performance.now() + 30 * 60_000;
      while (arrivedAt.size < N && performance.now() < deadline) {
        for (const uid of uids)
          if (!arrivedAt.has(uid) && (await hasSr(orthanc.url, uid))) arrivedAt.set(uid, performance.now());
        await new Promise((r) => setTimeout(r, 200));
      }
      if (arrivedAt.size < N) throw new Error(`only ${arrivedAt.size} of ${N} SRs reached Orthanc in 30 min`);
      const latency = uids.map((uid, i) => (arrivedAt.get(uid)! - pushedAt[i]!) / 1000);
      const lastArrival = Math.max(...arrivedAt.values());
      const studiesPerMinute = (N / (lastArrival - t0)) * 60_000;
      const peerMedian = median(peerSeconds);
      const result = {
        bench: "serve",
        studies: N,
        studyIdleSeconds: IDLE_S,
        medianSecondsLastCStoreToSr: Number(median(latency).toFixed(2)),
        maxSecondsLastCStoreToSr: Number(Math.max(...latency).toFixed(2)),
        studiesPerMinute: Number(studiesPerMinute.toFixed(1)),
        peerMedianSecondsStorescuToOrthanc: Number(peerMedian.toFixed(2)),
        ratioMedianLatencyToPeerTransfer: Number((median(latency) / peerMedian).toFixed(1)),
      };
      say(
        `liverstiff: ${N} studies pushed at once; from a study's last C-STORE to its SR in Orthanc: median ` +
          `${result.medianSecondsLastCStoreToSr} s (max ${result.maxSecondsLastCStoreToSr} s; idle time ${IDLE_S} s); ` +
          `${result.studiesPerMinute} studies per minute; ${result.ratioMedianLatencyToPeerTransfer}x the peer's median transfer`,
      );
      console.log(JSON.stringify(result));
    } finally {
      await served.stop();
    }
  } finally {
    orthanc.process.kill("SIGTERM");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
