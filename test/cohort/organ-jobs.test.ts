// Organ measures on worker processes: the same cache files as in-process, for label-map files and for the
// shipped segmentation network (whose workers load it from its weights file).
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureOrganMeasures, ingest, type MaskSource, openCatalog } from "../../src/cohort/index.ts";
import { DEFAULT_SEGMENTER_PATH, loadSegmenter, type Segmenter } from "../../src/segment/index.ts";
import { synthesize } from "../../src/synth/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-organ-jobs-");

const organFiles = (work: string) =>
  new Map(
    (existsSync(join(work, "organs")) ? readdirSync(join(work, "organs")) : [])
      .sort()
      .map((f) => [f, JSON.parse(readFileSync(join(work, "organs", f), "utf8"))]),
  );

describe("organ measures with jobs > 1", () => {
  const cohort = join(tmp, "cohort");
  const work = join(tmp, "work");
  let segmenter: Segmenter;
  before(async () => {
    await synthesize({ out: cohort, exams: 6, seed: 7171, workers: 1 });
    await ingest({ roots: [join(cohort, "dicom")], workdir: work, prep: { slices: 3, size: 32 } });
    segmenter = loadSegmenter(DEFAULT_SEGMENTER_PATH);
  });
  after(() => segmenter?.dispose());

  async function measure(source: MaskSource, jobs: number) {
    rmSync(join(work, "organs"), { recursive: true, force: true });
    const cat = openCatalog(work);
    try {
      const s = await ensureOrganMeasures(cat, source, undefined, { jobs });
      return { summary: s, files: organFiles(work) };
    } finally {
      cat.close();
    }
  }

  it("writes the same files from label maps on 2 worker processes as in this process", async () => {
    const source: MaskSource = { kind: "files", dir: join(cohort, "labelmaps"), convention: "synthetic" };
    const one = await measure(source, 1);
    const two = await measure(source, 2);
    assert.equal(one.summary.measured, 6);
    assert.deepEqual(two.summary, one.summary);
    assert.deepEqual(two.files, one.files);
  });

  it("segments in worker processes with the same network and gives the same measures", async () => {
    const source: MaskSource = {
      kind: "network",
      segmenter,
      role: "t2",
      weightsPath: DEFAULT_SEGMENTER_PATH,
    };
    const one = await measure(source, 1);
    const two = await measure(source, 2);
    assert.equal(one.summary.measured, 6);
    assert.deepEqual(two.summary, one.summary);
    for (const [f, a] of one.files) {
      const b = two.files.get(f);
      assert.ok(b, f);
      assert.equal(b.fingerprint, a.fingerprint);
      assert.equal(b.source, a.source);
      // Inference on one libtorch thread (workers) or several (here) may round differently; the masks,
      // and so the measures, agree to far below what the head can see.
      for (const [k, v] of Object.entries(a.measures as Record<string, number | null>)) {
        const w = (b.measures as Record<string, number | null>)[k];
        if (v === null || w === null) assert.equal(w, v, `${f} ${k}`);
        else assert.ok(Math.abs(v - w) <= 1e-3 * Math.max(1, Math.abs(v)), `${f} ${k}: ${v} vs ${w}`);
      }
    }
  });

  it("names an exam whose worker failed and goes on with the others", async () => {
    const source: MaskSource = { kind: "network", segmenter, weightsPath: join(tmp, "no-such.safetensors") };
    const s = await measure(source, 2);
    assert.equal(s.summary.measured, 0);
    assert.equal(s.files.size, 0);
    assert.deepEqual(s.summary.missing, { "organ-error": 6 });
    assert.match(s.summary.errors[0]!.reason, /segmentation weights not found|not initialised/);
  });
});
