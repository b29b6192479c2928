// The validation mixtures: each entry of "validation.mixtures" as tokens at the validation scale, and how it was
// obtained (the method, the proxy runs it cost, the quality of its fit, its caps) for validation.json's "methods".
// The methods themselves are pure functions in lib/methods (and lib/ddo, lib/autoscale.ts); this file feeds them the
// pipeline's data: the supply, the DDO compositions, the random-mixture runs.
import type { CompositionPrediction } from '../autoscale.js';
import type { Composition } from '../composition.js';
import { formatTokens } from '../format.js';
import { dmlOptimum, naturalMixture, regmixOptimum, unimaxMixture, type MixtureSample } from '../methods/index.js';
import type { MixtureEntry, MixtureMethod, PipelineConfig } from '../pipeline-config.js';
import type { MixtureMethodSummary } from '../report.js';
import { supplyLimitOf } from './analyse.js';
import { BudgetError } from './budget.js';
import type { MixtureSearchPlan } from './mixture-search.js';
import type { DdoScalePlan, Setup, ValidationMixture } from './plan.js';

/** A mixture ready to train at the validation scale. */
export interface ResolvedMixture extends ValidationMixture {
  /** Weights per domain (sum 1), in domain order. */
  weights: Record<string, number>;
  origin: MixtureMethodSummary;
}

/** What the mixtures after DDO are computed from. */
export interface MixtureSources {
  /** The DDO stage: its plans, the largest scale's composition and the AutoScale predictor (null: not run). */
  ddo: { plans: DdoScalePlan[]; largest: Composition; predict: (total: number) => CompositionPrediction } | null;
  /** The random-mixture runs and the samples of those that finished (null: not planned). */
  search: { plan: MixtureSearchPlan; samples: MixtureSample[]; failed: string[] } | null;
}

/** A method that could not give a mixture (too few finished random-mixture runs, a fit that failed). */
export class MixtureUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MixtureUnavailableError';
  }
}

const DISPLAY: Record<Exclude<MixtureMethod, 'ddo'>, string> = { uniform: 'uniform', natural: 'natural', unimax: 'UniMax', autoscale: 'AutoScale', regmix: 'RegMix', dml: 'DML' };

/**
 * The name a mixture has in validation.json, the report and the CLI: "uniform", "natural", "UniMax", "DDO N=<largest>",
 * "AutoScale", "RegMix", "DML", or an own mixture's name.
 * @example mixtureName({ kind: 'method', method: 'ddo' }, 6000) // "DDO N=6k"
 */
export function mixtureName(entry: MixtureEntry, ddoScale: number): string {
  if (entry.kind === 'own') return entry.name;
  return entry.method === 'ddo' ? `DDO N=${formatTokens(ddoScale)}` : DISPLAY[entry.method];
}

/** True for the methods whose mixture needs the DDO stage. */
export function needsDdo(entry: MixtureEntry): boolean {
  return entry.kind === 'method' && (entry.method === 'ddo' || entry.method === 'autoscale');
}

/** True for the mixtures known before any proxy run: uniform, natural, UniMax and own mixtures. */
export function isFixedMixture(entry: MixtureEntry): boolean {
  return entry.kind === 'own' || entry.method === 'uniform' || entry.method === 'natural' || entry.method === 'unimax';
}

function tokensAt(weights: Record<string, number>, domains: string[], scale: number): Record<string, number> {
  return Object.fromEntries(domains.map((d) => [d, (weights[d] ?? 0) * scale]));
}

function slotTokens(slots: { spec: { quantities: Record<string, number> } }[]): number {
  return slots.reduce((a, s) => a + Object.values(s.spec.quantities).reduce((b, n) => b + n, 0), 0);
}

/** Where an own mixture came from, for its errors: the CLI's --mixture, or its place in the config. */
function ownField(entry: Extract<MixtureEntry, { kind: 'own' }>, config: PipelineConfig): string {
  if (entry.source) return entry.source;
  return `validation.mixtures[${config.validation!.mixtures.indexOf(entry)}]`;
}

/** An own mixture's weights over the data's domains (sum 1); throws on a domain the data lacks or a budget it exceeds. */
function ownMixture(entry: Extract<MixtureEntry, { kind: 'own' }>, config: PipelineConfig, setup: Setup, scale: number): ResolvedMixture {
  const { domains, prepared } = setup;
  const field = ownField(entry, config);
  for (const d of Object.keys(entry.weights)) {
    if (!domains.includes(d)) {
      const where = entry.source ? `${entry.source}: the weight of "${d}"` : `config: ${field}.weights.${d}`;
      throw new Error(`${where}: no domain "${d}" in the data; the domains are ${domains.join(', ')}`);
    }
  }
  const total = Object.values(entry.weights).reduce((a, w) => a + w, 0);
  const weights = Object.fromEntries(domains.map((d) => [d, (entry.weights[d] ?? 0) / total]));
  const notes: string[] = [];
  if (Math.abs(total - 1) > 1e-9) notes.push(`the weights given sum to ${+total.toPrecision(6)}; normalised to sum 1`);
  const missing = domains.filter((d) => entry.weights[d] === undefined);
  if (missing.length) notes.push(`no weight given for ${missing.join(', ')}: 0`);
  for (const d of domains) {
    const have = prepared.domains.find((p) => p.name === d)!.trainTokens;
    const tokens = weights[d]! * scale;
    if (tokens > have * config.maxEpochs + 1) {
      throw new BudgetError(
        `${field}: mixture "${entry.name}" at validation.scale ${scale} would train ${Math.round(tokens)} tokens of domain "${d}", which has ${have} training tokens: ` +
          `${(tokens / have).toFixed(2)} epochs, more than maxEpochs (${config.maxEpochs}). Nothing was trained. Fix: lower its weight of "${d}" to at most ` +
          `${Math.floor((1e4 * have * config.maxEpochs) / scale) / 1e4}; or lower validation.scale to at most ${Math.floor((have * config.maxEpochs) / weights[d]!)}; ` +
          `or raise maxEpochs to at least ${Math.ceil((100 * tokens) / have) / 100}; or add training text to "${d}".`,
      );
    }
  }
  return {
    name: entry.name,
    tokens: tokensAt(weights, domains, scale),
    weights,
    origin: { method: 'own', description: `your own weights${entry.source ? ` (${entry.source})` : ''}`, proxyRuns: 0, proxyTokens: 0, sharedWith: [], fit: null, capped: [], notes },
  };
}

/**
 * One mixture of "validation.mixtures" at `scale` tokens. The fixed ones (isFixedMixture) need only the setup; "ddo"
 * and "autoscale" need `sources.ddo`, "regmix" and "dml" `sources.search`. Natural, UniMax, RegMix and DML respect
 * maxEpochs (capped, noted); AutoScale is capped by its predictor; an own mixture over the supply is refused
 * (BudgetError). Throws MixtureUnavailableError when RegMix or DML cannot be fitted.
 *
 * @example resolveMixture({ kind: 'method', method: 'natural' }, config, setup, 6e5, { ddo: null, search: null }).weights
 */
export function resolveMixture(entry: MixtureEntry, config: PipelineConfig, setup: Setup, scale: number, sources: MixtureSources): ResolvedMixture {
  const { domains, prepared } = setup;
  if (entry.kind === 'own') return ownMixture(entry, config, setup, scale);
  const limit = supplyLimitOf(prepared, config.maxEpochs, scale);
  const method = entry.method;
  const resolved = (name: string, weights: Record<string, number>, origin: Omit<MixtureMethodSummary, 'method'>, tokens?: Record<string, number>): ResolvedMixture => {
    const ordered = Object.fromEntries(domains.map((d) => [d, weights[d] ?? 0]));
    return { name, weights: ordered, tokens: tokens ?? tokensAt(ordered, domains, scale), origin: { method, ...origin } };
  };
  const free = { proxyRuns: 0, proxyTokens: 0, sharedWith: [], fit: null };
  switch (method) {
    case 'uniform':
      // scale / m exactly, as the validation stage has always trained it (the same run keys).
      return resolved('uniform', Object.fromEntries(domains.map((d) => [d, 1 / domains.length])), { description: 'equal tokens per domain', ...free, capped: [], notes: [] },
        Object.fromEntries(domains.map((d) => [d, scale / domains.length])));
    case 'natural': {
      const r = naturalMixture(limit.supply, limit);
      return resolved('natural', r.weights, { description: 'proportional to each domain\'s training tokens (what concatenating the corpora gives)', ...free, capped: r.capped, notes: r.notes });
    }
    case 'unimax': {
      const r = unimaxMixture(limit);
      return resolved('UniMax', r.weights, { description: `uniform, each domain capped at maxEpochs (${config.maxEpochs}) passes over its training tokens, the rest redistributed (Chung et al. 2023)`, ...free, capped: r.capped, notes: r.notes });
    }
    case 'ddo':
    case 'autoscale': {
      const ddo = sources.ddo;
      if (!ddo) throw new Error(`the ${method} mixture needs the DDO stage, which did not run`);
      if (method === 'ddo') {
        const { largest } = ddo;
        const slots = ddo.plans.find((p) => p.scale === largest.scale)?.slots ?? [];
        // Today's token counts exactly (weights x scale), so the runs keep their registry keys.
        return resolved(`DDO N=${formatTokens(largest.scale)}`, largest.weights, {
          description: `the DDO optimum at N=${formatTokens(largest.scale)}, the largest DDO scale, used as is at ${formatTokens(scale)} tokens`,
          proxyRuns: slots.length, proxyTokens: slotTokens(slots), sharedWith: config.validation!.mixtures.some((m) => m.kind === 'method' && m.method === 'autoscale') ? ['AutoScale'] : [],
          fit: null, capped: [], notes: [],
        });
      }
      const prediction = ddo.predict(scale);
      const slots = ddo.plans.flatMap((p) => p.slots);
      const notes = prediction.capped.map((d) => `capped at ${d}'s training tokens x maxEpochs; the rest was redistributed`);
      return resolved('AutoScale', prediction.weights, {
        description: `the AutoScale prediction at ${formatTokens(scale)} tokens from the DDO optima at ${ddo.plans.map((p) => formatTokens(p.scale)).join(', ')}`,
        proxyRuns: slots.length, proxyTokens: slotTokens(slots), sharedWith: config.validation!.mixtures.some((m) => m.kind === 'method' && m.method === 'ddo') ? [`DDO N=${formatTokens(ddo.largest.scale)}`] : [],
        fit: null, capped: prediction.capped, notes,
      }, prediction.tokens);
    }
    case 'regmix':
    case 'dml': {
      const search = sources.search;
      if (!search) throw new Error(`the ${method} mixture needs the random-mixture runs, which were not planned`);
      const { plan, samples, failed } = search;
      const m = domains.length;
      const notes = [...plan.notes];
      if (failed.length) notes.push(`${failed.length} of ${plan.slots.length} random-mixture runs failed and are left out of the fit: ${failed.join('; ')}`);
      if (samples.length < m + 2) {
        throw new MixtureUnavailableError(`${DISPLAY[method]}: only ${samples.length} of ${plan.slots.length} random-mixture runs finished, and a fit needs at least ${m + 2}; ` +
          `${DISPLAY[method]} is left out of the validation (see \`autoscale runs --status failed\`)`);
      }
      const other = method === 'regmix' ? 'dml' : 'regmix';
      const cost = {
        proxyRuns: plan.slots.length, proxyTokens: slotTokens(plan.slots),
        sharedWith: config.validation!.mixtures.some((e) => e.kind === 'method' && e.method === other) ? [DISPLAY[other]] : [],
      };
      try {
        if (method === 'regmix') {
          const r = regmixOptimum(samples, { seed: config.regmix.seed, limit });
          return resolved('RegMix', r.weights, {
            description: `RegMix (Liu et al. 2024): a regression of the response on the mixture, fitted on ${samples.length} random-mixture runs at N=${formatTokens(plan.scale)} (seed ${plan.seed}), minimised over the simplex`,
            ...cost, fit: { ...r.fit }, capped: r.capped, notes: [...notes, ...r.notes],
          });
        }
        const r = dmlOptimum(samples, setup.evalWeights, { seed: config.regmix.seed, limit });
        return resolved('DML', r.weights, {
          description: `Data Mixing Laws (Ye et al. 2024): L_i(r) = c_i + k_i exp(sum_j t_ij r_j) fitted per domain on ${samples.length} random-mixture runs at N=${formatTokens(plan.scale)} (seed ${plan.seed}), the evaluation-weighted sum minimised over the simplex`,
          ...cost, fit: { ...r.fit }, capped: r.capped, notes: [...notes, ...r.notes],
        });
      } catch (error) {
        if (error instanceof BudgetError) throw error;
        throw new MixtureUnavailableError(`${DISPLAY[method]}: its fit failed (${(error as Error).message}); ${DISPLAY[method]} is left out of the validation`);
      }
    }
  }
}
