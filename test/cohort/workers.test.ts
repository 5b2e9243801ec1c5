import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ingest } from "../../src/cohort/index.ts";
import { numberedExam, SAMPLES, writeExam } from "../fixtures/cohort/corpus.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-workers-");

describe("ingest with worker threads", {
  skip: existsSync(SAMPLES) ? false : `sample folder absent: ${SAMPLES}`,
}, () => {
  it("prepares byte-identical files and the same summary as in-process", async () => {
    const root = join(tmp, "export");
    writeExam(root, numberedExam(1, ["t2", "t1_in", "t1_opp"]));
    writeExam(root, numberedExam(2, ["t2", "t1_in"]));
    writeExam(root, numberedExam(3, ["t1_in"]));
    const prep = { slices: 5, size: 32 };
    const a = await ingest({ roots: [root], workdir: join(tmp, "w0"), prep, workers: 0 });
    const b = await ingest({ roots: [root], workdir: join(tmp, "w2"), prep, workers: 2 });
    assert.deepEqual(b.prepared, { computed: 2, reused: 0, failed: 0 });
    assert.deepEqual(b.excludedByReason, a.excludedByReason);
    const dir = (w: string) => join(tmp, w, "prepared", a.prepName);
    const files = readdirSync(dir("w0")).sort();
    assert.equal(files.length, 2);
    assert.deepEqual(readdirSync(dir("w2")).sort(), files);
    for (const f of files)
      assert.ok(readFileSync(join(dir("w0"), f)).equals(readFileSync(join(dir("w2"), f))), f);
  });
});
