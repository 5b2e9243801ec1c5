// The figure predict writes per exam: text really drawn where the layout says (dark on light in the
// header, the notice in both bands), pixels that change exactly where a changed text is, orientation
// letters on the slices, a golden PNG, and letters measured from the preparation that match anatomy.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { PNG } from "pngjs";
import { type PrepConfig, prepareVolume, resolvePrep } from "../../src/cohort/index.ts";
import {
  type Box,
  type ExamFigureInput,
  examFigure,
  FIGURE_NOTICE,
  figureLayout,
  figureSvg,
  preparedEdgeLetters,
} from "../../src/deploy/index.ts";
import { identity4, makeVolume, setAffineColumn, type Vec3 } from "../../src/volume/index.ts";
import { goldenInput } from "../fixtures/deploy/figure-input.ts";

const GOLDEN = new URL("../fixtures/deploy/figure-golden.png", import.meta.url);

type Image = { width: number; height: number; data: Buffer };

function render(input: ExamFigureInput): Image {
  return PNG.sync.read(Buffer.from(examFigure(input)));
}

function pixel(img: Image, x: number, y: number): [number, number, number] {
  const o = (y * img.width + x) * 4;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
}

function count(img: Image, box: Box, test: (rgb: [number, number, number]) => boolean): number {
  let n = 0;
  for (let y = box.y; y < box.y + box.h; y++)
    for (let x = box.x; x < box.x + box.w; x++) if (test(pixel(img, x, y))) n++;
  return n;
}

/** Pixels of `box` whose colour differs between two renderings. */
function differing(a: Image, b: Image, box: Box): number {
  let n = 0;
  for (let y = box.y; y < box.y + box.h; y++)
    for (let x = box.x; x < box.x + box.w; x++) {
      const [p, q] = [pixel(a, x, y), pixel(b, x, y)];
      if (p[0] !== q[0] || p[1] !== q[1] || p[2] !== q[2]) n++;
    }
  return n;
}

const dark = ([r, g, b]: [number, number, number]) => r + g + b < 300;
const light = ([r, g, b]: [number, number, number]) => r + g + b > 700;
const noticeRed = ([r, g, b]: [number, number, number]) => r > 90 && r < 200 && g < 80 && b < 80;
const letterYellow = ([r, g, b]: [number, number, number]) => r > 200 && g > 170 && b < 90;

/** How far two PNGs are apart in a box: mean absolute channel difference, share of clearly changed pixels. */
function distance(a: Image, b: Image, box: Box): { meanAbs: number; changedShare: number } {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  let sum = 0;
  let changed = 0;
  for (let y = box.y; y < box.y + box.h; y++)
    for (let x = box.x; x < box.x + box.w; x++) {
      const [p, q] = [pixel(a, x, y), pixel(b, x, y)];
      const d = [0, 1, 2].map((c) => Math.abs(p[c]! - q[c]!));
      sum += d[0]! + d[1]! + d[2]!;
      if (Math.max(...d) > 40) changed++;
    }
  return { meanAbs: sum / (3 * box.w * box.h), changedShare: changed / (box.w * box.h) };
}
// Antialiasing may differ by a few levels on a few edge pixels; a changed word changes hundreds.
const CLOSE = (d: ReturnType<typeof distance>) => d.meanAbs < 0.5 && d.changedShare < 0.002;

describe("the exam figure", () => {
  const base = goldenInput();
  const layout = figureLayout(base);
  const img = render(base);

  it("has the layout's size, with the header's text dark on white and the notice in both bands", () => {
    assert.deepEqual([img.width, img.height], [layout.width, layout.height]);
    // 5 probability columns of 176 px and the margins; notice 30 + header 170 + legend 76 + two rows of
    // (48 + 2 x 4 + 32) + footer 24.
    assert.deepEqual([img.width, img.height], [904, 476]);
    for (const box of [layout.exam, layout.category, ...layout.probabilities]) {
      const inked = count(img, box, dark);
      assert.ok(inked > 60, `text drawn in ${JSON.stringify(box)}: ${inked} dark pixels`);
      assert.ok(count(img, box, light) > 0.6 * box.w * box.h, "on a light background");
    }
    // The exam line starts at the left margin and ends well before the right edge.
    const firstInk = (box: Box) => {
      for (let x = box.x; x < box.x + box.w; x++)
        if (count(img, { x, y: box.y, w: 1, h: box.h }, dark) > 0) return x;
      return -1;
    };
    assert.ok(firstInk(layout.exam) >= 12 && firstInk(layout.exam) <= 16);
    assert.equal(count(img, { ...layout.exam, x: 700, w: layout.exam.w - 700 }, dark), 0);
    for (const band of [layout.notice, layout.footer]) {
      assert.deepEqual(pixel(img, band.x + band.w - 2, band.y + 2), [0xfd, 0xe2, 0xe2]);
      assert.ok(count(img, band, noticeRed) > 150, "the notice is written in the band");
    }
    assert.match(figureSvg(base), new RegExp(FIGURE_NOTICE.replace(/\./g, "\\.")));
  });

  it("changes exactly the pixels of the text that changed", () => {
    const regions = (): [string, Box][] => [
      ["notice", layout.notice],
      ["exam", layout.exam],
      ["category", layout.category],
      ...layout.probabilities.map((b, k): [string, Box] => [`probability ${k}`, b]),
      ["tiles", { x: 0, y: layout.tiles[0]!.box.y, w: layout.width, h: 100 }],
    ];
    const variants: [string, ExamFigureInput][] = [
      ["category", { ...base, category: { label: "< 2.5 kPa" } }],
      ["exam", { ...base, accession: "ACC-0043" }],
      ["exam", { ...base, studyDate: "2024-05-02" }],
      [
        "probability 3",
        { ...base, thresholds: base.thresholds.map((t, k) => (k === 3 ? { ...t, probability: 0.27 } : t)) },
      ],
    ];
    for (const [where, input] of variants) {
      const other = render(input);
      for (const [name, box] of regions()) {
        const n = differing(img, other, box);
        if (name === where) assert.ok(n > 20, `${where} changed: ${n} pixels differ in ${name}`);
        else assert.equal(n, 0, `${where} changed, yet ${n} pixels differ in ${name}`);
      }
    }
  });

  it("writes the orientation letters on each slice's edges", () => {
    const bare = render({ ...base, orientation: {} });
    const swapped = render({
      ...base,
      orientation: { t1_in: { left: "L", right: "R", top: "P", bottom: "A" }, t2: base.orientation.t2! },
    });
    for (const { role, box } of layout.tiles) {
      const leftMid = { x: box.x, y: box.y + box.h / 2 - 8, w: 12, h: 14 };
      const topMid = { x: box.x + box.w / 2 - 6, y: box.y, w: 12, h: 15 };
      for (const strip of [leftMid, topMid]) {
        assert.ok(count(img, strip, letterYellow) > 5, `${role}: a letter at ${JSON.stringify(strip)}`);
        assert.equal(count(bare, strip, letterYellow), 0, "no letters without orientation");
      }
      const d = differing(img, swapped, box);
      if (role === "t1_in") assert.ok(d > 20, "other letters, other pixels");
      else assert.equal(d, 0);
    }
  });

  it("matches the golden PNG, with a tolerance tight enough to see a changed category", () => {
    const golden = PNG.sync.read(readFileSync(GOLDEN));
    const whole = { x: 0, y: 0, w: layout.width, h: layout.height };
    const regions: Box[] = [whole, layout.notice, layout.exam, layout.category, ...layout.probabilities];
    for (const box of [...regions, ...layout.tiles.map((t) => t.box), layout.footer]) {
      const d = distance(img, golden, box);
      assert.ok(CLOSE(d), `against the golden figure in ${JSON.stringify(box)}: ${JSON.stringify(d)}`);
    }
    const wrong = render({ ...base, category: { label: "< 2.5 kPa" } });
    const d = distance(wrong, golden, layout.category);
    assert.ok(!CLOSE(d), `a changed category must not pass: ${JSON.stringify(d)}`);
  });

  it("draws a Grad-CAM map over exactly the pixels where it is above its floor, warm where it is largest", () => {
    // t2, middle slice: the map is 1 in a 12 x 12 square at the top left, 0.05 (under the 10% floor)
    // elsewhere on that slice; zero on every other slice and role.
    const { size, slices } = base;
    const t2 = new Float32Array(slices * size * size);
    const hot = { x0: 6, y0: 6, n: 12 };
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const inside = x >= hot.x0 && x < hot.x0 + hot.n && y >= hot.y0 && y < hot.y0 + hot.n;
        t2[(size + y) * size + x] = inside ? 1 : 0.05;
      }
    const withMap = render({
      ...base,
      overlay: { thresholdKpa: 3.0, maps: { t2, t1_in: new Float32Array(t2.length) } },
    });
    assert.match(
      figureSvg({ ...base, overlay: { thresholdKpa: 3.0, maps: { t2 } } }),
      /overlay: Grad-CAM for P\(≥ 3\.0 kPa\)/,
    );
    for (const { role, slice, box } of layout.tiles) {
      const inner = { x: box.x + hot.x0 + 1, y: box.y + hot.y0 + 1, w: hot.n - 2, h: hot.n - 2 };
      if (role === "t2" && slice === 1) {
        // The square's inside changed and is warm (the map's largest value is yellow over the grey body).
        assert.equal(differing(img, withMap, inner), inner.w * inner.h);
        const [r, g, b] = pixel(withMap, inner.x + 4, inner.y + 4);
        assert.ok(r > b + 80 && g > b + 80, `warm: ${[r, g, b]}`);
        // Outside the square (the map at 5% of its largest value) nothing changed.
        const below = { x: box.x, y: box.y + hot.y0 + hot.n + 1, w: box.w, h: box.h - (hot.y0 + hot.n + 1) };
        assert.equal(differing(img, withMap, below), 0);
      } else assert.equal(differing(img, withMap, box), 0, `${role} slice ${slice} has no map`);
    }
    for (const box of [layout.exam, layout.category, ...layout.probabilities, layout.footer])
      assert.equal(differing(img, withMap, box), 0);
    // An overlay of zeros draws nothing on the slices.
    const zeros = render({
      ...base,
      overlay: { thresholdKpa: 3.0, maps: { t2: new Float32Array(t2.length) } },
    });
    for (const { box } of layout.tiles) assert.equal(differing(img, zeros, box), 0);
  });

  it("draws markup and control characters in an accession as text, and a recipe without attention", () => {
    const odd = { ...base, accession: '<b>&"1"\u0007', attention: null };
    const svg = figureSvg(odd);
    assert.match(svg, /Exam &lt;b&gt;&amp;&quot;1&quot; </);
    assert.ok(!svg.includes("\u0007"), "no control character in the SVG");
    const plain = render(odd);
    assert.equal(plain.height, img.height - 2 * 20, "no attention bars: shorter rows");
    assert.ok(count(plain, figureLayout(odd).exam, dark) > 60);
  });
});

describe("orientation letters measured from the preparation", () => {
  const LETTER_AXIS: Record<string, [number, number]> = {
    L: [0, 1],
    R: [0, -1],
    P: [1, 1],
    A: [1, -1],
    S: [2, 1],
    I: [2, -1],
  };

  /** A 64^3 volume (6.5 mm voxels) in the orientation `code`, with a bright column through `ballMm` (LPS). */
  function volumeWithBall(code: string, ballMm: [number, number]) {
    const n = 64;
    const step = 6.5;
    const affine = identity4();
    const dirs = [...code].map((c) => {
      const [axis, sign] = LETTER_AXIS[c]!;
      const v: Vec3 = [0, 0, 0];
      v[axis] = sign * step;
      return v;
    });
    dirs.forEach((v, c) => {
      setAffineColumn(affine, c, v);
    });
    const half = (n - 1) / 2;
    setAffineColumn(
      affine,
      3,
      [0, 1, 2].map((a) => -half * (dirs[0]![a]! + dirs[1]![a]! + dirs[2]![a]!)) as Vec3,
    );
    const data = new Float32Array(n * n * n);
    for (let k = 0; k < n; k++)
      for (let j = 0; j < n; j++)
        for (let i = 0; i < n; i++) {
          const p = [0, 1, 2].map(
            (a) => affine[a * 4 + 3]! + i * dirs[0]![a]! + j * dirs[1]![a]! + k * dirs[2]![a]!,
          );
          // A column along S-I (the same in every slice), and a ramp toward superior for the slice order.
          const r = Math.hypot(p[0]! - ballMm[0], p[1]! - ballMm[1]);
          data[(k * n + j) * n + i] = (r < 40 ? 100 : 0) + 0.01 * p[2]!;
        }
    return makeVolume(data, [n, n, n], affine);
  }

  /** Centroid (column, row) of the bright pixels of a prepared slice. */
  function centroid(values: Float32Array, slice: number, size: number): [number, number] {
    let max = -Infinity;
    const plane = values.subarray(slice * size * size, (slice + 1) * size * size);
    for (const v of plane) max = Math.max(max, v);
    let [sx, sy, n] = [0, 0, 0];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        if (plane[y * size + x]! > max / 2) {
          sx += x;
          sy += y;
          n++;
        }
    assert.ok(n > 0);
    return [sx / n, sy / n];
  }

  const preps: PrepConfig[] = [
    resolvePrep({ slices: 5, size: 64 }),
    resolvePrep({ slices: 3, size: 48, inPlane: "pixels", cropPx: 64, normalize: "percentile" }),
  ];

  it("puts L on the side where the patient's left lies, A where anterior, S toward the last slice", () => {
    // The column on the patient's left (+x in LPS) and anterior (-y).
    for (const code of ["LPS", "RAS", "LAS", "RPI", "PLS"])
      for (const prep of preps) {
        const letters = preparedEdgeLetters(code, prep);
        assert.ok(letters, code);
        const vol = volumeWithBall(code, [90, -70]);
        const values = prepareVolume(vol, prep);
        const [cx, cy] = centroid(values, Math.floor(prep.slices / 2), prep.size);
        const mid = (prep.size - 1) / 2;
        const where = `${code} ${prep.inPlane}: ball at column ${cx.toFixed(1)}, row ${cy.toFixed(1)}`;
        assert.equal(cx > mid ? letters.right : letters.left, "L", where);
        assert.equal(cy > mid ? letters.bottom : letters.top, "A", where);
        // The ramp: the mean of the first and the last slice tell which lies superior.
        const meanOf = (s: number) =>
          values.subarray(s * prep.size ** 2, (s + 1) * prep.size ** 2).reduce((a, b) => a + b, 0);
        const lastHigher = meanOf(prep.slices - 1) > meanOf(0);
        assert.equal(lastHigher ? letters.lastSlice : letters.firstSlice, "S", where);
      }
  });

  it("gives no letters for a code that names no orientation", () => {
    for (const code of ["", "XYZ", "LLS", "LPSA"]) assert.equal(preparedEdgeLetters(code, preps[0]!), null);
  });
});
