// Grad-CAM on a fresh synthetic cohort: where the maps of a bundle's 3.0 kPa logit lie, and what they cost.
//   npm run bench -- explain [--train-exams N] [--exams N] [--recipe R] [--threshold T] [--picture FILE]
// A bundle of the recipe (default: liverstiff, the default recipe) is trained on one synthetic cohort (the
// generator's label maps as organ masks) and explains a second cohort made with another seed. Localisation:
// per exam and role, the share of map mass inside liver U spleen (dilated by 10 mm in-plane) divided by
// their share of the body's area (label map != air), on the prepared grid, averaged over the exams; for
// encoder blocks 1-4, the choice of the default layer. Time: predict over the second cohort with
// --cam-out and without it, in the same run; the difference per exam is what the maps add. Cohorts, work
// folders and the bundle are cached under .cache/bench-explain/. Last line: one JSON object.
import { mkdirSync, rmSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { PNG } from "pngjs";
import { loadPrepared, type MaskSource, openCatalog, recordedPreparedAffine } from "../src/cohort/index.ts";
import { writeFileAtomic } from "../src/core/index.ts";
import { loadBundle, predictExams, trainBundle } from "../src/deploy/index.ts";
import type { SeriesRole } from "../src/dicom/index.ts";
import { cnnOf, DEFAULT_CAM_LAYER, type ExamCam, GradCam } from "../src/explain/index.ts";
import { computeFeatures } from "../src/features/index.ts";
import { readNifti, resampleToGrid } from "../src/volume/index.ts";
import { cohortExamDirs, ensureCohort, ingestCohort, say } from "./lib/cohort.ts";

const { values: args } = parseArgs({
  options: {
    "train-exams": { type: "string", default: "200" },
    exams: { type: "string", default: "40" },
    "train-seed": { type: "string", default: "20240601" },
    "test-seed": { type: "string", default: "20240611" },
    recipe: { type: "string", default: "liverstiff" },
    threshold: { type: "string", default: "3.0" },
    layers: { type: "string", default: "1,2,3,4" },
    picture: { type: "string" },
  },
});

const cache = resolve(".cache", "bench-explain");
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const ROLES: readonly SeriesRole[] = ["t1_in", "t1_opp", "t2"];
const LIVER = 4;
const SPLEEN = 5;
const DILATION_MM = 10;
const thresholdKpa = Number(args.threshold);

const labelMasks = (cohort: string): MaskSource => ({
  kind: "files",
  dir: join(cohort, "labelmaps"),
  convention: "synthetic",
});

/** In-plane dilation of a [n, n, slices] mask by a disk of `radiusPx`. */
function dilate(mask: Uint8Array, n: number, slices: number, radiusPx: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  const r = Math.floor(radiusPx);
  const offsets: [number, number][] = [];
  for (let dy = -r; dy <= r; dy++)
    for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= radiusPx * radiusPx) offsets.push([dx, dy]);
  for (let s = 0; s < slices; s++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        const o = s * n * n + y * n + x;
        if (!mask[o]) continue;
        for (const [dx, dy] of offsets) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < n && yy < n) out[s * n * n + yy * n + xx] = 1;
        }
      }
  return out;
}

interface Regions {
  organs: Uint8Array;
  body: Uint8Array;
}

/** Liver U spleen (dilated) and the body on a role's prepared grid, from the exam's label map. */
function regions(labelPath: string, affine: number[], n: number, slices: number): Regions {
  const labels = readNifti(labelPath).volume;
  const onGrid = resampleToGrid(labels, affine, [n, n, slices], { interpolation: "nearest", fill: 0 });
  const pixelMm = Math.hypot(affine[0]!, affine[4]!, affine[8]!);
  const organs = dilate(
    Uint8Array.from(onGrid.data, (v) => (v === LIVER || v === SPLEEN ? 1 : 0)),
    n,
    slices,
    DILATION_MM / pixelMm,
  );
  return { organs, body: Uint8Array.from(onGrid.data, (v) => (v > 0 ? 1 : 0)) };
}

/** (map mass share inside the organs) / (the organs' share of the body's area); NaN when undefined. */
function localisation(map: Float32Array, r: Regions): number {
  let massIn = 0;
  let mass = 0;
  let areaIn = 0;
  let area = 0;
  for (let i = 0; i < map.length; i++) {
    mass += map[i]!;
    if (r.organs[i]) massIn += map[i]!;
    if (r.body[i]) {
      area++;
      if (r.organs[i]) areaIn++;
    }
  }
  if (mass <= 0 || areaIn === 0) return Number.NaN;
  return massIn / mass / (areaIn / area);
}

const mean = (xs: number[]) => {
  const ok = xs.filter(Number.isFinite);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : Number.NaN;
};

/** Standard error of the mean over exams (finite values only). */
function standardError(xs: number[]): number {
  const ok = xs.filter(Number.isFinite);
  const m = mean(ok);
  return Math.sqrt(ok.reduce((s, x) => s + (x - m) ** 2, 0) / (ok.length - 1) / ok.length);
}

/** A grey slice with the map over it (red, opacity by value) and the organs' outline (green). */
function picture(slice: Float32Array, map: Float32Array, organs: Uint8Array, n: number): Buffer {
  const scale = 3;
  const png = new PNG({ width: n * scale, height: n * scale });
  const max = map.reduce((a, b) => Math.max(a, b), 0) || 1;
  const edge = (i: number) => {
    const x = i % n;
    const y = Math.floor(i / n);
    if (!organs[i]) return false;
    return (
      x === 0 ||
      y === 0 ||
      x === n - 1 ||
      y === n - 1 ||
      !organs[i - 1] ||
      !organs[i + 1] ||
      !organs[i - n] ||
      !organs[i + n]
    );
  };
  for (let y = 0; y < n * scale; y++)
    for (let x = 0; x < n * scale; x++) {
      const i = Math.floor(y / scale) * n + Math.floor(x / scale);
      const g = Math.max(0, Math.min(255, 128 + 50 * slice[i]!));
      const a = Math.min(1, map[i]! / max) * 0.6;
      const o = (y * n * scale + x) * 4;
      const green = edge(i);
      png.data[o] = green ? 0 : (1 - a) * g + a * 255;
      png.data[o + 1] = green ? 220 : (1 - a) * g;
      png.data[o + 2] = green ? 0 : (1 - a) * g;
      png.data[o + 3] = 255;
    }
  return PNG.sync.write(png);
}

const trainExams = Number(args["train-exams"]);
const testExams = Number(args.exams);
const recipeName = args.recipe!;
mkdirSync(cache, { recursive: true });

// 1. The bundle, trained on the first cohort.
const cohortA = join(cache, `cohort-${trainExams}-${args["train-seed"]}`);
await ensureCohort(cohortA, trainExams, Number(args["train-seed"]));
const workA = join(cache, `work-${trainExams}-${args["train-seed"]}`);
await ingestCohort(cohortA, workA, recipeName, labelMasks(cohortA));
const bundleDir = join(cache, `bundle-${recipeName.replace(/[^\w.-]/g, "_")}-${trainExams}`);
say(`training the bundle ${bundleDir}`);
let t = performance.now();
await trainBundle({ workdir: workA, recipe: recipeName, out: bundleDir, bootstrapResamples: 200 });
say(`  ${((performance.now() - t) / 1000).toFixed(0)} s`);

// 2. The fresh cohort, ingested with the bundle's preparation.
const cohortB = join(cache, `cohort-${testExams}-${args["test-seed"]}`);
await ensureCohort(cohortB, testExams, Number(args["test-seed"]));
const workB = join(cache, `work-${testExams}-${args["test-seed"]}`);
await ingestCohort(cohortB, workB, recipeName, labelMasks(cohortB));
const bundle = loadBundle(bundleDir);
const { prepName } = bundle.manifest;
const features = await computeFeatures({ workdir: workB, prep: prepName, encoder: bundle.encoder });
const catalog = openCatalog(workB);
const accession = new Map(catalog.exams().map((e) => [e.examId, e.accessionNumber ?? e.examId]));
catalog.close();

// 3. Localisation per layer and role.
const layers = args.layers!.split(",").map(Number);
const byLayer: Record<
  string,
  {
    layer_size_px: number;
    ratio: Record<string, number>;
    ratio_standard_error: Record<string, number>;
    ratio_all_roles: number;
    seconds_per_exam: number;
  }
> = {};
let best: { cam: ExamCam; organs: Uint8Array; slice: Float32Array } | undefined;
for (const layer of layers) {
  const gradCam = new GradCam(
    cnnOf(bundle.encoder),
    bundle.members.map((m) => m.model),
    { layer },
  );
  const ratios: Record<string, number[]> = Object.fromEntries(ROLES.map((r) => [r, []]));
  let size = 0;
  t = performance.now();
  for (const f of features) {
    const prepared = loadPrepared(workB, f.examId, prepName);
    const cam = gradCam.explain(f, prepared, thresholdKpa);
    size = cam.layerSize;
    for (const role of ROLES) {
      const map = cam.maps[role];
      const affine = recordedPreparedAffine(prepared.meta, role);
      if (!map || !affine) continue;
      const r = regions(
        join(cohortB, "labelmaps", `${accession.get(f.examId)}.nii.gz`),
        affine,
        cam.size,
        cam.slices,
      );
      ratios[role]!.push(localisation(map, r));
      if (layer === DEFAULT_CAM_LAYER && role === "t2" && (!best || cam.probability > best.cam.probability)) {
        const mid = Math.floor(cam.slices / 2);
        const plane = cam.size * cam.size;
        best = {
          cam,
          organs: r.organs.slice(mid * plane, (mid + 1) * plane),
          slice: prepared.roles.t2!.slice(mid * plane, (mid + 1) * plane),
        };
      }
    }
  }
  const seconds = (performance.now() - t) / 1000 / features.length;
  gradCam.dispose();
  const ratio = Object.fromEntries(ROLES.map((r) => [r, round(mean(ratios[r]!))]));
  const se = Object.fromEntries(ROLES.map((r) => [r, round(standardError(ratios[r]!))]));
  byLayer[String(layer)] = {
    layer_size_px: size,
    ratio,
    ratio_standard_error: se,
    ratio_all_roles: round(mean(ROLES.flatMap((r) => ratios[r]!))),
    seconds_per_exam: round(seconds),
  };
  say(`block ${layer} (${size} px): ${JSON.stringify(ratio)}, ${seconds.toFixed(2)} s/exam`);
}
if (args.picture && best) {
  const n = best.cam.size;
  const mid = Math.floor(best.cam.slices / 2);
  const map = best.cam.maps.t2!.slice(mid * n * n, (mid + 1) * n * n);
  writeFileAtomic(args.picture, picture(best.slice, map, best.organs, n));
  say(`picture: ${args.picture} (exam ${best.cam.examId}, P = ${best.cam.probability.toFixed(3)})`);
}

// 4. What the maps add to predict: the same exams with and without --cam-out, in this run.
const examDirs = cohortExamDirs(cohortB);
const camDir = join(cache, "cams");
rmSync(camDir, { recursive: true, force: true });
const masks = labelMasks(cohortB);
await predictExams({ inputs: examDirs.slice(0, 1), bundle, masks }); // warm-up
t = performance.now();
const plain = await predictExams({ inputs: examDirs, bundle, masks });
const plainSeconds = (performance.now() - t) / 1000;
t = performance.now();
const withMaps = await predictExams({
  inputs: examDirs,
  bundle,
  masks,
  camDir,
  camThresholdKpa: thresholdKpa,
});
const mapsSeconds = (performance.now() - t) / 1000;
bundle.dispose();
const predicted = plain.counts.predicted;
const written = withMaps.exams.filter((e) => e.cam).length;
const added = (mapsSeconds - plainSeconds) / predicted;
say(
  `predict: ${(plainSeconds / predicted).toFixed(2)} s/exam without maps, ${(mapsSeconds / predicted).toFixed(2)} with (${written} exams mapped)`,
);
const defaultLayer = byLayer[String(DEFAULT_CAM_LAYER)];
console.log(
  JSON.stringify({
    bench: "explain",
    recipe: recipeName,
    threshold_kpa: thresholdKpa,
    train_exams: trainExams,
    test_exams: features.length,
    members: withMaps.bundle.members,
    cpus: cpus().length,
    localisation_by_layer: byLayer,
    default_layer: DEFAULT_CAM_LAYER,
    localisation_default_layer: defaultLayer?.ratio,
    localisation_target: 1.5,
    localisation_target_met: ROLES.every((r) => (defaultLayer?.ratio[r] ?? 0) >= 1.5),
    predict_seconds_per_exam_without_maps: round(plainSeconds / predicted),
    predict_seconds_per_exam_with_maps: round(mapsSeconds / predicted),
    added_seconds_per_exam: round(added),
    maps_written_exams: written,
  }),
);
