// DDO at one scale, end to end: results table + base composition -> one fitted response curve per domain ->
// the exact constrained optimum -> the composition, with every fit, bound and fallback reported.
//
// Assumption (DESIGN.md): separability. The evaluation loss when several domains move at once is taken to be
// the sum of the one-at-a-time effects, L(x) ≈ sum_i f_i(x_i) + const, where f_i is fitted on the runs that
// perturb domain i alone. Interactions between domains (e.g. transfer from code to web text) are not modelled;
// the perturbations are local (1/3 to 3 by default), which is where this first-order picture is most accurate.

import { fitResponseCurve, type FitOptions, type ResponseFit } from './fit.js';
import type { DdoResults } from './results.js';
import { solveComposition, type ActiveBound, type SolveDomain } from './solve.js';
import type { Composition } from '../composition.js';
import { formatSignificant } from '../format.js';

export interface DdoOptions {
  /** Base composition N0 (tokens per domain) the runs perturbed; its domains must be exactly the results'. */
  baseTokens: Record<string, number>;
  /** Lower bound on every multiplier; default: each domain's smallest multiplier tried (no extrapolation). */
  minMultiplier?: number;
  /** Upper bound on every multiplier; default: each domain's largest multiplier tried. */
  maxMultiplier?: number;
  /** Noise of one normalised response (standard deviation), if known; see FitOptions.noise. */
  noise?: number;
}

export interface DdoDomainOutcome {
  domain: string;
  baseTokens: number;
  /** Optimal multiplier x_i and quantity N*_i = x_i N0_i. */
  multiplier: number;
  tokens: number;
  weight: number;
  lower: number;
  upper: number;
  /** 'lower' / 'upper' when a bound holds, 'fixed' when the domain had no usable fit, null when free. */
  bound: ActiveBound;
  fit: ResponseFit;
}

/**
 * DDO's optimum at one scale: the composition (scale = the base composition's total N) and how it was found. The
 * solver's result, not a file: ddoDocument (lib/composition.ts) is the one function that turns it into the file
 * (DdoCompositionFile), where `domains` becomes the per-domain maps "base", "bounds", "activeBounds" and "fits".
 */
export interface DdoComposition extends Composition {
  multipliers: Record<string, number>;
  domains: DdoDomainOutcome[];
  /** KKT multiplier (marginal normalised loss per token), null when nothing moved. */
  lambda: number | null;
  budgetResidual: number;
  /** Predicted normalised loss sum_i f_i(x_i) minus its value at the base (negative = improvement). */
  predictedChange: number;
  diagnostics: string[];
}

/**
 * Runs DDO on one scale's results: normalises each perturbation run's loss by the base run's
 * (y = loss / baseLoss, with the base as the point (1, 1)), fits f_i(x) = (x + a_i)^(-b_i) + c_i per domain,
 * and solves min sum_i f_i(x_i) s.t. sum_i x_i N0_i = N, lo <= x_i <= hi exactly.
 *
 * Degenerate fits (see FitStatus) are held fixed and stated in `diagnostics`: a domain whose loss does not fall
 * with more data ('not-decreasing') is held at its lower bound, as its tokens buy nothing; a domain whose
 * response is not a convex decreasing curve or is within the noise is held at its base quantity (multiplier 1),
 * because we cannot tell which way it should move. If no domain has a usable fit the base is returned unchanged.
 *
 * @example
 * const results = parseDdoResultsCsv(text, 'runs.csv');
 * const base = { web: 0.5, code: 0.5 };
 * optimizeComposition(results, { baseTokens: base }).weights // { web: 0.61, code: 0.39 }
 */
export function optimizeComposition(results: DdoResults, options: DdoOptions): DdoComposition {
  const base = options.baseTokens;
  const baseNames = Object.keys(base);
  for (const d of results.domains) {
    if (!(d in base)) throw new RangeError(`domain "${d}" has runs but is not in the base composition (${baseNames.join(', ')})`);
  }
  for (const d of baseNames) {
    if (!results.domains.includes(d)) throw new RangeError(`domain "${d}" is in the base composition but has no perturbation runs`);
    if (!(Number.isFinite(base[d]) && base[d]! > 0)) throw new RangeError(`base quantity of "${d}" is ${base[d]}; it must be positive`);
  }
  const { minMultiplier, maxMultiplier } = options;
  if (minMultiplier !== undefined && !(minMultiplier >= 0)) throw new RangeError(`min multiplier ${minMultiplier} must be >= 0`);
  if (maxMultiplier !== undefined && !(maxMultiplier > 0)) throw new RangeError(`max multiplier ${maxMultiplier} must be > 0`);
  if (minMultiplier !== undefined && maxMultiplier !== undefined && minMultiplier > maxMultiplier) {
    throw new RangeError(`min multiplier ${minMultiplier} is above max multiplier ${maxMultiplier}`);
  }
  const fitOptions: FitOptions = options.noise !== undefined ? { noise: options.noise } : {};
  const total = baseNames.reduce((s, d) => s + base[d]!, 0);
  const diagnostics: string[] = [];
  const solveDomains: SolveDomain[] = [];
  const fits: ResponseFit[] = [];
  for (const d of baseNames) {
    const rows = results.runs.filter((r) => r.domain === d);
    const points = [{ x: 1, y: 1 }, ...rows.map((r) => ({ x: r.multiplier, y: r.loss / results.baseLoss }))];
    const fit = fitResponseCurve(points, fitOptions);
    fits.push(fit);
    const xs = fit.points.map((p) => p.x);
    const lower = minMultiplier ?? Math.min(...xs);
    const upper = maxMultiplier ?? Math.max(...xs);
    if (lower > upper) throw new RangeError(`domain "${d}": lower bound ${lower} is above upper bound ${upper}`);
    const usable = fit.curve !== null;
    const fixedMultiplier = fit.status === 'not-decreasing' ? lower : 1;
    if (!usable) {
      diagnostics.push(`${d}: ${fit.status}: ${fit.message}; held at multiplier ${formatSignificant(Math.min(Math.max(fixedMultiplier, lower), upper), 6)}` +
        (fit.status === 'not-decreasing' ? ' (its lower bound)' : ' (its base quantity)'));
    } else if (fit.status === 'least-squares') {
      diagnostics.push(`${d}: ${fit.message}`);
    }
    solveDomains.push({ domain: d, baseTokens: base[d]!, curve: fit.curve, lower, upper, fixedMultiplier });
  }
  const anyUsable = solveDomains.some((s) => s.curve);
  let solved;
  if (!anyUsable) {
    diagnostics.push('no domain has a usable fit: the base composition is returned unchanged');
    solved = solveComposition(solveDomains.map((s) => ({ ...s, fixedMultiplier: 1, lower: Math.min(s.lower, 1), upper: Math.max(s.upper, 1) })), total);
  } else {
    solved = solveComposition(solveDomains, total);
  }
  const outcomes: DdoDomainOutcome[] = baseNames.map((d, i) => ({
    domain: d,
    baseTokens: base[d]!,
    multiplier: solved.multipliers[i]!,
    tokens: solved.tokens[i]!,
    weight: solved.tokens[i]! / total,
    lower: solveDomains[i]!.lower,
    upper: solveDomains[i]!.upper,
    bound: solved.active[i]!,
    fit: fits[i]!,
  }));
  for (const o of outcomes) {
    if (o.bound === 'lower' || o.bound === 'upper') {
      diagnostics.push(`${o.domain}: at its ${o.bound} bound (multiplier ${formatSignificant(o.multiplier, 6)}); the optimum may lie beyond the multipliers allowed`);
    }
  }
  let predictedChange = 0;
  fits.forEach((f, i) => {
    if (f.curve) {
      const { a, b } = f.curve;
      predictedChange += Math.pow(solved.multipliers[i]! + a, -b) - Math.pow(1 + a, -b);
    }
  });
  return {
    scale: total,
    tokens: Object.fromEntries(outcomes.map((o) => [o.domain, o.tokens])),
    weights: Object.fromEntries(outcomes.map((o) => [o.domain, o.weight])),
    multipliers: Object.fromEntries(outcomes.map((o) => [o.domain, o.multiplier])),
    domains: outcomes,
    lambda: solved.lambda,
    budgetResidual: solved.budgetResidual,
    predictedChange,
    diagnostics,
  };
}

