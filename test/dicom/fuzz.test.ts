// A fixed-seed fuzz run over the fixtures and synthetic files: 2 400 mutants (bytes, truncation, length
// fields, frame counts, dimensions, rescale, transfer syntax, fragments, nesting), read in-process up to
// the pixels of their first frames. None may throw anything but a coded DicomFileError, and none may give
// a wrong (non-finite or mis-sized) frame. `npm run bench -- fuzz` runs the same with a per-file watchdog.
import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultCorpus } from "./fuzz/corpus.ts";
import { fuzzInProcess } from "./fuzz/run.ts";

test("2 400 seeded mutants: no uncaught exception, no uncoded error, no wrong frame", {
  timeout: 180_000,
}, async () => {
  const corpus = defaultCorpus();
  assert.ok(corpus.length >= 15, `corpus of ${corpus.length} files`);
  const t = await fuzzInProcess(corpus, 20261203, 2400);
  const failures = t.failures.map(
    (f) => `${f.source} #${f.index} ${f.what}: ${f.result.outcome} ${f.result.message}`,
  );
  assert.deepEqual(failures, []);
  assert.equal(t.mutants, 2400);
  assert.equal(t.outcomes.uncaught + t.outcomes.uncoded + t.outcomes.wrong, 0);
  // The mutants exercise the checks: most are refused, some still read, and the refusals are varied.
  assert.ok(t.outcomes.read > 100 && t.outcomes.coded > 1500, JSON.stringify(t.outcomes));
  for (const code of ["truncated", "inconsistent-header", "too-large", "parse-error", "decode-error"]) {
    assert.ok((t.codes[code] ?? 0) > 5, `${code}: ${JSON.stringify(t.codes)}`);
  }
});
