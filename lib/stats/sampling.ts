// Random variates and quantiles for the replicate statistics. Every draw comes from a RandomStream
// (lib/data/random.ts), so an interval computed twice from the same inputs is the same to the last bit:
// a resumed pipeline writes byte-identical composition files.
import { RandomStream } from '../data/random.js';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

export { RandomStream };

/**
 * A standard normal variate (Box-Muller; one of the pair is discarded so a draw depends only on the
 * stream's position, never on a cached spare).
 *
 * @example standardNormal(new RandomStream('x')) // e.g. -0.37
 */
export function standardNormal(rng: RandomStream): number {
  let u = rng.next();
  while (u === 0) u = rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A Gamma(shape, 1) variate, shape > 0 (Marsaglia and Tsang 2000; shape < 1 by the boost
 * Gamma(a) = Gamma(a + 1) U^(1/a)).
 *
 * @example gammaVariate(new RandomStream('x'), 2.5) // e.g. 1.9
 */
export function gammaVariate(rng: RandomStream, shape: number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`gammaVariate: shape must be a positive finite number, got ${shape}`);
  if (shape < 1) {
    let u = rng.next();
    while (u === 0) u = rng.next();
    return gammaVariate(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * A chi-square variate with `df` degrees of freedom (df may be fractional).
 * @example chiSquareVariate(new RandomStream('x'), 4) // e.g. 3.1
 */
export function chiSquareVariate(rng: RandomStream, df: number): number {
  return 2 * gammaVariate(rng, df / 2);
}

/**
 * The p-quantile of numbers (linear interpolation between order statistics, R's type 7).
 * @example quantile([1, 2, 3, 4], 0.5) // 2.5
 */
export function quantile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('quantile: no values');
  if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile: p must be in [0, 1], got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * The p-quantile of Student's t distribution with `df` degrees of freedom.
 * @example studentTQuantile(0.95, 2) // 2.92
 */
export function studentTQuantile(p: number, df: number): number {
  return tQuantile(p, df);
}

/** Mean of numbers. @example mean([1, 2, 3]) // 2 */
export function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (n - 1 in the denominator); NaN for fewer than two values. @example sampleSd([1, 2, 3]) // 1 */
export function sampleSd(values: readonly number[]): number {
  if (values.length < 2) return Number.NaN;
  const m = mean(values);
  let s = 0;
  for (const v of values) s += (v - m) * (v - m);
  return Math.sqrt(s / (values.length - 1));
}
