// The feature cache end to end: a tiny synthetic cohort (synth -> DICOM on disk -> ingest) encoded once,
// reused on the second run without encoding, recomputed when the prepared exam or the encoder changes,
// and recovered when a cache file is corrupt. The encoder is the PyTorch-parity fixture CNN.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Catalog, ingest, loadPrepared, openCatalog } from "../../src/cohort/index.ts";
import {
  computeFeatures,
  type Encoder,
  type ExamFeatures,
  encoderDirName,
  type FeatureCacheStats,
  featuresPath,
  loadCnnEncoder,
  randomCnnEncoder,
} from "../../src/features/index.ts";
import { synthesize } from "../../src/synth/index.ts";

const fixture = (name: string) => new URL(`../fixtures/features/${name}`, import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "liverstiff-features-cache-"));
const workdir = join(tmp, "work");
const PREP = "s5-128-mm400-zscore-f32";
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Wraps an encoder and counts the slices it encodes. */
function counting(enc: Encoder): Encoder & { slices: number } {
  const c = {
    identity: enc.identity,
    slices: 0,
    encode(x: Float32Array, n: number) {
      c.slices += n;
      return enc.encode(x, n);
    },
    dispose: () => enc.dispose(),
  };
  return c;
}

const newStats = (): FeatureCacheStats => ({ computed: 0, reused: 0, slicesEncoded: 0 });
let enc: Encoder & { slices: number };
let first: ExamFeatures[];
const firstStats = newStats();

before(async () => {
  await synthesize({ out: join(tmp, "cohort"), exams: 5, seed: 9001, workers: 2 });
  const s = await ingest({
    roots: [join(tmp, "cohort", "dicom")],
    labelsCsv: join(tmp, "cohort", "labels.csv"),
    workdir,
    prep: { size: 128, slices: 5 },
  });
  assert.equal(s.prepName, PREP);
  enc = counting(loadCnnEncoder(fixture("cnn_weights.safetensors")));
  const events: number[] = [];
  first = await computeFeatures(
    { workdir, prep: PREP, encoder: enc, onProgress: (e) => events.push(e.done) },
    firstStats,
  );
  assert.equal(events.at(-1), first.length);
});

describe("computeFeatures", () => {
  it("encodes every usable labelled exam, with the catalog's fields", () => {
    const cat = openCatalog(workdir);
    const usable = cat.usableExams();
    cat.close();
    assert.ok(usable.length >= 3, `${usable.length} usable exams`);
    assert.equal(first.length, usable.length);
    assert.deepEqual(firstStats, {
      computed: usable.length,
      reused: 0,
      slicesEncoded: usable.reduce((s, e) => s + 5 * e.roles.length, 0),
    });
    assert.equal(enc.slices, firstStats.slicesEncoded);
    for (const [i, f] of first.entries()) {
      const e = usable[i];
      assert.equal(f.examId, e.examId);
      assert.equal(f.patientKey, e.patientKey);
      assert.equal(f.site, e.site);
      assert.equal(f.kpa, e.kpa);
      assert.equal(f.vendor, e.vendor);
      assert.equal(f.fieldStrengthT, e.fieldStrengthT);
      assert.equal(f.slices, 5);
      assert.equal(f.featureDim, 512);
      assert.deepEqual(Object.keys(f.roles).sort(), [...e.roles].sort());
      for (const v of Object.values(f.roles)) assert.equal(v.length, 5 * 512);
      assert.ok(existsSync(featuresPath(workdir, enc.identity, PREP, f.examId)));
    }
  });

  it("stores exactly what the encoder gives for the prepared slices", () => {
    const f = first[0];
    const p = loadPrepared(workdir, f.examId, PREP);
    const direct = enc.encode(p.roles.t2!, 5);
    assert.deepEqual(f.roles.t2, direct);
    enc.slices -= 5;
  });

  it("reuses the cache: a second run encodes nothing and returns the same features", async () => {
    const before = enc.slices;
    const stats = newStats();
    const again = await computeFeatures({ workdir, prep: PREP, encoder: enc }, stats);
    assert.equal(enc.slices, before);
    assert.deepEqual(stats, { computed: 0, reused: first.length, slicesEncoded: 0 });
    assert.deepEqual(again, first);
  });

  it("recomputes an exam whose prepared inputs changed, and a corrupt cache file", async () => {
    const [a, b] = first;
    const cat = Catalog.open(workdir);
    const rec = cat.prepared(a.examId, PREP)!;
    cat.setPrepared({ ...rec, fingerprint: "re-prepared-0000" });
    cat.close();
    writeFileSync(featuresPath(workdir, enc.identity, PREP, b.examId), "not a safetensors file");
    const stats = newStats();
    const again = await computeFeatures({ workdir, prep: PREP, encoder: enc }, stats);
    assert.equal(stats.computed, 2);
    assert.equal(stats.reused, first.length - 2);
    assert.deepEqual(again, first);
  });

  it("keeps encoders apart: another encoder gets its own folder and recomputes", async () => {
    const rnd = randomCnnEncoder(3);
    const stats = newStats();
    const other = await computeFeatures(
      { workdir, prep: PREP, encoder: rnd, examIds: [first[0].examId] },
      stats,
    );
    assert.equal(stats.computed, 1);
    assert.notDeepEqual(other[0].roles.t2, first[0].roles.t2);
    const dirs = readdirSync(join(workdir, "features")).sort();
    assert.deepEqual(dirs, [encoderDirName(enc.identity), encoderDirName(rnd.identity)].sort());
    assert.match(encoderDirName(enc.identity), /^liverstiff-cnn-v1-[0-9a-f]{8}$/);
    rnd.dispose();
  });

  it("names an unknown exam or preparation", async () => {
    await assert.rejects(
      computeFeatures({ workdir, prep: PREP, encoder: enc, examIds: ["ex_nope"] }),
      /exam is not in the catalog/,
    );
    await assert.rejects(
      computeFeatures({ workdir, prep: "s11-224-mm400-zscore-f32", encoder: enc }),
      /no prepared inputs for preparation s11-224-mm400-zscore-f32/,
    );
  });
});
