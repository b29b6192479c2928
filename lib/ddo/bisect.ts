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

/**
 * The root of an increasing function with a known derivative, by Newton's method from `start`, kept safe by the
 * bracket its own evaluations build: a step that leaves the bracket (or jumps far while one side is still open)
 * becomes a bisection or a doubling step outward. The same root as bisectRoot to rounding level, in 3-6
 * evaluations from a good start instead of about 60. Used where a root is solved inside another root find (the
 * exact DDO fit), so its cost multiplies.
 *
 * @example
 * newtonRoot((x) => x * x - 2, (x) => 2 * x, 1) // ≈ 1.4142135623730951
 */
export function newtonRoot(fn: (x: number) => number, derivative: (x: number) => number, start: number, maxIterations = 4000): number {
  let lo = -Infinity;
  let hi = Infinity;
  let outward = 0.5;
  let x = start;
  for (let i = 0; i < maxIterations; i++) {
    const gx = fn(x);
    if (Number.isNaN(gx)) throw new RangeError(`newtonRoot: function is NaN at ${x}`);
    // |fn| at rounding level of an O(1) function: x is the root to ~1e-14 (further steps only trade last bits).
    if (Math.abs(gx) <= 1e-14) return x;
    if (gx < 0) lo = x;
    else hi = x;
    if (hi - lo <= 4 * Number.EPSILON * Math.max(1, Math.abs(x))) return lo + (hi - lo) / 2;
    let next = x - gx / derivative(x);
    const bracketed = Number.isFinite(lo) && Number.isFinite(hi);
    if (!Number.isFinite(next) || next <= lo || next >= hi || (!bracketed && Math.abs(next - x) > outward)) {
      if (bracketed) next = lo + (hi - lo) / 2;
      else {
        next = gx < 0 ? x + outward : x - outward;
        outward *= 2;
      }
    }
    if (Math.abs(next - x) <= 2 * Number.EPSILON * Math.max(1, Math.abs(x))) return next;
    x = next;
  }
  throw new RangeError(`newtonRoot: no root found from ${start} (bracket ${lo} .. ${hi})`);
}

/**
 * The root of fn in [a, b], where fn(a) and fn(b) have opposite signs, by the Illinois variant of false
 * position (superlinear, about 8 evaluations to rounding level where bisection needs about 55), with a
 * bisection step whenever an end value is not finite or the interval stops shrinking.
 *
 * @example
 * bracketRoot((x) => x * x - 2, 0, 2) // ≈ 1.4142135623730951
 */
export function bracketRoot(fn: (x: number) => number, a: number, b: number, fa = fn(a), fb = fn(b)): number {
  if (fa === 0) return a;
  if (fb === 0) return b;
  if (!(Math.sign(fa) !== Math.sign(fb))) throw new RangeError(`bracketRoot: no sign change between ${a} and ${b}`);
  let side = 0;
  for (let i = 0; i < 400; i++) {
    const width = Math.abs(b - a);
    if (width <= 4 * Number.EPSILON * Math.max(1, Math.abs(a), Math.abs(b))) break;
    let x = Number.isFinite(fa) && Number.isFinite(fb) ? (a * fb - b * fa) / (fb - fa) : a + (b - a) / 2;
    if (!(x > Math.min(a, b) && x < Math.max(a, b))) x = a + (b - a) / 2;
    const fx = fn(x);
    if (Number.isNaN(fx)) throw new RangeError(`bracketRoot: function is NaN at ${x}`);
    if (fx === 0) return x;
    if (Math.sign(fx) === Math.sign(fb)) {
      b = x;
      fb = fx;
      if (side === -1) fa /= 2;
      side = -1;
    } else {
      a = x;
      fa = fx;
      if (side === 1) fb /= 2;
      side = 1;
    }
    // Guarantee progress: if false position keeps one end, bisect now and then.
    if (i % 8 === 7) {
      const m = a + (b - a) / 2;
      const fm = fn(m);
      if (fm === 0) return m;
      if (Math.sign(fm) === Math.sign(fb)) {
        b = m;
        fb = fm;
      } else {
        a = m;
        fa = fm;
      }
      side = 0;
    }
  }
  return a + (b - a) / 2;
}
