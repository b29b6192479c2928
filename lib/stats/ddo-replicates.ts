// DDO at one scale from replicates: every run trained on k seeds. Keeps what each seed says on its own (its fits
// and optimum), audits the noise, and puts an interval on every weight by carrying the noise through the fit and
// the solve (a parametric bootstrap on the moderated two-way noise model of noise-model.ts).
//
// Point estimate: the mean over seeds of each run's base-normalised response R_sj / R_s0, fitted and solved as
// one scale (what the pipeline always did). Draws: the same estimate on responses perturbed by draws of the
// noise of those means, e_j - e_0 (the base's noise is shared by every ratio), each fitted and solved in full, so
// active bounds happen in the draws as they would on other seeds. A draw in which some domain's response is not a
// convex decreasing curve is outside the DDO model and is rejected (see the loop below).
//
// Interval: the central range of the draws' weights at the calibrated level (calibratedLevel), widened to contain
// the point estimate where the two disagree (a strongly nonlinear fit can put the point outside; widening never
// makes an interval claim more). Calibration is checked by simulation in test/stats/calibration*.test.ts.
import type { DdoResults } from '../ddo/results.js';
import { optimizeComposition, type DdoComposition, type DdoOptions } from '../ddo/optimize.js';
import type { FitStatus } from '../ddo/fit.js';
import { drawMeanNoise, fitNoiseModel, type NoiseModel, type Observation } from './noise-model.js';
import { noiseAudit, type NoiseAudit } from './noise-audit.js';
import { quantile, RandomStream } from './sampling.js';

/** A perturbation run of one scale's plan. */
export interface ReplicateRun {
  /** "<domain>@<multiplier>" as the DDO plan names it. */
  id: string;
  domain: string;
  multiplier: number;
}

/** One scale's replicated results: the plan's perturbation runs and every (run, seed) response; run "base" is the base. */
export interface ScaleReplicates {
  runs: ReplicateRun[];
  observations: Observation[];
}

/** Default number of bootstrap draws: 5% quantiles to about ±1.1 percentage points of probability. */
export const DEFAULT_DRAWS = 400;
/** Default interval level. */
export const DEFAULT_LEVEL = 0.9;

export interface IntervalOptions {
  /** Central probability of each interval, in (0, 1); default 0.9. */
  level?: number;
  /** Bootstrap draws; default 400. */
  draws?: number;
  /** Label parts of the random stream (so equal inputs give equal intervals; different scales different draws). */
  stream?: Array<string | number>;
  /** Also solve each seed on its own (default true; simulations switch it off for speed). */
  perSeed?: boolean;
}

/** Intervals on a composition, as composition files carry them. */
export interface CompositionIntervals {
  level: number;
  method: string;
  /** Seeds behind the intervals (the smallest count over the scales for a prediction). */
  seeds: number;
  draws: number;
  weights: Record<string, [number, number]>;
  tokens: Record<string, [number, number]>;
}

/** The bootstrap draws themselves (tokens per domain per draw), kept so `autoscale predict` can carry them on. */
export interface CompositionDraws {
  domains: string[];
  /** tokens[b][i]: draw b's tokens of domains[i]. */
  tokens: number[][];
}

export interface SeedOptimum {
  seed: number;
  /** This seed's own optimum; null when the seed lacks runs (see note). */
  weights: Record<string, number> | null;
  tokens: Record<string, number> | null;
  fits: Record<string, FitStatus> | null;
  note: string | null;
}

export interface ReplicatedDdo {
  /** The point estimate (mean responses over seeds). */
  composition: DdoComposition;
  /** Mean over seeds of the base response. */
  baseLoss: number;
  seeds: number[];
  perSeed: SeedOptimum[];
  noise: NoiseAudit;
  /** null when there is no interval; `intervalNote` says why. */
  intervals: CompositionIntervals | null;
  draws: CompositionDraws | null;
  /** Per domain: the share of attempted draws in which its drawn response was not a convex decreasing curve (such draws are rejected). */
  degenerateShare: Record<string, number> | null;
  /** Why there is no interval, or what limits it (always set with fewer than 3 seeds). */
  intervalNote: string | null;
  model: NoiseModel | null;
}

/** The method string composition files carry. */
export const DDO_INTERVAL_METHOD = 'parametric bootstrap over seeds (moderated two-way noise model of the log responses), through fit and solve, draws outside the DDO model rejected, level calibrated by simulation';

function results(ratios: Map<string, number>, runs: readonly ReplicateRun[], baseLoss: number): DdoResults {
  const domains: string[] = [];
  for (const r of runs) if (!domains.includes(r.domain)) domains.push(r.domain);
  return {
    baseLoss,
    domains,
    runs: runs.filter((r) => ratios.has(r.id)).map((r, i) => ({ domain: r.domain, multiplier: r.multiplier, loss: ratios.get(r.id)! * baseLoss, line: i + 2 })),
  };
}

function percentileIntervals(samples: number[][], domains: string[], point: Record<string, number>, level: number): Record<string, [number, number]> {
  const lo = (1 - level) / 2;
  const hi = 1 - lo;
  return Object.fromEntries(
    domains.map((d, i) => {
      const values = samples.map((s) => s[i]!);
      const a = Math.min(quantile(values, lo), point[d]!);
      const b = Math.max(quantile(values, hi), point[d]!);
      return [d, [a, b] as [number, number]];
    }),
  );
}

/**
 * The central probability the percentile range of the draws must have for the interval to cover at `level`.
 *
 * Why not `level` itself. With few seeds the draws' percentile range undercovers: the 3-point fits turn small
 * changes of the responses into large changes of the optimum, and the noise of the variance estimates is large.
 * The tail mass (1 - level) is therefore scaled by c_k = 1 - 0.6 / (k - 1) for k seeds (0.4 at 2 seeds, 0.7 at 3,
 * 0.85 at 5, 0.91 at 8, 0.93 at 10: 96%, 93%, 91.5%, 90.9% and 90.7% central for 90% intervals), a calibration by
 * simulation in the sense of Loh (1987): the needed widening falls off like 1/(k - 1), the seeds' degrees of freedom.
 *
 * Measured on simulated DDO experiments with a known optimum (test/stats/simulate.ts, 400 draws as the product), the
 * coverage of the true weights, DDO (both scales) / prediction, standard errors 1-2 points (experiments as the units):
 *
 * | seeds | plain 90% range, three-domain worlds | calibrated, three-domain worlds | plain 90%, demo-shaped | calibrated, demo-shaped |
 * |---:|---|---|---|---|
 * | 2 | 0.84 / 0.80 | 0.91 / 0.90 | - | - |
 * | 3 | 0.87 / 0.89 | 0.89 / 0.92 | 0.91 / 0.91 | 0.92 / 0.92 |
 * | 5 | 0.88 / 0.91 | 0.90 / 0.93 | 0.90 / 0.92 | 0.91 / 0.90 |
 * | 8 | 0.91 / 0.92 | 0.91 / 0.92 | 0.91 / 0.89 | 0.92 / 0.91 |
 *
 * Three-domain worlds (those of calibration.test.ts: noise SDs 0.05%-0.3%, 80-150 experiments): the calibrated column
 * reads the same draws at the nearest level of a grid (96%, 93.5%, 92%, 90%). Demo-shaped worlds (5 domains, 100k/300k
 * -> 600k, noise and effects as measured on the demo): plain from 160-200 experiments, calibrated measured as the
 * product computes it, 150 experiments per row (test/stats/coverage-table.ts; docs/noise.md has the table with 4, 6
 * and 10 seeds). The rule before, c_k = min(1, 0.15 (k - 1)) (97% central at 3 seeds, 94% at 5), over-covered: at 3
 * seeds 0.93 / 0.95 in the three-domain worlds and 0.96 / 0.96 in the demo-shaped ones, at 5 seeds 0.91 / 0.94 and
 * 0.94 / 0.95. test/stats/calibration*.test.ts check the result on independent experiments.
 *
 * @example calibratedLevel(0.9, 3) // 0.93
 */
export function calibratedLevel(level: number, seeds: number): number {
  const c = 1 - 0.6 / Math.max(seeds - 1, 1);
  return 1 - (1 - level) * c;
}

/** Each domain's whole feasible range of weights and tokens under the solve's bounds (the interval when nothing is known). */
function feasibleRange(composition: DdoComposition, options: DdoOptions): { weights: Record<string, [number, number]>; tokens: Record<string, [number, number]> } {
  const total = composition.scale;
  const lo = composition.domains.map((d) => (options.minMultiplier ?? d.lower) * d.baseTokens);
  const hi = composition.domains.map((d) => (options.maxMultiplier ?? d.upper) * d.baseTokens);
  const sumLo = lo.reduce((a, b) => a + b, 0);
  const sumHi = hi.reduce((a, b) => a + b, 0);
  const tokens: Record<string, [number, number]> = {};
  const weights: Record<string, [number, number]> = {};
  composition.domains.forEach((d, i) => {
    const a = Math.max(lo[i]!, total - (sumHi - hi[i]!));
    const b = Math.min(hi[i]!, total - (sumLo - lo[i]!));
    tokens[d.domain] = [Math.min(a, d.tokens), Math.max(b, d.tokens)];
    weights[d.domain] = [tokens[d.domain]![0] / total, tokens[d.domain]![1] / total];
  });
  return { weights, tokens };
}

/** Checks an interval level, with a message naming the flag. @example checkLevel(0.9) */
export function checkLevel(level: number, what = 'level'): number {
  if (!(level > 0 && level < 1)) throw new RangeError(`${what} ${level} must be a probability strictly between 0 and 1, e.g. 0.9`);
  return level;
}

/**
 * DDO with replicates at one scale: the point optimum, each seed's own optimum, the noise audit and intervals
 * on every weight and token count.
 *
 * @example
 * const r = replicatedDdo({ runs, observations }, { baseTokens: { web: 5e5, code: 5e5 } }, { level: 0.9 });
 * r.composition.weights // { web: 0.58, code: 0.42 }
 * r.intervals?.weights  // { web: [0.51, 0.66], code: [0.34, 0.49] }
 */
export function replicatedDdo(data: ScaleReplicates, ddoOptions: DdoOptions, options: IntervalOptions = {}): ReplicatedDdo {
  const level = checkLevel(options.level ?? DEFAULT_LEVEL);
  const drawCount = options.draws ?? DEFAULT_DRAWS;
  if (!(Number.isInteger(drawCount) && drawCount >= 20)) throw new RangeError(`draws ${drawCount} must be an integer >= 20`);
  const runIds = data.runs.map((r) => r.id);
  const base = new Map<number, number>();
  for (const o of data.observations) if (o.run === 'base') base.set(o.seed, o.response);
  if (base.size === 0) throw new RangeError('replicatedDdo: no base run on any seed; the responses cannot be normalised');
  const seeds = [...base.keys()].sort((a, b) => a - b);
  const usable = data.observations.filter((o) => base.has(o.seed));
  const ratios = new Map<string, number>();
  for (const id of runIds) {
    const values = usable.filter((o) => o.run === id).map((o) => o.response / base.get(o.seed)!);
    if (values.length) ratios.set(id, values.reduce((a, b) => a + b, 0) / values.length);
  }
  const baseLoss = [...base.values()].reduce((a, b) => a + b, 0) / base.size;
  const composition = optimizeComposition(results(ratios, data.runs, baseLoss), ddoOptions);
  const domains = composition.domains.map((d) => d.domain);

  const perSeed: SeedOptimum[] = options.perSeed === false ? [] : seeds.map((seed) => {
    const own = new Map<string, number>();
    for (const o of usable) if (o.seed === seed && o.run !== 'base') own.set(o.run, o.response / base.get(seed)!);
    const missing = runIds.filter((id) => !own.has(id));
    if (missing.length > 0) return { seed, weights: null, tokens: null, fits: null, note: `missing runs ${missing.join(', ')}` };
    const c = optimizeComposition(results(own, data.runs, base.get(seed)!), ddoOptions);
    return { seed, weights: c.weights, tokens: c.tokens, fits: Object.fromEntries(c.domains.map((d) => [d.domain, d.fit.status])), note: null };
  });

  const noise = noiseAudit(runIds, usable);
  const model = fitNoiseModel(['base', ...runIds], usable);
  if (!model) {
    return {
      composition, baseLoss, seeds, perSeed, noise, intervals: null, draws: null, degenerateShare: null, model: null,
      intervalNote: `${seeds.length} seed${seeds.length === 1 ? '' : 's'}: no interval, because the seed-to-seed noise cannot be estimated from one replicate; train 3 or more seeds`,
    };
  }
  const rng = new RandomStream('ddo-intervals', ...(options.stream ?? []));
  const samples: number[][] = [];
  const tokenSamples: number[][] = [];
  const centre = runIds.map((id) => Math.log(ratios.get(id) ?? Number.NaN));
  // Draws outside the model are rejected: a drawn response that is not a convex decreasing curve for some domain
  // is not a DDO response, and holding that domain at its base (what the point estimate does with such data)
  // would put a false point mass at multiplier 1. The draws kept are the posterior restricted to the model.
  const invalid = new Array<number>(domains.length).fill(0);
  let attempts = 0;
  const maxAttempts = drawCount * 20;
  while (samples.length < drawCount && attempts < maxAttempts) {
    attempts += 1;
    const e = drawMeanNoise(model, rng);
    const drawn = new Map<string, number>();
    runIds.forEach((id, j) => {
      if (Number.isFinite(centre[j]!)) drawn.set(id, Math.exp(centre[j]! + e[j + 1]! - e[0]!));
    });
    const c = optimizeComposition(results(drawn, data.runs, baseLoss), ddoOptions);
    const bad = c.domains.map((d) => d.fit.curve === null);
    bad.forEach((b, i) => {
      if (b) invalid[i]! += 1;
    });
    if (bad.some(Boolean)) continue;
    samples.push(domains.map((d) => c.weights[d]!));
    tokenSamples.push(domains.map((d) => c.tokens[d]!));
  }
  const degenerateShare = Object.fromEntries(domains.map((d, i) => [d, invalid[i]! / attempts]));
  const acceptedShare = samples.length / attempts;
  if (samples.length < Math.min(drawCount, 20)) {
    const range = feasibleRange(composition, ddoOptions);
    return {
      composition, baseLoss, seeds, perSeed, noise, draws: null, degenerateShare, model,
      intervals: { level, method: `${DDO_INTERVAL_METHOD}; no draw fit the model, so each interval is the whole range the bounds allow`, seeds: seeds.length, draws: 0, weights: range.weights, tokens: range.tokens },
      intervalNote: `in ${attempts} draws of the noise only ${samples.length} gave every domain a convex decreasing response: the data at this scale cannot locate the optimum, and each interval is the whole range its bounds allow`,
    };
  }
  const intervals: CompositionIntervals = {
    level,
    method: DDO_INTERVAL_METHOD,
    seeds: seeds.length,
    draws: drawCount,
    weights: percentileIntervals(samples, domains, composition.weights, calibratedLevel(level, seeds.length)),
    tokens: percentileIntervals(tokenSamples, domains, composition.tokens, calibratedLevel(level, seeds.length)),
  };
  const notes: string[] = [];
  if (seeds.length === 2) {
    notes.push('2 seeds: the noise is estimated from one difference per run, pooled across runs; the intervals lean on that pooling ' +
      '(and on equal noise across runs), and a third seed is the cheapest way to check them');
  }
  const shaky = domains.filter((d) => degenerateShare[d]! > 0.2);
  if (shaky.length) {
    notes.push(`in ${(100 * (1 - acceptedShare)).toFixed(0)}% of the noise draws some domain's response was not a convex decreasing curve ` +
      `(most often ${shaky.join(', ')}): those draws are outside the DDO model and are left out, and the response of these domains is barely resolved at this scale`);
  }
  return { composition, baseLoss, seeds, perSeed, noise, intervals, draws: { domains, tokens: tokenSamples }, degenerateShare, intervalNote: notes.length ? notes.join('; ') : null, model };
}
