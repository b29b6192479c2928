// Analysis: from the registry's records to results. DDO at one scale (fit per domain, solve), the AutoScale
// predictor over the scales, and the validation summary. Reads the registry; trains and writes nothing.
import type { PreparedData } from '../data/prepare.js';
import { predictComposition, supplyCaps, type CompositionPrediction } from '../autoscale.js';
import { ddoDocument, type CompositionJson } from '../composition.js';
import { optimizeComposition, type DdoComposition } from '../ddo/optimize.js';
import type { DdoResults } from '../ddo/results.js';
import type { PipelineConfig } from '../pipeline-config.js';
import type { Registry, RunRecord } from '../registry.js';
import type { DomainFit, ScaleSummary, ValidationCurve, ValidationSummary } from '../report.js';
import type { ProxyRunResult } from '../train.js';
import type { DdoScalePlan, RunSlot, ValidationPlan } from './plan.js';

function sum(values: Iterable<number>): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

/**
 * The response of a run: the evaluation target, a weighted mean of per-domain held-out losses
 * (domains without a loss or with weight 0 are left out).
 * @example response({ books: 3, code: 2 }, { books: 1, code: 1 }) // 2.5
 */
export function response(losses: Record<string, number>, weights: Record<string, number>): number {
  let total = 0;
  let weight = 0;
  for (const [d, w] of Object.entries(weights)) {
    const loss = losses[d];
    if (loss === undefined || w === 0) continue;
    total += w * loss;
    weight += w;
  }
  return total / weight;
}

/** What a failed (or missing) record says, e.g. "loss is NaN at step 12 [ERR_NON_FINITE]". */
function failureOf(record: RunRecord<ProxyRunResult> | undefined): string {
  return `${record?.error ?? 'no result'}${record?.errorCode ? ` [${record.errorCode}]` : ''}`;
}

/** DDO at one scale: the composition file, the report's summary and what failed runs mean. Null when the base failed. */
export interface ScaleAnalysis {
  composition: CompositionJson | null;
  summary: ScaleSummary | null;
  diagnostics: string[];
}

/**
 * DDO at one scale from the registry's records: per seed the base response, per perturbation run the mean
 * over seeds of its response over the base's; fit per domain and solve within `bounds`. A domain with fewer
 * than 3 points (base included) is held at its base quantity, and the diagnostics say so.
 */
export function ddoAtScale(
  plan: DdoScalePlan,
  bounds: PipelineConfig['bounds'],
  evalWeights: Record<string, number>,
  registry: Registry,
): ScaleAnalysis {
  const { scale, base, runs, slots } = plan;
  const diagnostics: string[] = [];
  const domains = Object.keys(base);
  const recordOf = (slot: RunSlot): RunRecord<ProxyRunResult> | undefined => registry.get<ProxyRunResult>(slot.key);
  // Per seed: the base response; per run id: mean over seeds of response / base response.
  const baseBySeed = new Map<number, number>();
  for (const slot of slots.filter((s) => s.id === 'base')) {
    const r = recordOf(slot);
    if (r?.status === 'finished' && r.result) baseBySeed.set(slot.seed, response(r.result.losses, evalWeights));
    else diagnostics.push(`the base run ${slot.label} failed (${failureOf(r)})`);
  }
  if (baseBySeed.size === 0) {
    diagnostics.push('without a base run this scale has no reference to normalise by: it is left out of the prediction');
    return { composition: null, summary: null, diagnostics };
  }
  const baseLoss = sum(baseBySeed.values()) / baseBySeed.size;
  const ratios = new Map<string, number>();
  for (const run of runs.filter((r) => r.domain !== null)) {
    const values: number[] = [];
    for (const slot of slots.filter((s) => s.id === run.id)) {
      const r = recordOf(slot);
      const b = baseBySeed.get(slot.seed);
      if (r?.status === 'finished' && r.result && b !== undefined) values.push(response(r.result.losses, evalWeights) / b);
      else if (r?.status !== 'finished') diagnostics.push(`run ${slot.label} failed (${failureOf(r)}): its point is missing from the ${run.domain} fit`);
    }
    if (values.length > 0) ratios.set(run.id, sum(values) / values.length);
  }
  // A domain needs all-but-none of its points: with fewer than 3 points (base included) it cannot be fitted.
  const usable = domains.filter((d) => runs.filter((r) => r.domain === d && ratios.has(r.id)).length >= 2);
  const held = domains.filter((d) => !usable.includes(d));
  for (const d of held) {
    diagnostics.push(`${d} has fewer than 3 points (base included), so it cannot be fitted: it is held at its base quantity in this scale's optimum, and its trend across scales in the prediction reflects that`);
  }
  const results: DdoResults = {
    baseLoss,
    domains: usable,
    runs: runs
      .filter((r) => r.domain !== null && usable.includes(r.domain) && ratios.has(r.id))
      .map((r, i) => ({ domain: r.domain!, multiplier: r.multiplier, loss: ratios.get(r.id)! * baseLoss, line: i + 2 })),
  };
  const tokens: Record<string, number> = {};
  // The fits twice: in the composition file's shape (only used when a domain is held, see below) and the report's.
  const fitsJson: Record<string, unknown> = {};
  const fits: DomainFit[] = [];
  const active: string[] = [];
  let solved: DdoComposition | null = null;
  if (usable.length > 0) {
    const usableBase = Object.fromEntries(usable.map((d) => [d, base[d]!]));
    const ddoOptions: Parameters<typeof optimizeComposition>[1] = { baseTokens: usableBase };
    if (bounds.min !== null) ddoOptions.minMultiplier = bounds.min;
    if (bounds.max !== null) ddoOptions.maxMultiplier = bounds.max;
    solved = optimizeComposition(results, ddoOptions);
    diagnostics.push(...solved.diagnostics);
    for (const o of solved.domains) {
      tokens[o.domain] = o.tokens;
      if (o.bound === 'lower' || o.bound === 'upper') active.push(o.domain);
      fitsJson[o.domain] = {
        status: o.fit.status,
        curve: o.fit.curve,
        points: o.fit.points,
        rms: o.fit.rms,
        multiplier: o.multiplier,
        bound: o.bound,
        message: o.fit.message,
      };
      const curve = o.fit.curve;
      fits.push({
        domain: o.domain,
        a: curve?.a ?? Number.NaN,
        b: curve?.b ?? Number.NaN,
        c: curve?.c ?? Number.NaN,
        points: o.fit.points.map((p) => ({ multiplier: p.x, response: p.y })),
        rmse: o.fit.rms,
        warning: curve ? (o.fit.status === 'exact' || o.fit.status === 'least-squares' ? null : o.fit.message) : `${o.fit.status}: ${o.fit.message}`,
      });
    }
  }
  for (const d of held) {
    tokens[d] = base[d]!;
    fitsJson[d] = { status: 'missing-runs', curve: null, multiplier: 1, bound: 'fixed', message: 'fewer than 3 points: held at the base quantity' };
  }
  const ordered = Object.fromEntries(domains.map((d) => [d, tokens[d]!]));
  const weights = Object.fromEntries(domains.map((d) => [d, ordered[d]! / scale]));
  const composition: CompositionJson = solved
    ? { ...ddoDocument(solved, `ddo-${scale}.csv`), scale, tokens: ordered, weights, diagnostics: diagnostics.slice() }
    : { scale, tokens: ordered, weights, method: 'ddo', results: `ddo-${scale}.csv`, diagnostics: diagnostics.slice() };
  if (held.length > 0) {
    composition.fits = { ...((composition.fits as Record<string, unknown>) ?? {}), ...fitsJson };
  }
  return {
    composition,
    summary: { scale, base, tokens: ordered, weights, fits, activeBounds: active, baseLoss },
    diagnostics,
  };
}

/**
 * The AutoScale predictor over the DDO compositions: the composition at any total, each domain capped at
 * its training tokens x `maxEpochs`.
 * @example autoscalePredictor(compositions, prepared, 10)(1e10).weights
 */
export function autoscalePredictor(
  compositions: readonly CompositionJson[],
  prepared: PreparedData,
  maxEpochs: number,
): (target: number) => CompositionPrediction {
  const supply = supplyCaps(Object.fromEntries(prepared.domains.map((d) => [d.name, d.trainTokens])), maxEpochs);
  return (target) => predictComposition(compositions.map((c) => ({ scale: c.scale, tokens: c.tokens })), target, { supply });
}

/** Validation curves per mixture and the speed-up: the tokens AutoScale needs to reach uniform's final loss. */
export function validationSummary(plan: ValidationPlan, registry: Registry, evalWeights: Record<string, number>): ValidationSummary {
  const { scale, mixtures, slots } = plan;
  const curves: ValidationCurve[] = mixtures.map((m, i) => {
    const slot = slots[i]!;
    const r = registry.get<ProxyRunResult>(slot.key);
    const total = sum(Object.values(m.tokens));
    const weights = Object.fromEntries(Object.entries(m.tokens).map(([d, n]) => [d, n / total]));
    if (r?.status !== 'finished' || !r.result) {
      return { mixture: m.name, weights, points: [], finalLosses: {}, failed: failureOf(r) };
    }
    return {
      mixture: m.name,
      weights,
      points: r.result.curve.map((p) => ({ tokens: p.tokens, loss: response(p.losses, evalWeights) })),
      finalLosses: r.result.losses,
      failed: null,
    };
  });
  const uniform = curves[0]!;
  const auto = curves[2]!;
  const tokenFraction = tokensToReach(auto.points, uniform.points[uniform.points.length - 1]?.loss);
  return { scale, curves, tokenFraction, speedupPercent: tokenFraction === null || tokenFraction <= 0 ? null : (1 / tokenFraction - 1) * 100 };
}

/**
 * The fraction of its tokens a loss curve needs to first reach `target`, interpolating linearly
 * between evaluations (from (0, first loss) is not assumed: before the first point we cannot tell).
 * null when the curve never reaches it or there is no target.
 *
 * @example tokensToReach([{ tokens: 100, loss: 3 }, { tokens: 200, loss: 2 }], 2.5) // 0.75
 */
export function tokensToReach(points: { tokens: number; loss: number }[], target: number | undefined): number | null {
  if (target === undefined || points.length === 0) return null;
  const last = points[points.length - 1]!;
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (p.loss <= target) {
      if (i === 0) return p.tokens / last.tokens;
      const q = points[i - 1]!;
      const t = (q.loss - target) / (q.loss - p.loss);
      return (q.tokens + t * (p.tokens - q.tokens)) / last.tokens;
    }
  }
  return null;
}
