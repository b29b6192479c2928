// Root finding on a monotone function of one variable: bracket expansion, then bisection to the last bit.
// Bisection is slower than Newton but needs no derivative, cannot diverge and ends exactly where doubles
// stop resolving the interval; every solve in lib/ddo and lib/autoscale is cheap enough for it.

/**
 * Finds x with fn(x) = 0 for a function that is negative below the root and positive above it
 * (`increasing`) or the reverse. The bracket [lo, hi] is widened by doubling its width until the signs
 * differ (at most `maxExpansions` times), then halved until the midpoint no longer moves.
 *
 * @example
 * bisectRoot((x) => x * x - 2, 0, 1, 'increasing') // ≈ 1.4142135623730951
 */
export function bisectRoot(
  fn: (x: number) => number,
  lo: number,
  hi: number,
  direction: 'increasing' | 'decreasing',
  maxExpansions = 200,
): number {
  const sign = direction === 'increasing' ? 1 : -1;
  const g = (x: number): number => sign * fn(x);
  let a = lo;
  let b = hi;
  let ga = g(a);
  let gb = g(b);
  for (let i = 0; ga > 0 && i < maxExpansions; i++) {
    const w = b - a;
    b = a;
    gb = ga;
    a -= 2 * w;
    ga = g(a);
  }
  for (let i = 0; gb < 0 && i < maxExpansions; i++) {
    const w = b - a;
    a = b;
    ga = gb;
    b += 2 * w;
    gb = g(b);
  }
  if (!(ga <= 0 && gb >= 0)) {
    throw new RangeError(`bisectRoot: no sign change found between ${a} and ${b}`);
  }
  if (ga === 0) return a;
  if (gb === 0) return b;
  for (let i = 0; i < 2100; i++) {
    const mid = a + (b - a) / 2;
    if (mid <= a || mid >= b) break;
    const gm = g(mid);
    if (Number.isNaN(gm)) throw new RangeError(`bisectRoot: function is NaN at ${mid}`);
    if (gm === 0) return mid;
    if (gm < 0) a = mid;
    else b = mid;
  }
  return a + (b - a) / 2;
}
