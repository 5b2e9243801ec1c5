// Series roles on the synthetic multi-vendor cohort (src/synth), whose truth file says what each series
// and each echo is. A tiny cohort over every site profile is generated into a temporary folder.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { classifySeries, indexDicom, pickSeriesForRoles, selectFrames } from "../../src/dicom/index.ts";
import { scratchDir } from "../fixtures/scratch.ts";

const synthUrl = new URL("../../src/synth/index.ts", import.meta.url);
const haveSynth = existsSync(fileURLToPath(synthUrl));
if (!haveSynth) console.log("# skipping synthetic-cohort role checks: src/synth/index.ts is absent");

interface TruthSeries {
  site: string;
  accession: string;
  series_instance_uid: string;
  series_description: string;
  kind: string;
  role: string;
  echo_roles: { echo_time_ms: number; role: string }[];
  enhanced: boolean;
}

const work = scratchDir("liverstiff-synth-roles-");

test("roles are right on every series of a synthetic cohort", {
  skip: haveSynth ? false : "src/synth absent",
}, async () => {
  const synth = (await import(synthUrl.href)) as {
    synthesize(o: {
      out: string;
      exams: number;
      sites: string;
      seed: number;
      workers: number;
    }): Promise<unknown>;
    SITE_PROFILES: readonly { id: string }[];
  };
  // Three exams from every site profile (one small cohort per site, so that each vendor is present).
  const truth: TruthSeries[] = [];
  const dirs: string[] = [];
  for (const [i, site] of synth.SITE_PROFILES.entries()) {
    const out = join(work, site.id);
    await synth.synthesize({ out, exams: 3, sites: site.id, seed: 7 + i, workers: 1 });
    dirs.push(join(out, "dicom"));
    for (const l of readFileSync(join(out, "truth-series.jsonl"), "utf8").trim().split("\n")) {
      truth.push(JSON.parse(l) as TruthSeries);
    }
  }
  const idx = await indexDicom(dirs);
  assert.deepEqual(idx.errors, []);
  // A dual-echo series is indexed as one record per echo (as dcm2niix writes one volume per echo).
  const dual = truth.filter((t) => t.echo_roles.length === 2 && t.role === "none").length;
  assert.equal(idx.series.length, truth.length + dual);
  const byUid = new Map<string, typeof idx.series>();
  for (const s of idx.series) byUid.set(s.seriesInstanceUid, [...(byUid.get(s.seriesInstanceUid) ?? []), s]);

  const wrong: string[] = [];
  for (const t of truth) {
    const parts = byUid.get(t.series_instance_uid);
    assert.ok(parts, `series ${t.series_description} of ${t.accession} not indexed`);
    const label = `${t.site} ${t.kind} "${t.series_description}"`;
    if (t.echo_roles.length === 2 && t.role === "none") {
      // Each echo's record: one decision that names its echo and takes exactly that echo's frames.
      assert.equal(parts.length, 2, `${label}: one record per echo`);
      const all = parts.reduce((n, s) => n + s.frames.length, 0);
      const got = parts.flatMap((s) => classifySeries(s).map((d) => ({ s, d })));
      got.sort((a, b) => (a.d.echoTimeMs ?? 0) - (b.d.echoTimeMs ?? 0));
      const want = t.echo_roles.map((e) => `${e.echo_time_ms}:${e.role}`).join(" ");
      const have = got.map(({ d }) => `${d.echoTimeMs}:${d.role ?? "none"}`).join(" ");
      if (want !== have)
        wrong.push(
          `${label}: want ${want}, got ${have} (${got.map(({ d }) => d.reasons.at(-1)).join(" | ")})`,
        );
      for (const { s, d } of got) {
        const frames = selectFrames(s, d);
        assert.ok(frames.length === s.frames.length && frames.length * 2 === all, `${label}: echo split`);
        assert.match(s.splitReason ?? "", /^split: echo [12] of 2/);
      }
      continue;
    }
    assert.equal(parts.length, 1, `${label}: one record`);
    const s = parts[0]!;
    const got = classifySeries(s);
    if (got.length !== 1 || (got[0]!.role ?? "none") !== t.role) {
      wrong.push(
        `${label}: want ${t.role}, got ${got.map((d) => d.role ?? "none").join(",")} (${got[0]?.reasons.join("; ")})`,
      );
    }
  }
  assert.deepEqual(wrong, []);
  // The cohort covers what the rules must tell apart.
  const kinds = new Set(truth.map((t) => t.kind));
  for (const k of ["t1_dual", "t2", "localizer", "post_contrast", "dwi", "mre_magnitude", "mre_wave"]) {
    assert.ok(kinds.has(k), `cohort has a ${k} series`);
  }
  assert.ok(truth.some((t) => t.enhanced));
  assert.deepEqual([...new Set(idx.series.map((s) => s.vendor))].sort(), [
    "Canon",
    "GE",
    "Philips",
    "Siemens",
  ]);
  assert.equal(new Set(truth.map((t) => t.site)).size, synth.SITE_PROFILES.length);

  // Every exam gets all three roles, each from a series the truth gives that role.
  const exams = new Map<string, typeof idx.series>();
  for (const s of idx.series) exams.set(s.studyInstanceUid, [...(exams.get(s.studyInstanceUid) ?? []), s]);
  const truthRole = new Map<string, string>();
  for (const t of truth)
    for (const e of t.echo_roles) truthRole.set(`${t.series_instance_uid}@${e.echo_time_ms}`, e.role);
  for (const series of exams.values()) {
    const { chosen } = pickSeriesForRoles(series);
    for (const role of ["t1_in", "t1_opp", "t2"] as const) {
      const c = chosen[role];
      assert.ok(c, `exam ${series[0]!.accessionNumber} lacks ${role}`);
      const te = c.decision.echoTimeMs ?? c.series.echoTimesMs[0];
      assert.equal(truthRole.get(`${c.series.seriesInstanceUid}@${te}`), role);
    }
  }
});
