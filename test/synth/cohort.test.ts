// Generates small cohorts through the real generator and checks them with independent tools: dciodvfy
// (dicom3tools) for every IOD, dcm2niix for geometry, dicom-parser for pixel statistics.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, test } from "node:test";
import dicomParser from "dicom-parser";
import { gunzipSync } from "fflate";
import { type SeriesTruth, SITE_PROFILES, synthesize, validateOptions } from "../../src/synth/index.ts";

const root = mkdtempSync(join(tmpdir(), "ls-synth-"));
after(() => rmSync(root, { recursive: true, force: true }));

function has(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

function digest(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of listFiles(dir)) {
    if (f.endsWith("manifest.json")) continue;
    m.set(relative(dir, f), createHash("sha256").update(readFileSync(f)).digest("hex"));
  }
  return m;
}

interface SeriesRow {
  accession: string;
  site: string;
  series_instance_uid: string;
  series_description: string;
  kind: string;
  role: string;
  echo_roles: { echo_time_ms: number; role: string }[];
  enhanced: boolean;
  files: string[];
  geometry: SeriesTruth["geometry"];
}

function readJsonl<T>(path: string): T[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

// One small cohort per site profile, so every vendor's conventions are exercised.
const perSite = join(root, "per-site");
before(async () => {
  for (const s of SITE_PROFILES) {
    await synthesize({ out: join(perSite, s.id), exams: 2, sites: s.id, seed: 77 });
  }
});

test("every exam has exactly one t1_in, one t1_opp and one t2 in its series truth", () => {
  for (const s of SITE_PROFILES) {
    const rows = readJsonl<SeriesRow>(join(perSite, s.id, "truth-series.jsonl"));
    const byExam = new Map<string, string[]>();
    for (const r of rows) {
      const roles = r.echo_roles.length > 1 ? r.echo_roles.map((e) => e.role) : [r.role];
      byExam.set(r.accession, [...(byExam.get(r.accession) ?? []), ...roles.filter((x) => x !== "none")]);
    }
    assert.equal(byExam.size, 2, s.id);
    for (const [acc, roles] of byExam)
      assert.deepEqual(roles.sort(), ["t1_in", "t1_opp", "t2"], `${s.id} ${acc}`);
    // Distractors are there too.
    const kinds = new Set(rows.map((r) => r.kind));
    for (const k of ["localizer", "post_contrast", "dwi", "mre_magnitude", "mre_wave"])
      assert.ok(kinds.has(k), `${s.id} ${k}`);
  }
});

test("labels.csv and truth.jsonl agree, one row per exam", () => {
  const dir = join(perSite, "site-a");
  const lines = readFileSync(join(dir, "labels.csv"), "utf8").trim().split("\n");
  assert.equal(lines[0], "PatientID,AccessionNumber,StudyDate,LiverStiffness_kPa,Site,Age,Sex");
  const truth = readJsonl<{ accession: string; kpa: number; oracle_p_ge_3_0: number }>(
    join(dir, "truth.jsonl"),
  );
  assert.equal(lines.length - 1, truth.length);
  for (const t of truth) {
    const row = lines.find((l) => l.split(",")[1] === t.accession);
    assert.ok(row, t.accession);
    assert.equal(Number(row.split(",")[3]), t.kpa);
    assert.ok(t.oracle_p_ge_3_0 >= 0 && t.oracle_p_ge_3_0 <= 1);
  }
  const summary = JSON.parse(readFileSync(join(dir, "truth-summary.json"), "utf8"));
  for (const k of ["2_5", "3_0", "3_5", "4_0", "5_0"]) assert.ok(`oracle_auc_ge_${k}` in summary, k);
});

test("dciodvfy: every file passes its IOD (MR Image, Enhanced MR Image) without errors", (t) => {
  if (!has("dciodvfy")) {
    t.skip("dciodvfy (dicom3tools) not installed");
    return;
  }
  let checked = 0;
  const iods = new Set<string>();
  for (const s of SITE_PROFILES) {
    for (const f of listFiles(join(perSite, s.id, "dicom"))) {
      const r = spawnSync("dciodvfy", [f], { encoding: "utf8" });
      const out = `${r.stdout}${r.stderr}`;
      const errors = out.split("\n").filter((l) => l.startsWith("Error"));
      assert.deepEqual(errors, [], `${f}\n${out}`);
      iods.add(out.split("\n")[0].trim());
      checked++;
    }
  }
  assert.ok(iods.has("MRImage") && iods.has("EnhancedMRImage"), [...iods].join(","));
  assert.ok(checked > 500, `checked ${checked} files`);
});

/** Voxel-centre corners of a stack in LPS, from the generator's truth. */
function truthCorners(g: SeriesRow["geometry"]): number[][] {
  const row = g.orientation.slice(0, 3);
  const col = g.orientation.slice(3, 6);
  const n = [
    row[1] * col[2] - row[2] * col[1],
    row[2] * col[0] - row[0] * col[2],
    row[0] * col[1] - row[1] * col[0],
  ];
  const out: number[][] = [];
  for (const k of [0, g.slices - 1])
    for (const r of [0, g.rows - 1])
      for (const c of [0, g.cols - 1])
        out.push(
          [0, 1, 2].map(
            (a) =>
              g.origin[a] +
              c * g.pixelSpacing[1] * row[a] +
              r * g.pixelSpacing[0] * col[a] +
              k * g.sliceSpacing * n[a],
          ),
        );
  return out;
}

/** Voxel-centre corners of a NIfTI-1 volume (sform), converted from RAS to LPS. */
function niftiCorners(path: string): { dims: number[]; corners: number[][] } {
  const b = readFileSync(path);
  const dims = [1, 2, 3].map((i) => b.readInt16LE(40 + 2 * i));
  const srow = [280, 296, 312].map((o) => [0, 1, 2, 3].map((i) => b.readFloatLE(o + 4 * i)));
  const corners: number[][] = [];
  for (const k of [0, dims[2] - 1])
    for (const j of [0, dims[1] - 1])
      for (const i of [0, dims[0] - 1]) {
        const ras = srow.map((r) => r[0] * i + r[1] * j + r[2] * k + r[3]);
        corners.push([-ras[0], -ras[1], ras[2]]);
      }
  return { dims, corners };
}

function sameCornerSets(a: number[][], b: number[][], tol: number): boolean {
  return a.every((p) => b.some((q) => Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]) < tol));
}

test("dcm2niix converts every series with the geometry the generator placed", (t) => {
  if (!has("dcm2niix")) {
    t.skip("dcm2niix not installed");
    return;
  }
  let compared = 0;
  for (const s of SITE_PROFILES) {
    const dir = join(perSite, s.id);
    for (const row of readJsonl<SeriesRow>(join(dir, "truth-series.jsonl"))) {
      const seriesDir = join(dir, row.files[0], "..");
      const out = mkdtempSync(join(root, "nii-"));
      const r = spawnSync("dcm2niix", ["-z", "n", "-f", "%s_%e", "-o", out, seriesDir], { encoding: "utf8" });
      assert.equal(r.status, 0, `${seriesDir}: ${r.stderr}`);
      const niis = readdirSync(out).filter((f) => f.endsWith(".nii"));
      if (row.kind === "localizer") {
        assert.equal(niis.length, 3, `${row.series_description}: one volume per plane`);
        continue;
      }
      const expected = Math.max(row.echo_roles.length, 1);
      assert.equal(niis.length, expected, `${s.id} ${row.series_description}: ${niis.join(",")}`);
      for (const f of niis) {
        const { dims, corners } = niftiCorners(join(out, f));
        assert.deepEqual(
          [...dims].sort((a, b) => a - b),
          [row.geometry.cols, row.geometry.rows, row.geometry.slices].sort((a, b) => a - b),
          `${s.id} ${row.series_description} dims`,
        );
        assert.ok(
          sameCornerSets(corners, truthCorners(row.geometry), 0.05),
          `${s.id} ${row.series_description}: corners ${JSON.stringify(corners)} vs ${JSON.stringify(truthCorners(row.geometry))}`,
        );
        compared++;
      }
    }
  }
  assert.ok(compared >= 5 * 2 * 7, `compared ${compared} volumes`);
});

test("organ label maps share the T2w grid and show liver and spleen on the central slices", () => {
  for (const s of SITE_PROFILES) {
    const dir = join(perSite, s.id);
    const codes = JSON.parse(readFileSync(join(dir, "labelmaps", "labels.json"), "utf8")) as Record<
      string,
      number
    >;
    const t2 = readJsonl<SeriesRow>(join(dir, "truth-series.jsonl")).filter((r) => r.role === "t2");
    assert.equal(t2.length, 2);
    for (const row of t2) {
      const path = join(root, `${s.id}-${row.accession}.nii`);
      const raw = gunzipSync(readFileSync(join(dir, "labelmaps", `${row.accession}.nii.gz`)));
      writeFileSync(path, raw);
      const { dims, corners } = niftiCorners(path);
      assert.deepEqual(dims, [row.geometry.cols, row.geometry.rows, row.geometry.slices]);
      assert.ok(sameCornerSets(corners, truthCorners(row.geometry), 0.01), `${s.id} label map affine`);
      const plane = dims[0] * dims[1];
      const mid = Math.floor(dims[2] / 2);
      for (let k = mid - 2; k <= mid + 2; k++) {
        const slice = raw.subarray(352 + k * plane, 352 + (k + 1) * plane);
        const count = (code: number) => slice.filter((v) => v === code).length;
        assert.ok(count(codes.Liver) > plane * 0.05, `${s.id} slice ${k}: liver ${count(codes.Liver)}`);
        assert.ok(count(codes.Spleen) > plane * 0.005, `${s.id} slice ${k}: spleen ${count(codes.Spleen)}`);
      }
    }
  }
});

test("same seed gives the same bytes whatever the number of workers; another seed differs", async () => {
  const a = join(root, "det-a");
  const b = join(root, "det-b");
  const c = join(root, "det-c");
  await synthesize({ out: a, exams: 3, seed: 5, workers: 1 });
  await synthesize({ out: b, exams: 3, seed: 5, workers: 2 });
  await synthesize({ out: c, exams: 3, seed: 6, workers: 2 });
  const da = digest(a);
  const db = digest(b);
  assert.ok(da.size > 100, `${da.size} files`);
  assert.deepEqual([...da.entries()], [...db.entries()]);
  const dc = digest(c);
  assert.notDeepEqual(da.get("labels.csv"), dc.get("labels.csv"));
});

// A medium cohort shared by the site and the image-cue checks.
const medium = join(root, "medium");
let mediumReady: Promise<unknown> | undefined;
const mediumCohort = () => {
  mediumReady ??= synthesize({ out: medium, exams: 90, seed: 3 });
  return mediumReady;
};

test("the cues are on the central slices: spleen share and liver-edge roughness (from the label maps) predict kPa >= 3", async () => {
  await mediumCohort();
  const truth = readJsonl<{ accession: string; kpa: number; labelmap: string }>(join(medium, "truth.jsonl"));
  const spleenShare: number[] = [];
  const roughness: number[] = [];
  const positive: boolean[] = [];
  for (const t of truth) {
    const raw = gunzipSync(readFileSync(join(medium, t.labelmap)));
    const dv = new DataView(raw.buffer, raw.byteOffset);
    const [nx, ny, nz] = [dv.getInt16(42, true), dv.getInt16(44, true), dv.getInt16(46, true)];
    const plane = nx * ny;
    const mid = Math.floor(nz / 2);
    let spleen = 0;
    let body = 0;
    let liver = 0;
    let edge = 0;
    const isLiver = (v: number) => v === 4 || v === 14 || v === 9 || v === 12;
    for (let k = mid - 2; k <= mid + 2; k++) {
      const o = 352 + k * plane;
      for (let j = 1; j < ny - 1; j++) {
        for (let i = 1; i < nx - 1; i++) {
          const v = raw[o + j * nx + i];
          if (v !== 0) body++;
          if (v === 5) spleen++;
          if (v === 4) {
            liver++;
            const nb = [o + j * nx + i + 1, o + j * nx + i - 1, o + (j + 1) * nx + i, o + (j - 1) * nx + i];
            if (nb.some((n) => !isLiver(raw[n]))) edge++;
          }
        }
      }
    }
    spleenShare.push(spleen / body);
    roughness.push(edge / Math.sqrt(liver));
    positive.push(t.kpa >= 3);
  }
  const { auroc } = await import("../../src/synth/index.ts");
  const aSpleen = auroc(spleenShare, positive);
  const aEdge = auroc(roughness, positive);
  assert.ok(aSpleen > 0.7, `spleen share AUROC ${aSpleen}`);
  assert.ok(aEdge > 0.7, `liver edge roughness AUROC ${aEdge}`);
});

test("sites differ: a nearest-centroid classifier of site from T2w intensity statistics is far above chance", async () => {
  await mediumCohort();
  const dir = medium;
  const rows = readJsonl<SeriesRow>(join(dir, "truth-series.jsonl")).filter((r) => r.role === "t2");
  const feats: { site: string; x: number[] }[] = [];
  for (const r of rows) {
    const values: number[] = [];
    const files = r.files.map((f) => join(dir, f));
    for (const f of files) {
      const ds = dicomParser.parseDicom(new Uint8Array(readFileSync(f)));
      const el = ds.elements.x7fe00010;
      const signed = ds.uint16("x00280103") === 1;
      const px = signed
        ? new Int16Array(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, el.length / 2)
        : new Uint16Array(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, el.length / 2);
      const slope = Number(ds.string("x00281053") ?? 1) || 1;
      for (let i = 0; i < px.length; i += 7) values.push(px[i] * slope);
    }
    values.sort((a, b) => a - b);
    const q = (f: number) => values[Math.floor(f * (values.length - 1))];
    const p99 = q(0.99);
    const noise = q(0.1);
    feats.push({ site: r.site, x: [Math.log(p99 + 1), Math.log(q(0.5) + 1), noise / p99, q(0.75) / p99] });
  }
  // Standardise, then leave-one-out nearest centroid.
  const d = feats[0].x.length;
  const mean = Array.from({ length: d }, (_, j) => feats.reduce((s, f) => s + f.x[j], 0) / feats.length);
  const sd = Array.from(
    { length: d },
    (_, j) => Math.sqrt(feats.reduce((s, f) => s + (f.x[j] - mean[j]) ** 2, 0) / feats.length) || 1,
  );
  const z = feats.map((f) => ({ site: f.site, x: f.x.map((v, j) => (v - mean[j]) / sd[j]) }));
  let correct = 0;
  for (let i = 0; i < z.length; i++) {
    const cents = new Map<string, { n: number; s: number[] }>();
    z.forEach((f, k) => {
      if (k === i) return;
      const c = cents.get(f.site) ?? { n: 0, s: new Array(d).fill(0) };
      c.n++;
      f.x.forEach((v, j) => {
        c.s[j] += v;
      });
      cents.set(f.site, c);
    });
    let best = "";
    let bestD = Infinity;
    for (const [site, c] of cents) {
      const dist = c.s.reduce((s, v, j) => s + (v / c.n - z[i].x[j]) ** 2, 0);
      if (dist < bestD) {
        bestD = dist;
        best = site;
      }
    }
    if (best === z[i].site) correct++;
  }
  const accuracy = correct / z.length;
  const sites = new Set(z.map((f) => f.site)).size;
  assert.ok(sites >= 3, `${sites} sites`);
  assert.ok(accuracy > 0.75, `site accuracy ${accuracy} (chance ~${(1 / sites).toFixed(2)})`);
});

test("bad arguments give clear errors", () => {
  const out = join(root, "bad");
  assert.throws(() => validateOptions({ out, exams: -5 }), /--exams must be a positive integer/);
  assert.throws(() => validateOptions({ out, exams: 0 }), /--exams must be a positive integer/);
  assert.throws(() => validateOptions({ out, exams: 2.5 }), /--exams must be a positive integer/);
  assert.throws(() => validateOptions({ out, sites: "site-q" }), /unknown site profile 'site-q'/);
  assert.throws(() => validateOptions({ out, sites: -1 }), /--sites must be between/);
  const file = join(root, "a-file");
  writeFileSync(file, "x");
  assert.throws(
    () => validateOptions({ out: join(file, "sub") }),
    /output folder cannot be created or written/,
  );
  assert.throws(() => validateOptions({ out: join(perSite, "site-a") }), /already holds a cohort/);
  assert.doesNotThrow(() => validateOptions({ out: join(perSite, "site-a"), force: true }));
});

test("the CLI reports a bad argument in one line with exit code 1", () => {
  const r = spawnSync(
    process.execPath,
    ["bin/liverstiff.mjs", "synth", "--out", join(root, "cli"), "--exams", "-3"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr.trim(), /^liverstiff: error: --exams must be a positive integer/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
});
