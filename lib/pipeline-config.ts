// The config of `autoscale run`: one JSON file naming the model, tokenizer, domains, scales,
// multipliers, target, seeds and backend. Validated field by field; every error names the field
// and the fix. Everything but the domains, the scales and the target has a default.

import { DEFAULT_QUEUE, queueNameProblem, redisUrlProblem } from './queue/redis-url.js';

/** An invalid pipeline config. `field` is the JSON path of the offending value, e.g. "training.lr". */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`config: ${field}: ${message}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

export interface ModelSection {
  /** Tokens per training window (T). */
  contextLength: number;
  width: number;
  layers: number;
  heads: number;
}

export interface TrainingSection {
  /** Windows per optimizer step (B). A step sees B * T target tokens. */
  batchSize: number;
  /** Peak learning rate (after warmup). */
  lr: number;
  /** Learning rate at the end of the cosine decay. */
  minLr: number;
  /** Fraction of each run's steps spent warming up (linear from 0). */
  warmupFraction: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Max global gradient norm (0 disables clipping). */
  gradClip: number;
  /** Held-out evaluations along each run (the last one is at the end). */
  evalPoints: number;
  /** Checkpoint a run every this many seconds (0: never). */
  checkpointEverySeconds: number;
}

export interface EvalSection {
  /** Held-out windows per domain for every evaluation. */
  windowsPerDomain: number;
  /** Weight of each domain's held-out loss in the DDO response (default: equal weights). */
  weights: Record<string, number> | null;
}

export interface ValidationSection {
  /** Total training tokens of the validation runs (larger than the DDO scales, still affordable). */
  scale: number;
  /** Held-out evaluations along each validation run (the loss curves). */
  evalPoints: number;
  /**
   * Shorter budgets, as fractions of `scale` in (0, 1), at which every mixture other than uniform is trained
   * again (each its own full cosine schedule) to measure the token saving: the budget at which the mixture
   * reaches uniform's final loss. [] measures no saving.
   */
  savingFractions: number[];
}

export interface IntervalSection {
  /** Central probability of every interval (weights, tokens, validation differences). */
  level: number;
  /** Bootstrap draws per DDO scale (carried on through the prediction). */
  draws: number;
}

export type Backend = 'auto' | 'cpu' | 'cuda';

export interface RunnerSection {
  /** Redis URL of the queue runner (BullMQ); null: the local runner trains every run in this process. */
  redis: string | null;
  /** Queue name shared with the workers (`autoscale worker --queue`). */
  queue: string;
}

export interface PipelineConfig {
  /** The data config of lib/data (domains, tokenizer, held-out split), or "demo" for the embedded corpus. */
  data: unknown;
  model: ModelSection;
  training: TrainingSection;
  eval: EvalSection;
  /** DDO scales: total training tokens of each small-scale run, two or more, increasing. */
  scales: number[];
  /** The target scale: total training tokens of the run the mixture is for. */
  target: number;
  /** Base composition at every scale: "uniform" or weights per domain (normalised). */
  base: 'uniform' | Record<string, number>;
  /** Perturbation multipliers applied to one domain's base quantity at a time (paper: 1/3 and 3). */
  multipliers: number[];
  /** Bounds on the solved multiplier x_i at every scale; null: the range of multipliers tried (no extrapolation). */
  bounds: { min: number | null; max: number | null };
  /** A domain may be repeated at most this many times (epochs) in any run or prediction. */
  maxEpochs: number;
  /** Seeds: every DDO run is trained once per seed and the responses averaged. */
  seeds: number[];
  backend: Backend;
  /** CPU threads per run, or "auto" (cores / concurrent runs). */
  threadsPerRun: number | 'auto';
  /** Runs at once, or "auto" (the runner's capacity plan). */
  concurrency: number | 'auto';
  /** Where the runs are trained: locally (the default) or by workers through a Redis queue. */
  runner: RunnerSection;
  /** Optional validation at a larger scale: uniform vs the largest DDO optimum vs AutoScale, every seed. */
  validation: ValidationSection | null;
  /** Intervals from the seeds' replicates. */
  intervals: IntervalSection;
  /** Output folder (composition-*.json, runs.csv, report.html). */
  out: string;
  /** Registry, checkpoints and the data cache live here; shared between pipelines. */
  cacheDir: string;
}

export const DEFAULT_MODEL: ModelSection = { contextLength: 64, width: 64, layers: 2, heads: 4 };
export const DEFAULT_TRAINING: TrainingSection = {
  batchSize: 16,
  lr: 3e-3,
  minLr: 3e-4,
  warmupFraction: 0.05,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  gradClip: 1,
  evalPoints: 4,
  checkpointEverySeconds: 30,
};
/** The DDO multipliers a config may use: a perturbation beyond 1000x either way is no longer a local probe of the response. */
export const MULTIPLIER_RANGE: readonly [number, number] = [1e-3, 1e3];
export const DEFAULT_EVAL: EvalSection = { windowsPerDomain: 32, weights: null };
export const DEFAULTS = {
  base: 'uniform' as const,
  multipliers: [1 / 3, 3],
  bounds: { min: null, max: null },
  maxEpochs: 10,
  seeds: [0],
  backend: 'auto' as const,
  threadsPerRun: 'auto' as const,
  concurrency: 'auto' as const,
  runner: { redis: null, queue: DEFAULT_QUEUE },
  validation: null,
  intervals: { level: 0.9, draws: 400 } as IntervalSection,
  savingFractions: [0.5],
  out: 'out/autoscale',
  cacheDir: '.autoscale-cache',
};

/** The defaults as text, for `autoscale run --help`. */
export function describeDefaults(): string {
  const m = DEFAULT_MODEL;
  const t = DEFAULT_TRAINING;
  return [
    'Config (JSON). Required: "data" (a data config: domains, tokenizer; or "demo"), "scales" (>= 2',
    'increasing token counts for DDO), "target" (token count to predict for). Defaults:',
    `  model      {"contextLength": ${m.contextLength}, "width": ${m.width}, "layers": ${m.layers}, "heads": ${m.heads}} (vocab from the tokenizer)`,
    `  training   {"batchSize": ${t.batchSize}, "lr": ${t.lr}, "minLr": ${t.minLr}, "warmupFraction": ${t.warmupFraction}, "weightDecay": ${t.weightDecay},`,
    `              "beta1": ${t.beta1}, "beta2": ${t.beta2}, "eps": ${t.eps}, "gradClip": ${t.gradClip}, "evalPoints": ${t.evalPoints},`,
    `              "checkpointEverySeconds": ${t.checkpointEverySeconds}}`,
    `  eval       {"windowsPerDomain": ${DEFAULT_EVAL.windowsPerDomain}, "weights": null (equal weight per domain)}`,
    `  base       "uniform" (or {"domain": weight, ...})`,
    `  multipliers [1/3, 3] (2m+1 DDO runs per scale for m domains; each within [${MULTIPLIER_RANGE[0]}, ${MULTIPLIER_RANGE[1]}], not 1)`,
    `  bounds     {"min": null, "max": null}: each domain's solved multiplier stays within the multipliers tried`,
    `  maxEpochs  ${DEFAULTS.maxEpochs} (repeats of a domain's unique training tokens allowed)`,
    `  seeds      [0] (more seeds: each DDO run trained per seed, responses averaged)`,
    `  backend    "auto" (cuda when a device is present, else cpu); "cpu" | "cuda"`,
    `  threadsPerRun, concurrency  "auto" (runs x threads <= cores)`,
    `  runner     {"redis": null, "queue": "${DEFAULT_QUEUE}"}: the runs train in this process; {"redis": "redis://host:6379"}`,
    `             enqueues them for \`autoscale worker\` processes on other machines (BullMQ on Redis)`,
    `  validation null; {"scale": N, "evalPoints": 8, "savingFractions": [0.5]} trains uniform, the largest`,
    `             DDO optimum and AutoScale's prediction at N tokens on every seed, compares them seed by seed,`,
    `             and trains the non-uniform mixtures again at 0.5 N to measure their token saving`,
    `  intervals  {"level": ${DEFAULTS.intervals.level}, "draws": ${DEFAULTS.intervals.draws}}: intervals on every weight from the seeds' replicates`,
    `  out        "${DEFAULTS.out}"   cacheDir ".autoscale-cache" (registry, checkpoints, data cache)`,
  ].join('\n');
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Json, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const field = where ? `${where}.${key}` : key;
      throw new ConfigError(field, `unknown field; the fields here are ${allowed.map((k) => `"${k}"`).join(', ')}`);
    }
  }
}

function number(
  value: unknown,
  field: string,
  rule: { integer?: boolean; min?: number; max?: number; exclusiveMin?: number; fallback?: number },
): number {
  if (value === undefined && rule.fallback !== undefined) return rule.fallback;
  if (value === undefined) throw new ConfigError(field, 'is required');
  if (typeof value !== 'number') throw new ConfigError(field, `must be a finite number, got ${JSON.stringify(value)}`);
  if (!Number.isFinite(value)) {
    // JSON.parse reads a literal beyond the float64 range (1e999) as Infinity, which JSON.stringify writes as null.
    throw new ConfigError(field, `is not a finite number: ${value} (a JSON number beyond about 1.8e308, such as 1e999, reads as Infinity); give a finite value`);
  }
  if (rule.integer && !Number.isInteger(value)) throw new ConfigError(field, `must be a whole number, got ${value}`);
  if (rule.min !== undefined && value < rule.min) throw new ConfigError(field, `must be >= ${rule.min}, got ${value}`);
  if (rule.exclusiveMin !== undefined && value <= rule.exclusiveMin) throw new ConfigError(field, `must be > ${rule.exclusiveMin}, got ${value}`);
  if (rule.max !== undefined && value > rule.max) throw new ConfigError(field, `must be <= ${rule.max}, got ${value}`);
  return value;
}

function weights(value: unknown, field: string): Record<string, number> {
  if (!isObject(value) || Object.keys(value).length === 0) throw new ConfigError(field, 'must be an object {"domain": weight, ...} with at least one domain');
  const out: Record<string, number> = {};
  for (const [key, w] of Object.entries(value)) out[key] = number(w, `${field}.${key}`, { min: 0 });
  if (Object.values(out).every((w) => w === 0)) throw new ConfigError(field, 'needs at least one positive weight');
  return out;
}

/**
 * Validates a parsed config and fills in the defaults. Throws ConfigError naming the field.
 * The "data" section is checked by the data layer when the pipeline prepares it.
 *
 * @example parsePipelineConfig({ data: 'demo', scales: [2e5, 4e5], target: 4e6 }).training.lr // 3e-3
 */
export function parsePipelineConfig(raw: unknown): PipelineConfig {
  if (!isObject(raw)) throw new ConfigError('(root)', 'the config must be a JSON object');
  checkKeys(
    raw,
    ['$schema', 'data', 'model', 'training', 'eval', 'scales', 'target', 'base', 'multipliers', 'bounds', 'maxEpochs', 'seeds', 'backend', 'threadsPerRun', 'concurrency', 'runner', 'validation', 'intervals', 'out', 'cacheDir'],
    '',
  );
  if (raw.data === undefined) throw new ConfigError('data', 'is required: a data config ({"domains": [...]}) or "demo" for the embedded corpus');
  if (raw.data !== 'demo' && !isObject(raw.data)) throw new ConfigError('data', 'must be a data config object or "demo"');

  const modelRaw = raw.model ?? {};
  if (!isObject(modelRaw)) throw new ConfigError('model', 'must be an object');
  checkKeys(modelRaw, Object.keys(DEFAULT_MODEL), 'model');
  const model: ModelSection = {
    contextLength: number(modelRaw.contextLength, 'model.contextLength', { integer: true, min: 2, max: 4096, fallback: DEFAULT_MODEL.contextLength }),
    width: number(modelRaw.width, 'model.width', { integer: true, min: 4, max: 8192, fallback: DEFAULT_MODEL.width }),
    layers: number(modelRaw.layers, 'model.layers', { integer: true, min: 1, max: 128, fallback: DEFAULT_MODEL.layers }),
    heads: number(modelRaw.heads, 'model.heads', { integer: true, min: 1, max: 256, fallback: DEFAULT_MODEL.heads }),
  };
  if (model.width % model.heads !== 0) throw new ConfigError('model.heads', `must divide model.width (${model.width}); ${model.heads} does not`);

  const trainingRaw = raw.training ?? {};
  if (!isObject(trainingRaw)) throw new ConfigError('training', 'must be an object');
  checkKeys(trainingRaw, Object.keys(DEFAULT_TRAINING), 'training');
  const d = DEFAULT_TRAINING;
  const training: TrainingSection = {
    batchSize: number(trainingRaw.batchSize, 'training.batchSize', { integer: true, min: 1, max: 65536, fallback: d.batchSize }),
    lr: number(trainingRaw.lr, 'training.lr', { exclusiveMin: 0, fallback: d.lr }),
    minLr: number(trainingRaw.minLr, 'training.minLr', { min: 0, fallback: d.minLr }),
    warmupFraction: number(trainingRaw.warmupFraction, 'training.warmupFraction', { min: 0, max: 1, fallback: d.warmupFraction }),
    weightDecay: number(trainingRaw.weightDecay, 'training.weightDecay', { min: 0, fallback: d.weightDecay }),
    beta1: number(trainingRaw.beta1, 'training.beta1', { min: 0, max: 0.999999, fallback: d.beta1 }),
    beta2: number(trainingRaw.beta2, 'training.beta2', { min: 0, max: 0.999999, fallback: d.beta2 }),
    eps: number(trainingRaw.eps, 'training.eps', { exclusiveMin: 0, fallback: d.eps }),
    gradClip: number(trainingRaw.gradClip, 'training.gradClip', { min: 0, fallback: d.gradClip }),
    evalPoints: number(trainingRaw.evalPoints, 'training.evalPoints', { integer: true, min: 1, max: 1000, fallback: d.evalPoints }),
    checkpointEverySeconds: number(trainingRaw.checkpointEverySeconds, 'training.checkpointEverySeconds', { min: 0, fallback: d.checkpointEverySeconds }),
  };
  if (training.minLr > training.lr) throw new ConfigError('training.minLr', `must be <= training.lr (${training.lr}), got ${training.minLr}`);

  const evalRaw = raw.eval ?? {};
  if (!isObject(evalRaw)) throw new ConfigError('eval', 'must be an object');
  checkKeys(evalRaw, ['windowsPerDomain', 'weights'], 'eval');
  const evalSection: EvalSection = {
    windowsPerDomain: number(evalRaw.windowsPerDomain, 'eval.windowsPerDomain', { integer: true, min: 1, max: 1e6, fallback: DEFAULT_EVAL.windowsPerDomain }),
    weights: evalRaw.weights === undefined || evalRaw.weights === null ? null : weights(evalRaw.weights, 'eval.weights'),
  };

  if (!Array.isArray(raw.scales) || raw.scales.length < 2) {
    throw new ConfigError('scales', 'must list two or more DDO scales (total training tokens per run), e.g. [200000, 400000]');
  }
  const scales = raw.scales.map((s, i) => number(s, `scales[${i}]`, { integer: true, min: 1 }));
  for (let i = 1; i < scales.length; i++) {
    if ((scales[i] as number) <= (scales[i - 1] as number)) throw new ConfigError(`scales[${i}]`, `must be larger than scales[${i - 1}] (${scales[i - 1]}); list the scales in increasing order`);
  }
  const largest = scales[scales.length - 1] as number;
  const target = number(raw.target, 'target', { integer: true, min: 1 });
  if (target <= largest) throw new ConfigError('target', `must be larger than the largest DDO scale (${largest}), got ${target}`);

  let base: PipelineConfig['base'] = DEFAULTS.base;
  if (raw.base !== undefined && raw.base !== 'uniform') base = weights(raw.base, 'base');

  let multipliers = DEFAULTS.multipliers;
  if (raw.multipliers !== undefined) {
    if (!Array.isArray(raw.multipliers) || raw.multipliers.length < 2) {
      throw new ConfigError('multipliers', 'must list two or more multipliers other than 1, e.g. [0.3333, 3]');
    }
    multipliers = raw.multipliers.map((x, i) => number(x, `multipliers[${i}]`, { exclusiveMin: 0 }));
    multipliers.forEach((x, i) => {
      if (x === 1) throw new ConfigError(`multipliers[${i}]`, 'must not be 1 (the base run is always included)');
      if (x < MULTIPLIER_RANGE[0] || x > MULTIPLIER_RANGE[1]) {
        throw new ConfigError(
          `multipliers[${i}]`,
          `must be within [${MULTIPLIER_RANGE[0]}, ${MULTIPLIER_RANGE[1]}] (a factor on one domain's base quantity; the paper uses 1/3 and 3), got ${x}`,
        );
      }
    });
    if (new Set(multipliers).size !== multipliers.length) throw new ConfigError('multipliers', 'must not repeat a value');
  }

  const boundsRaw = raw.bounds ?? {};
  if (!isObject(boundsRaw)) throw new ConfigError('bounds', 'must be an object {"min": x, "max": x}');
  checkKeys(boundsRaw, ['min', 'max'], 'bounds');
  const bounds = {
    min: boundsRaw.min === undefined || boundsRaw.min === null ? null : number(boundsRaw.min, 'bounds.min', { min: 0 }),
    max: boundsRaw.max === undefined || boundsRaw.max === null ? null : number(boundsRaw.max, 'bounds.max', { exclusiveMin: 0 }),
  };
  if (bounds.max !== null && bounds.min !== null && bounds.max <= bounds.min) {
    throw new ConfigError('bounds.max', `must be larger than bounds.min (${bounds.min})`);
  }

  const maxEpochs = number(raw.maxEpochs, 'maxEpochs', { exclusiveMin: 0, fallback: DEFAULTS.maxEpochs });

  let seeds = DEFAULTS.seeds;
  if (raw.seeds !== undefined) {
    if (!Array.isArray(raw.seeds) || raw.seeds.length === 0) throw new ConfigError('seeds', 'must list one or more integer seeds, e.g. [0]');
    seeds = raw.seeds.map((s, i) => number(s, `seeds[${i}]`, { integer: true, min: 0, max: 2 ** 32 - 1 }));
    if (new Set(seeds).size !== seeds.length) throw new ConfigError('seeds', 'must not repeat a seed');
  }

  const backend = raw.backend ?? DEFAULTS.backend;
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') throw new ConfigError('backend', `must be "auto", "cpu" or "cuda", got ${JSON.stringify(backend)}`);

  const threadsPerRun = raw.threadsPerRun === undefined || raw.threadsPerRun === 'auto' ? 'auto' : number(raw.threadsPerRun, 'threadsPerRun', { integer: true, min: 1, max: 1024 });
  const concurrency = raw.concurrency === undefined || raw.concurrency === 'auto' ? 'auto' : number(raw.concurrency, 'concurrency', { integer: true, min: 1, max: 4096 });

  const runnerRaw = raw.runner ?? {};
  if (!isObject(runnerRaw)) throw new ConfigError('runner', 'must be an object {"redis": "redis://host:6379", "queue": "autoscale"}');
  checkKeys(runnerRaw, ['redis', 'queue'], 'runner');
  let redis: string | null = null;
  if (runnerRaw.redis !== undefined && runnerRaw.redis !== null) {
    if (typeof runnerRaw.redis !== 'string') throw new ConfigError('runner.redis', 'must be a Redis URL string or null (the local runner)');
    const problem = redisUrlProblem(runnerRaw.redis);
    if (problem) throw new ConfigError('runner.redis', problem);
    redis = runnerRaw.redis;
  }
  let queue: string = DEFAULT_QUEUE;
  if (runnerRaw.queue !== undefined) {
    if (typeof runnerRaw.queue !== 'string') throw new ConfigError('runner.queue', `must be a queue name string, got ${JSON.stringify(runnerRaw.queue)}`);
    const problem = queueNameProblem(runnerRaw.queue);
    if (problem) throw new ConfigError('runner.queue', problem);
    queue = runnerRaw.queue;
  }
  const runner: RunnerSection = { redis, queue };

  let validation: ValidationSection | null = null;
  if (raw.validation !== undefined && raw.validation !== null) {
    if (!isObject(raw.validation)) throw new ConfigError('validation', 'must be null or {"scale": N, "evalPoints": 8}');
    checkKeys(raw.validation, ['scale', 'evalPoints', 'savingFractions'], 'validation');
    const fractionsRaw = raw.validation.savingFractions ?? DEFAULTS.savingFractions;
    if (!Array.isArray(fractionsRaw)) throw new ConfigError('validation.savingFractions', 'must be a list of fractions of the validation scale in (0, 1), e.g. [0.5], or [] for none');
    const savingFractions = fractionsRaw.map((f, i) => number(f, `validation.savingFractions[${i}]`, { exclusiveMin: 0, max: 0.999 }));
    if (new Set(savingFractions).size !== savingFractions.length) throw new ConfigError('validation.savingFractions', 'must not repeat a fraction');
    validation = {
      scale: number(raw.validation.scale, 'validation.scale', { integer: true, min: 1 }),
      evalPoints: number(raw.validation.evalPoints, 'validation.evalPoints', { integer: true, min: 2, max: 1000, fallback: 8 }),
      savingFractions: [...savingFractions].sort((a, b) => a - b),
    };
    if (validation.scale <= largest) {
      throw new ConfigError('validation.scale', `must be larger than the largest DDO scale (${largest}) so that it tests the extrapolation, got ${validation.scale}`);
    }
  }

  const intervalsRaw = raw.intervals ?? {};
  if (!isObject(intervalsRaw)) throw new ConfigError('intervals', 'must be an object {"level": 0.9, "draws": 400}');
  checkKeys(intervalsRaw, ['level', 'draws'], 'intervals');
  const intervals: IntervalSection = {
    level: number(intervalsRaw.level, 'intervals.level', { exclusiveMin: 0, max: 0.999, fallback: DEFAULTS.intervals.level }),
    draws: number(intervalsRaw.draws, 'intervals.draws', { integer: true, min: 20, max: 100000, fallback: DEFAULTS.intervals.draws }),
  };

  const text = (value: unknown, field: string, fallback: string): string => {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value.length === 0) throw new ConfigError(field, 'must be a non-empty path');
    return value;
  };

  return {
    data: raw.data,
    model,
    training,
    eval: evalSection,
    scales,
    target,
    base,
    multipliers,
    bounds,
    maxEpochs,
    seeds,
    backend,
    threadsPerRun,
    concurrency,
    runner,
    validation,
    intervals,
    out: text(raw.out, 'out', DEFAULTS.out),
    cacheDir: text(raw.cacheDir, 'cacheDir', DEFAULTS.cacheDir),
  };
}
