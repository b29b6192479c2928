// Planning: prepare what every proxy run of a config shares (the prepared data, the evaluation set, the
// backend, the shared part of the spec), and lay out the runs of the DDO and validation stages as slots.
import path from 'node:path';
import { parseDataConfig, type DataConfig } from '../data/config.js';
import { prepareData, type PreparedData } from '../data/prepare.js';
import { heldOutSet } from '../data/held-out.js';
import { planDdoRuns, type DdoRun } from '../ddo/plan.js';
import { formatCount, formatMultiplier, formatTokens } from '../format.js';
import { backendInfo, resolveBackend } from '../native.js';
import type { PipelineConfig } from '../pipeline-config.js';
import { runKey } from '../registry.js';
import type { EvalSet } from '../train.js';
import { makeSpec, sharedSpec, type ProxyRunSpec, type SharedSpec } from './spec.js';

/** A run and where it belongs in the pipeline (only `spec` is part of its key). */
export interface RunSlot {
  spec: ProxyRunSpec;
  key: string;
  label: string;
  purpose: 'ddo' | 'validation' | 'mixture-search';
  scale: number;
  seed: number;
  /** DDO: the plan's run ("base" or "<domain>@<multiplier>"); validation: the mixture name; mixture search: "mixture-<i>". */
  id: string;
  domain: string | null;
  multiplier: number;
}

/** What every proxy run of a config shares. */
export interface Setup {
  /** The validated data config `prepared` was prepared from (queue workers prepare from it too). */
  dataConfig: DataConfig;
  prepared: PreparedData;
  /** Domain names in PreparedData order. */
  domains: string[];
  /** Weights of the evaluation target (the response) per domain. */
  evalWeights: Record<string, number>;
  evalSet: EvalSet;
  /** Absolute cache folder: data, registry, checkpoints. */
  cacheDir: string;
  /** The shard cache folder inside it. */
  dataCacheDir: string;
  shared: SharedSpec;
}

/** Where the data config comes from when it is not `config.data` read relative to the working folder. */
export interface DataSource {
  /** A validated data config to use instead of config.data (the CLI's --demo). */
  dataConfig?: DataConfig;
  /** Relative paths in config.data resolve here (the config file's folder). */
  baseDir?: string;
}

/**
 * Prepares the data (tokenized shards and the held-out split, cached), the evaluation set and the
 * shared spec, and resolves the backend ("auto": CUDA when a device is present).
 *
 * @example const setup = await setUp(config, { baseDir: '.' }, console.error); setup.domains // ['books', 'code']
 */
export async function setUp(config: PipelineConfig, source: DataSource, log: (line: string) => void): Promise<Setup> {
  const baseDir = source.baseDir ?? process.cwd();
  const cacheDir = path.resolve(config.cacheDir);
  const dataCacheDir = path.join(cacheDir, 'data');
  const dataConfig = source.dataConfig ?? parseDataConfig(config.data, baseDir, 'data.');
  log(`[data] preparing ${dataConfig.domains.length} domains (${dataConfig.tokenizer} tokenizer)`);
  const prepared = await prepareData(dataConfig, {
    cacheDir: dataCacheDir,
    onProgress: (p) => {
      if (p.phase === 'done' || p.phase === 'cached') log(`[data] ${p.domain}: ${p.phase === 'cached' ? 'cached' : 'tokenized'}, ${formatCount(p.tokens)} tokens`);
    },
  });
  const domains = prepared.domains.map((d) => d.name);
  for (const d of prepared.domains) {
    log(`[data] ${d.name}: ${formatCount(d.trainTokens)} training tokens, ${formatCount(d.heldOutTokens)} held out (${d.trainDocuments}/${d.heldOutDocuments} documents)${d.notes.map((note) => `; ${note}`).join('')}`);
  }
  const evalWeights = config.eval.weights ?? Object.fromEntries(domains.map((d) => [d, 1]));
  for (const d of Object.keys(evalWeights)) {
    if (!domains.includes(d)) throw new Error(`config: eval.weights.${d}: no domain "${d}" in the data; the domains are ${domains.join(', ')}`);
  }
  const evalSet: EvalSet = heldOutSet(prepared, config.model.contextLength, config.eval.windowsPerDomain);

  const info = backendInfo();
  const backend = resolveBackend(config.backend);
  // With a queue runner the workers train, so a coordinator without a GPU may plan CUDA runs (the workers check).
  if (backend === 'cuda' && !info.backends.cuda.available && config.runner.redis === null) {
    throw new Error(`config: backend: "cuda" but CUDA is unavailable (${info.backends.cuda.reason ?? 'no device'}); use "auto" or "cpu"`);
  }
  const shared = sharedSpec(config, prepared, backend, info.version);
  return { dataConfig, prepared, domains, evalWeights, evalSet, cacheDir, dataCacheDir, shared };
}

/** A slot of its spec: the key and the pipeline's bookkeeping around it. */
export function slotOf(spec: ProxyRunSpec, where: Omit<RunSlot, 'spec' | 'key' | 'seed'>): RunSlot {
  return { spec, key: runKey(spec), label: where.label, purpose: where.purpose, scale: where.scale, seed: spec.seed, id: where.id, domain: where.domain, multiplier: where.multiplier };
}

/** The one run `autoscale train` asks for (trainProxy). */
export function trainSlot(setup: Setup, quantities: Record<string, number>, seed: number, evalPoints: number): RunSlot {
  const spec = makeSpec(setup.shared, quantities, seed, evalPoints);
  const total = Object.values(spec.quantities).reduce((a, n) => a + n, 0);
  return slotOf(spec, { label: `train N=${formatTokens(total)} seed ${seed}`, purpose: 'ddo', scale: total, id: 'train', domain: null, multiplier: 1 });
}

/** The DDO stage at one scale: the base composition, the plan's runs and their slots (every seed). */
export interface DdoScalePlan {
  scale: number;
  /** Base composition: tokens per domain, summing to `scale`. */
  base: Record<string, number>;
  runs: DdoRun[];
  /** One slot per run and seed, seed after seed. */
  slots: RunSlot[];
}

/** The base composition at a scale: config.base (or uniform) normalised to `scale` tokens. */
function baseComposition(config: PipelineConfig, domains: string[], scale: number): Record<string, number> {
  const weights = config.base === 'uniform' ? Object.fromEntries(domains.map((d) => [d, 1])) : config.base;
  for (const d of Object.keys(weights)) {
    if (!domains.includes(d)) throw new Error(`config: base.${d}: no domain "${d}" in the data; the domains are ${domains.join(', ')}`);
  }
  const total = domains.reduce((a, d) => a + (weights[d] ?? 0), 0);
  const out: Record<string, number> = {};
  for (const d of domains) {
    const w = (weights[d] ?? 0) / total;
    if (!(w > 0)) throw new Error(`config: base.${d}: every domain needs a positive base weight for DDO to perturb it`);
    out[d] = w * scale;
  }
  return out;
}

/**
 * The DDO runs at every small scale of the config: per scale, the base run and one run per domain and
 * multiplier, for every seed.
 *
 * @example planDdo(config, setup).flatMap((p) => p.slots).length // scales x seeds x (2m + 1)
 */
export function planDdo(config: PipelineConfig, setup: Setup): DdoScalePlan[] {
  return config.scales.map((scale) => {
    const base = baseComposition(config, setup.domains, scale);
    const runs = planDdoRuns({ baseTokens: base, multipliers: config.multipliers });
    const slots: RunSlot[] = [];
    for (const seed of config.seeds) {
      for (const run of runs) {
        const what = run.domain === null ? 'base' : `${run.domain} x${formatMultiplier(run.multiplier)}`;
        slots.push(slotOf(makeSpec(setup.shared, run.tokens, seed, config.training.evalPoints), {
          label: `N=${formatTokens(scale)} ${what}${config.seeds.length > 1 ? ` seed ${seed}` : ''}`,
          purpose: 'ddo',
          scale,
          id: run.id,
          domain: run.domain,
          multiplier: run.multiplier,
        }));
      }
    }
    return { scale, base, runs, slots };
  });
}

/** A mixture the validation stage trains at the validation scale. */
export interface ValidationMixture {
  name: string;
  tokens: Record<string, number>;
}

/** The validation stage: every mixture on every seed, and the non-uniform ones again at shorter budgets. */
export interface ValidationPlan {
  scale: number;
  mixtures: ValidationMixture[];
  seeds: number[];
  /** Budgets (fractions of `scale`) of the token-saving runs; [] for none. */
  savingFractions: number[];
  /** Every run: `id` is the mixture's name, `multiplier` the budget as a fraction of `scale` (1 for the full runs). */
  slots: RunSlot[];
}

/**
 * The validation runs at `validation.scale`: every mixture given (by default uniform, the largest scale's DDO weights
 * and the AutoScale prediction at that scale; lib/pipeline/mixtures.ts), each trained with every seed of the config
 * (so they can be compared seed by seed), and every mixture but uniform again at each of `validation.savingFractions`
 * of the scale, each a run with its own full schedule (the token-saving measurement; see lib/stats/paired.ts for why
 * not a point along the full run's curve).
 */
export function planValidation(
  config: PipelineConfig,
  validation: { scale: number; evalPoints: number; savingFractions: number[] },
  setup: Setup,
  mixtures: ValidationMixture[],
): ValidationPlan {
  const { scale } = validation;
  const several = config.seeds.length > 1;
  const slots: RunSlot[] = [];
  for (const seed of config.seeds) {
    for (const mixture of mixtures) {
      slots.push(slotOf(makeSpec(setup.shared, mixture.tokens, seed, validation.evalPoints), {
        label: `validate N=${formatTokens(scale)} ${mixture.name}${several ? ` seed ${seed}` : ''}`,
        purpose: 'validation',
        scale,
        id: mixture.name,
        domain: null,
        multiplier: 1,
      }));
    }
    for (const fraction of validation.savingFractions) {
      for (const mixture of mixtures.filter((m) => m.name !== 'uniform')) {
        const tokens = Object.fromEntries(Object.entries(mixture.tokens).map(([d, n]) => [d, n * fraction]));
        slots.push(slotOf(makeSpec(setup.shared, tokens, seed, 1), {
          label: `validate N=${formatTokens(scale * fraction)} ${mixture.name} (token saving)${several ? ` seed ${seed}` : ''}`,
          purpose: 'validation',
          scale: scale * fraction,
          id: mixture.name,
          domain: null,
          multiplier: fraction,
        }));
      }
    }
  }
  return { scale, mixtures, seeds: [...config.seeds], savingFractions: [...validation.savingFractions], slots };
}
