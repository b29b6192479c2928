// The mixture-search stage of RegMix and Data Mixing Laws: proxy runs on random mixtures drawn around the natural
// mixture (lib/methods randomMixtures: Dirichlet, as the RegMix paper), each at `regmix.scale` tokens, trained once
// on the config's first seed. RegMix and DML fit the same runs (planned when either is named). Their specs are keyed
// in the registry like every run, and the mixtures come from `regmix.seed`, so a rerun draws the same mixtures and
// reuses their runs.
//
// One seed, not every seed: these methods get their information from many different mixtures, and each fit
// smooths the noise of each run over all of them (RegMix's paper trains each of its 512 proxies once). The shared
// seed gives every mixture the same initialisation and data order (common random numbers), so the differences
// the fit reads are not blurred by seed-to-seed differences. The validation stage then trains the fitted mixtures
// on every seed, like every other mixture.
import { formatTokens } from '../format.js';
import { capToSupply, naturalMixture, randomMixtures, type MixtureSample, type SupplyLimit } from '../methods/index.js';
import type { PipelineConfig } from '../pipeline-config.js';
import { ConfigError, REGMIX_RUNS_PER_DOMAIN } from '../pipeline-config.js';
import type { Registry } from '../registry.js';
import type { ProxyRunResult } from '../train.js';
import { response, supplyLimitOf } from './analyse.js';
import { BudgetError } from './budget.js';
import { slotOf, type RunSlot, type Setup } from './plan.js';
import { makeSpec } from './spec.js';

/** The random-mixture runs: their weights (as trained, after capping at the supply) and their slots. */
export interface MixtureSearchPlan {
  /** Total training tokens of every run. */
  scale: number;
  /** The training seed of every run (the config's first seed). */
  seed: number;
  /** The natural mixture the random mixtures are drawn around. */
  prior: Record<string, number>;
  /** The weights each run trains on (sum 1), in slot order. */
  mixtures: Record<string, number>[];
  slots: RunSlot[];
  /** Caps at the supply and the like. */
  notes: string[];
}

/** True when validation names RegMix or Data Mixing Laws, whose fits need the random-mixture runs. */
export function needsMixtureSearch(config: PipelineConfig): boolean {
  return config.validation?.mixtures.some((m) => m.kind === 'method' && (m.method === 'regmix' || m.method === 'dml')) ?? false;
}

/** Random-mixture runs of a config: "regmix.runs", or REGMIX_RUNS_PER_DOMAIN x the domains. */
export function mixtureSearchRuns(config: PipelineConfig, domains: number): number {
  return config.regmix.runs ?? REGMIX_RUNS_PER_DOMAIN * domains;
}

/** Total training tokens of each random-mixture run: "regmix.scale", or the smallest DDO scale. */
export function mixtureSearchScale(config: PipelineConfig): number {
  return config.regmix.scale ?? config.scales[0]!;
}

/**
 * The random-mixture runs of a config, or null when no method named needs them. Each mixture is capped at every
 * domain's training tokens x maxEpochs at `regmix.scale` (the rest redistributed; noted). Throws BudgetError when
 * the scale asks more than the whole supply, and a config Error when there are too few runs to fit.
 *
 * @example planMixtureSearch(config, setup)?.slots.length // regmix.runs
 */
export function planMixtureSearch(config: PipelineConfig, setup: Setup): MixtureSearchPlan | null {
  if (!needsMixtureSearch(config)) return null;
  const { domains, prepared } = setup;
  const m = domains.length;
  const n = mixtureSearchRuns(config, m);
  // Data Mixing Laws fits c, k and one t per domain: m + 2 parameters per domain's loss.
  if (n < m + 2) {
    throw new ConfigError('regmix.runs', `${n} random-mixture runs cannot fit Data Mixing Laws' ${m + 2} parameters per domain (${m} domains); ` +
      `give at least ${m + 2}, or leave "runs" out for ${REGMIX_RUNS_PER_DOMAIN * m}`);
  }
  const scale = mixtureSearchScale(config);
  const trainTokens = Object.fromEntries(prepared.domains.map((d) => [d.name, d.trainTokens]));
  const prior = naturalMixture(trainTokens).weights;
  const limit: SupplyLimit = supplyLimitOf(prepared, config.maxEpochs, scale);
  const drawn = randomMixtures(prior, n, config.regmix.seed, config.regmix.concentration ?? undefined);
  const notes: string[] = [];
  const capped = new Set<string>();
  const mixtures = drawn.map((weights, i) => {
    try {
      const result = capToSupply(weights, limit);
      for (const d of result.capped) capped.add(d);
      return result.weights;
    } catch (error) {
      const total = domains.reduce((a, d) => a + trainTokens[d]!, 0);
      throw new BudgetError(`regmix.scale: random mixture ${i + 1} at ${scale} tokens cannot be trained within each domain's training tokens x maxEpochs (${config.maxEpochs}); ` +
        `${(error as Error).message}. Nothing was trained. Fix: lower regmix.scale to at most ${Math.floor(total * config.maxEpochs)}; or raise maxEpochs; or add training text.`);
    }
  });
  if (capped.size > 0) {
    notes.push(`mixture search: some random mixtures at N=${formatTokens(scale)} asked more of ${[...capped].join(', ')} than its training tokens x maxEpochs (${config.maxEpochs}); they were capped there and the rest redistributed`);
  }
  const seed = config.seeds[0]!;
  const slots = mixtures.map((weights, i) => {
    const tokens = Object.fromEntries(domains.map((d) => [d, (weights[d] ?? 0) * scale]));
    return slotOf(makeSpec(setup.shared, tokens, seed, config.training.evalPoints), {
      label: `search N=${formatTokens(scale)} mixture ${i + 1}/${n}`,
      purpose: 'mixture-search',
      scale,
      id: `mixture-${i + 1}`,
      domain: null,
      multiplier: 1,
    });
  });
  return { scale, seed, prior, mixtures, slots, notes };
}

/**
 * The finished random-mixture runs as RegMix/DML samples: each run's weights (from the tokens it trained), its
 * response (the evaluation target) and its per-domain held-out losses; the failed ones named.
 */
export function mixtureSamples(plan: MixtureSearchPlan, registry: Registry, evalWeights: Record<string, number>): { samples: MixtureSample[]; failed: string[] } {
  const samples: MixtureSample[] = [];
  const failed: string[] = [];
  plan.slots.forEach((slot, i) => {
    const r = registry.get<ProxyRunResult>(slot.key);
    if (r?.status !== 'finished' || !r.result) {
      failed.push(`${slot.label} (${r?.error ?? 'no result'})`);
      return;
    }
    samples.push({ weights: plan.mixtures[i]!, response: response(r.result.losses, evalWeights), losses: r.result.losses });
  });
  return { samples, failed };
}
