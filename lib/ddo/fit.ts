// The DDO response curve of one domain: f(x) = (x + a)^(-b) + c, x = the multiplier applied to the domain's
// base quantity, f = the evaluation loss normalised by the base run's (so f(1) is close to 1).
//
// Three points fit it exactly; more points are fitted by least squares. A valid curve has b > 0 and
// x + a > 0 on the multipliers tried: it is then strictly decreasing and strictly convex, which is what the
// KKT solve in solve.ts needs. Responses that cannot be such a curve get a degenerate status and no curve.

import { formatSignificant } from '../format.js';
import { bisectRoot, bracketRoot, newtonRoot } from './bisect.js';

/** Parameters of f(x) = (x + a)^(-b) + c. Valid when b > 0 and x + a > 0 on the range used. */
export interface ResponseCurve {
  a: number;
  b: number;
  c: number;
}

/**
 * - `exact`: the curve passes through the three points (residuals at rounding level).
 * - `least-squares`: best curve through more than three points, or through three points no exact curve fits.
 * - `not-decreasing`: the loss at the largest multiplier is not below the loss at the smallest one:
 *   more of this domain does not help.
 * - `not-convex`: the loss falls, but not along a convex decreasing curve (a middle point on or above the
 *   chord, or a rise between neighbours).
 * - `noise-dominated`: the fall is within the stated noise, or the least-squares residuals are as large as
 *   the fall itself.
 */
export type FitStatus = 'exact' | 'least-squares' | 'not-decreasing' | 'not-convex' | 'noise-dominated';

/** A point of the response: multiplier x, normalised loss y. */
export interface ResponsePoint {
  x: number;
  y: number;
}

export interface ResponseFit {
  status: FitStatus;
  /** The fitted curve; null for degenerate statuses (the caller holds the domain fixed). */
  curve: ResponseCurve | null;
  /** Points sorted by multiplier. */
  points: ResponsePoint[];
  /** y - f(x) per point; for degenerate fits, y - mean(y). Never NaN. */
  residuals: number[];
  /** Root mean square of the residuals. */
  rms: number;
  /** f(min x) - f(max x) of the curve (or of the points for degenerate fits): the effect of the domain. */
  effect: number;
  /** A second curve through the same three points, when one exists (see fitResponseCurve). */
  alternative: ResponseCurve | null;
  /** What happened, in words. */
  message: string;
}

export interface FitOptions {
  /**
   * Standard deviation of the noise of one normalised response (e.g. 0.002 for ±0.2 %). With it, a domain
   * whose fall f(min x) - f(max x) is below 2·√2·noise (the difference of two noisy values, two standard
   * deviations) is `noise-dominated`.
   */
  noise?: number;
}

/** Evaluates f(x) = (x + a)^(-b) + c. @example evalResponseCurve({ a: 1, b: 2, c: 0.5 }, 1) // 0.75 */
export function evalResponseCurve(curve: ResponseCurve, x: number): number {
  return Math.pow(x + curve.a, -curve.b) + curve.c;
}

/** f'(x) = -b (x + a)^(-b-1). @example responseCurveSlope({ a: 1, b: 2, c: 0 }, 1) // -0.25 */
export function responseCurveSlope(curve: ResponseCurve, x: number): number {
  return -curve.b * Math.pow(x + curve.a, -curve.b - 1);
}

// log(e^z - 1) for z > 0, without overflow for large z or cancellation for small z.
function logExpm1(z: number): number {
  return z > 30 ? z + Math.log1p(-Math.exp(-z)) : Math.log(Math.expm1(z));
}
// log(1 - e^-z) for z > 0.
function log1mExp(z: number): number {
  return z > 0.693 ? Math.log1p(-Math.exp(-z)) : Math.log(-Math.expm1(-z));
}

function sorted(points: readonly ResponsePoint[]): ResponsePoint[] {
  return [...points].sort((p, q) => p.x - q.x);
}

function summarize(points: ResponsePoint[], curve: ResponseCurve): { residuals: number[]; rms: number; effect: number } {
  const residuals = points.map((p) => p.y - evalResponseCurve(curve, p.x));
  const rms = Math.sqrt(residuals.reduce((s, r) => s + r * r, 0) / residuals.length);
  const effect = evalResponseCurve(curve, points[0]!.x) - evalResponseCurve(curve, points[points.length - 1]!.x);
  return { residuals, rms, effect };
}

function degenerate(points: ResponsePoint[], status: FitStatus, message: string): ResponseFit {
  const mean = points.reduce((s, p) => s + p.y, 0) / points.length;
  const residuals = points.map((p) => p.y - mean);
  const rms = Math.sqrt(residuals.reduce((s, r) => s + r * r, 0) / residuals.length);
  return {
    status,
    curve: null,
    points,
    residuals,
    rms,
    effect: points[0]!.y - points[points.length - 1]!.y,
    alternative: null,
    message,
  };
}

/**
 * The exact curves through three points x1 < x2 < x3 with y1 > y2 > y3 on a strictly convex path.
 *
 * Why it is well-posed. Write u_j = x_j + a, L1 = ln(u2/u1), L2 = ln(u3/u2). For a fixed a, the ratio of
 * differences (y1 - y2)/(y2 - y3) = (e^{b L1} - 1)/(1 - e^{-b L2}) is strictly increasing in b, from L1/L2
 * (b -> 0) to infinity, so b(a) is unique wherever L1/L2 is below the observed ratio R, i.e. for a above
 * the a0 where L1/L2 = R (L1/L2 falls from infinity at a = -x1 to the linear ratio (x2-x1)/(x3-x2) as a grows,
 * and R exceeds that ratio exactly when the points are strictly convex). The remaining equation is the size of
 * the fall, S(a) = u2^{-b}(e^{b L1} - 1) = y1 - y2, in the single unknown a. S vanishes at both ends of
 * (a0, infinity) (b -> 0 at a0; at large a, b grows like a and u^{-b} dies), so the equation has an even number
 * of roots, generically two: a "logarithmic" one with b near 0 and a near -x1 (f ≈ c' - b ln(x + a)), and a
 * "power-law" one with larger a and b. Both pass through the points; we return the largest-a root, whose
 * extrapolation is the ordinary offset power law, and the other as `alternative`. The roots are found by
 * scanning a = a0 + e^phi on a fine grid of phi and bisecting the last sign change to machine precision.
 */
function exactCurves(points: ResponsePoint[]): ResponseCurve[] {
  const [p1, p2, p3] = points as [ResponsePoint, ResponsePoint, ResponsePoint];
  const d1 = p1.y - p2.y;
  const d2 = p2.y - p3.y;
  const logR = Math.log(d1) - Math.log(d2);
  const dx1 = p2.x - p1.x;
  const dx2 = p3.x - p2.x;
  const L1 = (a: number): number => Math.log1p(dx1 / (p1.x + a));
  const L2 = (a: number): number => Math.log1p(dx2 / (p2.x + a));
  // a0: where the logarithmic limit of the ratio equals R. theta = ln(a + x1).
  const logRatioAtZeroB = (theta: number): number => {
    const a = Math.exp(theta) - p1.x;
    return Math.log(L1(a)) - Math.log(L2(a)) - logR;
  };
  let theta0: number;
  try {
    theta0 = bisectRoot(logRatioAtZeroB, Math.log(p1.x) - 1, Math.log(p1.x) + 1, 'decreasing');
  } catch {
    return [];
  }
  const a0 = Math.exp(theta0) - p1.x;
  let lastLogB = 0;
  const bOf = (a: number): number => {
    const l1 = L1(a);
    const l2 = L2(a);
    const h = (logB: number): number => {
      const b = Math.exp(logB);
      return logExpm1(b * l1) - log1mExp(b * l2) - logR;
    };
    // dh/dln b = b (l1 / (1 - e^{-b l1}) - l2 / (e^{b l2} - 1)).
    const dh = (logB: number): number => {
      const b = Math.exp(logB);
      return b * (l1 / -Math.expm1(-b * l1) - l2 / Math.expm1(b * l2));
    };
    // Warm start: consecutive calls come from neighbouring a (the scan, the refinements), so the last ln b
    // brackets the next one closely and Newton needs two or three steps.
    let logB: number;
    try {
      logB = newtonRoot(h, dh, lastLogB);
    } catch {
      logB = bisectRoot(h, -1, 1, 'increasing', 2000);
    }
    lastLogB = logB;
    return Math.exp(logB);
  };
  const logD1 = Math.log(d1);
  const scale = p1.x + Math.abs(a0);
  // ln S(a) - ln(y1 - y2). Where b(a) cannot be resolved in floating point (a within rounding of a0, or b
  // beyond ~1e300) S underflows to 0, so the limit -Infinity is the right value.
  const g = (phi: number): number => {
    const a = a0 + scale * Math.exp(phi);
    let b: number;
    try {
      b = bOf(a);
    } catch {
      return -Infinity;
    }
    const v = -b * Math.log(p2.x + a) + logExpm1(b * L1(a)) - logD1;
    return Number.isNaN(v) ? -Infinity : v;
  };
  const lo = -40;
  const hi = 40;
  // 160 cells over phi in [-40, 40]: two roots closer than a cell are caught by the refined maximum below.
  const steps = 160;
  const grid: { phi: number; g: number }[] = [];
  for (let k = 0; k <= steps; k++) {
    const phi = lo + ((hi - lo) * k) / steps;
    grid.push({ phi, g: g(phi) });
  }
  // Both roots can fall between two grid points when they are close (the fall y1 - y2 is near the largest S
  // reachable): add the maximum of g, refined by golden section around the best grid point, to the scan.
  let kMax = 0;
  for (let k = 1; k <= steps; k++) if (grid[k]!.g > grid[kMax]!.g) kMax = k;
  {
    let u = grid[Math.max(kMax - 1, 0)]!.phi;
    let w = grid[Math.min(kMax + 1, steps)]!.phi;
    const ratio = (Math.sqrt(5) - 1) / 2;
    let p = w - ratio * (w - u);
    let q = u + ratio * (w - u);
    let gp = g(p);
    let gq = g(q);
    // 1e-10 in phi is ample: the refined maximum only decides whether two close roots exist.
    for (let it = 0; it < 100 && w - u > 1e-10 * Math.max(1, Math.abs(u)); it++) {
      if (gp >= gq) {
        w = q;
        q = p;
        gq = gp;
        p = w - ratio * (w - u);
        gp = g(p);
      } else {
        u = p;
        p = q;
        gp = gq;
        q = u + ratio * (w - u);
        gq = g(q);
      }
    }
    const phiStar = gp >= gq ? p : q;
    grid.push({ phi: phiStar, g: Math.max(gp, gq) });
    grid.sort((m, n) => m.phi - n.phi);
  }
  const roots: number[] = [];
  for (let k = 1; k < grid.length; k++) {
    const prev = grid[k - 1]!;
    const cur = grid[k]!;
    if (cur.g === 0) roots.push(cur.phi);
    else if (prev.g !== 0 && Math.sign(prev.g) !== Math.sign(cur.g) && cur.phi > prev.phi) {
      roots.push(bracketRoot(g, prev.phi, cur.phi, prev.g, cur.g));
    }
  }
  return roots
    .map((phi) => {
      const a = a0 + scale * Math.exp(phi);
      let b: number;
      try {
        b = bOf(a);
      } catch {
        // A root at the edge of where b(a) resolves in floating point (b underflows): not a usable curve.
        return { a, b: Number.NaN, c: Number.NaN };
      }
      const c = points.reduce((s, p) => s + (p.y - Math.pow(p.x + a, -b)), 0) / points.length;
      return { a, b, c };
    })
    .filter((cv) => Number.isFinite(cv.a) && Number.isFinite(cv.b) && Number.isFinite(cv.c) && cv.b > 0)
    .sort((u, v) => v.a - u.a);
}

// Solves the 3x3 system M d = r in place by Gaussian elimination with partial pivoting; null if singular.
function solve3(M: number[][], r: number[]): number[] | null {
  const A = M.map((row, i) => [...row, r[i]!]);
  for (let col = 0; col < 3; col++) {
    let piv = col;
    for (let row = col + 1; row < 3; row++) if (Math.abs(A[row]![col]!) > Math.abs(A[piv]![col]!)) piv = row;
    if (A[piv]![col] === 0) return null;
    [A[col], A[piv]] = [A[piv]!, A[col]!];
    for (let row = col + 1; row < 3; row++) {
      const f = A[row]![col]! / A[col]![col]!;
      for (let k = col; k < 4; k++) A[row]![k]! -= f * A[col]![k]!;
    }
  }
  const d = [0, 0, 0];
  for (let row = 2; row >= 0; row--) {
    let s = A[row]![3]!;
    for (let k = row + 1; k < 3; k++) s -= A[row]![k]! * d[k]!;
    d[row] = s / A[row]![row]!;
  }
  return d.every(Number.isFinite) ? d : null;
}

/**
 * Least squares for f(x) = (x + a)^(-b) + c: Levenberg–Marquardt (written here, 3 parameters) on
 * a = -min x + e^ta, b = e^tb, c, a parametrisation that keeps every iterate a valid curve. Starts: the
 * best 6 of a grid over (ta, tb) with c projected (for fixed a, b the model is linear in c: c = mean(y - u^-b)),
 * the exact three-point curves when given. Returns the curve with the smallest sum of squares.
 */
function leastSquaresCurve(points: ResponsePoint[], seeds: ResponseCurve[]): ResponseCurve | null {
  const xmin = points[0]!.x;
  const sse = (ta: number, tb: number, c: number): number => {
    const a = -xmin + Math.exp(ta);
    const b = Math.exp(tb);
    let s = 0;
    for (const p of points) {
      const r = Math.pow(p.x + a, -b) + c - p.y;
      s += r * r;
    }
    return Number.isFinite(s) ? s : Infinity;
  };
  const projectC = (ta: number, tb: number): number => {
    const a = -xmin + Math.exp(ta);
    const b = Math.exp(tb);
    return points.reduce((s, p) => s + p.y - Math.pow(p.x + a, -b), 0) / points.length;
  };
  const starts: { ta: number; tb: number; c: number; s: number }[] = [];
  for (let i = 0; i <= 40; i++) {
    const ta = Math.log(xmin) - 8 + (16 * i) / 40;
    for (let j = 0; j <= 30; j++) {
      const tb = -8 + (13 * j) / 30;
      const c = projectC(ta, tb);
      const s = sse(ta, tb, c);
      if (Number.isFinite(s)) starts.push({ ta, tb, c, s });
    }
  }
  starts.sort((p, q) => p.s - q.s);
  const chosen = starts.slice(0, 6);
  for (const seed of seeds) {
    if (seed.a + xmin > 0 && seed.b > 0) {
      const ta = Math.log(seed.a + xmin);
      const tb = Math.log(seed.b);
      chosen.push({ ta, tb, c: seed.c, s: sse(ta, tb, seed.c) });
    }
  }
  let best: { ta: number; tb: number; c: number; s: number } | null = null;
  for (const start of chosen) {
    let { ta, tb, c, s } = start;
    let mu = 1e-3;
    for (let iter = 0; iter < 2000; iter++) {
      const a = -xmin + Math.exp(ta);
      const b = Math.exp(tb);
      const JtJ = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
      const Jtr = [0, 0, 0];
      for (const p of points) {
        const u = p.x + a;
        const ub = Math.pow(u, -b);
        const r = ub + c - p.y;
        const J = [-b * (ub / u) * Math.exp(ta), -Math.log(u) * ub * b, 1];
        for (let m = 0; m < 3; m++) {
          Jtr[m]! += J[m]! * r;
          for (let n = 0; n < 3; n++) JtJ[m]![n]! += J[m]! * J[n]!;
        }
      }
      let improved = false;
      for (let tries = 0; tries < 30; tries++) {
        const M = JtJ.map((row, m) => row.map((v, n) => (m === n ? v + mu * (v || 1e-300) : v)));
        const d = solve3(M, Jtr.map((v) => -v));
        if (d) {
          const nt = [ta + d[0]!, tb + d[1]!, c + d[2]!] as const;
          const ns = sse(nt[0], nt[1], nt[2]);
          if (ns < s) {
            const rel = (s - ns) / Math.max(s, 1e-300);
            ta = nt[0];
            tb = nt[1];
            c = nt[2];
            s = ns;
            mu = Math.max(mu / 3, 1e-15);
            improved = rel > 1e-15 && s > 0;
            break;
          }
        }
        mu *= 4;
      }
      if (!improved) break;
    }
    if (!best || s < best.s) best = { ta, tb, c, s };
  }
  if (!best || !Number.isFinite(best.s)) return null;
  return { a: -xmin + Math.exp(best.ta), b: Math.exp(best.tb), c: best.c };
}

/**
 * Fits f(x) = (x + a)^(-b) + c to normalised responses of one domain (x = multiplier, y = loss / base loss;
 * include the base point (1, 1)). Three distinct multipliers: the exact curve (see `exactCurves` above for why
 * it is well-posed and which of its two roots is returned). More: Levenberg–Marquardt least squares, with
 * residuals. Degenerate responses get a status, a message and no curve; nothing is ever NaN.
 *
 * @example
 * const pts = [1 / 3, 1, 3].map((x) => ({ x, y: Math.pow(x + 2, -1.5) + 0.9 }));
 * fitResponseCurve(pts) // { status: 'exact', curve: { a: 2, b: 1.5, c: 0.9 } (to ~1e-12), ... }
 */
export function fitResponseCurve(input: readonly ResponsePoint[], options: FitOptions = {}): ResponseFit {
  const points = sorted(input);
  if (points.length < 3) throw new RangeError(`fitResponseCurve: need at least 3 points, got ${points.length}`);
  for (const p of points) {
    if (!(Number.isFinite(p.x) && p.x > 0 && Number.isFinite(p.y))) {
      throw new RangeError(`fitResponseCurve: point (${p.x}, ${p.y}) must have a positive finite x and a finite y`);
    }
  }
  for (let i = 1; i < points.length; i++) {
    if (points[i]!.x === points[i - 1]!.x) throw new RangeError(`fitResponseCurve: multiplier ${points[i]!.x} appears twice`);
  }
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const noise = options.noise ?? 0;
  const fall = first.y - last.y;
  if (!(fall > 0)) {
    return degenerate(points, 'not-decreasing',
      `loss at multiplier ${formatSignificant(last.x, 6)} (${formatSignificant(last.y, 6)}) is not below loss at ${formatSignificant(first.x, 6)} (${formatSignificant(first.y, 6)}): more of this domain does not help`);
  }
  if (noise > 0 && fall < 2 * Math.SQRT2 * noise) {
    return degenerate(points, 'noise-dominated',
      `fall ${formatSignificant(fall, 6)} over the multipliers tried is within 2·√2 × noise (${formatSignificant(noise, 6)})`);
  }
  if (points.length === 3) {
    const [p1, p2, p3] = points as [ResponsePoint, ResponsePoint, ResponsePoint];
    const convex = p1.y > p2.y && p2.y > p3.y && (p1.y - p2.y) * (p3.x - p2.x) > (p2.y - p3.y) * (p2.x - p1.x);
    if (!convex) {
      return degenerate(points, 'not-convex',
        `the three points (${points.map((p) => `${formatSignificant(p.x, 6)}: ${formatSignificant(p.y, 6)}`).join(', ')}) do not lie on a convex decreasing curve`);
    }
    const roots = exactCurves(points);
    if (roots.length > 0) {
      const curve = roots[0]!;
      return { status: 'exact', curve, points, ...summarize(points, curve), alternative: roots[1] ?? null,
        message: `exact curve through 3 points${roots.length > 1 ? ' (power-law root; a logarithmic root also fits, see alternative)' : ''}` };
    }
    const curve = leastSquaresCurve(points, []);
    if (!curve) return degenerate(points, 'not-convex', 'no valid curve approaches these points');
    return { status: 'least-squares', curve, points, ...summarize(points, curve), alternative: null,
      message: 'no exact curve passes through these 3 points; best least-squares curve' };
  }
  // More than three points: check the trend first (slope of y on ln x), then fit.
  const lx = points.map((p) => Math.log(p.x));
  const mx = lx.reduce((s, v) => s + v, 0) / lx.length;
  const my = points.reduce((s, p) => s + p.y, 0) / points.length;
  const slope = points.reduce((s, p, i) => s + (lx[i]! - mx) * (p.y - my), 0);
  if (!(slope < 0)) {
    return degenerate(points, 'not-decreasing', `loss does not fall with the multiplier (regression slope on ln x is ${formatSignificant(slope, 6)} ≥ 0)`);
  }
  // Seeds: the exact curves (both roots) through triples of the points, first/middle/last and neighbours.
  const seeds: ResponseCurve[] = [];
  const n = points.length;
  const triples = new Set<string>();
  for (let m = 1; m < n - 1; m++) triples.add(`0,${m},${n - 1}`);
  for (let k = 0; k + 2 < n; k++) triples.add(`${k},${k + 1},${k + 2}`);
  for (const key of triples) {
    const tri = key.split(',').map((v) => points[Number(v)]!);
    const [q1, q2, q3] = tri as [ResponsePoint, ResponsePoint, ResponsePoint];
    if (q1.y > q2.y && q2.y > q3.y && (q1.y - q2.y) * (q3.x - q2.x) > (q2.y - q3.y) * (q2.x - q1.x)) seeds.push(...exactCurves(tri));
  }
  const curve = leastSquaresCurve(points, seeds);
  if (!curve) return degenerate(points, 'not-convex', 'no valid curve approaches these points');
  const summary = summarize(points, curve);
  if (!(summary.effect > 2 * summary.rms)) {
    return { ...degenerate(points, 'noise-dominated',
      `least-squares residuals (rms ${formatSignificant(summary.rms, 6)}) are more than half the fitted fall (${formatSignificant(summary.effect, 6)})`) };
  }
  return { status: 'least-squares', curve, points, ...summary, alternative: null,
    message: `least-squares curve through ${points.length} points, residual rms ${formatSignificant(summary.rms, 6)}` };
}

