// Random training mixtures for the proxy runs of a regression method (RegMix, Data Mixing Laws): Dirichlet
// draws around a prior mixture, reproducible from a seed. Also the Dirichlet sampler the methods use to search
// the simplex for their optimum.
//
// What RegMix does (sail-sg/regmix, mixture_config/synthesize_mixture.py): prior = the token distribution
// raised to a temperature of 0.5 and renormalised; each candidate is Dirichlet(strength * prior) with the
// strength picked among 15 values log-spaced from 0.1 to 5 (so the Dirichlet parameters sum to 0.1..5: sparse
// mixtures, often dominated by one or two domains); candidates with a share above 15 epochs of the domain's
// tokens are rejected; shares below 2e-4 are set to 0 and the rest rounded to multiples of 2e-4; then 512 are
// drawn from the deduplicated candidates, for a LightGBM fit on 512 runs.
//
// What we do: one concentration, Dirichlet(concentration * prior), default concentration = D (the number of
// domains). With a uniform prior that is the flat Dirichlet, uniform on the simplex; in general share i has mean
// prior_i and standard deviation sqrt(prior_i (1 - prior_i) / (D + 1)). We have ~4D runs, not 512: every run
// should inform every domain's coefficient, so every domain should have a real share in most runs, and the runs
// should stay where a smooth regression of the loss is believable. RegMix's sparse draws (strength 0.1..5 over
// 17 domains) suit a tree ensemble with hundreds of runs, not a ridge regression on a few dozen. The
// temperature (default 1: the prior as given) and RegMix's minimum share (default 0: no share zeroed) are
// options; for a skewed token distribution pass temperature 0.5 as RegMix does, or domains with a small prior
// get almost no tokens in every draw. The supply cap is applied to the final answer (capToSupply), not by
// rejecting draws.

import { RandomStream } from '../data/random.js';
import { gammaVariate } from '../stats/sampling.js';
import { formatSignificant } from '../format.js';
import { checkDomainNames, toRecord } from './simplex.js';

export interface RandomMixtureOptions {
  /** The prior is raised to this power and renormalised before drawing (RegMix: 0.5). Default 1. */
  temperature?: number;
  /** Shares below this are set to 0 and the rest renormalised (RegMix: 2e-4). Default 0. Must be < 1/D. */
  minWeight?: number;
}

/**
 * log of a Gamma(shape, 1) variate. In logs because Dirichlet parameters far below 1 give Gamma variates that
 * underflow to 0 (shape 0.001 gives U^1000); Gamma(a) = Gamma(a + 1) U^(1/a) for a < 1 (Marsaglia and Tsang).
 */
function logGammaVariate(rng: RandomStream, shape: number): number {
  if (shape >= 1) return Math.log(gammaVariate(rng, shape));
  let u = rng.next();
  while (u === 0) u = rng.next();
  return Math.log(gammaVariate(rng, shape + 1)) + Math.log(u) / shape;
}

/**
 * One Dirichlet(alpha) draw: a mixture with E[x_i] = alpha_i / sum(alpha). Shares can be exactly 0 when an
 * alpha is so small that its share is below ~1e-308 of the largest.
 *
 * @example drawDirichlet(new RandomStream(1, 'x'), [1, 1, 1]) // e.g. [0.21, 0.52, 0.27]
 */
export function drawDirichlet(rng: RandomStream, alpha: readonly number[]): number[] {
  const logs = alpha.map((a) => logGammaVariate(rng, a));
  const top = Math.max(...logs);
  const x = logs.map((l) => Math.exp(l - top));
  const sum = x.reduce((s, v) => s + v, 0);
  return x.map((v) => v / sum);
}

/**
 * Reads and normalises a prior mixture: finite, > 0 for every domain (a domain with prior 0 would never be
 * drawn). Returns the domains and the prior in that order, summing to 1.
 */
export function priorVector(prior: Record<string, number>, what: string): { domains: string[]; prior: number[] } {
  const domains = Object.keys(prior ?? {});
  checkDomainNames(domains, what);
  const v = domains.map((d) => {
    const p = prior[d];
    if (typeof p !== 'number' || !Number.isFinite(p) || p <= 0) {
      throw new Error(`${what}: the prior of "${d}" must be a finite number > 0, got ${p}; give every domain a positive prior (e.g. its token count) or leave the domain out`);
    }
    return p;
  });
  const sum = v.reduce((s, x) => s + x, 0);
  return { domains, prior: v.map((x) => x / sum) };
}

/**
 * n random mixtures, Dirichlet(concentration * prior) (RegMix's sampling around the token distribution; see the
 * file comment for what we follow and why). The prior need not sum to 1 (token counts will do); it is
 * normalised. Reproducible: the same prior, n, seed, concentration and options give the identical array on
 * every platform, and the first k mixtures do not depend on n.
 *
 * @param concentration sum of the Dirichlet parameters; default D (the flat Dirichlet for a uniform prior).
 *   Larger values keep the draws closer to the prior.
 * @example randomMixtures({ web: 3, code: 1 }, 2, 7) // e.g. [{ web: 0.81, code: 0.19 }, { web: 0.55, code: 0.45 }]
 */
export function randomMixtures(
  prior: Record<string, number>,
  n: number,
  seed: number,
  concentration?: number,
  options: RandomMixtureOptions = {},
): Record<string, number>[] {
  const what = 'randomMixtures';
  const { domains, prior: p0 } = priorVector(prior, what);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: n (how many mixtures) must be an integer >= 1, got ${n}`);
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new Error(`${what}: seed must be a finite number, got ${seed}`);
  const alpha0 = concentration ?? domains.length;
  if (typeof alpha0 !== 'number' || !Number.isFinite(alpha0) || alpha0 <= 0) {
    throw new Error(`${what}: concentration must be a finite number > 0 (default: the number of domains), got ${concentration}`);
  }
  const temperature = options.temperature ?? 1;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new Error(`${what}: temperature must be a finite number > 0 (1 keeps the prior, RegMix uses 0.5), got ${options.temperature}`);
  }
  const minWeight = options.minWeight ?? 0;
  if (typeof minWeight !== 'number' || !(minWeight >= 0 && minWeight < 1 / domains.length)) {
    throw new Error(`${what}: minWeight must be >= 0 and below 1/D = ${formatSignificant(1 / domains.length, 4)} (RegMix uses 2e-4), got ${options.minWeight}`);
  }
  const tempered = p0.map((x) => Math.pow(x, temperature));
  const temperedSum = tempered.reduce((s, x) => s + x, 0);
  const alpha = tempered.map((x) => (alpha0 * x) / temperedSum);
  const rng = new RandomStream(seed, 'random-mixtures');
  const out: Record<string, number>[] = [];
  for (let k = 0; k < n; k++) {
    let x = drawDirichlet(rng, alpha);
    if (minWeight > 0) {
      // The largest share is >= 1/D > minWeight, so something survives.
      x = x.map((v) => (v < minWeight ? 0 : v));
      const sum = x.reduce((s, v) => s + v, 0);
      x = x.map((v) => v / sum);
    }
    out.push(toRecord(domains, x));
  }
  return out;
}
