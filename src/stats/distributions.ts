// biome-ignore-all lint/correctness/noPrecisionLoss: coefficients are quoted as published (R nmath, Cody 1969); the parser rounds them to the nearest double.
/**
 * Distribution functions needed by the statistics: the standard normal CDF (W. J. Cody's rational
 * approximations, the algorithm of R's pnorm), its inverse (refined to full double precision by Halley
 * steps on that CDF), and Student's t CDF and quantile (through the regularised incomplete beta function).
 */

const A = [
  2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582, 18154.981253343561249,
  0.065682337918207449113,
];
const B = [47.20258190468824187, 976.09855173777669322, 10260.932208618978205, 45507.789335026729956];
const C = [
  0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979, 597.27027639480026226,
  2494.5375852903726711, 6848.1904505362823326, 11602.651437647350124, 9842.7148383839780218,
  1.0765576773720192317e-8,
];
const D = [
  22.266688044328115691, 235.38790178262499861, 1519.377599407554805, 6485.558298266760755,
  18615.571640885098091, 34900.952721145977266, 38912.003286093271411, 19685.429676859990727,
];
const P = [
  0.21589853405795699, 0.1274011611602473639, 0.022235277870649807, 0.001421619193227893466,
  2.9112874951168792e-5, 0.02307344176494017303,
];
const Q = [
  1.28426009614491121, 0.468238212480865118, 0.0659881378689285515, 0.00378239633202758244,
  7.29751555083966205e-5,
];
const SQRT_32 = 5.656854249492380195206754896838;
const ONE_OVER_SQRT_2PI = 0.398942280401432677939946059934;

/** Lower and upper tail of the standard normal at x: [P(Z <= x), P(Z > x)], each to full relative precision. */
export function normalTails(x: number): [number, number] {
  if (Number.isNaN(x)) return [Number.NaN, Number.NaN];
  const y = Math.abs(x);
  let cum: number;
  let ccum: number;
  if (y <= 0.67448975) {
    let xnum = 0;
    let xden = 0;
    if (y > 1.1102230246251565e-16) {
      const xsq = x * x;
      xnum = A[4] * xsq;
      xden = xsq;
      for (let i = 0; i < 3; i++) {
        xnum = (xnum + A[i]) * xsq;
        xden = (xden + B[i]) * xsq;
      }
    }
    const temp = (x * (xnum + A[3])) / (xden + B[3]);
    return [0.5 + temp, 0.5 - temp];
  }
  if (y <= SQRT_32) {
    let xnum = C[8] * y;
    let xden = y;
    for (let i = 0; i < 7; i++) {
      xnum = (xnum + C[i]) * y;
      xden = (xden + D[i]) * y;
    }
    const temp = (xnum + C[7]) / (xden + D[7]);
    const xsq = Math.trunc(y * 16) / 16;
    const del = (y - xsq) * (y + xsq);
    cum = Math.exp(-xsq * xsq * 0.5) * Math.exp(-del * 0.5) * temp;
    ccum = 1 - cum;
  } else if (y < 50) {
    const xsq = 1 / (x * x);
    let xnum = P[5] * xsq;
    let xden = xsq;
    for (let i = 0; i < 4; i++) {
      xnum = (xnum + P[i]) * xsq;
      xden = (xden + Q[i]) * xsq;
    }
    let temp = (xsq * (xnum + P[4])) / (xden + Q[4]);
    temp = (ONE_OVER_SQRT_2PI - temp) / y;
    const xs = Math.trunc(x * 16) / 16;
    const del = (x - xs) * (x + xs);
    cum = Math.exp(-xs * xs * 0.5) * Math.exp(-del * 0.5) * temp;
    ccum = 1 - cum;
  } else {
    cum = 0;
    ccum = 1;
  }
  return x > 0 ? [ccum, cum] : [cum, ccum];
}

/** Standard normal CDF, P(Z <= x). */
export function pnorm(x: number): number {
  return normalTails(x)[0];
}

function normalDensity(x: number): number {
  return ONE_OVER_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/**
 * Standard normal quantile: Acklam's rational approximation as a start, then Halley steps on the
 * accurate CDF (in the tail that keeps relative precision), giving the quantile to about 1 ulp.
 */
export function qnorm(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p === 0.5) return 0;
  // Work in the lower tail: q = min(p, 1 - p), and flip the sign at the end.
  const upper = p > 0.5;
  const q = upper ? 1 - p : p;
  let x = acklam(q);
  for (let iter = 0; iter < 3; iter++) {
    const e = pnorm(x) - q;
    const u = e / normalDensity(x);
    const step = u / (1 + 0.5 * x * u);
    x -= step;
    if (Math.abs(step) <= 1e-17 * Math.max(1, Math.abs(x))) break;
  }
  return upper ? -x : x;
}

function acklam(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** log Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15). */
export function lgamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  const g = 7;
  const coef = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let s = coef[0];
  for (let i = 1; i < g + 2; i++) s += coef[i] / (z + i);
  const t = z + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

const LN_SQRT_2PI = 0.918938533204672741780329736406;

/** The Stirling remainder lgamma(x) - ((x - 1/2) log x - x + log sqrt(2 pi)), for x >= 10. */
function lgammaCorrection(x: number): number {
  const x2 = 1 / (x * x);
  return (
    (1 / 12 +
      x2 *
        (-1 / 360 + x2 * (1 / 1260 + x2 * (-1 / 1680 + x2 * (1 / 1188 + x2 * (-691 / 360360 + x2 / 156)))))) /
    x
  );
}

/** log Beta(a, b), keeping its precision when one or both arguments are large (as R's lbeta does). */
export function lbeta(a: number, b: number): number {
  const p = Math.min(a, b);
  const q = Math.max(a, b);
  if (p >= 10) {
    const corr = lgammaCorrection(p) + lgammaCorrection(q) - lgammaCorrection(p + q);
    return (
      -0.5 * Math.log(q) +
      LN_SQRT_2PI +
      corr +
      (p - 0.5) * Math.log(p / (p + q)) +
      q * Math.log1p(-p / (p + q))
    );
  }
  if (q >= 10) {
    const corr = lgammaCorrection(q) - lgammaCorrection(p + q);
    return lgamma(p) + corr + p - p * Math.log(p + q) + (q - 0.5) * Math.log1p(-p / (p + q));
  }
  return lgamma(p) + lgamma(q) - lgamma(p + q);
}

/**
 * Regularised incomplete beta I_x(a, b) (continued fraction, modified Lentz). `y` = 1 - x may be passed
 * when it is known more precisely than 1 - x.
 */
export function incompleteBeta(x: number, a: number, b: number, y = 1 - x): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const logX = x < 0.5 ? Math.log(x) : Math.log1p(-y);
  const logY = y < 0.5 ? Math.log(y) : Math.log1p(-x);
  const front = Math.exp(a * logX + b * logY - lbeta(a, b));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(y, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** Student's t CDF with df degrees of freedom (df may be fractional, e.g. Welch-Satterthwaite). */
export function pt(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return Number.NaN;
  if (!Number.isFinite(df)) return pnorm(t);
  if (t === Number.POSITIVE_INFINITY) return 1;
  if (t === Number.NEGATIVE_INFINITY) return 0;
  const tail = ptLowerTail(t, df);
  return t > 0 ? 1 - tail : tail;
}

/** Lower tail probability P(T <= -|t|), computed without cancellation (for two-sided p-values). */
export function ptLowerTail(t: number, df: number): number {
  if (!Number.isFinite(df)) return normalTails(-Math.abs(t))[0];
  const t2 = t * t;
  return 0.5 * incompleteBeta(df / (df + t2), df / 2, 0.5, t2 / (df + t2));
}

/** Student's t quantile (Newton steps on pt from the normal quantile, bisection as a safeguard). */
export function qt(p: number, df: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1 || !(df > 0)) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (!Number.isFinite(df)) return qnorm(p);
  if (p === 0.5) return 0;
  const upper = p > 0.5;
  const q = upper ? 1 - p : p; // solve for the (negative) lower-tail quantile
  let lo = -1;
  while (ptLowerTail(lo, df) > q) lo *= 2;
  let hi = 0;
  let x = Math.max(lo, qnorm(q));
  for (let iter = 0; iter < 200; iter++) {
    const f = ptLowerTail(x, df) - q;
    if (f > 0) hi = x;
    else lo = x;
    const dens = Math.exp(
      lgamma((df + 1) / 2) -
        lgamma(df / 2) -
        0.5 * Math.log(df * Math.PI) -
        ((df + 1) / 2) * Math.log1p((x * x) / df),
    );
    let next = x - f / dens;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - x) <= 1e-15 * Math.max(1, Math.abs(x))) {
      x = next;
      break;
    }
    x = next;
  }
  return upper ? -x : x;
}
