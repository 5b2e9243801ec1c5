// liverstiff ingest / inspect / convert, end to end through the real CLI on real-format DICOM files.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readNifti } from "../../src/volume/index.ts";
import { runCli } from "../fixtures/cli.ts";
import { numberedExam, SAMPLES, writeBadFiles, writeExam } from "../fixtures/cohort/corpus.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const tmp = scratchDir("liverstiff-cli-");
const have = existsSync(SAMPLES);
const root = join(tmp, "export");
const work = join(tmp, "work");
const ingestArgs = [
  "ingest",
  root,
  "--labels",
  join(tmp, "mre.csv"),
  "--out",
  work,
  "--slices",
  "5",
  "--size",
  "48",
];

function cli(...args: string[]) {
  const r = runCli(args);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(() => {
  if (!have) return;
  writeExam(root, numberedExam(1, ["t2", "t1_in", "t1_opp"]));
  writeExam(root, numberedExam(2, ["t1_in", "t1_opp"]));
  writeBadFiles(root, join(root, "exam1", "s2", "IM0001.dcm"));
  writeFileSync(join(tmp, "mre.csv"), "accession,kpa\nA1,3.1\nA2,2.2\n");
});

describe("CLI", { skip: have ? false : `sample folder absent: ${SAMPLES}` }, () => {
  it("ingest prints the summary table and writes the catalog", () => {
    const r = cli(...ingestArgs);
    assert.equal(r.code, 0, r.err);
    // stderr is a pipe here, as under nohup or a batch scheduler: plain progress lines, not silence.
    assert.match(r.err, /^indexing DICOM headers: \d+\/\d+ \(\d+s\)$/m);
    assert.match(r.err, /^assembling and preparing exams: 2\/2 /m);
    assert.match(r.out, /exams found\s+2\n/);
    assert.match(r.out, /usable \(images \+ label\)\s+1\n/);
    assert.match(r.out, /excluded: no_t2\s+1\n/);
    assert.match(r.out, /file error: truncated\s+\d/);
    assert.match(r.out, /prepared \(new \/ reused \/ failed\)\s+1 \/ 0 \/ 0/);
    assert.ok(existsSync(join(work, "catalog.sqlite")));
    const summary = JSON.parse(readFileSync(join(work, "summary.json"), "utf8"));
    assert.equal(summary.prepName, "s5-48-mm400-zscore-f32");
    // run again: nothing to prepare
    const again = cli(...ingestArgs, "--json", "--quiet");
    assert.equal(again.code, 0, again.err);
    assert.equal(again.err, "", "--quiet: no progress");
    const againSummary = JSON.parse(again.out.trim().split("\n").at(-1)!);
    assert.deepEqual(againSummary.prepared, { computed: 0, reused: 1, failed: 0 });
    assert.equal(againSummary.indexReused, true);
  });

  it("inspect lists exams with their status, and one exam's series with roles and reasons", () => {
    const list = cli("inspect", work);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /usable/);
    assert.match(list.out, /excluded: no T2w series/);
    assert.match(list.out, /2 exams, 1 usable, 1 excluded/);
    assert.match(list.out, /file .*truncated\.dcm: truncated/);
    const one = cli("inspect", work, "A1");
    assert.equal(one.code, 0, one.err);
    const t2line = one.out.split("\n").find((l) => l.includes("t2_ssfse_tra"))!;
    assert.match(t2line, /\bt2\b/);
    assert.match(t2line, /yes/);
    assert.match(t2line, /TE 90 ms/);
    assert.match(one.out, /kPa 3\.1/);
    assert.match(one.out, /prepared inputs:\n {2}s5-48-mm400-zscore-f32 {2}.*\.safetensors/);
    const json = JSON.parse(cli("inspect", work, "A1", "--json").out);
    assert.deepEqual(json.series.map((s: { role: string }) => s.role).sort(), ["t1_in", "t1_opp", "t2"]);
  });

  it("ingest --rules passes a role rules file to the classifier", () => {
    const rules = join(tmp, "rules.yaml");
    writeFileSync(rules, 'force:\n  - pattern: "out_phase"\n    role: none\n');
    const w = join(tmp, "work-rules");
    const r = cli("ingest", root, "--out", w, "--rules", rules, "--slices", "5", "--size", "32");
    assert.equal(r.code, 0, r.err);
    const json = JSON.parse(cli("inspect", w, "A1", "--json").out);
    const opp = json.series.find((x: { description: string }) => x.description === "t1_out_phase_tra");
    assert.equal(opp.role, null);
    assert.match(opp.reasons[0], /forced to none by rules pattern/);
    assert.deepEqual(json.exam.roles, ["t1_in", "t2"]);
    const badRules = join(tmp, "bad.yaml");
    writeFileSync(badRules, "force: 3\n");
    const bad = cli("ingest", root, "--out", join(tmp, "work-bad"), "--rules", badRules);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^liverstiff: error: invalid role rules/);
  });

  it("inspect names a missing work directory or exam in one line", () => {
    const r = cli("inspect", join(tmp, "nowhere"));
    assert.equal(r.code, 1);
    assert.match(r.err, /^liverstiff: error: no catalog here/);
    const e = cli("inspect", work, "NOPE");
    assert.equal(e.code, 1);
    assert.match(e.err, /no such exam in the catalog \(workdir=.*, exam=NOPE\)/);
  });

  it("convert writes NIfTI + JSON sidecars with the role", () => {
    const out = join(tmp, "nifti");
    const r = cli("convert", join(root, "exam1"), "--out", out);
    assert.equal(r.code, 0, r.err);
    const files = readdirSync(out).sort();
    assert.deepEqual(files, [
      "002_t2_ssfse_tra.json",
      "002_t2_ssfse_tra.nii.gz",
      "003_t1_in_phase_tra.json",
      "003_t1_in_phase_tra.nii.gz",
      "004_t1_out_phase_tra.json",
      "004_t1_out_phase_tra.nii.gz",
    ]);
    const side = JSON.parse(readFileSync(join(out, "002_t2_ssfse_tra.json"), "utf8"));
    assert.equal(side.Liverstiff.role, "t2");
    assert.equal(side.EchoTime, 0.09);
    assert.equal(side.RepetitionTime, 1.4);
    assert.equal(side.PatientName, undefined);
    const img = readNifti(join(out, "002_t2_ssfse_tra.nii.gz"));
    assert.deepEqual(img.volume.dims, [256, 256, 6]);
    assert.ok(Math.abs(img.volume.spacing[2] - 5) < 1e-4);
  });
});
