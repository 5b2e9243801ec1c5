// Small greyscale PNGs of prepared slices, for pages that show hundreds of exams (the QC page): one slice,
// windowed to its own 1st-99th percentile, box-averaged down to a maximum size.
import { PNG } from "pngjs";

/** The default largest side of a thumbnail in pixels. */
export const THUMBNAIL_MAX_PX = 128;

export interface Thumbnail {
  /** Encoded PNG (8-bit greyscale). */
  png: Buffer;
  width: number;
  height: number;
  /** The prepared values mapped to black and white. */
  window: [number, number];
}

/** The central slice of a stack of `slices` (the one a reader checks first): floor(slices / 2). */
export function centralSliceIndex(slices: number): number {
  return Math.floor(slices / 2);
}

/**
 * The 1st and 99th percentiles of the finite values (nearest rank below: sorted[floor(p * (n - 1))]); a
 * flat or empty slice gets a window one unit wide, so that nothing divides by zero. Found by selection,
 * not by sorting (sorting each slice took most of the page's time).
 */
export function percentileWindow(values: Float32Array): [number, number] {
  const finite = new Float32Array(values.length);
  let n = 0;
  for (const v of values) if (Number.isFinite(v)) finite[n++] = v;
  if (n === 0) return [0, 1];
  const a = finite.subarray(0, n);
  const kLo = Math.floor(0.01 * (n - 1));
  const lo = kthSmallest(a, kLo, 0);
  // After the first selection everything right of kLo is >= it: the second searches there only.
  const hi = kthSmallest(a, Math.floor(0.99 * (n - 1)), kLo);
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** The k-th smallest value of a[left..] (0-based k), by quickselect; reorders `a`. */
function kthSmallest(a: Float32Array, k: number, left: number): number {
  let l = left;
  let r = a.length - 1;
  while (r > l) {
    const pivot = median3(a[l]!, a[(l + r) >> 1]!, a[r]!);
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else break; // j < k < i: a[k] equals the pivot
  }
  return a[k]!;
}

function median3(x: number, y: number, z: number): number {
  return Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
}

/** The integer factor that brings `size` down to at most `maxPx`. */
export function reductionFactor(size: number, maxPx: number): number {
  return Math.max(1, Math.ceil(size / maxPx));
}

/**
 * Box mean over factor x factor blocks (rows, then columns); trailing rows or columns that do not fill a
 * block are dropped. Non-finite values count as the window's low end.
 */
function boxMean(
  slice: Float32Array,
  height: number,
  width: number,
  factor: number,
  fill: number,
): { values: Float64Array; height: number; width: number } {
  const h = Math.floor(height / factor);
  const w = Math.floor(width / factor);
  const values = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (y * factor + dy) * width + x * factor;
        for (let dx = 0; dx < factor; dx++) {
          const v = slice[row + dx]!;
          sum += Number.isFinite(v) ? v : fill;
        }
      }
      values[y * w + x] = sum / (factor * factor);
    }
  }
  return { values, height: h, width: w };
}

/** A value to a grey level: lo -> 0, hi -> 255, clamped, rounded to the nearest level. */
export function greyLevel(v: number, [lo, hi]: [number, number]): number {
  return Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)));
}

/** One slice (height x width values, row-major) as a greyscale PNG of at most `maxPx` on its longer side. */
export function sliceThumbnail(
  slice: Float32Array,
  height: number,
  width: number,
  maxPx = THUMBNAIL_MAX_PX,
): Thumbnail {
  const window = percentileWindow(slice);
  const small = boxMean(slice, height, width, reductionFactor(Math.max(height, width), maxPx), window[0]);
  const grey = Buffer.alloc(small.values.length);
  for (let i = 0; i < grey.length; i++) grey[i] = greyLevel(small.values[i]!, window);
  const options = { colorType: 0, inputColorType: 0, inputHasAlpha: false } as const;
  const png = new PNG({ width: small.width, height: small.height, ...options });
  png.data = grey;
  return { png: PNG.sync.write(png, options), width: small.width, height: small.height, window };
}

/** A thumbnail as a data: URI for an <img> (no file beside the page). */
export function pngDataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString("base64")}`;
}
