import assert from "node:assert/strict";
import { copyFileSync, existsSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ingest } from "../../src/cohort/index.ts";
import { numberedExam, SAMPLES, writeExam } from "../fixtures/cohort/corpus.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-index-cache-");

describe("index reuse on re-run", {
  skip: existsSync(SAMPLES) ? false : `sample folder absent: ${SAMPLES}`,
}, () => {
  it("reuses the index while no file changes, and re-indexes when one is added or touched", async () => {
    const root = join(tmp, "export");
    writeExam(root, numberedExam(1, ["t2", "t1_in"]));
    const work = join(tmp, "work");
    const prep = { slices: 5, size: 16 };
    const a = await ingest({ roots: [root], workdir: work, prep });
    assert.equal(a.indexReused, false);
    const b = await ingest({ roots: [root], workdir: work, prep });
    assert.equal(b.indexReused, true);
    assert.equal(b.filesSeen, a.filesSeen);
    assert.deepEqual(b.prepared, { computed: 0, reused: 1, failed: 0 });
    // A new file: full re-index, and the new (duplicate) file is seen.
    copyFileSync(join(root, "exam1", "s2", "IM0001.dcm"), join(root, "exam1", "copy.dcm"));
    const c = await ingest({ roots: [root], workdir: work, prep });
    assert.equal(c.indexReused, false);
    assert.equal(c.filesSeen, a.filesSeen + 1);
    // A touched file (new modification time): re-index again.
    const d0 = await ingest({ roots: [root], workdir: work, prep });
    assert.equal(d0.indexReused, true);
    utimesSync(join(root, "exam1", "copy.dcm"), new Date(), new Date(Date.now() + 5000));
    const d = await ingest({ roots: [root], workdir: work, prep });
    assert.equal(d.indexReused, false);
    // Other roots: no reuse.
    const e = await ingest({ roots: [join(root, "exam1")], workdir: work, prep });
    assert.equal(e.indexReused, false);
  });
});
