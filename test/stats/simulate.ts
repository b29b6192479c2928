// Simulated DDO experiments with a known optimum, for the calibration of the intervals (calibration.test.ts).
//
// World: m domains, each with a true normalised response curve y_i(x) = (x + a_i)^(-b_i) + c_i, c_i chosen so
// y_i(1) = 1, at each of two scales (the curves drift between scales). The true DDO optimum at a scale is the
// exact solve of those curves within the multipliers tried; the true AutoScale prediction is AutoScale applied
// to the two true optima (what the method would predict with infinitely many seeds).
// Runs: R_sj = L0 * y_j * exp(u_s + e_sj): u_s a seed effect shared by all of a seed's runs, e_sj a per-run
// noise whose SD differs between runs (heteroscedastic, as measured on the demo).
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
  /** Per-run noise SD (log units), by run index of the plan (base first). */
  sigma: number[];
  seedSd: number;
}

export interface Outcome {
  /** Per scale then the prediction: per domain, [covered?, half-width]. */
  ddo: { covered: boolean[]; halfWidth: number[]; degenerate: number[] }[];
  prediction: { covered: boolean[]; halfWidth: number[] } | null;
}

const MULTIPLIERS = [1 / 3, 3];

/** A random world: m domains, effects of a few percent, noise SDs spread over a factor of ~4 around `sigma`. */
export function randomWorld(rng: RandomStream, m: number, sigma: number, weakDomain = false): World {
  const domains = Array.from({ length: m }, (_, i) => `d${i}`);
  const first = domains.map((_, i) => ({ a: 6 + 8 * rng.next(), b: (weakDomain && i === 0 ? 0.06 : 0.25) + 0.35 * rng.next() }));
  const drift = first.map((c) => ({ a: c.a * (0.8 + 0.4 * rng.next()), b: c.b * (0.8 + 0.4 * rng.next()) }));
  const withC = (cs: { a: number; b: number }[]): { a: number; b: number; c: number }[] => cs.map((c) => ({ ...c, c: 1 - Math.pow(1 + c.a, -c.b) }));
  const runs = 1 + m * MULTIPLIERS.length;
  return {
    domains,
    scales: [{ total: 3e5, curves: withC(first) }, { total: 9e5, curves: withC(drift) }],
    target: 2.7e6,
    sigma: Array.from({ length: runs }, () => sigma * Math.exp(0.7 * standardNormal(rng))),
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
        data.observations.push({ run: run.id, seed: s, response: 2.5 * y * Math.exp(u + world.sigma[j]! * standardNormal(rng)) });
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
