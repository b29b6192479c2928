// The noise model behind the DDO intervals: how much one scale's normalised responses would move if the
// same runs were trained on other seeds.
//
// Model. z_sj = ln R_sj, the log response of run j (j = 0 the base) on seed s, is
//     z_sj = mu_j + u_s + e_sj,   e_sj ~ N(0, sigma_j^2) independent,
// a two-way additive model: u_s is what a seed does to every run alike (initialisation and data order are
// shared by a seed's runs, the common random numbers), e_sj what it does to one run alone. DDO uses the ratio
// R_sj / R_s0, so u_s cancels and only the e's matter; the base's e_s0 is shared by every ratio of a seed,
// which correlates the domains' fits, and the model keeps that.
//
// Why not a plain bootstrap over seeds. With k = 3 seeds there are 10 distinct resamples, and the percentile
// interval of a mean of 3 values covers its target far less often than it claims. Here the residual noise is
// estimated from all runs at once: (k - 1)(P - 1) degrees of freedom for P runs (20 for 5 domains and 3 seeds).
//
// Unequal noise. Runs differ: in the demo measurements one scale's per-run SDs range over a factor of 40 (a run
// caught in the unstable phase of training is much noisier than its neighbours). Each run's variance is therefore
// its own estimate moderated towards the pooled one by empirical Bayes (Smyth 2004, limma): the spread of the
// per-run log variances beyond what sampling explains gives the prior's degrees of freedom d0; the posterior of
// sigma_j^2 is scaled inverse chi-square with d0 + d_j degrees of freedom around
// (d0 s0^2 + d_j s_j^2) / (d0 + d_j). Equal noise gives d0 large (everything pooled); wildly unequal noise gives
// d0 near 0 (each run on its own, with Student-t tails). d0 is capped at the pooled degrees of freedom.
import digamma from '@stdlib/math-base-special-digamma';
import trigamma from '@stdlib/math-base-special-trigamma';
import { chiSquareVariate, standardNormal, type RandomStream } from './sampling.js';

/** One observation: the response (a loss, > 0) of run `run` on seed `seed`. */
export interface Observation {
  run: string;
  seed: number;
  response: number;
}

export interface NoiseModel {
  /** Run ids, in the order of the arrays below. */
  runs: string[];
  /** Seeds with at least one observation, ascending. */
  seeds: number[];
  /** Observations per run. */
  n: number[];
  /** Fitted run effects mu_j (log units; the seed effects have mean zero). */
  mu: number[];
  /** Per-run variance estimates s_j^2 of e_sj (log units), before moderation. */
  rawVariance: number[];
  /** Moderated (posterior) variance of e_sj per run. */
  variance: number[];
  /** Degrees of freedom of each run's posterior variance (d0 + d_j). */
  df: number[];
  /** Prior: pooled variance s0^2 and its degrees of freedom d0 (Infinity-like values are capped, see above). */
  priorVariance: number;
  priorDf: number;
  /** Degrees of freedom of the residuals in all: observations - runs - seeds + 1. */
  residualDf: number;
}

/** Inverse of the trigamma function for y > 0 (Newton's method on 1/trigamma, as limma's trigammaInverse). */
function trigammaInverse(y: number): number {
  if (y > 1e7) return 1 / Math.sqrt(y);
  if (y < 1e-6) return 1 / y;
  let x = 0.5 + 1 / y;
  for (let i = 0; i < 50; i++) {
    const t = trigamma(x);
    // d/dx trigamma(x) = tetragamma(x); approximate it by a central difference (trigamma is smooth and monotone).
    const h = 1e-5 * x;
    const dt = (trigamma(x + h) - trigamma(x - h)) / (2 * h);
    const step = (t * (1 - t / y)) / dt;
    x += step;
    if (x <= 0) x = 1e-8;
    if (Math.abs(step) / x < 1e-10) break;
  }
  return x;
}

/**
 * Fits the two-way noise model to one scale's observations. Needs at least two seeds that share runs, so
 * that residual degrees of freedom exist; returns null otherwise (no interval can be computed).
 *
 * @example
 * const model = fitNoiseModel(['base', 'web@3'], [
 *   { run: 'base', seed: 0, response: 3.0 }, { run: 'web@3', seed: 0, response: 2.9 },
 *   { run: 'base', seed: 1, response: 3.1 }, { run: 'web@3', seed: 1, response: 2.95 },
 *   { run: 'base', seed: 2, response: 3.05 }, { run: 'web@3', seed: 2, response: 2.93 }]);
 * model?.variance // per-run variances of the log responses
 */
export function fitNoiseModel(runs: readonly string[], observations: readonly Observation[]): NoiseModel | null {
  const runIndex = new Map(runs.map((r, j) => [r, j]));
  const seeds = [...new Set(observations.map((o) => o.seed))].sort((a, b) => a - b);
  const seedIndex = new Map(seeds.map((s, i) => [s, i]));
  const cells: { j: number; i: number; z: number }[] = [];
  for (const o of observations) {
    const j = runIndex.get(o.run);
    if (j === undefined) throw new RangeError(`fitNoiseModel: observation of unknown run "${o.run}"`);
    if (!(o.response > 0) || !Number.isFinite(o.response)) throw new RangeError(`fitNoiseModel: run ${o.run} seed ${o.seed}: response ${o.response} must be a positive finite number`);
    cells.push({ j, i: seedIndex.get(o.seed)!, z: Math.log(o.response) });
  }
  const P = runs.length;
  const k = seeds.length;
  const n = new Array<number>(P).fill(0);
  for (const c of cells) n[c.j]! += 1;
  const residualDf = cells.length - P - k + 1;
  if (k < 2 || residualDf < 1) return null;

  // Alternating least squares for mu_j + u_s (exact in one sweep when every cell is present).
  const mu = new Array<number>(P).fill(0);
  const u = new Array<number>(k).fill(0);
  for (let sweep = 0; sweep < 200; sweep++) {
    const sumMu = new Array<number>(P).fill(0);
    for (const c of cells) sumMu[c.j]! += c.z - u[c.i]!;
    for (let j = 0; j < P; j++) mu[j] = n[j]! > 0 ? sumMu[j]! / n[j]! : 0;
    const sumU = new Array<number>(k).fill(0);
    const cnt = new Array<number>(k).fill(0);
    for (const c of cells) {
      sumU[c.i]! += c.z - mu[c.j]!;
      cnt[c.i]! += 1;
    }
    let change = 0;
    let centre = 0;
    for (let i = 0; i < k; i++) centre += sumU[i]! / cnt[i]!;
    centre /= k;
    for (let i = 0; i < k; i++) {
      const next = sumU[i]! / cnt[i]! - centre;
      change = Math.max(change, Math.abs(next - u[i]!));
      u[i] = next;
    }
    if (change < 1e-15) break;
  }
  const ss = new Array<number>(P).fill(0);
  for (const c of cells) {
    const r = c.z - mu[c.j]! - u[c.i]!;
    ss[c.j]! += r * r;
  }
  const totalSs = ss.reduce((a, b) => a + b, 0);
  const pooled = totalSs / residualDf;
  // Per-run variance: its residual sum of squares over its share of the residual degrees of freedom.
  // With every cell present the share is (k - 1)(P - 1)/P, so s_j^2 is unbiased for sigma^2 under equal noise.
  const d = n.map((nj) => Math.max(nj - 1, 0) * (P - 1) / P);
  const raw = ss.map((s, j) => (d[j]! > 0 ? s / d[j]! : Number.NaN));

  // Empirical Bayes prior (limma's fitFDist): moments of the log variances.
  const usable = raw.map((v, j) => ({ v, d: d[j]! })).filter((x) => x.d > 0 && x.v > 0 && Number.isFinite(x.v));
  let priorDf = residualDf;
  let priorVariance = pooled;
  if (usable.length >= 3) {
    const e = usable.map((x) => Math.log(x.v) - digamma(x.d / 2) + Math.log(x.d / 2));
    const eMean = e.reduce((a, b) => a + b, 0) / e.length;
    const eVar = e.reduce((a, b) => a + (b - eMean) * (b - eMean), 0) / (e.length - 1);
    const excess = eVar - usable.reduce((a, x) => a + trigamma(x.d / 2), 0) / usable.length;
    if (excess > 0) {
      priorDf = Math.min(2 * trigammaInverse(excess), residualDf);
      priorVariance = Math.exp(eMean + digamma(priorDf / 2) - Math.log(priorDf / 2));
    }
  }
  if (!(priorVariance > 0)) priorVariance = pooled > 0 ? pooled : 1e-12;
  const variance = raw.map((v, j) => {
    const dj = d[j]!;
    return dj > 0 && Number.isFinite(v) ? (priorDf * priorVariance + dj * v) / (priorDf + dj) : priorVariance;
  });
  const df = d.map((dj) => priorDf + dj);
  return { runs: [...runs], seeds, n, mu, rawVariance: raw, variance, df, priorVariance, priorDf, residualDf };
}

/**
 * One draw of the noise in each run's mean log response: e_j ~ N(0, sigma_j^2 / n_j), with sigma_j^2 itself
 * drawn from its posterior (scaled inverse chi-square), so the uncertainty of the variance estimate widens
 * the intervals as Student's t would.
 *
 * @example const e = drawMeanNoise(model, new RandomStream('ddo', 3e5)); // e[j] for run model.runs[j]
 */
export function drawMeanNoise(model: NoiseModel, rng: RandomStream): number[] {
  return model.runs.map((_, j) => {
    const df = model.df[j]!;
    const sigma2 = (model.variance[j]! * df) / chiSquareVariate(rng, df);
    return standardNormal(rng) * Math.sqrt(sigma2 / Math.max(model.n[j]!, 1));
  });
}
