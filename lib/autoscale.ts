// AutoScale: from DDO-optimal compositions at two or more small scales, predict the optimal composition at a
// target scale.
//
// Theory (DESIGN.md). If the loss behaves like sum_i beta_i N_i^(-gamma_i), the optimum at any total satisfies
// beta_i gamma_i N_i^(-gamma_i-1) = lambda, so ln N*_i = c_i + t / (1 + gamma_i) with t = -ln lambda shared by all
// domains at a given scale. The matrix Y_ik = ln N*_i at scale k is therefore "row offset + rank one":
// Y_ik = alpha_i + beta_i s_k, with one coordinate s_k per scale (any affine function of t_k).
//
// Fit. We minimise sum_ik (Y_ik - alpha_i - beta_i s_k)^2 jointly over alpha, beta and s. For fixed beta and s the
// best alpha_i is the row mean, so the problem is the best rank-one approximation of the row-centred matrix Z,
// whose solution is Z's leading singular pair (Eckart–Young): s is the leading right singular vector, then
// (alpha_i, beta_i) are the per-domain least-squares line on s. The coordinate s is defined up to an affine
// change, so we fix the gauge s = 0 at the smallest scale and s = 1 at the largest. With two scales this is
// exactly the continuous geometric rule N*_i(s) = N(1)*_i r_i^s, r_i = N(2)*_i / N(1)*_i; on the power-law loss
// model it is exact for any number of scales.
//
// Prediction. For a target total T, solve sum_i exp(alpha_i + beta_i s) = T for s (convex in s; we take the
// root on its increasing branch) and read off N*_i(s).
//
// Supply. A domain can supply at most cap_i tokens (unique tokens times allowed epochs). Domains predicted past
// their cap are fixed at it and s is solved again over the others for the remaining budget, until no new domain
// is capped. Under the loss model this is the exact constrained optimum: free domains still share one lambda.

import { bisectRoot } from './ddo/bisect.js';
import type { Composition } from './composition.js';

/** Optimal composition at one scale: total and tokens per domain (weights are derived). */
export type ScaleOptimum = Pick<Composition, 'scale' | 'tokens'>;

export interface ScaleTrajectory {
  domains: string[];
  /** Totals of the input scales, ascending (the order of every per-scale array below). */
  totals: number[];
  /** Scale coordinate s_k (0 at the smallest scale, 1 at the largest). */
  s: number[];
  /** ln N*_i = alpha_i + beta_i s. */
  alpha: number[];
  beta: number[];
  /** residuals[i][k] = ln N*_ik - (alpha_i + beta_i s_k), i.e. relative error of the fit (log units). */
  residuals: number[][];
  /** Root mean square of all residuals (log units; 0 for two scales). */
  rms: number;
}

export interface CompositionAtTotal {
  scale: number;
  tokens: Record<string, number>;
  weights: Record<string, number>;
  /** The scale coordinate solved for (s of the uncapped domains). */
  s: number;
  /** Domains fixed at their supply cap, in the order they were capped. */
  capped: string[];
}

export interface LeaveOneScaleOut {
  /** Total of the held-out scale. */
  scale: number;
  /** Predicted minus observed tokens, relative to observed, per domain. */
  relativeError: Record<string, number>;
  maxRelativeError: number;
  /** Largest absolute weight error (weights sum to 1). */
  maxWeightError: number;
}

export interface CompositionPrediction extends CompositionAtTotal {
  trajectory: ScaleTrajectory;
  /** One entry per input scale when three or more scales are given (fit on the others); null otherwise. */
  leaveOneScaleOut: LeaveOneScaleOut[] | null;
  diagnostics: string[];
}

export interface PredictOptions {
  /** Maximum tokens per domain (unique tokens × allowed epochs, see supplyCaps). Domains not named are uncapped. */
  supply?: Record<string, number>;
}

function checkScales(scales: readonly ScaleOptimum[]): { domains: string[]; sorted: ScaleOptimum[] } {
  if (scales.length < 2) throw new RangeError(`AutoScale needs optimal compositions at two or more scales, got ${scales.length}`);
  const domains = Object.keys(scales[0]!.tokens);
  if (domains.length === 0) throw new RangeError('AutoScale: the compositions have no domains');
  scales.forEach((sc, k) => {
    const names = Object.keys(sc.tokens);
    const missing = domains.filter((d) => !(d in sc.tokens));
    const extra = names.filter((d) => !domains.includes(d));
    if (missing.length || extra.length) {
      throw new RangeError(`AutoScale: scale #${k + 1} (total ${sc.scale}) has different domains from scale #1` +
        (missing.length ? `; missing: ${missing.join(', ')}` : '') + (extra.length ? `; unknown: ${extra.join(', ')}` : ''));
    }
    for (const d of domains) {
      const v = sc.tokens[d]!;
      if (!(Number.isFinite(v) && v > 0)) {
        throw new RangeError(`AutoScale: domain "${d}" has ${v} tokens at scale #${k + 1} (total ${sc.scale}); ` +
          'AutoScale fits log quantities, so every domain needs a positive quantity at every scale');
      }
    }
  });
  const total = (sc: ScaleOptimum): number => domains.reduce((s, d) => s + sc.tokens[d]!, 0);
  const sorted = [...scales].sort((p, q) => total(p) - total(q));
  for (let k = 1; k < sorted.length; k++) {
    if (total(sorted[k]!) === total(sorted[k - 1]!)) {
      throw new RangeError(`AutoScale: two scales have the same total ${total(sorted[k]!)}; give compositions at different scales`);
    }
  }
  return { domains, sorted };
}

// Leading eigenvector of a small symmetric matrix by cyclic Jacobi rotations.
function leadingEigenvector(A: number[][]): number[] {
  const n = A.length;
  const M = A.map((r) => [...r]);
  const V: number[][] = A.map((_, i) => A.map((__, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += M[p]![q]! ** 2;
    if (off < 1e-300) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = M[p]![q]!;
        if (apq === 0) continue;
        const theta = (M[q]![q]! - M[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = M[k]![p]!;
          const mkq = M[k]![q]!;
          M[k]![p] = c * mkp - s * mkq;
          M[k]![q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = M[p]![k]!;
          const mqk = M[q]![k]!;
          M[p]![k] = c * mpk - s * mqk;
          M[q]![k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k]![p]!;
          const vkq = V[k]![q]!;
          V[k]![p] = c * vkp - s * vkq;
          V[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < n; i++) if (M[i]![i]! > M[best]![best]!) best = i;
  return V.map((row) => row[best]!);
}

/**
 * Fits ln N*_i(s_k) = alpha_i + beta_i s_k jointly over domains and scales (see the file comment: the rank-one
 * least-squares fit of the log quantities, gauge s = 0 at the smallest scale and 1 at the largest).
 *
 * @example
 * const t = fitScaleTrajectory([
 *   { scale: 100, tokens: { web: 60, wiki: 40 } },
 *   { scale: 300, tokens: { web: 200, wiki: 100 } },
 * ]);
 * t.s     // [0, 1]
 * t.beta  // [ln(200/60), ln(100/40)]
 */
export function fitScaleTrajectory(scales: readonly ScaleOptimum[]): ScaleTrajectory {
  const { domains, sorted } = checkScales(scales);
  const K = sorted.length;
  const Y = domains.map((d) => sorted.map((sc) => Math.log(sc.tokens[d]!)));
  const totals = sorted.map((sc) => domains.reduce((s, d) => s + sc.tokens[d]!, 0));
  let s: number[];
  if (K === 2) {
    s = [0, 1];
  } else {
    const Z = Y.map((row) => {
      const mean = row.reduce((a, v) => a + v, 0) / K;
      return row.map((v) => v - mean);
    });
    const G = Array.from({ length: K }, (_, p) => Array.from({ length: K }, (__, q) => Z.reduce((a, row) => a + row[p]! * row[q]!, 0)));
    const v = leadingEigenvector(G);
    const span = v[K - 1]! - v[0]!;
    if (!(Math.abs(span) > 1e-12 * Math.max(...v.map(Math.abs)))) {
      throw new RangeError('AutoScale: the smallest and largest scales have the same fitted scale coordinate; the optimal compositions do not move with scale');
    }
    s = v.map((x) => (x - v[0]!) / span);
    s[0] = 0;
    s[K - 1] = 1;
  }
  const sMean = s.reduce((a, v) => a + v, 0) / K;
  const sVar = s.reduce((a, v) => a + (v - sMean) ** 2, 0);
  const alpha: number[] = [];
  const beta: number[] = [];
  const residuals: number[][] = [];
  for (const row of Y) {
    let a: number;
    let b: number;
    if (K === 2) {
      a = row[0]!;
      b = row[1]! - row[0]!;
    } else {
      const yMean = row.reduce((acc, v) => acc + v, 0) / K;
      b = row.reduce((acc, v, k) => acc + (s[k]! - sMean) * (v - yMean), 0) / sVar;
      a = yMean - b * sMean;
    }
    alpha.push(a);
    beta.push(b);
    residuals.push(row.map((v, k) => v - (a + b * s[k]!)));
  }
  const all = residuals.flat();
  const rms = Math.sqrt(all.reduce((acc, r) => acc + r * r, 0) / all.length);
  return { domains, totals, s, alpha, beta, residuals, rms };
}

/**
 * Reads the trajectory at a target total: solves sum_i exp(alpha_i + beta_i s) = target for s (root on the
 * increasing branch of this convex function), then applies supply caps by re-solving (see file comment).
 *
 * @example
 * compositionAtTotal(fitScaleTrajectory([c100, c300]), 1000).tokens // { web: ..., wiki: ... } summing to 1000
 */
export function compositionAtTotal(trajectory: ScaleTrajectory, target: number, supply: Record<string, number> = {}): CompositionAtTotal {
  if (!(Number.isFinite(target) && target > 0)) throw new RangeError(`AutoScale: target total must be a positive number, got ${target}`);
  const { domains, alpha, beta } = trajectory;
  for (const [d, cap] of Object.entries(supply)) {
    if (!domains.includes(d)) throw new RangeError(`AutoScale: supply names unknown domain "${d}" (domains: ${domains.join(', ')})`);
    if (!(cap >= 0)) throw new RangeError(`AutoScale: supply of "${d}" is ${cap}; it must be >= 0`);
  }
  const capTotal = domains.reduce((acc, d) => acc + (supply[d] ?? Infinity), 0);
  if (capTotal < target) {
    throw new RangeError(`AutoScale: target ${target} tokens exceeds the total supply ${capTotal} of all domains; add data, allow more epochs or lower the target`);
  }
  const capped: string[] = [];
  const tokens = new Array<number>(domains.length).fill(0);
  let s = 0;
  for (;;) {
    const free = domains.map((_, i) => i).filter((i) => !capped.includes(domains[i]!));
    const rest = target - capped.reduce((acc, d) => acc + supply[d]!, 0);
    s = solveScaleCoordinate(free.map((i) => alpha[i]!), free.map((i) => beta[i]!), rest, free.map((i) => domains[i]!));
    let newly = false;
    for (const i of free) {
      const v = Math.exp(alpha[i]! + beta[i]! * s);
      const cap = supply[domains[i]!];
      if (cap !== undefined && v > cap) {
        capped.push(domains[i]!);
        newly = true;
      }
    }
    if (!newly) {
      for (const i of free) tokens[i] = Math.exp(alpha[i]! + beta[i]! * s);
      for (const d of capped) tokens[domains.indexOf(d)] = supply[d]!;
      break;
    }
  }
  const sum = tokens.reduce((acc, v) => acc + v, 0);
  return {
    scale: target,
    tokens: Object.fromEntries(domains.map((d, i) => [d, tokens[i]!])),
    weights: Object.fromEntries(domains.map((d, i) => [d, tokens[i]! / sum])),
    s,
    capped,
  };
}

function solveScaleCoordinate(alpha: number[], beta: number[], target: number, names: string[]): number {
  if (alpha.length === 0) throw new RangeError('AutoScale: every domain is capped; no domain is left to take the remaining budget');
  if (!(target > 0)) throw new RangeError(`AutoScale: after capping, ${target} tokens remain for ${names.join(', ')}; lower the target`);
  // ln sum_i exp(alpha_i + beta_i s), computed stably; convex in s.
  const logSum = (s: number): number => {
    const e = alpha.map((a, i) => a + beta[i]! * s);
    const m = Math.max(...e);
    return m + Math.log(e.reduce((acc, v) => acc + Math.exp(v - m), 0));
  };
  const slope = (s: number): number => {
    const e = alpha.map((a, i) => a + beta[i]! * s);
    const m = Math.max(...e);
    return e.reduce((acc, v, i) => acc + beta[i]! * Math.exp(v - m), 0);
  };
  if (!beta.some((b) => b > 0)) {
    throw new RangeError(`AutoScale: no domain among ${names.join(', ')} grows with scale (every beta <= 0); cannot extrapolate to a larger total`);
  }
  // Lowest point of the convex log-sum: if some beta < 0 the sum has a minimum; solve to its right.
  let sMin = -Infinity;
  if (beta.some((b) => b < 0)) sMin = bisectRoot(slope, -1, 1, 'increasing');
  const logT = Math.log(target);
  if (Number.isFinite(sMin) && logSum(sMin) > logT) {
    throw new RangeError(`AutoScale: target ${target} is below the smallest total the trajectory reaches (${Math.exp(logSum(sMin))})`);
  }
  const start = Number.isFinite(sMin) ? sMin : -1;
  return bisectRoot((s) => logSum(s) - logT, start, start + 2, 'increasing');
}

/**
 * The discrete geometric rule N(k+1)*_i = N(k)*_i (N(2)*_i / N(1)*_i): the composition `steps` scales past the
 * second one (steps = 1 gives N(3)*). Its total is whatever the rule implies.
 *
 * @example
 * geometricNextScale({ scale: 100, tokens: { a: 50, b: 50 } }, { scale: 300, tokens: { a: 200, b: 100 } })
 * // { scale: 1000, tokens: { a: 800, b: 200 } }
 */
export function geometricNextScale(first: ScaleOptimum, second: ScaleOptimum, steps = 1): ScaleOptimum {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`geometricNextScale: steps must be a positive integer, got ${steps}`);
  const { domains } = checkScales([first, second]);
  const tokens = Object.fromEntries(domains.map((d) => [d, second.tokens[d]! * Math.pow(second.tokens[d]! / first.tokens[d]!, steps)]));
  return { scale: Object.values(tokens).reduce((a, v) => a + v, 0), tokens };
}

/**
 * Supply caps from unique tokens per domain and the number of passes allowed over each.
 * @example supplyCaps({ wiki: 3e9, web: 1e12 }, 4) // { wiki: 1.2e10, web: 4e12 }
 */
export function supplyCaps(uniqueTokens: Record<string, number>, epochs = 1): Record<string, number> {
  if (!(epochs > 0)) throw new RangeError(`supplyCaps: epochs must be positive, got ${epochs}`);
  return Object.fromEntries(Object.entries(uniqueTokens).map(([d, n]) => {
    if (!(Number.isFinite(n) && n >= 0)) throw new RangeError(`supplyCaps: unique tokens of "${d}" is ${n}; it must be >= 0`);
    return [d, n * epochs];
  }));
}

/**
 * Predicts the optimal composition at `target` tokens from optimal compositions at two or more smaller
 * scales: fits the trajectory, reads it at the target with supply caps, and (three or more scales) reports the
 * leave-one-scale-out error of predicting each scale from the others.
 *
 * @example
 * predictComposition([opt1, opt2], 1e10, { supply: supplyCaps({ wiki: 2e9 }, 4) })
 * // { scale: 1e10, tokens: {...}, weights: {...}, s: 2.1, capped: [], trajectory: {...}, leaveOneScaleOut: null, diagnostics: [] }
 */
export function predictComposition(scales: readonly ScaleOptimum[], target: number, options: PredictOptions = {}): CompositionPrediction {
  const trajectory = fitScaleTrajectory(scales);
  const at = compositionAtTotal(trajectory, target, options.supply ?? {});
  const diagnostics: string[] = [];
  const maxTotal = trajectory.totals[trajectory.totals.length - 1]!;
  if (target < trajectory.totals[0]! || target > maxTotal) {
    // The totals are sums of fitted token counts (99999.99999999965 for 100k): 6 significant digits say it.
    const total = (x: number): number => Number(x.toPrecision(6));
    diagnostics.push(`target ${target} is outside the scales fitted [${total(trajectory.totals[0]!)}, ${total(maxTotal)}]: extrapolated (s = ${total(at.s)})`);
  }
  for (const d of at.capped) diagnostics.push(`${d}: capped at its supply ${options.supply![d]} tokens; the rest was redistributed by re-solving`);
  trajectory.domains.forEach((d, i) => {
    if (trajectory.beta[i]! < 0) diagnostics.push(`${d}: its optimal quantity shrinks with scale (beta = ${Number(trajectory.beta[i]!.toPrecision(4))})`);
  });
  let leaveOneScaleOut: LeaveOneScaleOut[] | null = null;
  if (scales.length >= 3) {
    const sorted = [...scales].sort((p, q) => sumTokens(p) - sumTokens(q));
    leaveOneScaleOut = sorted.map((held, k) => {
      const others = sorted.filter((_, j) => j !== k);
      const total = sumTokens(held);
      const pred = compositionAtTotal(fitScaleTrajectory(others), total).tokens;
      const relativeError = Object.fromEntries(trajectory.domains.map((d) => [d, (pred[d]! - held.tokens[d]!) / held.tokens[d]!]));
      const maxRelativeError = Math.max(...Object.values(relativeError).map(Math.abs));
      const maxWeightError = Math.max(...trajectory.domains.map((d) => Math.abs(pred[d]! / total - held.tokens[d]! / total)));
      return { scale: total, relativeError, maxRelativeError, maxWeightError };
    });
  }
  return { ...at, trajectory, leaveOneScaleOut, diagnostics };
}

function sumTokens(sc: ScaleOptimum): number {
  return Object.values(sc.tokens).reduce((a, v) => a + v, 0);
}
