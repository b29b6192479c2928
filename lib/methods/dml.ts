// Data Mixing Laws (Ye et al. 2024, "Data Mixing Laws: Optimizing Data Mixtures by Predicting Language Modeling
// Performance"): the held-out loss of evaluation domain i after training on mixture r is
//   L_i(r) = c_i + k_i exp(sum_j t_ij r_j),
// fitted per domain on proxy runs at random mixtures; the mixture minimising the weighted sum of the fitted
// laws is the answer.
//
// Identifiability: on the simplex (sum_j r_j = 1) a common shift of the t_ij can be traded for k_i
// (k e^s exp((t - s)·r) = k exp(t·r)), so we fit b_ij = log k_i + t_ij, which is identified, and report the
// representative with sum_j t_ij = 0, i.e. k_i = exp(mean_j b_ij), t_ij = b_ij - mean_j b_ij. c_i is kept in
// [0, min observed loss): a loss floor cannot be negative or above a loss that was measured.
//
// Fit: for a fixed c the law is linear in logs, log(L - c) = b·r, so a scan over c (least squares in logs for
// b at each c, the error measured on the loss itself) gives the start, and Levenberg-Marquardt on (c, b) finishes.
// Solve: sum_i e_i L_i(r) is convex in r (each term is k_i > 0 times the exponential of a linear function), so
// the best of random candidates refined by projected gradient descent with backtracking reaches its minimum.

import { RandomStream } from '../data/random.js';
import { formatSignificant } from '../format.js';
import { capIfLimited } from './baselines.js';
import { choleskyFactor, choleskySolve } from './cholesky.js';
import { drawDirichlet, priorVector } from './random-mixtures.js';
import { readSamples, runCloud, type MixtureSample } from './samples.js';
import { nearestDistance, projectOntoSimplex, toRecord } from './simplex.js';
import type { MethodResult, SupplyLimit } from './types.js';

export interface DmlOptions {
  /** Seeds the candidate draws of the search. */
  seed: number;
  /** Cap the answer to the data supply (capToSupply). */
  limit?: SupplyLimit;
  /** Random candidates the refinement starts from the best of; default 10 000. */
  candidates?: number;
  /** Centre of the candidate draws; default the mean of the runs' mixtures. */
  prior?: Record<string, number>;
  /** Dirichlet concentration of the candidate draws; default the one matching the runs' spread. */
  concentration?: number;
}

/** One evaluation domain's fitted law L(r) = c + k exp(sum_j t_j r_j), with sum_j t_j = 0. */
export interface DomainLaw {
  c: number;
  k: number;
  /** Exponent per training domain. */
  t: Record<string, number>;
  /** Root mean square of loss - law over the runs. */
  rmse: number;
  /** 1 - SSE / SST of the loss over the runs (1 when the loss is constant and fitted exactly). */
  r2: number;
}

export interface DmlFit {
  perDomain: Record<string, DomainLaw>;
  n: number;
  /** The fitted objective sum_i e_i L_i at the returned (capped) mixture, e normalised to sum 1. */
  predicted: number;
}

// Below this R² the notes call a domain's law poor: a law with D + 1 parameters that holds fits ~4D runs with
// R² near 1 (measured 0.999+ on laws with 0.2 % noise); 0.9 leaves room for noise without hiding a misfit.
const POOR_R2 = 0.9;

interface LawFit {
  c: number;
  b: number[];
  sse: number;
}

function lawSse(c: number, b: readonly number[], points: readonly number[][], losses: readonly number[]): number {
  let sse = 0;
  for (let k = 0; k < points.length; k++) {
    const e = losses[k]! - c - Math.exp(dot(b, points[k]!));
    sse += e * e;
  }
  return sse;
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

// Least squares for b in log(L - c) = b·r over the runs (no intercept: the rows sum to 1), with a tiny ridge
// for a domain that no run varied.
function logLinearStart(c: number, points: readonly number[][], losses: readonly number[]): number[] | null {
  const D = points[0]!.length;
  const A = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  const rhs = new Array<number>(D).fill(0);
  for (let k = 0; k < points.length; k++) {
    const p = points[k]!;
    const z = Math.log(losses[k]! - c);
    for (let i = 0; i < D; i++) {
      rhs[i]! += p[i]! * z;
      for (let j = 0; j < D; j++) A[i]![j]! += p[i]! * p[j]!;
    }
  }
  const trace = A.reduce((s, row, i) => s + row[i]!, 0);
  for (let i = 0; i < D; i++) A[i]![i]! += 1e-10 * trace + 1e-300;
  const L = choleskyFactor(A);
  return L === null ? null : choleskySolve(L, rhs);
}

function fitLaw(points: readonly number[][], losses: readonly number[]): LawFit {
  const D = points[0]!.length;
  const minLoss = Math.min(...losses);
  const cMax = minLoss * (1 - 1e-9);
  let best: LawFit | null = null;
  // c from just below the smallest loss down to 0, geometric in the gap minLoss - c.
  for (let g = 0; g <= 30; g++) {
    const c = minLoss * (1 - Math.pow(10, -3 + (3 * g) / 30));
    const b = logLinearStart(Math.max(c, 0), points, losses);
    if (b === null || b.some((v) => !Number.isFinite(v))) continue;
    const sse = lawSse(Math.max(c, 0), b, points, losses);
    if (Number.isFinite(sse) && (best === null || sse < best.sse)) best = { c: Math.max(c, 0), b, sse };
  }
  if (best === null) best = { c: 0, b: new Array<number>(D).fill(Math.log(minLoss)), sse: lawSse(0, new Array<number>(D).fill(Math.log(minLoss)), points, losses) };

  // Levenberg-Marquardt on theta = (c, b_1..b_D), Marquardt's scaling of the damping by diag(J^T J).
  let { c, b, sse } = best;
  let mu = 1e-3;
  let converged = false;
  for (let iter = 0; iter < 500 && sse > 0 && !converged; iter++) {
    const p = D + 1;
    const JtJ = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    const Jtr = new Array<number>(p).fill(0);
    for (let k = 0; k < points.length; k++) {
      const e = Math.exp(dot(b, points[k]!));
      const J = [1, ...points[k]!.map((r) => e * r)];
      const res = losses[k]! - c - e;
      for (let i = 0; i < p; i++) {
        Jtr[i]! += J[i]! * res;
        for (let j = 0; j < p; j++) JtJ[i]![j]! += J[i]! * J[j]!;
      }
    }
    let improved = false;
    for (let attempt = 0; attempt < 30 && !improved; attempt++) {
      const M = JtJ.map((row, i) => row.map((v, j) => (i === j ? v + mu * Math.max(v, 1e-12) : v)));
      const L = choleskyFactor(M);
      if (L !== null) {
        const step = choleskySolve(L, Jtr);
        const cNew = Math.min(Math.max(c + step[0]!, 0), cMax);
        const bNew = b.map((v, j) => v + step[j + 1]!);
        const sseNew = bNew.every(Number.isFinite) ? lawSse(cNew, bNew, points, losses) : Infinity;
        if (Number.isFinite(sseNew) && sseNew < sse) {
          const gain = sse - sseNew;
          c = cNew;
          b = bNew;
          sse = sseNew;
          mu = Math.max(mu / 3, 1e-12);
          improved = true;
          converged = gain <= 1e-15 * sse;
          continue;
        }
      }
      mu *= 4;
    }
    if (!improved) break;
  }
  return { c, b, sse };
}

/**
 * The Data Mixing Laws optimum: fit L_i(r) = c_i + k_i exp(sum_j t_ij r_j) for every evaluation domain i of
 * `evalWeights` on the runs' held-out losses, minimise sum_i e_i L_i(r) over the simplex, cap to the supply.
 * Every run needs `losses` with every evaluation domain; evaluation domains may differ from the training
 * domains (the keys of the runs' weights). evalWeights need not sum to 1 (they are normalised). Needs at least
 * D + 2 runs for D training domains.
 *
 * @example
 * dmlOptimum(runs, { web: 1, code: 1 }, { seed: 1 }) // { weights: {...}, fit: { perDomain: { web: { c, k, t, rmse, r2 } ... }, n }, ... }
 */
export function dmlOptimum(samples: MixtureSample[], evalWeights: Record<string, number>, opts: DmlOptions): MethodResult & { fit: DmlFit } {
  const what = 'dmlOptimum';
  if (opts === null || typeof opts !== 'object') throw new Error(`${what}: options { seed, limit?, candidates? } are required`);
  if (typeof opts.seed !== 'number' || !Number.isFinite(opts.seed)) throw new Error(`${what}: seed must be a finite number, got ${opts.seed}`);
  const { domains, points } = readSamples(samples, what, (d) => d + 2, 'each law has D + 1 parameters, and one run more leaves a residual');
  const D = domains.length;
  const n = points.length;
  const candidateCount = opts.candidates ?? 10_000;
  if (!Number.isInteger(candidateCount) || candidateCount < 1) throw new Error(`${what}: candidates must be an integer >= 1, got ${opts.candidates}`);

  if (evalWeights === null || typeof evalWeights !== 'object') throw new Error(`${what}: evalWeights must be an object {evaluation domain: weight}`);
  const evalDomains = Object.keys(evalWeights);
  if (evalDomains.length === 0) throw new Error(`${what}: evalWeights is empty; give the weight of each evaluation domain in the objective (e.g. 1 each)`);
  const e = evalDomains.map((d) => {
    const v = evalWeights[d];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${what}: evalWeights of "${d}" must be a finite number >= 0, got ${v}`);
    return v;
  });
  const eSum = e.reduce((s, v) => s + v, 0);
  if (!(eSum > 0)) throw new Error(`${what}: every evaluation weight is 0; give at least one evaluation domain a positive weight`);
  const eNorm = e.map((v) => v / eSum);
  const lossTable = evalDomains.map((d) =>
    samples.map((s, k) => {
      const v = s.losses?.[d];
      if (s.losses === undefined || s.losses === null) throw new Error(`${what}: run ${k} has no losses; Data Mixing Laws need each run's held-out loss per evaluation domain`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
        throw new Error(`${what}: run ${k} has loss ${v} for evaluation domain "${d}"; every run needs a finite loss > 0 for every domain in evalWeights`);
      }
      return v;
    }),
  );

  // Fit one law per evaluation domain.
  const fmt = (v: number): string => formatSignificant(v, 3);
  const notes: string[] = [];
  const laws = evalDomains.map((_, i) => fitLaw(points, lossTable[i]!));
  const perDomain: Record<string, DomainLaw> = {};
  const poor: string[] = [];
  evalDomains.forEach((d, i) => {
    const { c, b, sse } = laws[i]!;
    const losses = lossTable[i]!;
    const mean = losses.reduce((s, v) => s + v, 0) / n;
    const sst = losses.reduce((s, v) => s + (v - mean) ** 2, 0);
    const r2 = sst > 0 ? 1 - sse / sst : sse <= 1e-24 ? 1 : 0;
    const bMean = b.reduce((s, v) => s + v, 0) / D;
    perDomain[d] = { c, k: Math.exp(bMean), t: toRecord(domains, b.map((v) => v - bMean)), rmse: Math.sqrt(sse / n), r2 };
    if (r2 < POOR_R2) poor.push(`"${d}" (R² ${fmt(r2)}, rmse ${fmt(perDomain[d]!.rmse)})`);
  });
  notes.push(`Data Mixing Laws fitted L = c + k exp(t·r) to the held-out loss of ${evalDomains.length} evaluation domain${evalDomains.length === 1 ? '' : 's'} over ${n} runs.`);
  if (poor.length > 0) {
    notes.push(`The law fits ${poor.join(', ')} poorly (R² below ${POOR_R2}): the optimum rests on a law that does not describe these losses; treat it as unreliable, or add runs / seeds.`);
  }
  if (n < 2 * (D + 1)) notes.push(`Only ${n} runs for ${D + 1} parameters per law: the fits have little to spare; ${4 * D} runs (4 per domain) are safer.`);

  // Minimise F(r) = sum_i e_i (c_i + exp(b_i·r)) over the simplex.
  const objective = (r: readonly number[]): number => evalDomains.reduce((s, _, i) => s + eNorm[i]! * (laws[i]!.c + Math.exp(dot(laws[i]!.b, r))), 0);
  const gradient = (r: readonly number[]): number[] => {
    const g = new Array<number>(D).fill(0);
    evalDomains.forEach((_, i) => {
      const w = eNorm[i]! * Math.exp(dot(laws[i]!.b, r));
      laws[i]!.b.forEach((bj, j) => (g[j]! += w * bj));
    });
    return g;
  };
  let centre: number[];
  const cloud = runCloud(points);
  if (opts.prior !== undefined) {
    const read = priorVector(opts.prior, `${what}: prior`);
    if (read.domains.length !== D || read.domains.some((d) => !domains.includes(d))) {
      throw new Error(`${what}: prior must name exactly the runs' domains (${domains.join(', ')}), got ${read.domains.join(', ')}`);
    }
    centre = domains.map((d) => read.prior[read.domains.indexOf(d)]!);
  } else centre = cloud.mean;
  const concentration = opts.concentration ?? cloud.concentration;
  if (!(concentration > 0) || !Number.isFinite(concentration)) throw new Error(`${what}: concentration must be a finite number > 0, got ${opts.concentration}`);
  const alpha = centre.map((m) => Math.max(m, 1e-9) * concentration);
  const rng = new RandomStream(opts.seed, 'dml-search');
  let x = [...centre];
  let fx = objective(x);
  for (let c = 0; c < candidateCount; c++) {
    const w = drawDirichlet(rng, alpha);
    const f = objective(w);
    if (f < fx) {
      x = w;
      fx = f;
    }
  }
  // Projected gradient with backtracking on the quadratic upper bound; the step grows again after each success.
  let step = 1;
  for (let iter = 0; iter < 10_000; iter++) {
    const g = gradient(x);
    let moved = false;
    for (let tries = 0; tries < 60; tries++) {
      const y = projectOntoSimplex(x.map((v, j) => v - step * g[j]!));
      const d = y.map((v, j) => v - x[j]!);
      const fy = objective(y);
      if (fy <= fx + dot(g, d) + dot(d, d) / (2 * step)) {
        const change = d.reduce((s, v) => s + Math.abs(v), 0);
        x = y;
        fx = Math.min(fx, fy);
        moved = change > 1e-13;
        break;
      }
      step /= 2;
    }
    if (!moved) break;
    step *= 2;
  }
  if (!x.every(Number.isFinite)) throw new Error(`${what}: the search produced a non-finite mixture (a law diverged); check the runs' losses`);
  const unused = domains.filter((_, j) => x[j]! < 1e-9);
  if (unused.length > 0) {
    notes.push(`The laws' optimum gives ${unused.map((d) => `"${d}"`).join(', ')} no share: the fitted laws say more of ${unused.length === 1 ? 'it' : 'them'} only raises the objective; check the fits before dropping data.`);
  }

  const { weights, capped, notes: capNotes } = capIfLimited(toRecord(domains, x), opts.limit);
  notes.push(...capNotes);
  const final = domains.map((d) => weights[d]!);
  const predicted = objective(final);
  notes.push(`Predicted objective at this mixture: ${formatSignificant(predicted, 4)}; the nearest run is at L1 distance ${fmt(nearestDistance(final, points))}.`);
  return { weights, capped, notes, fit: { perDomain, n, predicted } };
}
