// Mixtures as points of the probability simplex: checking that user input is one, projecting onto it, and
// distances between mixtures. Shared by the methods in this folder; pure.

import { formatSignificant } from '../format.js';

// A mixture read from a file with 7 significant digits sums to 1 within ~5e-7 per domain; 1e-6 admits it
// (the same tolerance as lib/composition.ts) and still catches a forgotten normalisation.
export const SIMPLEX_TOLERANCE = 1e-6;

/**
 * Checks a list of domain names: non-empty, no empty or repeated name. `what` names the caller in errors.
 *
 * @example checkDomainNames(['web', 'code'], 'uniformMixture') // ok; ['web', 'web'] throws
 */
export function checkDomainNames(domains: readonly string[], what: string): void {
  if (!Array.isArray(domains) || domains.length === 0) throw new Error(`${what}: no domains given; pass at least one domain name`);
  const seen = new Set<string>();
  for (const d of domains) {
    if (typeof d !== 'string' || d.length === 0) throw new Error(`${what}: domain names must be non-empty strings, got ${JSON.stringify(d)}`);
    if (seen.has(d)) throw new Error(`${what}: domain "${d}" is listed twice; list each domain once`);
    seen.add(d);
  }
}

/**
 * Reads a mixture in the order of `domains` and checks it is on the simplex: exactly those domains, each
 * share finite and >= 0, summing to 1 within SIMPLEX_TOLERANCE. The result is renormalised to sum to 1
 * exactly. `what` names the input in errors (e.g. "regmixOptimum: sample 3").
 *
 * @example mixtureVector({ a: 0.25, b: 0.75 }, ['a', 'b'], 'x') // [0.25, 0.75]
 */
export function mixtureVector(weights: Record<string, number>, domains: readonly string[], what: string): number[] {
  if (weights === null || typeof weights !== 'object') throw new Error(`${what}: weights must be an object {domain: share}, got ${JSON.stringify(weights)}`);
  const known = new Set(domains);
  for (const key of Object.keys(weights)) {
    if (!known.has(key)) throw new Error(`${what}: unknown domain "${key}" (expected ${domains.join(', ')}); give every mixture the same domains`);
  }
  const v = domains.map((d) => {
    if (!(d in weights)) throw new Error(`${what}: domain "${d}" is missing; give every mixture a share for every domain (0 if unused)`);
    const w = weights[d];
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new Error(`${what}: the share of "${d}" must be a finite number >= 0, got ${w}`);
    return w;
  });
  const sum = v.reduce((s, x) => s + x, 0);
  if (!(Math.abs(sum - 1) <= SIMPLEX_TOLERANCE)) {
    throw new Error(`${what}: shares must sum to 1, they sum to ${formatSignificant(sum, 7)}; divide each share by their sum`);
  }
  return v.map((x) => x / sum);
}

/** A vector as a record over `domains`. @example toRecord(['a', 'b'], [0.5, 0.5]) // { a: 0.5, b: 0.5 } */
export function toRecord(domains: readonly string[], v: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  domains.forEach((d, i) => (out[d] = v[i]!));
  return out;
}

/**
 * The Euclidean projection of v onto the simplex {x >= 0, sum x = 1} (the sort-based algorithm of
 * Held, Wolfe and Crowder 1974; Duchi et al. 2008).
 *
 * @example projectOntoSimplex([0.8, 0.6, -0.2]) // [0.6, 0.4, 0]
 */
export function projectOntoSimplex(v: readonly number[]): number[] {
  const sorted = [...v].sort((a, b) => b - a);
  let cumulative = 0;
  let theta = 0;
  for (let k = 0; k < sorted.length; k++) {
    cumulative += sorted[k]!;
    const t = (cumulative - 1) / (k + 1);
    if (sorted[k]! - t > 0) theta = t;
  }
  return v.map((x) => Math.max(x - theta, 0));
}

/** sum |a_i - b_i|: 0 for equal mixtures, 2 for disjoint ones. @example l1Distance([1, 0], [0, 1]) // 2 */
export function l1Distance(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s;
}

/** The smallest L1 distance from x to any of the points. @example nearestDistance([1, 0], [[0, 1], [0.5, 0.5]]) // 1 */
export function nearestDistance(x: readonly number[], points: readonly (readonly number[])[]): number {
  let best = Infinity;
  for (const p of points) best = Math.min(best, l1Distance(x, p));
  return best;
}

/** The component-wise mean of mixtures (itself a mixture). @example meanMixture([[1, 0], [0, 1]]) // [0.5, 0.5] */
export function meanMixture(points: readonly (readonly number[])[]): number[] {
  const mean = new Array<number>(points[0]!.length).fill(0);
  for (const p of points) p.forEach((x, i) => (mean[i]! += x / points.length));
  return mean;
}
