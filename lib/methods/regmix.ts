// RegMix (Liu et al. 2024, "RegMix: Data Mixture as Regression for Language Model Pre-training";
// sail-sg/regmix): train proxies on random mixtures, regress the response on the mixture weights, and take the
// mean of the mixtures the regression predicts best among many random candidates.
//
// The regression. The paper fits LightGBM on 512 runs (and a linear model as a weaker variant). We expect ~4D
// runs for D domains, too few for a tree ensemble (it would mostly memorise). We fit log(response) by ridge
// regression on the weights (the paper's linear variant, in logs so the prediction stays positive and a
// domain's effect is multiplicative), and, when there are enough runs (n >= D(D+1)/2 + 2), also on the pairwise
// products w_i w_j (Scheffé's quadratic mixture model: with sum w = 1 the squares are redundant). The log-linear
// model is monotone along every edge of the simplex, so its minimum is a corner; the quadratic model can have
// its minimum inside, where mixture optima usually are, but needs ~D^2/2 runs. The model and the ridge penalty
// are chosen by leave-one-out error (closed form through the hat matrix); the features are standardised over
// the runs, so the penalty lambda * n * |beta|^2 is relative to the data's own curvature.
//
// The search, as in the paper: draw many candidate mixtures (Dirichlet, seeded), predict each, and average the
// top-k (the paper: top 100 of 100k-1M). The paper draws around the token distribution; we draw around the runs
// themselves (their mean, with the concentration that matches their spread), so the regression is only asked
// about mixtures like the ones it was fitted on; `prior` and `concentration` override this.

import { RandomStream } from '../data/random.js';
import { formatSignificant } from '../format.js';
import { capIfLimited } from './baselines.js';
import { choleskyFactor, choleskySolve } from './cholesky.js';
import { drawDirichlet, priorVector } from './random-mixtures.js';
import { readSamples, runCloud, type MixtureSample } from './samples.js';
import { nearestDistance, toRecord } from './simplex.js';
import type { MethodResult, SupplyLimit } from './types.js';

export type { MixtureSample } from './samples.js';

/** `log-linear`: log(response) = b0 + sum_i b_i w_i. `log-quadratic`: plus sum_{i<j} b_ij w_i w_j. */
export type RegmixModelKind = 'log-linear' | 'log-quadratic';

export interface RegmixOptions {
  /** Seeds the candidate draws: the same runs and seed give the same answer. */
  seed: number;
  /** Cap the answer to the data supply (capToSupply). */
  limit?: SupplyLimit;
  /** Candidate mixtures drawn in the search; default 100 000 (the paper: 100k to 1M). */
  candidates?: number;
  /** How many of the best-predicted candidates are averaged; default 100 (the paper's text; its notebook uses 128). */
  topK?: number;
  /** Centre of the candidate draws; default the mean of the runs' mixtures. */
  prior?: Record<string, number>;
  /** Dirichlet concentration of the candidate draws; default the one matching the runs' spread. */
  concentration?: number;
}

export interface RegmixFit {
  kind: RegmixModelKind;
  /** R² of the fitted log(response) over the runs. */
  r2: number;
  /** Leave-one-out R² of log(response); null when no model gave a finite leave-one-out error. */
  looR2: number | null;
  /** Number of runs fitted. */
  n: number;
  /** The ridge penalty chosen (relative to the standardised features). */
  lambda: number;
  /** The model's predicted response at the returned (capped) mixture. */
  predicted: number;
}

// Ridge penalties tried, smallest to largest: from nearly plain least squares to strong shrinkage.
const LAMBDAS = [1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1];
// Below this leave-one-out R² the notes call the fit poor (the brief of issue 15; half the variance unexplained).
const POOR_LOO_R2 = 0.5;

function featureVector(kind: RegmixModelKind, w: readonly number[]): number[] {
  if (kind === 'log-linear') return [...w];
  const f = [...w];
  for (let i = 0; i < w.length; i++) for (let j = i + 1; j < w.length; j++) f.push(w[i]! * w[j]!);
  return f;
}

interface RidgeModel {
  /** prediction = intercept + sum_j coef_j f_j on the raw features. */
  intercept: number;
  coef: number[];
  sse: number;
  /** Sum of squared leave-one-out residuals; Infinity when a run has leverage ~1. */
  press: number;
}

// Ridge regression of y on the rows of F with an unpenalised intercept: features centred and scaled to unit
// variance, beta = (Z^T Z + lambda n I)^-1 Z^T (y - mean y). Leave-one-out residuals e_k / (1 - h_kk) with
// h_kk = 1/n + z_k^T (Z^T Z + lambda n I)^-1 z_k (exact for a fixed centring and scaling).
function fitRidge(F: readonly number[][], y: readonly number[], lambda: number): RidgeModel | null {
  const n = F.length;
  const p = F[0]!.length;
  const means = new Array<number>(p).fill(0);
  for (const row of F) row.forEach((v, j) => (means[j]! += v / n));
  const scales = means.map((m, j) => {
    let s = 0;
    for (const row of F) s += (row[j]! - m) ** 2;
    const sd = Math.sqrt(s / n);
    return sd > 1e-12 ? sd : 0;
  });
  const Z = F.map((row) => row.map((v, j) => (scales[j]! > 0 ? (v - means[j]!) / scales[j]! : 0)));
  const ybar = y.reduce((s, v) => s + v, 0) / n;
  const A = Array.from({ length: p }, (_, i) => Array.from({ length: p }, (_, j) => (i === j ? lambda * n : 0)));
  const b = new Array<number>(p).fill(0);
  for (let k = 0; k < n; k++) {
    const z = Z[k]!;
    for (let i = 0; i < p; i++) {
      b[i]! += z[i]! * (y[k]! - ybar);
      for (let j = 0; j <= i; j++) A[i]![j]! += z[i]! * z[j]!;
    }
  }
  for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) A[i]![j] = A[j]![i]!;
  const L = choleskyFactor(A);
  if (L === null) return null;
  const beta = choleskySolve(L, b);
  let sse = 0;
  let press = 0;
  for (let k = 0; k < n; k++) {
    const z = Z[k]!;
    const e = y[k]! - ybar - z.reduce((s, v, j) => s + v * beta[j]!, 0);
    const v = choleskySolve(L, z);
    const h = 1 / n + z.reduce((s, zj, j) => s + zj * v[j]!, 0);
    sse += e * e;
    press += 1 - h > 1e-9 ? (e / (1 - h)) ** 2 : Infinity;
  }
  const coef = beta.map((bj, j) => (scales[j]! > 0 ? bj / scales[j]! : 0));
  const intercept = ybar - coef.reduce((s, c, j) => s + c * means[j]!, 0);
  return { intercept, coef, sse, press };
}

function predictLog(model: RidgeModel, kind: RegmixModelKind, w: readonly number[]): number {
  const f = featureVector(kind, w);
  return model.intercept + f.reduce((s, v, j) => s + v * model.coef[j]!, 0);
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`regmixOptimum: ${name} must be an integer >= 1, got ${value}`);
  return v;
}

/**
 * The RegMix optimum of the runs' response: fit log(response) on the mixture weights (see the file comment for
 * the model), search the simplex by random candidates, average the top-k predicted, cap to the supply.
 * Needs at least D + 1 runs for D domains; the notes say when the fit is too poor to trust (leave-one-out R²
 * below 0.5, or fewer than D + 2 runs).
 *
 * @example
 * const runs = randomMixtures({ web: 1, code: 1, books: 1 }, 12, 1).map((w) => ({ weights: w, response: lossOf(w) }));
 * regmixOptimum(runs, { seed: 1 }) // { weights: { web: 0.5, ... }, fit: { kind: 'log-linear', r2: 0.97, looR2: 0.93, ... }, ... }
 */
export function regmixOptimum(samples: MixtureSample[], opts: RegmixOptions): MethodResult & { fit: RegmixFit } {
  const what = 'regmixOptimum';
  if (opts === null || typeof opts !== 'object') throw new Error(`${what}: options { seed, limit?, candidates?, topK? } are required`);
  if (typeof opts.seed !== 'number' || !Number.isFinite(opts.seed)) throw new Error(`${what}: seed must be a finite number, got ${opts.seed}`);
  const { domains, points, responses } = readSamples(samples, what, (d) => d + 1, 'the log-linear model has one parameter per domain, and one run more leaves a residual');
  const D = domains.length;
  const n = points.length;
  const candidateCount = positiveInteger(opts.candidates, 100_000, 'candidates');
  const topK = positiveInteger(opts.topK, 100, 'topK');
  if (topK > candidateCount) throw new Error(`${what}: topK (${topK}) is more than the candidates drawn (${candidateCount}); lower topK or draw more candidates`);
  const y = responses.map((r) => Math.log(r));
  const ybar = y.reduce((s, v) => s + v, 0) / n;
  const sst = y.reduce((s, v) => s + (v - ybar) ** 2, 0);
  if (!(sst > 1e-24 * n)) {
    throw new Error(`${what}: all ${n} runs have the same response (${responses[0]}); nothing to regress. Check that the runs trained on different mixtures and that the response is their held-out loss`);
  }

  // Choose the model and the penalty by leave-one-out error.
  const kinds: RegmixModelKind[] = n >= (D * (D + 1)) / 2 + 2 ? ['log-linear', 'log-quadratic'] : ['log-linear'];
  // The first model tried wins ties (and stands when no leave-one-out error is finite): simpler, less shrunk.
  let best: { kind: RegmixModelKind; lambda: number; model: RidgeModel } | null = null;
  for (const kind of kinds) {
    const F = points.map((w) => featureVector(kind, w));
    for (const lambda of LAMBDAS) {
      const model = fitRidge(F, y, lambda);
      if (model !== null && (best === null || model.press < best.model.press)) best = { kind, lambda, model };
    }
  }
  if (best === null) throw new Error(`${what}: the ridge regression could not be solved (non-finite weights or responses?)`);
  const { kind, lambda, model } = best;
  const r2 = 1 - model.sse / sst;
  const looR2 = Number.isFinite(model.press) ? 1 - model.press / sst : null;

  // Search: candidates around the runs (or the given prior), the mean of the top-k predicted.
  let centre: number[];
  let concentration: number;
  if (opts.prior !== undefined) {
    const read = priorVector(opts.prior, `${what}: prior`);
    if (read.domains.length !== D || read.domains.some((d) => !domains.includes(d))) {
      throw new Error(`${what}: prior must name exactly the runs' domains (${domains.join(', ')}), got ${read.domains.join(', ')}`);
    }
    centre = domains.map((d) => read.prior[read.domains.indexOf(d)]!);
    concentration = opts.concentration ?? runCloud(points).concentration;
  } else {
    const cloud = runCloud(points);
    centre = cloud.mean;
    concentration = opts.concentration ?? cloud.concentration;
  }
  if (!(concentration > 0) || !Number.isFinite(concentration)) throw new Error(`${what}: concentration must be a finite number > 0, got ${opts.concentration}`);
  // A domain no run used gets a tiny share of the Dirichlet parameters rather than none (alpha must be > 0).
  const alpha = centre.map((m) => Math.max(m, 1e-9) * concentration);
  const rng = new RandomStream(opts.seed, 'regmix-search');
  const candidates = new Float64Array(candidateCount * D);
  const predicted = new Float64Array(candidateCount);
  for (let c = 0; c < candidateCount; c++) {
    const w = drawDirichlet(rng, alpha);
    candidates.set(w, c * D);
    predicted[c] = predictLog(model, kind, w);
  }
  const order = Array.from({ length: candidateCount }, (_, c) => c).sort((a, b) => predicted[a]! - predicted[b]!);
  const answer = new Array<number>(D).fill(0);
  for (let r = 0; r < topK; r++) for (let i = 0; i < D; i++) answer[i]! += candidates[order[r]! * D + i]! / topK;

  const notes: string[] = [];
  const fmt = (v: number): string => formatSignificant(v, 3);
  notes.push(
    `RegMix fitted log(response) by ridge regression on the ${kind === 'log-linear' ? 'weights' : 'weights and their pairwise products'} ` +
      `(lambda ${lambda}, chosen with the model by leave-one-out error over ${n} runs): R² ${fmt(r2)}, leave-one-out R² ${looR2 === null ? 'not available' : fmt(looR2)} ` +
      `(slightly optimistic, as the model was chosen on it).`,
  );
  if (n < D + 2) notes.push(`Only ${n} runs for ${D} domains: the fit has no spare run, so the optimum is unreliable; train at least ${4 * D} runs (4 per domain).`);
  if (looR2 === null || looR2 < POOR_LOO_R2) {
    notes.push(
      `The regression predicts left-out runs poorly (leave-one-out R² ${looR2 === null ? 'not available' : fmt(looR2)}, below ${POOR_LOO_R2}): the optimum is unreliable. ` +
        `Train more runs, or reduce the noise of the response (more seeds per run).`,
    );
  }
  if (kind === 'log-linear') {
    const bestCorner = domains[model.coef.indexOf(Math.min(...model.coef))]!;
    notes.push(`A log-linear model is lowest at a corner of the simplex (all "${bestCorner}"); averaging the top ${topK} candidates keeps the answer among mixtures like the runs, but it still leans towards that domain.`);
  }
  notes.push(`Searched ${candidateCount} candidate mixtures (Dirichlet around ${opts.prior === undefined ? "the runs' mean" : 'the given prior'}, concentration ${fmt(concentration)}); the answer is the mean of the top ${topK} predicted.`);

  const { weights, capped, notes: capNotes } = capIfLimited(toRecord(domains, answer), opts.limit);
  notes.push(...capNotes);
  const final = domains.map((d) => weights[d]!);
  const predictedResponse = Math.exp(predictLog(model, kind, final));
  const bestRun = responses.indexOf(Math.min(...responses));
  notes.push(
    `Predicted response at this mixture: ${formatSignificant(predictedResponse, 4)} (best run measured ${formatSignificant(responses[bestRun]!, 4)}); ` +
      `the nearest run is at L1 distance ${fmt(nearestDistance(final, points))}.`,
  );
  return { weights, capped, notes, fit: { kind, r2, looR2, n, lambda, predicted: predictedResponse } };
}
