// The DDO solve: minimise sum_i f_i(x_i) subject to sum_i x_i N0_i = N and lo_i <= x_i <= hi_i, where
// f_i(x) = (x + a_i)^(-b_i) + c_i with b_i > 0 (strictly convex and decreasing for x > -a_i).
//
// KKT: at the optimum there is one lambda > 0 with f_i'(x_i) = -lambda N0_i for every domain strictly inside its
// bounds, i.e. b_i (x_i + a_i)^(-b_i-1) = lambda N0_i, so
//     x_i(lambda) = (lambda N0_i / b_i)^(-1/(b_i+1)) - a_i, clipped to [lo_i, hi_i].
// Each x_i(lambda) is non-increasing in lambda, hence so is the budget sum_i N0_i x_i(lambda); bisection in
// ln lambda finds the lambda that meets the budget to the last bit. The problem is convex, so this KKT point is
// the global minimum. Domains without a usable curve are held at a fixed multiplier and take no part.

import { bisectRoot } from './bisect.js';
import type { ResponseCurve } from './fit.js';
import { formatSignificant } from '../format.js';

export interface SolveDomain {
  domain: string;
  /** Base quantity N0_i (tokens, > 0). */
  baseTokens: number;
  /** The response curve, or null to hold the domain at `fixedMultiplier`. */
  curve: ResponseCurve | null;
  /** Bounds on the multiplier x_i (lower >= 0, upper may be Infinity). */
  lower: number;
  upper: number;
  /** Multiplier for a domain without a curve (clipped to its bounds); default 1. */
  fixedMultiplier?: number;
}

export type ActiveBound = 'lower' | 'upper' | 'fixed' | null;

export interface SolveResult {
  /** Multipliers x_i, in the input order. */
  multipliers: number[];
  /** Token quantities N*_i = x_i N0_i. */
  tokens: number[];
  /** Which bound holds each x_i ('fixed' for domains held without a curve), null when free. */
  active: ActiveBound[];
  /** The KKT multiplier lambda (marginal loss per token); null when no domain is free to move. */
  lambda: number | null;
  /** sum_i N*_i - N (rounding level, relative ~1e-16). */
  budgetResidual: number;
  /** sum_i f_i(x_i) over the domains with a curve. */
  objective: number;
}

function xOf(d: SolveDomain, curve: ResponseCurve, logLambda: number): { x: number; active: ActiveBound } {
  // ln(x + a) = -(ln lambda + ln N0 - ln b) / (b + 1)
  const x = Math.exp(-(logLambda + Math.log(d.baseTokens) - Math.log(curve.b)) / (curve.b + 1)) - curve.a;
  if (x <= d.lower) return { x: d.lower, active: 'lower' };
  if (x >= d.upper) return { x: d.upper, active: 'upper' };
  return { x, active: null };
}

/**
 * Solves the DDO allocation exactly (see the file comment for the KKT derivation). Throws a RangeError that
 * names the numbers when the budget cannot be met within the bounds.
 *
 * @example
 * solveComposition([
 *   { domain: 'web',  baseTokens: 50, curve: { a: 1, b: 1, c: 0 }, lower: 0, upper: 10 },
 *   { domain: 'code', baseTokens: 50, curve: { a: 1, b: 2, c: 0 }, lower: 0, upper: 10 },
 * ], 100)
 * // { multipliers: [x_web, x_code] with 50 x_web + 50 x_code = 100 and f'_web(x_web) = f'_code(x_code), ... }
 */
export function solveComposition(domains: readonly SolveDomain[], total: number): SolveResult {
  if (!(Number.isFinite(total) && total > 0)) throw new RangeError(`solveComposition: total must be a positive number, got ${total}`);
  for (const d of domains) {
    if (!(Number.isFinite(d.baseTokens) && d.baseTokens > 0)) {
      throw new RangeError(`solveComposition: domain "${d.domain}" has base quantity ${d.baseTokens}; it must be positive`);
    }
    if (!(d.lower >= 0 && d.upper >= d.lower) || Number.isNaN(d.upper)) {
      throw new RangeError(`solveComposition: domain "${d.domain}" has bounds [${d.lower}, ${d.upper}]; need 0 <= lower <= upper`);
    }
    if (d.curve && !(d.curve.b > 0 && Number.isFinite(d.curve.a) && Number.isFinite(d.curve.b))) {
      throw new RangeError(`solveComposition: domain "${d.domain}" has an invalid curve (b must be > 0)`);
    }
  }
  const multipliers = new Array<number>(domains.length).fill(0);
  const active = new Array<ActiveBound>(domains.length).fill(null);
  let remaining = total;
  let lowSum = 0;
  let highSum = 0;
  const free: number[] = [];
  domains.forEach((d, i) => {
    if (d.curve) {
      free.push(i);
      // A curve is only defined for x > -a: that is a lower bound too (open, never reached by x(lambda)).
      lowSum += Math.max(d.lower, -d.curve.a) * d.baseTokens;
      highSum += d.upper * d.baseTokens;
    } else {
      const x = Math.min(Math.max(d.fixedMultiplier ?? 1, d.lower), d.upper);
      multipliers[i] = x;
      active[i] = 'fixed';
      remaining -= x * d.baseTokens;
    }
  });
  const fixedNames = domains.filter((d) => !d.curve).map((d) => d.domain);
  const held = fixedNames.length > 0 ? ` after the domains held fixed (${fixedNames.join(', ')}) take ${formatSignificant(total - remaining, 8)}` : '';
  let lambda: number | null = null;
  if (free.length === 0) {
    if (Math.abs(remaining) > 1e-9 * total) {
      throw new RangeError(`solveComposition: no domain can move, and the fixed quantities sum to ${formatSignificant(total - remaining, 8)}, not the budget ${formatSignificant(total, 8)}`);
    }
  } else {
    if (!(lowSum <= remaining * (1 + 1e-12) && remaining <= highSum * (1 + 1e-12))) {
      throw new RangeError(`solveComposition: budget ${formatSignificant(remaining, 8)}${held} is outside what the bounds allow, ` +
        `[${formatSignificant(lowSum, 8)}, ${formatSignificant(highSum, 8)}] (sum of lower x N0, sum of upper x N0); widen the multiplier bounds or change the budget`);
    }
    const budget = (logLambda: number): number => {
      let s = 0;
      for (const i of free) s += xOf(domains[i]!, domains[i]!.curve!, logLambda).x * domains[i]!.baseTokens;
      return s - remaining;
    };
    // Bracket: the ln lambda at which each domain sits exactly at its lower/upper bound.
    const edges: number[] = [];
    for (const i of free) {
      const d = domains[i]!;
      const c = d.curve!;
      for (const x of [d.lower, d.upper]) {
        const u = x + c.a;
        if (u > 0 && Number.isFinite(u)) edges.push(Math.log(c.b) - (c.b + 1) * Math.log(u) - Math.log(d.baseTokens));
      }
    }
    const lo = edges.length ? Math.min(...edges) - 1 : -1;
    const hi = edges.length ? Math.max(...edges) + 1 : 1;
    const logLambda = bisectRoot(budget, lo, Math.max(hi, lo + 1), 'decreasing', 2000);
    lambda = Math.exp(logLambda);
    for (const i of free) {
      const r = xOf(domains[i]!, domains[i]!.curve!, logLambda);
      multipliers[i] = r.x;
      active[i] = r.active;
    }
  }
  const tokens = multipliers.map((x, i) => x * domains[i]!.baseTokens);
  const objective = domains.reduce((s, d, i) => (d.curve ? s + Math.pow(multipliers[i]! + d.curve.a, -d.curve.b) + d.curve.c : s), 0);
  return { multipliers, tokens, active, lambda, budgetResidual: tokens.reduce((s, v) => s + v, 0) - total, objective };
}

