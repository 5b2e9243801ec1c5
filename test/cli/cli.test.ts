// The CLI's shared pieces: progress lines (durations, the ETA rule) and numeric option checks.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { seedAndResamples } from "../../src/cli/options.ts";
import { formatSeconds, progressReporter, setQuietProgress } from "../../src/cli/progress.ts";

test("formatSeconds rounds once: 59.6 s is 1m00s and 119.6 s is 2m00s, never 1m60s", () => {
  assert.equal(formatSeconds(0.4), "0s");
  assert.equal(formatSeconds(59.4), "59s");
  assert.equal(formatSeconds(59.6), "1m00s");
  assert.equal(formatSeconds(119.6), "2m00s");
  assert.equal(formatSeconds(3725), "62m05s");
});

test("no ETA from the first 2% of a stage's items; an ETA after, and none at the end", () => {
  let out = "";
  const stream = new Writable({
    write(chunk, _enc, done) {
      out += String(chunk);
      done();
    },
  });
  const { sink, stop } = progressReporter(stream as unknown as NodeJS.WriteStream);
  sink({ stage: "prepare", done: 1, total: 600 });
  assert.match(out, /^prepare: 1\/600 \(\d+s\)\n$/);
  out = "";
  // A new stage prints its first event at once: 5 of 10 is past 2%, so it has an ETA.
  sink({ stage: "validate", done: 5, total: 10 });
  assert.match(out, /^validate: 5\/10 \(\d+s ETA \d+s\)\n$/);
  out = "";
  sink({ stage: "validate", done: 10, total: 10 });
  assert.match(out, /^validate: 10\/10 \(\d+s\)\n$/);
  stop();
});

test("off a terminal: a line at each 5% of a stage (not at every item), at its end, and none with --quiet", () => {
  let out = "";
  const stream = new Writable({
    write(chunk, _enc, done) {
      out += String(chunk);
      done();
    },
  });
  const { sink } = progressReporter(stream as unknown as NodeJS.WriteStream);
  for (let done = 0; done <= 1000; done++) sink({ stage: "dicom-index", done, total: 1000 });
  const lines = out.trim().split("\n");
  // 0/1000, then every 50 files (5%), the last being 1000/1000: 21 lines for 1001 events.
  assert.equal(lines.length, 21);
  assert.match(lines[0]!, /^indexing DICOM headers: 0\/1000 /);
  assert.match(lines[1]!, /^indexing DICOM headers: 50\/1000 /);
  assert.match(lines[20]!, /^indexing DICOM headers: 1000\/1000 \(\d+s\)$/);
  out = "";
  setQuietProgress(true);
  try {
    const q = progressReporter(stream as unknown as NodeJS.WriteStream);
    for (let done = 0; done <= 10; done++) q.sink({ stage: "x", done, total: 10 });
    assert.equal(out, "");
  } finally {
    setQuietProgress(false);
  }
});

test("seed and resamples: integers in range, else an error naming the option", () => {
  assert.deepEqual(seedAndResamples({ seed: "42", resamples: "2000" }), { seed: 42, resamples: 2000 });
  assert.throws(() => seedAndResamples({ seed: "-1", resamples: "2000" }), /--seed must be an integer >= 0/);
  assert.throws(() => seedAndResamples({ seed: "1.5", resamples: "2000" }), /--seed/);
  assert.throws(
    () => seedAndResamples({ seed: "1", resamples: "99" }),
    /--resamples must be an integer >= 100/,
  );
});
