// Self-supervised pretraining: the NT-Xent loss against a hand computation, and a 2-step run of the
// whole pipeline (synth -> ingest without labels -> train -> weights + manifest) on 6 exams.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openCatalog } from "../../src/cohort/index.ts";
import { loadCnnEncoder, readEncoderManifest, sha256File } from "../../src/features/index.ts";
import { ntXent, PRETRAIN_COHORT_SEED, pretrain } from "../../src/features/pretrain.ts";
import { tensor } from "../../src/torch/index.ts";

const tmp = mkdtempSync(join(tmpdir(), "liverstiff-features-pretrain-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

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
});
