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

/** One mixture's place in a ranking by paired differences (rankByPairedDifferences). */
export interface RankedMixture {
  mixture: string;
  /** 1 + the number of mixtures shown better than this one (competition ranking); see rankByPairedDifferences. */
  rank: number;
  /** Mean final loss over the ranking's seeds (those where every ranked mixture finished). */
  meanFinal: number;
  /** Mixtures shown better than this one: the interval on (that one - this one) lies entirely below 0. */
  worseThan: string[];
  /** Mixtures this one is shown better than. */
  betterThan: string[];
  /** Mixtures neither shown better nor worse than this one. */
  notDistinguishableFrom: string[];
}

export interface MixtureRanking {
  level: number;
  /** The seeds every ranked mixture finished: all pairs are compared on these. */
  seeds: number[];
  /** Best first: by rank, then by mean final loss, then by name. */
  order: RankedMixture[];
  /** Mixtures without a final loss on any of their seeds, left out. */
  unranked: string[];
  /** Why there are no intervals (fewer than two common seeds), when there are none. */
  note: string | null;
}

/**
 * Ranks mixtures by their final losses, seed by seed. A is "shown better" than B when the t interval (at `level`)
 * on the paired difference A - B over the common seeds lies entirely below 0. rank(A) = 1 + the number of mixtures
 * shown better than A (so ranks count the mixtures shown better, not places: 1, 1, 2, 5 can happen).
 *
 * Every pair is compared on the same seeds, those where every ranked mixture finished, and on one set of seeds the
 * relation is transitive: if B - A and C - B have upper interval ends below 0, so does C - A, because its mean is the
 * sum of theirs and its sample SD at most the sum of theirs (the SD is a norm of the centred differences). Hence a
 * mixture shown better than another always ranks strictly above it (all that beat it beat the other too, and so
 * does it), and mixtures that share a rank are never shown to differ (ties). The converse does not hold: two
 * mixtures of different ranks may be indistinguishable from each other, so each pair's relation is listed. Each
 * pair is tested at `level` on its own, without a correction for the number of pairs: among truly equal pairs,
 * about (1 - level) / 2 in each direction are shown different by chance.
 *
 * @example
 * rankByPairedDifferences(new Map([['uniform', new Map([[0, 2.3], [1, 2.4]])], ['mine', new Map([[0, 2.2], [1, 2.31]])]]), 0.9)
 * // order: mine rank 1, uniform rank 2 (mine - uniform: -0.1 and -0.09 per seed)
 */
export function rankByPairedDifferences(finals: ReadonlyMap<string, ReadonlyMap<number, number>>, level: number): MixtureRanking {
  const ranked = [...finals.keys()].filter((m) => finals.get(m)!.size > 0);
  const unranked = [...finals.keys()].filter((m) => finals.get(m)!.size === 0);
  const seeds = ranked.length === 0 ? [] : [...finals.get(ranked[0]!)!.keys()].filter((s) => ranked.every((m) => finals.get(m)!.has(s))).sort((a, b) => a - b);
  const on = (m: string): Map<number, number> => new Map(seeds.map((s) => [s, finals.get(m)!.get(s)!]));
  const meanOf = (m: string): number => (seeds.length ? mean(seeds.map((s) => finals.get(m)!.get(s)!)) : Number.NaN);
  const better = new Map<string, Set<string>>(ranked.map((m) => [m, new Set<string>()])); // better.get(a): mixtures a is shown better than
  for (const a of ranked) {
    for (const b of ranked) {
      if (a === b) continue;
      const d = pairedDifference(on(a), on(b), level);
      if (d.interval && d.interval[1] < 0) better.get(a)!.add(b);
    }
  }
  const byMean = [...ranked].sort((a, b) => meanOf(a) - meanOf(b) || a.localeCompare(b));
  const rank = new Map(ranked.map((m) => [m, 1 + ranked.filter((b) => better.get(b)!.has(m)).length]));
  const order: RankedMixture[] = byMean
    .map((m) => ({
      mixture: m,
      rank: rank.get(m)!,
      meanFinal: meanOf(m),
      worseThan: ranked.filter((b) => better.get(b)!.has(m)),
      betterThan: ranked.filter((b) => better.get(m)!.has(b)),
      notDistinguishableFrom: ranked.filter((b) => b !== m && !better.get(b)!.has(m) && !better.get(m)!.has(b)),
    }))
    .sort((x, y) => x.rank - y.rank || x.meanFinal - y.meanFinal || x.mixture.localeCompare(y.mixture));
  let note: string | null = null;
  if (ranked.length > 0 && seeds.length < 2) {
    note = seeds.length === 0
      ? 'no seed on which every mixture finished: nothing is compared, every mixture ranks 1'
      : 'one seed on which every mixture finished gives no interval: every mixture ranks 1; train 3 or more seeds';
  }
  return { level, seeds, order, unranked, note };
}
