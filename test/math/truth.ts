// Synthetic truths for the mathematics tests: a seeded random source, the power-law loss model with its exact
// optimum, and the separable response-curve model DDO's form can represent exactly. Written independently of
// lib/ (its own root finder), so a test compares two implementations, not one with itself.

/** Mulberry32: a small seeded generator, enough for test instances. */
export function seededRandom(seed: number): { uniform: (lo?: number, hi?: number) => number; normal: () => number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform: (lo = 0, hi = 1) => lo + (hi - lo) * next(),
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}

/** Root of an increasing function by plain bisection on [lo, hi] (200 halvings). */
export function increasingRoot(fn: (x: number) => number, lo: number, hi: number): number {
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (fn(mid) < 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Optimum of L(N) = sum_i beta_i N_i^(-gamma_i) at total `total`, optionally with N_i <= cap_i:
 * beta_i gamma_i N_i^(-gamma_i-1) = lambda, i.e. ln N_i = (ln(beta_i gamma_i) + t)/(1 + gamma_i), t = -ln lambda.
 */
export function powerLawOptimum(beta: number[], gamma: number[], total: number, caps: number[] = []): { tokens: number[]; t: number } {
  const at = (t: number): number[] =>
    beta.map((b, i) => Math.min(Math.exp((Math.log(b * gamma[i]!) + t) / (1 + gamma[i]!)), caps[i] ?? Infinity));
  const t = increasingRoot((t) => at(t).reduce((s, v) => s + v, 0) - total, -2000, 2000);
  return { tokens: at(t), t };
}

/** A domain of the separable response model: normalised loss contribution (x + a)^(-b) + e. */
export interface TruthCurve {
  a: number;
  b: number;
}

/**
 * Optimum of sum_i (x_i + a_i)^(-b_i) s.t. sum_i x_i n0_i = total, lo <= x_i <= hi, by bisection on lambda in
 * linear space of ln lambda written here independently of lib/ddo/solve.ts.
 */
export function separableOptimum(curves: TruthCurve[], n0: number[], total: number, lo: number[], hi: number[]): number[] {
  const xOf = (logLambda: number): number[] =>
    curves.map((c, i) => {
      const x = Math.pow(Math.exp(logLambda) * n0[i]! / c.b, -1 / (c.b + 1)) - c.a;
      return Math.min(Math.max(x, lo[i]!), hi[i]!);
    });
  const logLambda = increasingRoot((l) => total - xOf(l).reduce((s, x, i) => s + x * n0[i]!, 0), -700, 700);
  return xOf(logLambda);
}
