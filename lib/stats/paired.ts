// Paired comparisons of validation runs: mixture A against the uniform mixture, seed by seed.
//
// Seed s trains every mixture with the same initialisation and the same random stream (common random numbers),
// so the difference d_s = L_A,s - L_uniform,s removes what a seed does to every mixture alike, and the seed-to-seed
// spread of d_s is much smaller than that of the losses. The interval on the mean difference is Student's t with
// k - 1 degrees of freedom over the k seeds where both finished; with one seed there is none.
//
// Token saving: the budget at which mixture A reaches uniform's final loss, as a fraction of the validation scale.
// A point along one cosine-decayed run is not a shorter run (its learning rate has not decayed yet, so its loss is
// higher than a run that ends there), so A is trained again at shorter budgets, each with its own schedule, and
// the fraction is read off A's final losses against ln(budget), by linear interpolation between budgets (and
// extrapolation from the nearest two, up to half the smallest budget below and twice the scale above; beyond that
// it is not reported). The interval is Student's t on the per-seed ln(fraction), so the mean is geometric.
import { mean, sampleSd, studentTQuantile } from './sampling.js';

export interface PairedDifference {
  /** Seeds where both runs finished. */
  seeds: number[];
  perSeed: number[];
  mean: number;
  sd: number | null;
  /** t interval on the mean at `level`; null with fewer than two seeds. */
  interval: [number, number] | null;
}

/**
 * The paired difference a_s - b_s over the seeds both have, with a t interval on its mean.
 * @example pairedDifference(new Map([[0, 2.1], [1, 2.2]]), new Map([[0, 2.15], [1, 2.26]]), 0.9).mean // -0.055
 */
export function pairedDifference(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>, level: number): PairedDifference {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  const perSeed = seeds.map((s) => a.get(s)! - b.get(s)!);
  if (perSeed.length === 0) return { seeds, perSeed, mean: Number.NaN, sd: null, interval: null };
  const m = mean(perSeed);
  if (perSeed.length < 2) return { seeds, perSeed, mean: m, sd: null, interval: null };
  const sd = sampleSd(perSeed);
  const half = studentTQuantile(1 - (1 - level) / 2, perSeed.length - 1) * (sd / Math.sqrt(perSeed.length));
  return { seeds, perSeed, mean: m, sd, interval: [m - half, m + half] };
}

/** "better", "worse" or "not distinguishable": what a loss-difference interval (A - uniform) allows one to say. */
export type Verdict = 'better' | 'worse' | 'not distinguishable';

/** The verdict an interval on A - uniform supports (lower loss is better). @example verdictOf([-0.01, -0.002]) // 'better' */
export function verdictOf(interval: [number, number] | null): Verdict {
  if (!interval) return 'not distinguishable';
  if (interval[1] < 0) return 'better';
  if (interval[0] > 0) return 'worse';
  return 'not distinguishable';
}

/**
 * The fraction of `scale` at which a mixture's final loss reaches `target`, from its final losses at several
 * budgets (ln-budget interpolation, limited extrapolation; see the file comment). null when it cannot be read.
 *
 * @example budgetToReach([{ tokens: 5e5, loss: 2.3 }, { tokens: 1e6, loss: 2.1 }], 2.2, 1e6) // 0.707
 */
export function budgetToReach(points: readonly { tokens: number; loss: number }[], target: number, scale: number): number | null {
  const sorted = [...points].filter((p) => Number.isFinite(p.loss) && p.tokens > 0).sort((p, q) => p.tokens - q.tokens);
  if (sorted.length < 2 || !Number.isFinite(target)) return null;
  const at = (p: { tokens: number; loss: number }, q: { tokens: number; loss: number }): number | null => {
    if (!(q.loss < p.loss)) return null; // a segment along which the loss does not fall says nothing
    const t = (p.loss - target) / (p.loss - q.loss);
    return Math.exp(Math.log(p.tokens) + t * (Math.log(q.tokens) - Math.log(p.tokens))) / scale;
  };
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!;
    const q = sorted[i]!;
    if (p.loss >= target && q.loss <= target) return at(p, q);
  }
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  if (first.loss <= target) {
    const f = at(first, sorted[1]!);
    return f !== null && f >= first.tokens / scale / 2 ? f : null;
  }
  if (last.loss > target) {
    const f = at(sorted[sorted.length - 2]!, last);
    return f !== null && f <= (2 * last.tokens) / scale ? f : null;
  }
  return null;
}

export interface TokenSaving {
  seeds: number[];
  /** Per seed: the fraction of the scale the mixture needs to reach uniform's final loss (null: not readable). */
  perSeed: (number | null)[];
  /** Geometric mean over the seeds where it was readable. */
  mean: number;
  /** t interval on ln(fraction), exponentiated; null with fewer than two readable seeds. */
  interval: [number, number] | null;
}

/**
 * The token saving of a mixture against uniform, per seed and with an interval.
 * `budgets` maps seed to the mixture's final losses at each budget (the full scale included); `uniformFinal` maps
 * seed to uniform's final loss at the full scale. null when no seed gives a readable fraction.
 */
export function tokenSaving(
  budgets: ReadonlyMap<number, { tokens: number; loss: number }[]>,
  uniformFinal: ReadonlyMap<number, number>,
  scale: number,
  level: number,
): TokenSaving | null {
  const seeds = [...budgets.keys()].filter((s) => uniformFinal.has(s)).sort((a, b) => a - b);
  const perSeed = seeds.map((s) => budgetToReach(budgets.get(s)!, uniformFinal.get(s)!, scale));
  const logs = perSeed.filter((f): f is number => f !== null && f > 0).map(Math.log);
  if (logs.length === 0) return null;
  const m = mean(logs);
  let interval: [number, number] | null = null;
  if (logs.length >= 2) {
    const half = studentTQuantile(1 - (1 - level) / 2, logs.length - 1) * (sampleSd(logs) / Math.sqrt(logs.length));
    interval = [Math.exp(m - half), Math.exp(m + half)];
  }
  return { seeds, perSeed, mean: Math.exp(m), interval };
}
