// Simulated DDO experiments with a known optimum, for the calibration of the intervals (calibration.test.ts).
//
// World: m domains, each with a true normalised response curve y_i(x) = (x + a_i)^(-b_i) + c_i, c_i chosen so
// y_i(1) = 1, at each of two scales (the curves drift between scales). The true DDO optimum at a scale is the
// exact solve of those curves within the multipliers tried; the true AutoScale prediction is AutoScale applied
// to the two true optima (what the method would predict with infinitely many seeds).
// Runs: R_sj = L0 * y_j * exp(u_s + e_sj): u_s a seed effect shared by all of a seed's runs, e_sj a per-run
// noise whose SD differs between runs (heteroscedastic, as measured on the demo).
// Two kinds of world: the default one of calibration.test.ts (curve parameters drawn directly, one set of noise SDs
// for both scales, target 3x the larger scale) and, through WorldShape, worlds shaped like a given demo (effects
// drawn from measured ranges, noise per scale, other scales and target), as calibration-seeds.test.ts uses.
import { fitResponseCurve, type ResponseCurve } from '../../lib/ddo/fit.js';
import { solveComposition } from '../../lib/ddo/solve.js';
import { planDdoRuns } from '../../lib/ddo/plan.js';
import { predictComposition } from '../../lib/autoscale.js';
import { replicatedDdo, type ScaleReplicates } from '../../lib/stats/ddo-replicates.js';
import { predictWithIntervals } from '../../lib/stats/predict-intervals.js';
import { RandomStream, standardNormal } from '../../lib/stats/sampling.js';

export interface World {
  domains: string[];
  /** Per scale: total tokens and each domain's true curve. */
  scales: { total: number; curves: { a: number; b: number; c: number }[] }[];
  target: number;
  /** Per scale: per-run noise SD (log units), by run index of the plan (base first). */
  sigma: number[][];
  seedSd: number;
}

export interface Outcome {
  /** Per scale then the prediction: per domain, [covered?, half-width]. */
  ddo: { covered: boolean[]; halfWidth: number[]; degenerate: number[] }[];
  prediction: { covered: boolean[]; halfWidth: number[] } | null;
}

const MULTIPLIERS = [1 / 3, 3];

/** How a world differs from the default one (all optional). */
export interface WorldShape {
  /** Total tokens of the two DDO scales; default [3e5, 9e5]. */
  totals?: [number, number];
  /** Target scale over the larger DDO scale; default 3. */
  targetRatio?: number;
  /** Log-SD of the per-run noise SDs around their median; default 0.7 (SDs spread over a factor of ~4). */
  sigmaSpread?: number;
  /**
   * True effects y(x) - 1 per domain and scale drawn from ranges instead of the default curve parameters: the effect
   * at x3 uniform in -x3 (e.g. [0.018, 0.041] for -1.8% to -4.1%), the effect at x1/3 that times a ratio uniform in
   * ratio (e.g. [0.5, 0.65]); the curve is the exact one through the three points. The second scale's effects are the
   * first's, the x3 effect times U(0.8, 1.2) and the ratio times U(0.85, 1.15) (the optimum drifts between scales).
   */
  effects?: { x3: [number, number]; ratio: [number, number] };
}

const uniform = (rng: RandomStream, [lo, hi]: readonly [number, number]): number => lo + (hi - lo) * rng.next();

/** The curve (x + a)^(-b) + c through (1/3, 1 + ratio * fall3), (1, 1), (3, 1 - fall3): a convex decreasing one when ratio > 1/3. */
function curveThroughEffects(fall3: number, ratio: number): ResponseCurve {
  const fit = fitResponseCurve([{ x: 1 / 3, y: 1 + ratio * fall3 }, { x: 1, y: 1 }, { x: 3, y: 1 - fall3 }]);
  if (!fit.curve) throw new RangeError(`simulate: no response curve through effects +${ratio * fall3} / -${fall3} (${fit.message})`);
  return fit.curve;
}

/**
 * A random world: m domains, effects of a few percent, per-run noise SDs spread around a median `sigma` (log units).
 * `sigma` a number: one set of SDs for both scales (the default world); a pair: a median per scale, each scale its own SDs.
 * `weakDomain` makes domain d0 4-10x flatter (default curves only).
 *
 * @example randomWorld(rng, 5, [0.00165, 0.00078], false, { totals: [1e5, 3e5], targetRatio: 2, sigmaSpread: 0.3, effects: DEMO_EFFECTS })
 */
export function randomWorld(rng: RandomStream, m: number, sigma: number | readonly number[], weakDomain = false, shape: WorldShape = {}): World {
  const domains = Array.from({ length: m }, (_, i) => `d${i}`);
  const totals = shape.totals ?? [3e5, 9e5];
  const spread = shape.sigmaSpread ?? 0.7;
  const withC = (cs: { a: number; b: number }[]): { a: number; b: number; c: number }[] => cs.map((c) => ({ ...c, c: 1 - Math.pow(1 + c.a, -c.b) }));
  let curves: { a: number; b: number; c: number }[][];
  const effects = shape.effects;
  if (effects) {
    const first = domains.map(() => ({ fall3: uniform(rng, effects.x3), ratio: uniform(rng, effects.ratio) }));
    const second = first.map((e) => ({ fall3: e.fall3 * uniform(rng, [0.8, 1.2]), ratio: e.ratio * uniform(rng, [0.85, 1.15]) }));
    curves = [first, second].map((es) => es.map((e) => curveThroughEffects(e.fall3, e.ratio)));
  } else {
    const first = domains.map((_, i) => ({ a: 6 + 8 * rng.next(), b: (weakDomain && i === 0 ? 0.06 : 0.25) + 0.35 * rng.next() }));
    const drift = first.map((c) => ({ a: c.a * (0.8 + 0.4 * rng.next()), b: c.b * (0.8 + 0.4 * rng.next()) }));
    curves = [withC(first), withC(drift)];
  }
  const runs = 1 + m * MULTIPLIERS.length;
  const sds = (median: number): number[] => Array.from({ length: runs }, () => median * Math.exp(spread * standardNormal(rng)));
  let perScale: number[][];
  if (typeof sigma === 'number') {
    const shared = sds(sigma);
    perScale = totals.map(() => shared);
  } else {
    if (sigma.length !== totals.length) throw new RangeError(`randomWorld: ${sigma.length} noise medians for ${totals.length} scales`);
    perScale = sigma.map(sds);
  }
  return {
    domains,
    scales: totals.map((total, k) => ({ total, curves: curves[k]! })),
    target: (shape.targetRatio ?? 3) * Math.max(...totals),
    sigma: perScale,
    seedSd: 0.02,
  };
}

/** The true optimum tokens at one scale. */
export function trueOptimum(world: World, k: number): Record<string, number> {
  const sc = world.scales[k]!;
  const n0 = sc.total / world.domains.length;
  const solved = solveComposition(world.domains.map((d, i) => ({ domain: d, baseTokens: n0, curve: sc.curves[i]!, lower: 1 / 3, upper: 3 })), sc.total);
  return Object.fromEntries(world.domains.map((d, i) => [d, solved.tokens[i]!]));
}

/** One experiment: k seeds of every run at both scales, intervals, coverage of the truths. */
export function runExperiment(world: World, rng: RandomStream, seeds: number, draws: number, level = 0.9): Outcome {
  const out: Outcome = { ddo: [], prediction: null };
  const withDraws = [];
  for (let k = 0; k < world.scales.length; k++) {
    const sc = world.scales[k]!;
    const base = Object.fromEntries(world.domains.map((d) => [d, sc.total / world.domains.length]));
    const plan = planDdoRuns({ baseTokens: base, multipliers: MULTIPLIERS });
    const data: ScaleReplicates = { runs: plan.filter((r) => r.domain !== null).map((r) => ({ id: r.id, domain: r.domain!, multiplier: r.multiplier })), observations: [] };
    for (let s = 0; s < seeds; s++) {
      const u = world.seedSd * standardNormal(rng);
      plan.forEach((run, j) => {
        const i = run.domain === null ? -1 : world.domains.indexOf(run.domain);
        const c = i < 0 ? null : sc.curves[i]!;
        const y = c ? Math.pow(run.multiplier + c.a, -c.b) + c.c : 1;
        data.observations.push({ run: run.id, seed: s, response: 2.5 * y * Math.exp(u + world.sigma[k]![j]! * standardNormal(rng)) });
      });
    }
    const r = replicatedDdo(data, { baseTokens: base }, { level, draws, stream: [k, rng.next()], perSeed: false });
    const truth = trueOptimum(world, k);
    out.ddo.push({
      covered: world.domains.map((d) => {
        const [lo, hi] = r.intervals!.weights[d]!;
        const w = truth[d]! / sc.total;
        return w >= lo - 1e-12 && w <= hi + 1e-12;
      }),
      halfWidth: world.domains.map((d) => (r.intervals!.weights[d]![1] - r.intervals!.weights[d]![0]) / 2),
      degenerate: world.domains.map((d) => r.degenerateShare![d]!),
    });
    withDraws.push({ scale: sc.total, tokens: r.composition.tokens, draws: r.draws, seeds });
  }
  const p = predictWithIntervals(withDraws, world.target, { level });
  const truth = predictComposition(world.scales.map((sc, k) => ({ scale: sc.total, tokens: trueOptimum(world, k) })), world.target);
  if (p.intervals) {
    out.prediction = {
      covered: world.domains.map((d) => truth.weights[d]! >= p.intervals!.weights[d]![0] - 1e-12 && truth.weights[d]! <= p.intervals!.weights[d]![1] + 1e-12),
      halfWidth: world.domains.map((d) => (p.intervals!.weights[d]![1] - p.intervals!.weights[d]![0]) / 2),
    };
  }
  return out;
}
