import { LiverstiffError } from "../core/index.ts";

/** Labels: 1 (positive, e.g. stiffness at or above the threshold) or 0 (negative); booleans are accepted. */
export type Labels = ArrayLike<number> | ArrayLike<boolean>;
/** Scores: higher means more likely positive. */
export type Scores = ArrayLike<number>;

/** The scores of one binary problem split by class, as fresh Float64Arrays in the original order. */
export interface SplitScores {
  pos: Float64Array;
  neg: Float64Array;
  /** For each case, its index within pos (label 1) or neg (label 0). */
  classIndex: Int32Array;
  labels: Uint8Array;
}

/** Throws unless a and b have the same length. */
export function checkLengths(
  what: string,
  a: ArrayLike<unknown>,
  b: ArrayLike<unknown>,
  names = ["labels", "scores"],
): void {
  if (a.length !== b.length) {
    throw new LiverstiffError(`${what}: ${names[0]} and ${names[1]} differ in length`, {
      [names[0]]: a.length,
      [names[1]]: b.length,
    });
  }
}

/** Validates 0/1 labels into a Uint8Array; anything else is an error naming the index. */
export function checkLabels(what: string, labels: Labels): Uint8Array {
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i] as number | boolean;
    if (v === 1 || v === true) out[i] = 1;
    else if (v === 0 || v === false) out[i] = 0;
    else throw new LiverstiffError(`${what}: a label must be 0 or 1`, { index: i, label: String(v) });
  }
  return out;
}

/** Throws unless every value is a finite number (no NaN, no infinities). */
export function checkFinite(what: string, values: ArrayLike<number>, name = "score"): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new LiverstiffError(`${what}: every ${name} must be a finite number`, {
        index: i,
        [name]: String(v),
      });
    }
  }
}

/**
 * Checks a binary problem (same length, 0/1 labels, finite scores, at least `minPerClass` cases of each
 * class) and splits the scores by class. -0 is folded into +0 so that sorting and comparing agree.
 */
export function splitByClass(what: string, labels: Labels, scores: Scores, minPerClass = 1): SplitScores {
  checkLengths(what, labels, scores);
  const lab = checkLabels(what, labels);
  checkFinite(what, scores);
  let m = 0;
  for (let i = 0; i < lab.length; i++) m += lab[i];
  const n = lab.length - m;
  if (m < minPerClass || n < minPerClass) {
    throw new LiverstiffError(
      minPerClass <= 1
        ? `${what}: needs both classes, got ${m} positive and ${n} negative cases`
        : `${what}: needs at least ${minPerClass} cases of each class, got ${m} positive and ${n} negative`,
      { positives: m, negatives: n },
    );
  }
  const pos = new Float64Array(m);
  const neg = new Float64Array(n);
  const classIndex = new Int32Array(lab.length);
  let ip = 0;
  let ineg = 0;
  for (let i = 0; i < lab.length; i++) {
    const s = (scores[i] as number) + 0;
    if (lab[i] === 1) {
      classIndex[i] = ip;
      pos[ip++] = s;
    } else {
      classIndex[i] = ineg;
      neg[ineg++] = s;
    }
  }
  return { pos, neg, classIndex, labels: lab };
}

/** Checks a confidence level in (0, 1). */
export function checkLevel(what: string, level: number): void {
  if (!(level > 0 && level < 1))
    throw new LiverstiffError(`${what}: the confidence level must lie in (0, 1)`, { level });
}

/** The confidence level a caller asked for (95% when none), checked. */
export function confidenceLevel(what: string, options: { level?: number }): number {
  const level = options.level ?? 0.95;
  checkLevel(what, level);
  return level;
}
