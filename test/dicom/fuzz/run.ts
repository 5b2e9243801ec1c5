// Runs seeded mutants of a corpus in this process (the fast path, for tests): each mutant is written to a
// scratch folder, read with checkFile, and tallied; failing mutants are returned with their bytes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../../../src/core/index.ts";
import { type CheckOptions, type CheckResult, checkFile, type Outcome } from "./check.ts";
import type { CorpusFile } from "./corpus.ts";
import { type Mutant, mutate } from "./mutate.ts";

export interface FuzzFailure {
  source: string;
  index: number;
  what: string;
  result: CheckResult;
  bytes: Uint8Array;
}

export interface FuzzTally {
  mutants: number;
  outcomes: Record<Outcome, number>;
  codes: Record<string, number>;
  failures: FuzzFailure[];
}

/** The i-th mutant of a seeded run: which corpus file, and its bytes (the same for the same seed). */
export function* mutants(
  corpus: CorpusFile[],
  seed: number,
  count: number,
): Generator<Mutant & { source: string; index: number }> {
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) {
    const src = corpus[i % corpus.length]!;
    yield { ...mutate(src.bytes, rng), source: src.name, index: i };
  }
}

export async function fuzzInProcess(
  corpus: CorpusFile[],
  seed: number,
  count: number,
  options: CheckOptions = {},
): Promise<FuzzTally> {
  const dir = mkdtempSync(join(tmpdir(), "liverstiff-fuzz-"));
  const tally: FuzzTally = {
    mutants: 0,
    outcomes: { read: 0, coded: 0, uncoded: 0, uncaught: 0, wrong: 0 },
    codes: {},
    failures: [],
  };
  try {
    for (const m of mutants(corpus, seed, count)) {
      // A fresh name per mutant: the pixel cache keys on path, size and mtime.
      const path = join(dir, `m${m.index}.dcm`);
      writeFileSync(path, m.bytes);
      const r = await checkFile(path, options);
      rmSync(path, { force: true });
      tally.mutants++;
      tally.outcomes[r.outcome]++;
      if (r.code) tally.codes[r.code] = (tally.codes[r.code] ?? 0) + 1;
      if (r.outcome === "uncoded" || r.outcome === "uncaught" || r.outcome === "wrong") {
        tally.failures.push({ source: m.source, index: m.index, what: m.what, result: r, bytes: m.bytes });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return tally;
}
