// Analysis: from the registry's records to results. DDO at one scale (fit per domain, solve), the AutoScale
// predictor over the scales, and the validation summary. Reads the registry; trains and writes nothing.
import type { PreparedData } from '../data/prepare.js';
import { predictComposition, supplyCaps, type CompositionPrediction } from '../autoscale.js';
import { ddoDocument, type Composition, type DdoCompositionFile } from '../composition.js';
import type { DdoOptions } from '../ddo/optimize.js';
import { replicatedDdo, type ReplicatedDdo } from '../stats/ddo-replicates.js';
import type { Observation } from '../stats/noise-model.js';
import type { PipelineConfig } from '../pipeline-config.js';
import type { Registry, RunRecord } from '../registry.js';
import type { MixtureComparison, MixtureMethodSummary, ValidationCurve, ValidationSummary } from '../report.js';
import { formatTokens } from '../format.js';
import { pairedDifference, rankByPairedDifferences, tokenSaving, verdictOf, type MixtureRanking, type PairedDifference, type TokenSaving, type Verdict } from '../stats/paired.js';
import { mean, sampleSd, studentTQuantile } from '../stats/sampling.js';
import type { ProxyRunResult } from '../train.js';
import type { SupplyLimit } from '../methods/index.js';
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

/** DDO at one scale: the composition file (which the report reads too) and what failed runs mean. Null when the base failed. */
export interface ScaleAnalysis {
  composition: DdoCompositionFile | null;
  diagnostics: string[];
  /** The replicate statistics (per-seed optima, noise audit, intervals, draws); null when the base failed. */
  replicated: ReplicatedDdo | null;
}

/**
 * DDO at one scale from the registry's records: per seed the base response, per perturbation run the mean
 * over seeds of its response over the base's; fit per domain and solve within `bounds`; per seed the same on its
 * own; the noise audit; intervals from the replicates (lib/stats). A domain with fewer than 3 points (base
 * included) is held at its base quantity, and the diagnostics say so.
 */
export function ddoAtScale(
  plan: DdoScalePlan,
  bounds: PipelineConfig['bounds'],
  evalWeights: Record<string, number>,
  registry: Registry,
  intervals: PipelineConfig['intervals'] = { level: 0.9, draws: 400 },
): ScaleAnalysis {
  const { scale, base, runs, slots } = plan;
  const diagnostics: string[] = [];
  const domains = Object.keys(base);
  const recordOf = (slot: RunSlot): RunRecord<ProxyRunResult> | undefined => registry.get<ProxyRunResult>(slot.key);
  const observations: Observation[] = [];
  for (const slot of slots) {
    const r = recordOf(slot);
    if (r?.status === 'finished' && r.result) observations.push({ run: slot.id, seed: slot.seed, response: response(r.result.losses, evalWeights) });
  }
  const baseSeeds = new Set(observations.filter((o) => o.run === 'base').map((o) => o.seed));
  for (const slot of slots.filter((s) => s.id === 'base')) {
    if (!baseSeeds.has(slot.seed)) diagnostics.push(`the base run ${slot.label} failed (${failureOf(recordOf(slot))}): the other runs of seed ${slot.seed} at this scale have nothing to be normalised by and are left out`);
  }
  if (baseSeeds.size === 0) {
    diagnostics.push('without a base run this scale has no reference to normalise by: it is left out of the prediction');
    return { composition: null, diagnostics, replicated: null };
  }
  for (const slot of slots.filter((s) => s.id !== 'base' && baseSeeds.has(s.seed))) {
    const r = recordOf(slot);
    if (r?.status !== 'finished') diagnostics.push(`run ${slot.label} failed (${failureOf(r)}): its point is missing from the ${slot.domain} fit for seed ${slot.seed}`);
  }
  const observed = new Set(observations.filter((o) => baseSeeds.has(o.seed)).map((o) => o.run));
  // A domain needs all-but-none of its points: with fewer than 3 points (base included) it cannot be fitted.
  const usable = domains.filter((d) => runs.filter((r) => r.domain === d && observed.has(r.id)).length >= 2);
  const held = domains.filter((d) => !usable.includes(d));
  for (const d of held) {
    diagnostics.push(`${d} has fewer than 3 points (base included), so it cannot be fitted: it is held at its base quantity in this scale's optimum, and its trend across scales in the prediction reflects that`);
  }
  let replicated: ReplicatedDdo | null = null;
  if (usable.length > 0) {
    const usableBase = Object.fromEntries(usable.map((d) => [d, base[d]!]));
    const ddoOptions: DdoOptions = { baseTokens: usableBase };
    if (bounds.min !== null) ddoOptions.minMultiplier = bounds.min;
    if (bounds.max !== null) ddoOptions.maxMultiplier = bounds.max;
    const replicateRuns = runs.filter((r) => r.domain !== null && usable.includes(r.domain) && observed.has(r.id)).map((r) => ({ id: r.id, domain: r.domain!, multiplier: r.multiplier }));
    const keep = new Set(['base', ...replicateRuns.map((r) => r.id)]);
    replicated = replicatedDdo({ runs: replicateRuns, observations: observations.filter((o) => keep.has(o.run)) }, ddoOptions, { level: intervals.level, draws: intervals.draws, stream: [scale] });
    diagnostics.push(...replicated.composition.diagnostics);
    const noise = replicated.noise;
    if (noise.verdict !== 'ok') diagnostics.push(`noise audit: ${noise.advice}`);
    if (replicated.intervalNote) diagnostics.push(`intervals: ${replicated.intervalNote}`);
  }
  const solvedTokens = replicated?.composition.tokens ?? {};
  const tokens = Object.fromEntries(domains.map((d) => [d, held.includes(d) ? base[d]! : solvedTokens[d]!]));
  return { composition: ddoDocument(replicated, `ddo-${scale}.csv`, { scale, tokens, held, diagnostics: diagnostics.slice() }), diagnostics, replicated };
}

/**
 * The AutoScale predictor over the DDO compositions: the composition at any total, each domain capped at
 * its training tokens x `maxEpochs`.
 * @example autoscalePredictor(compositions, prepared, 10)(1e10).weights
 */
export function autoscalePredictor(
  compositions: readonly Composition[],
  prepared: PreparedData,
  maxEpochs: number,
): (target: number) => CompositionPrediction {
  const supply = supplyOf(prepared, maxEpochs);
  return (target) => predictComposition(compositions.map((c) => ({ scale: c.scale, tokens: c.tokens })), target, { supply });
}

/** Each domain's supply cap: its training tokens x `maxEpochs`. @example supplyOf(prepared, 10).books // 2.6e6 */
export function supplyOf(prepared: PreparedData, maxEpochs: number): Record<string, number> {
  return supplyCaps(Object.fromEntries(prepared.domains.map((d) => [d.name, d.trainTokens])), maxEpochs);
}

/**
 * The supply limit of the mixture methods (lib/methods) for mixtures of `budget` tokens: each domain's training
 * tokens, of which a mixture may use at most maxEpochs passes.
 * @example supplyLimitOf(prepared, 10, 6e5) // { supply: { books: 2.6e5, ... }, budget: 6e5, maxEpochs: 10 }
 */
export function supplyLimitOf(prepared: PreparedData, maxEpochs: number, budget: number): SupplyLimit {
  return { supply: Object.fromEntries(prepared.domains.map((d) => [d.name, d.trainTokens])), budget, maxEpochs };
}

/**
 * The validation stage's result: per mixture its loss curve (mean over seeds) and final losses per seed; per
 * mixture other than uniform the paired loss difference against uniform with its interval, the token saving with
 * its interval, and the verdict the interval allows (lib/stats/paired.ts); the ranking of all mixtures by their
 * paired differences; and, from `about`, how each mixture was obtained and which methods gave none.
 */
export function validationSummary(
  plan: ValidationPlan,
  registry: Registry,
  evalWeights: Record<string, number>,
  level: number,
  about: { methods?: Record<string, MixtureMethodSummary>; unavailable?: string[] } = {},
): ValidationSummary {
  const { scale, mixtures, slots, seeds } = plan;
  const finished = (slot: RunSlot): ProxyRunResult | null => {
    const r = registry.get<ProxyRunResult>(slot.key);
    return r?.status === 'finished' && r.result ? r.result : null;
  };
  const finals = new Map<string, Map<number, number>>();
  const curves: ValidationCurve[] = mixtures.map((m) => {
    const total = sum(Object.values(m.tokens));
    const weights = Object.fromEntries(Object.entries(m.tokens).map(([d, n]) => [d, n / total]));
    const full = slots.filter((s) => s.id === m.name && s.multiplier === 1);
    const results = full.map((s) => ({ seed: s.seed, result: finished(s), slot: s }));
    const ok = results.filter((x) => x.result !== null);
    const perSeed = new Map(ok.map((x) => [x.seed, response(x.result!.losses, evalWeights)]));
    finals.set(m.name, perSeed);
    const failures = results.filter((x) => x.result === null).map((x) => `seed ${x.seed}: ${failureOf(registry.get<ProxyRunResult>(x.slot.key))}`);
    if (ok.length === 0) return { mixture: m.name, weights, points: [], finalLosses: {}, perSeedFinal: seeds.map(() => null), meanFinal: null, finalInterval: null, failed: failures.join('; ') || 'no result' };
    // Mean curve over the seeds that finished: every seed evaluates at the same token counts (same schedule).
    const first = ok[0]!.result!.curve;
    const points = first.map((p, i) => ({ tokens: p.tokens, loss: sum(ok.map((x) => response(x.result!.curve[i]!.losses, evalWeights))) / ok.length }));
    const domains = Object.keys(ok[0]!.result!.losses);
    const finalLosses = Object.fromEntries(domains.map((d) => [d, sum(ok.map((x) => x.result!.losses[d]!)) / ok.length]));
    return {
      mixture: m.name, weights, points, finalLosses,
      perSeedFinal: seeds.map((s) => perSeed.get(s) ?? null),
      meanFinal: sum(perSeed.values()) / perSeed.size,
      finalInterval: meanInterval([...perSeed.values()], level),
      failed: failures.length ? failures.join('; ') : null,
    };
  });
  const uniform = finals.get('uniform')!;
  const comparisons: MixtureComparison[] = mixtures.filter((m) => m.name !== 'uniform').map((m) => {
    const difference = pairedDifference(finals.get(m.name)!, uniform, level);
    let saving: TokenSaving | null = null;
    let savingNote: string | null = null;
    if (plan.savingFractions.length === 0) savingNote = 'not measured (validation.savingFractions is [])';
    else {
      const budgets = new Map<number, { tokens: number; loss: number }[]>();
      for (const seed of seeds) {
        const points = slots
          .filter((s) => s.id === m.name && s.seed === seed)
          .map((s) => ({ tokens: s.multiplier * scale, result: finished(s) }))
          .filter((x) => x.result !== null)
          .map((x) => ({ tokens: x.tokens, loss: response(x.result!.losses, evalWeights) }));
        if (points.length >= 2) budgets.set(seed, points);
      }
      saving = tokenSaving(budgets, uniform, scale, level);
      if (!saving) savingNote = `not readable: no seed's losses at ${plan.savingFractions.map((f) => `${f}x`).join(', ')} and 1x the scale cross uniform's final loss within the range measured`;
    }
    const verdict = verdictOf(difference.interval);
    return { mixture: m.name, lossDifference: difference, tokenSaving: saving, tokenSavingNote: savingNote, verdict, sentence: comparisonSentence(m.name, difference, saving, verdict, scale, level) };
  });
  const ranking = rankByPairedDifferences(finals, level);
  const auto = comparisons.find((c) => c.mixture === 'AutoScale');
  const verdict = auto ? auto.sentence : rankingSentence(ranking, scale);
  return {
    scale, level, seeds, curves, comparisons, verdict, ranking,
    ...(about.methods ? { methods: about.methods } : {}),
    ...(about.unavailable ? { unavailable: about.unavailable } : {}),
  };
}

/** The t interval of a mean over seeds (unpaired); null with fewer than two values. */
function meanInterval(values: number[], level: number): [number, number] | null {
  if (values.length < 2) return null;
  const m = mean(values);
  const half = studentTQuantile(1 - (1 - level) / 2, values.length - 1) * (sampleSd(values) / Math.sqrt(values.length));
  return [m - half, m + half];
}

/**
 * The ranking in one sentence: who ranks first and who shares the rank.
 * @example "RegMix ranks first at 600k tokens (mean held-out loss 2.1034 over 2 seeds); natural and DML share the rank: not shown worse at 90%"
 */
export function rankingSentence(ranking: MixtureRanking, scale: number): string {
  const first = ranking.order.filter((r) => r.rank === 1);
  if (first.length === 0) return `no mixture finished at ${formatTokens(scale)} tokens: nothing to rank`;
  const k = ranking.seeds.length;
  const pct = `${Math.round(ranking.level * 100)}%`;
  if (first.length === ranking.order.length) {
    return `no mixture is shown better than another at ${formatTokens(scale)} tokens with ${k} seed${k === 1 ? '' : 's'} (${pct} paired intervals)${ranking.note ? `: ${ranking.note}` : ''}`;
  }
  const best = first[0]!;
  const others = first.slice(1).map((r) => r.mixture);
  return `${best.mixture} ranks first at ${formatTokens(scale)} tokens (mean held-out loss ${best.meanFinal.toFixed(4)} over ${k} seed${k === 1 ? '' : 's'})` +
    (others.length ? `; ${others.join(', ')} share${others.length === 1 ? 's' : ''} the rank (no ${pct} paired interval tells them apart)` : `, shown better than ${best.betterThan.join(', ')} (${pct} paired intervals)`);
}

function comparisonSentence(name: string, d: PairedDifference, saving: TokenSaving | null, verdict: Verdict, scale: number, level: number): string {
  const pct = `${Math.round(level * 100)}%`;
  const k = d.seeds.length;
  if (k === 0) return `${name} vs uniform at ${formatTokens(scale)} tokens: no seed where both finished, nothing to compare`;
  const diff = `mean held-out loss ${signed(d.mean)}${d.interval ? ` (${pct} interval ${signed(d.interval[0])} to ${signed(d.interval[1])})` : ''}`;
  let head: string;
  if (verdict === 'better') head = `${name} is better than uniform at ${formatTokens(scale)} tokens`;
  else if (verdict === 'worse') head = `${name} is worse than uniform at ${formatTokens(scale)} tokens`;
  else head = `${name} and uniform are not distinguishable at ${formatTokens(scale)} tokens with ${k} seed${k === 1 ? '' : 's'}`;
  const why = k < 2 ? '; one seed gives no interval, train 3 or more' : '';
  const tail = saving && verdict === 'better'
    ? `; it reaches uniform's final loss with ${(100 * saving.mean).toFixed(0)}% of the tokens${saving.interval ? ` (${pct} interval ${(100 * saving.interval[0]).toFixed(0)}% to ${(100 * saving.interval[1]).toFixed(0)}%)` : ''}`
    : '';
  return `${head}: ${diff}, ${k} seed${k === 1 ? '' : 's'}${why}${tail}`;
}

function signed(v: number): string {
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(4)}`;
}

/** How validation.json's "ranking" is defined, in words (the rule of rankByPairedDifferences). */
export const RANKING_RULE = 'rank = 1 + the number of mixtures shown better than this one; A is shown better than B when the t interval, at "level", ' +
  'on the paired difference A - B over "seeds" (those where every ranked mixture finished) lies entirely below 0. On one set of seeds that relation is ' +
  'transitive, so a mixture shown better always ranks above and mixtures that share a rank are never shown to differ (ties); each pair is tested on ' +
  'its own, without a correction for the number of pairs.';

/** validation.json: the validation stage's result as a document (see README, "Validation" and "Comparing methods"). */
export function validationDocument(v: ValidationSummary): Record<string, unknown> {
  return {
    scale: v.scale,
    level: v.level,
    seeds: v.seeds,
    mixtures: Object.fromEntries(v.curves.map((c) => [c.mixture, {
      weights: c.weights,
      finalLoss: { mean: c.meanFinal, perSeed: c.perSeedFinal, interval: c.finalInterval ?? null },
      finalLossPerDomain: c.finalLosses,
      curve: c.points,
      failed: c.failed,
    }])),
    versusUniform: Object.fromEntries(v.comparisons.map((c) => [c.mixture, {
      lossDifference: { mean: c.lossDifference.mean, interval: c.lossDifference.interval, perSeed: c.lossDifference.perSeed, seeds: c.lossDifference.seeds },
      tokenSaving: c.tokenSaving ? { mean: c.tokenSaving.mean, interval: c.tokenSaving.interval, perSeed: c.tokenSaving.perSeed } : null,
      tokenSavingNote: c.tokenSavingNote,
      verdict: c.verdict,
      summary: c.sentence,
    }])),
    ...(v.ranking ? {
      ranking: {
        rule: RANKING_RULE,
        level: v.ranking.level,
        seeds: v.ranking.seeds,
        order: v.ranking.order.map((r) => ({ mixture: r.mixture, rank: r.rank, meanFinalLoss: r.meanFinal, betterThan: r.betterThan, worseThan: r.worseThan, notDistinguishableFrom: r.notDistinguishableFrom })),
        unranked: v.ranking.unranked,
        note: v.ranking.note,
        summary: rankingSentence(v.ranking, v.scale),
      },
    } : {}),
    ...(v.methods ? { methods: v.methods } : {}),
    ...(v.unavailable?.length ? { unavailable: v.unavailable } : {}),
    // The headline of the trust issue: AutoScale against uniform; null when AutoScale is not among the mixtures.
    verdict: v.curves.some((c) => c.mixture === 'AutoScale') ? v.verdict : null,
  };
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
