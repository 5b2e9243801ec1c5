// Cut-offs that never contradict each other. P(kPa >= t) falls as t rises (for the liverstiff recipe by
// construction), so if the cut-offs rise (or stay) with t, an exam above the cut-off at 4.0 kPa is above it
// at every lower threshold: the calls form a prefix and the category is simply the last call "above".
// The cut-offs are chosen jointly: they maximise the sum over thresholds of Youden's J (sensitivity +
// specificity - 1, call "above" when P > cut-off) subject to c(2.5) <= c(3.0) <= ... <= c(5.0), by dynamic
// programming over the observed probabilities. Where the unconstrained Youden cut-offs already rise they
// are kept (ties are broken toward them).

/** Youden's J of "positive when score > cut" for each candidate cut (sorted ascending). */
function youdenJ(labels: readonly number[], scores: readonly number[], cuts: readonly number[]): number[] {
  const pos = scores.filter((_, i) => labels[i] === 1).sort((a, b) => a - b);
  const neg = scores.filter((_, i) => labels[i] !== 1).sort((a, b) => a - b);
  if (pos.length === 0 || neg.length === 0) return cuts.map(() => 0);
  let ip = 0;
  let ineg = 0;
  return cuts.map((c) => {
    while (ip < pos.length && pos[ip]! <= c) ip++;
    while (ineg < neg.length && neg[ineg]! <= c) ineg++;
    return (pos.length - ip) / pos.length + ineg / neg.length - 1;
  });
}

/**
 * Non-decreasing cut-offs in [0, 1], one per threshold, maximising the summed Youden J. `labels[k][i]` is
 * 1 when exam i is at or above threshold k; `scores[k][i]` its P(kPa >= threshold k); `preferred[k]` the
 * cut-off a tie is broken toward (the unconstrained one).
 */
export function monotoneCutoffs(
  labels: readonly (readonly number[])[],
  scores: readonly (readonly number[])[],
  preferred: readonly number[],
): number[] {
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  const cuts = [...new Set([0, 1, ...preferred.map(clamp), ...scores.flat().map(clamp)])].sort(
    (a, b) => a - b,
  );
  const m = cuts.length;
  // best[i]: the best summed score of thresholds 0..k with threshold k's cut-off = cuts[i].
  let best = new Float64Array(m);
  const from: Int32Array[] = [];
  for (let k = 0; k < labels.length; k++) {
    const j = youdenJ(labels[k]!, scores[k]!, cuts);
    const next = new Float64Array(m);
    const arg = new Int32Array(m);
    let runMax = Number.NEGATIVE_INFINITY;
    let runArg = 0;
    for (let i = 0; i < m; i++) {
      if (k > 0 && best[i]! > runMax) {
        runMax = best[i]!;
        runArg = i;
      }
      next[i] = (k > 0 ? runMax : 0) + j[i]! - 1e-9 * Math.abs(cuts[i]! - preferred[k]!);
      arg[i] = runArg;
    }
    from.push(arg);
    best = next;
  }
  let i = 0;
  for (let x = 1; x < m; x++) if (best[x]! > best[i]!) i = x;
  const out = new Array<number>(labels.length);
  for (let k = labels.length - 1; k >= 0; k--) {
    out[k] = cuts[i]!;
    i = from[k]![i]!;
  }
  return out;
}
