// `npm run bench -- stats [N]`: AUROC with DeLong variance and 95% CI on N cases (default 1,000,000),
// timed in liverstiff's TypeScript, and pROC 1.18 on the same data through Rscript as a peer in the same
// run (skipped with a note when Rscript or pROC is missing). Last line: one JSON object.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../src/core/index.ts";
import { aucStatistic, bootstrapCi, delong, youden } from "../src/stats/index.ts";

const n = Number(process.argv[2] ?? 1_000_000);
const repeats = 5;

// Binormal data, 30% positive, scores rounded to 1e-4 so that ties occur as in real model outputs.
const rng = new Rng("bench-stats");
const labels = new Uint8Array(n);
const scores = new Float64Array(n);
for (let i = 0; i < n; i++) {
  labels[i] = rng.bernoulli(0.3) ? 1 : 0;
  scores[i] = Math.round((rng.normal() + 1.2 * labels[i]) * 1e4) / 1e4;
}

function time<T>(f: () => T): [number, T] {
  const t0 = process.hrtime.bigint();
  const v = f();
  return [Number(process.hrtime.bigint() - t0) / 1e9, v];
}

const runs: number[] = [];
let [coldSeconds, result] = time(() => delong(labels, scores));
for (let r = 0; r < repeats; r++) {
  const [s, v] = time(() => delong(labels, scores));
  runs.push(s);
  result = v;
}
runs.sort((a, b) => a - b);
const median = runs[Math.floor(repeats / 2)];
console.log(
  `cases ${n} (${result.nPos} positive), AUROC ${result.auc.toFixed(6)}, DeLong 95% CI ${result.ci.map((x) => x.toFixed(6)).join(" to ")}`,
);
console.log(
  `liverstiff delong(): median ${median.toFixed(3)} s over ${repeats} runs (min ${runs[0].toFixed(3)}, max ${runs[repeats - 1].toFixed(3)}; first, cold call ${coldSeconds.toFixed(3)})`,
);
const [youdenSeconds] = time(() => youden(labels, scores));
console.log(`liverstiff youden(): ${youdenSeconds.toFixed(3)} s`);
const smallN = Math.min(n, 10_000);
const [bootSeconds] = time(() =>
  bootstrapCi({
    n: smallN,
    statistic: aucStatistic(labels.subarray(0, smallN), scores.subarray(0, smallN)),
    stratify: labels.subarray(0, smallN),
    resamples: 2000,
    seed: 1,
  }),
);
console.log(
  `liverstiff bootstrapCi(AUROC, ${smallN} cases, 2000 stratified resamples): ${bootSeconds.toFixed(3)} s`,
);

// The peer: pROC on the same data, read from a binary file (reading is not timed).
let procSeconds: number | null = null;
let procAuc: number | null = null;
const probe = spawnSync(
  "Rscript",
  ["-e", "suppressMessages(library(pROC)); cat(as.character(packageVersion('pROC')))"],
  {
    encoding: "utf8",
  },
);
if (probe.status !== 0 || probe.error) {
  console.log("peer skipped: Rscript with pROC is not available here");
} else {
  const dir = mkdtempSync(join(tmpdir(), "liverstiff-bench-stats-"));
  try {
    writeFileSync(join(dir, "scores.f64"), new Uint8Array(scores.buffer));
    writeFileSync(join(dir, "labels.u8"), labels);
    const script = `
suppressMessages(library(pROC))
s <- readBin(file.path("${dir}", "scores.f64"), "double", n = ${n}, size = 8, endian = "little")
l <- readBin(file.path("${dir}", "labels.u8"), "integer", n = ${n}, size = 1, signed = FALSE)
t <- system.time({ r <- roc(l, s, levels = c(0, 1), direction = "<", quiet = TRUE); ci <- ci.auc(r, method = "delong") })
cat(sprintf("%.17g %.6f\\n", as.numeric(auc(r)), t[["elapsed"]]))`;
    const peer = spawnSync("Rscript", ["-e", script], { encoding: "utf8", maxBuffer: 1 << 20 });
    if (peer.status !== 0) {
      console.log(`peer failed: ${peer.stderr.trim().split("\n").slice(-2).join(" ")}`);
    } else {
      const [aucText, secText] = peer.stdout.trim().split(/\s+/);
      procAuc = Number(aucText);
      procSeconds = Number(secText);
      console.log(
        `pROC ${probe.stdout.trim()} roc() + ci.auc(method = "delong"): ${procSeconds.toFixed(3)} s (AUROC ${procAuc.toFixed(6)}, |difference| ${Math.abs(procAuc - result.auc).toExponential(2)})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log("note: shared 2-core machine; timings are noisy");
console.log(
  JSON.stringify({
    bench: "stats",
    n,
    delong_seconds: Number(median.toFixed(4)),
    delong_seconds_min: Number(runs[0].toFixed(4)),
    delong_seconds_cold: Number(coldSeconds.toFixed(4)),
    youden_seconds: Number(youdenSeconds.toFixed(4)),
    bootstrap_10k_2000_seconds: Number(bootSeconds.toFixed(4)),
    auc: result.auc,
    proc_seconds: procSeconds,
    proc_auc: procAuc,
    ratio: procSeconds === null ? null : Number((procSeconds / median).toFixed(2)),
  }),
);
