// Cholesky solves of the small symmetric positive (semi-)definite systems the closed-form fits meet.

/** Lower-triangular L with L L^T = A, where A's entry (i, j), j <= i, is entry(i, j); pivots floored at `floor`. */
export function choleskyFactor(
  m: number,
  entry: (i: number, j: number) => number,
  floor: number,
): Float64Array {
  const L = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j <= i; j++) {
      let s = entry(i, j);
      for (let k = 0; k < j; k++) s -= L[i * m + k]! * L[j * m + k]!;
      L[i * m + j] = i === j ? Math.sqrt(Math.max(s, floor)) : s / L[j * m + j]!;
    }
  return L;
}

/** x with L L^T x = b: forward substitution, then back substitution. */
export function choleskySolve(L: Float64Array, b: ArrayLike<number>, m: number): Float64Array {
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * m + k]! * y[k]!;
    y[i] = s / L[i * m + i]!;
  }
  const x = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < m; k++) s -= L[k * m + i]! * x[k]!;
    x[i] = s / L[i * m + i]!;
  }
  return x;
}
