// The proxy runs a regression method learns from: the mixture each run trained on and what it measured.
// Checking them once here gives RegMix and Data Mixing Laws the same errors for the same mistakes.

import { checkDomainNames, meanMixture, mixtureVector } from './simplex.js';

/** One proxy run: the mixture it trained on, its response (lower is better), and per-domain held-out losses. */
export interface MixtureSample {
  weights: Record<string, number>;
  /** The quantity to minimise, e.g. the mean held-out loss. Must be finite and > 0. */
  response: number;
  /** Held-out loss per evaluation domain (Data Mixing Laws fits one law per entry). */
  losses?: Record<string, number>;
}

/** The runs as vectors in one domain order. */
export interface SampleMatrix {
  /** The training domains, in the order of the first run's weights. */
  domains: string[];
  /** points[k][i]: share of domains[i] in run k, summing to 1 per run. */
  points: number[][];
  responses: number[];
}

/**
 * Checks the runs and reads them into vectors: at least `minRuns` runs, every run's weights on the simplex over
 * the same domains, responses finite and > 0. `what` names the caller in errors; `minRuns(D)` gives the
 * smallest number of runs the method accepts for D domains, `minRunsWhy` says why.
 */
export function readSamples(samples: readonly MixtureSample[], what: string, minRuns: (domainCount: number) => number, minRunsWhy: string): SampleMatrix {
  if (!Array.isArray(samples) || samples.length === 0) throw new Error(`${what}: no runs given; pass the proxy runs as [{ weights, response }]`);
  const first = samples[0];
  if (first === null || typeof first !== 'object' || first.weights === null || typeof first.weights !== 'object') {
    throw new Error(`${what}: run 0 has no weights; each run is { weights: {domain: share}, response }`);
  }
  const domains = Object.keys(first.weights);
  checkDomainNames(domains, `${what}: run 0`);
  const need = minRuns(domains.length);
  if (samples.length < need) {
    throw new Error(`${what}: ${samples.length} runs for ${domains.length} domains; at least ${need} are needed (${minRunsWhy}); train more proxy runs`);
  }
  const points = samples.map((s, k) => {
    if (s === null || typeof s !== 'object') throw new Error(`${what}: run ${k} is not an object { weights, response }`);
    return mixtureVector(s.weights, domains, `${what}: run ${k}`);
  });
  const responses = samples.map((s, k) => {
    const r = s.response;
    if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0) {
      throw new Error(`${what}: run ${k} has response ${r}; responses must be finite losses > 0 (a failed or diverged run must be rerun or left out)`);
    }
    return r;
  });
  return { domains, points, responses };
}

/**
 * Where the runs lie: their mean mixture and the Dirichlet concentration that matches their spread (method of
 * moments: Var(x_i) = m_i (1 - m_i) / (concentration + 1), pooled over domains), clamped to [0.1, 1e4]. The
 * methods search for their optimum among draws from this Dirichlet, i.e. where the runs were, so the fitted model
 * is not asked about mixtures it has never seen.
 *
 * @example runCloud([[1, 0], [0, 1]]).mean // [0.5, 0.5]
 */
export function runCloud(points: readonly (readonly number[])[]): { mean: number[]; concentration: number } {
  const mean = meanMixture(points);
  let spread = 0;
  let variance = 0;
  for (let i = 0; i < mean.length; i++) {
    spread += mean[i]! * (1 - mean[i]!);
    for (const p of points) variance += (p[i]! - mean[i]!) ** 2 / Math.max(points.length - 1, 1);
  }
  const concentration = variance > 0 ? spread / variance - 1 : Infinity;
  return { mean, concentration: Math.min(Math.max(concentration, 0.1), 1e4) };
}
