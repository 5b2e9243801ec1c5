// Self-supervised pretraining: the NT-Xent loss against a hand computation, and a 2-step run of the
// whole pipeline (synth -> ingest without labels -> train -> weights + manifest) on 6 exams.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openCatalog } from "../../src/cohort/index.ts";
import { Rng } from "../../src/core/index.ts";
import { loadCnnEncoder, readEncoderManifest, sha256File } from "../../src/features/index.ts";
import { ntXent, PRETRAIN_COHORT_SEED, pretrain } from "../../src/features/pretrain.ts";
import { readSafetensors } from "../../src/nn/index.ts";
import { getNumThreads, tensor } from "../../src/torch/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-features-pretrain-");

/** NT-Xent by the textbook formula, in float64. */
function ntXentRef(z: number[][], tau: number): number {
  const n = z.length;
  const u = z.map((v) => {
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const j = i < n / 2 ? i + n / 2 : i - n / 2;
    let denom = 0;
    for (let k = 0; k < n; k++) if (k !== i) denom += Math.exp(dot(u[i], u[k]) / tau);
    total += -Math.log(Math.exp(dot(u[i], u[j]) / tau) / denom);
  }
  return total / n;
}

describe("pretraining", () => {
  it("NT-Xent equals the textbook formula", () => {
    const z = [
      [1, 0.2, -0.3],
      [0.1, 1, 0.4],
      [-0.5, 0.3, 1],
      [0.9, 0.1, -0.2],
      [0.2, 0.8, 0.5],
      [-0.4, 0.1, 0.9],
    ];
    for (const tau of [0.2, 1]) {
      const got = ntXent(tensor(z), tau).item();
      const want = ntXentRef(z, tau);
      assert.ok(Math.abs(got - want) < 1e-5, `tau ${tau}: ${got} vs ${want}`);
    }
    // Aligned positives and orthogonal negatives give a lower loss than the reverse.
    const good = ntXent(
      tensor([
        [1, 0],
        [0, 1],
        [1, 0],
        [0, 1],
      ]),
      0.2,
    ).item();
    const bad = ntXent(
      tensor([
        [1, 0],
        [0, 1],
        [0, 1],
        [1, 0],
      ]),
      0.2,
    ).item();
    assert.ok(good < bad);
  });

  it("runs end to end on a small independent cohort, without labels, and writes loadable weights", async () => {
    const out = join(tmp, "enc.safetensors");
    const work = join(tmp, "pt");
    const stages = new Set<string>();
    const r = await pretrain({
      out,
      exams: 6,
      steps: 2,
      batch: 4,
      workdir: work,
      objective: "contrastive+masked",
      onProgress: (e) => stages.add(e.stage),
    });
    assert.ok(stages.has("synth") && stages.has("pretrain"));
    assert.equal(r.losses.length, 2);
    assert.ok(r.losses.every((l) => Number.isFinite(l) && l > 0));
    // The cohort is the pretraining one, and it was ingested without labels.
    const synthManifest = JSON.parse(readFileSync(join(work, "cohort", "manifest.json"), "utf8"));
    assert.equal(synthManifest.seed, PRETRAIN_COHORT_SEED);
    const cat = openCatalog(join(work, "work"));
    const exams = cat.exams();
    cat.close();
    assert.ok(exams.length >= 4);
    assert.ok(exams.every((e) => e.kpa === undefined));
    // Weights + manifest.
    const jsonPath = join(tmp, "enc.json");
    assert.ok(existsSync(jsonPath));
    const m = readEncoderManifest(jsonPath);
    assert.equal(m.sha256, sha256File(out));
    assert.equal(m.featureDim, 512);
    assert.equal(m.pretrain.labelsUsed, false);
    assert.match(
      String(m.pretrain.command),
      /--exams 6 --seed 1 --steps 2 --batch 4 --objective contrastive\+masked/,
    );
    const enc = loadCnnEncoder(out, { expectedSha256: m.sha256 });
    const y = enc.encode(new Float32Array(2 * 128 * 128).fill(0.5), 2);
    assert.equal(y.length, 1024);
    assert.ok(y.every(Number.isFinite));
    enc.dispose();
  });

  it("draws the pretraining cohort from a stream no evaluation seed shares", () => {
    const stream = (seed: string | number) => {
      const r = Rng.derive(seed, "cohort");
      return Array.from({ length: 4 }, () => r.nextUint32());
    };
    assert.equal(typeof PRETRAIN_COHORT_SEED, "string");
    const mine = stream(PRETRAIN_COHORT_SEED);
    for (const evaluation of [20240601, 20261203, 20261204, "20240601"])
      assert.notDeepEqual(stream(evaluation), mine, `seed ${evaluation}`);
  });

  it("rebuilds the weights bit for bit: fresh cohort, another output path, a site salt in the environment", async () => {
    const tiny = { exams: 5, steps: 3, batch: 4, threads: 1, planes: "mm" as const };
    const outA = join(tmp, "a", "enc.safetensors");
    const outB = join(tmp, "b", "other-name.safetensors");
    for (const d of ["a", "b"]) mkdirSync(join(tmp, d));
    const threadsBefore = getNumThreads();
    const a = await pretrain({ ...tiny, out: outA, workdir: join(tmp, "rebuild-a") });
    assert.equal(getNumThreads(), threadsBefore, "the caller's thread count is restored");
    const saltBefore = process.env.LIVERSTIFF_ID_SALT;
    process.env.LIVERSTIFF_ID_SALT = "a-site-salt";
    let b: Awaited<ReturnType<typeof pretrain>>;
    try {
      b = await pretrain({ ...tiny, out: outB, workdir: join(tmp, "rebuild-b"), workers: 1 });
    } finally {
      if (saltBefore === undefined) delete process.env.LIVERSTIFF_ID_SALT;
      else process.env.LIVERSTIFF_ID_SALT = saltBefore;
    }
    assert.deepEqual(b.losses, a.losses);
    assert.ok(readFileSync(outA).equals(readFileSync(outB)), "identical bytes");
    assert.equal(b.manifest!.sha256, a.manifest!.sha256);
    // The thread count is recorded in the file and the manifest, and in the manifest's command.
    const meta = JSON.parse(readSafetensors(outA).metadata["liverstiff.pretrain"]);
    assert.equal(meta.threads, 1);
    assert.equal(meta.codeVersion, undefined);
    assert.equal(a.manifest!.pretrain.threads, 1);
    assert.match(String(a.manifest!.pretrain.command), /--threads 1$/);
    // Another training seed on the same cohort gives other weights: the comparison can fail.
    const outC = join(tmp, "a", "seed2.safetensors");
    await pretrain({ ...tiny, seed: 2, out: outC, workdir: join(tmp, "rebuild-a") });
    assert.notEqual(sha256File(outC), a.manifest!.sha256);
  });
});
