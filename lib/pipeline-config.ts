// The config of `autoscale run`: one JSON file naming the model, tokenizer, domains, scales,
// multipliers, target, seeds and backend. One zod schema holds every field, its rule, its default and
// what it means; from it come the parsed config and its type, the errors (each names the field and the
// fix), `autoscale run --help` and the JSON Schema that ships in schema/pipeline-config.schema.json.
// Everything but the data, the scales and the target has a default.
//
// A section is a schema of its own (modelSection, trainingSection, ...), composed in pipelineConfigObject;
// a rule between fields of one section is a refinement of that section, one between sections (the target
// beyond the largest scale) a refinement of the whole config.

import { z } from 'zod';
import { dataConfigSchema } from './data/config.js';
import { DEFAULT_QUEUE, queueNameProblem, redisUrlProblem } from './queue/redis-url.js';
import { firstIssue, jsonPath, nullAsMissing, strictSection, type RawIssue } from './schema-issues.js';

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

// ---------------------------------------------------------------------------------------------
// Defaults (the schema's; also public, for callers that fill a field the way the config does)

export const DEFAULT_MODEL = { contextLength: 64, width: 64, layers: 2, heads: 4 };
export const DEFAULT_TRAINING = {
  batchSize: 16,
  lr: 3e-3,
  minLr: 3e-4,
  warmupFraction: 0.05,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  gradClip: 1,
  initStd: 0.02,
  evalPoints: 4,
  checkpointEverySeconds: 30,
};
/** The DDO multipliers a config may use: a perturbation beyond 1000x either way is no longer a local probe of the response. */
export const MULTIPLIER_RANGE: readonly [number, number] = [1e-3, 1e3];
export const DEFAULT_EVAL: { windowsPerDomain: number; weights: Record<string, number> | null } = { windowsPerDomain: 32, weights: null };
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
  intervals: { level: 0.9, draws: 400 },
  savingFractions: [0.5],
  validationEvalPoints: 8,
  out: 'out/autoscale',
  cacheDir: '.autoscale-cache',
};

// ---------------------------------------------------------------------------------------------
// Field kinds and their messages

/** The messages of zod's own checks, in the config's words ("must be >= 1, got 0"); other issues carry their own. */
function configMessage(issue: RawIssue): string | undefined {
  const input = issue.input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return 'is required';
      if (issue.expected === 'int') return `must be a whole number, got ${String(input)}`;
      if (issue.expected !== 'number') return undefined;
      // JSON.parse reads a literal beyond the float64 range (1e999) as Infinity, which JSON.stringify writes as null.
      if (typeof input === 'number') {
        return `is not a finite number: ${input} (a JSON number beyond about 1.8e308, such as 1e999, reads as Infinity); give a finite value`;
      }
      return `must be a finite number, got ${JSON.stringify(input)}`;
    case 'too_small':
      if (issue.origin !== 'number' && issue.origin !== 'int') return undefined;
      return `must be ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}, got ${String(input)}`;
    case 'too_big':
      if (issue.origin !== 'number' && issue.origin !== 'int') return undefined;
      return `must be ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}, got ${String(input)}`;
    default:
      return undefined;
  }
}

/**
 * A whole number in [min, max]. The range is checked before wholeness so that 1e300 is "must be <= max", not
 * "beyond the safe integers" (zod's int() stops at 2^53 - 1, past any token count a config can mean).
 */
function wholeNumber(min: number, max?: number) {
  return (max === undefined ? z.number() : z.number().max(max)).int().min(min);
}

/** A section: an object of these fields, each with its default; `notAnObject` says what to write instead. */
function section<Shape extends z.ZodRawShape>(shape: Shape, notAnObject: string) {
  return strictSection(shape, { unknownField: (fields) => `unknown field; the fields here are ${fields}`, notAnObject: () => notAnObject });
}

/** A list of at least `min` values; `expected` says what it must hold, for a value that is not a list or is too short. */
function list<T extends z.ZodType>(item: T, expected: string, min = 0) {
  const array = z.array(item, { error: expected });
  return min > 0 ? array.min(min, { error: expected }) : array;
}

/** Each domain's weight, >= 0, at least one positive. */
function domainWeights() {
  const expected = 'must be an object {"domain": weight, ...} with at least one domain';
  return z
    .record(z.string(), z.number().min(0), { error: expected })
    .check((ctx) => {
      const weights = Object.values(ctx.value);
      if (weights.length === 0) ctx.issues.push({ code: 'custom', input: ctx.value, message: expected });
      else if (weights.every((w) => w === 0)) ctx.issues.push({ code: 'custom', input: ctx.value, message: 'needs at least one positive weight' });
    });
}

/** True when no value is there twice. */
const distinct = (values: readonly unknown[]): boolean => new Set(values).size === values.length;

// ---------------------------------------------------------------------------------------------
// The sections

export const modelSection = section(
  {
    contextLength: wholeNumber(2, 4096).default(DEFAULT_MODEL.contextLength).meta({ description: 'Tokens per training window (T).' }),
    width: wholeNumber(4, 8192).default(DEFAULT_MODEL.width).meta({ description: 'Channels (C); a multiple of heads.' }),
    layers: wholeNumber(1, 128).default(DEFAULT_MODEL.layers).meta({ description: 'Transformer blocks.' }),
    heads: wholeNumber(1, 256).default(DEFAULT_MODEL.heads).meta({ description: 'Attention heads; divides width.' }),
  },
  'must be an object',
)
  .check((ctx) => {
    const { width, heads } = ctx.value;
    if (width % heads !== 0) ctx.issues.push({ code: 'custom', input: heads, path: ['heads'], message: `must divide model.width (${width}); ${heads} does not` });
  })
  .meta({ description: 'The proxy GPT (GPT-2 style); its vocabulary is the tokenizer\'s.' });

export const trainingSection = section(
  {
    batchSize: wholeNumber(1, 65536).default(DEFAULT_TRAINING.batchSize).meta({ description: 'Windows per optimizer step (B); a step sees B * T target tokens.' }),
    lr: z.number().gt(0).default(DEFAULT_TRAINING.lr).meta({ description: 'Peak learning rate (after warmup).' }),
    minLr: z.number().min(0).default(DEFAULT_TRAINING.minLr).meta({ description: 'Learning rate at the end of the cosine decay; at most lr.' }),
    warmupFraction: z.number().min(0).max(1).default(DEFAULT_TRAINING.warmupFraction).meta({ description: 'Fraction of each run\'s steps spent warming up (linear from 0).' }),
    weightDecay: z.number().min(0).default(DEFAULT_TRAINING.weightDecay).meta({ description: 'AdamW\'s decoupled weight decay (matrices only).' }),
    beta1: z.number().min(0).max(0.999999).default(DEFAULT_TRAINING.beta1).meta({ description: 'AdamW\'s first-moment decay.' }),
    beta2: z.number().min(0).max(0.999999).default(DEFAULT_TRAINING.beta2).meta({ description: 'AdamW\'s second-moment decay.' }),
    eps: z.number().gt(0).default(DEFAULT_TRAINING.eps).meta({ description: 'AdamW\'s epsilon.' }),
    gradClip: z.number().min(0).default(DEFAULT_TRAINING.gradClip).meta({ description: 'Max global gradient norm (0 disables clipping).' }),
    initStd: z.number().gt(0).max(10).default(DEFAULT_TRAINING.initStd).meta({
      description: 'SD of the normal initialisation of the weight matrices (the residual projections get initStd / sqrt(2 layers)). ' +
        'GPT-2\'s 0.02 was tuned for width 768; narrow proxies leave their early plateau sooner and more alike across seeds with ' +
        'sqrt(2 / (5 width)), 0.079 at width 64 (docs/noise.md).',
    }),
    evalPoints: wholeNumber(1, 1000).default(DEFAULT_TRAINING.evalPoints).meta({ description: 'Held-out evaluations along each run (the last one at the end).' }),
    checkpointEverySeconds: z.number().min(0).default(DEFAULT_TRAINING.checkpointEverySeconds).meta({ description: 'Checkpoint a run every this many seconds (0: never).' }),
  },
  'must be an object',
)
  .check((ctx) => {
    const { lr, minLr } = ctx.value;
    if (minLr > lr) ctx.issues.push({ code: 'custom', input: minLr, path: ['minLr'], message: `must be <= training.lr (${lr}), got ${minLr}` });
  })
  .meta({ description: 'AdamW with warmup and cosine decay, the same for every proxy run.' });

export const evalSection = section(
  {
    windowsPerDomain: wholeNumber(1, 1e6).default(DEFAULT_EVAL.windowsPerDomain).meta({ description: 'Held-out windows per domain for every evaluation.' }),
    weights: domainWeights().nullable().default(DEFAULT_EVAL.weights).meta({ description: 'Weight of each domain\'s held-out loss in the DDO response; null: equal weights.' }),
  },
  'must be an object',
).meta({ description: 'The DDO response: the weighted mean of the domains\' held-out losses.' });

export const boundsSection = section(
  {
    min: z.number().min(0).nullable().default(DEFAULTS.bounds.min).meta({ description: 'Lowest multiplier of a domain\'s base quantity.' }),
    max: z.number().gt(0).nullable().default(DEFAULTS.bounds.max).meta({ description: 'Highest multiplier; larger than min.' }),
  },
  'must be an object {"min": x, "max": x}',
)
  .check((ctx) => {
    const { min, max } = ctx.value;
    if (min !== null && max !== null && max <= min) ctx.issues.push({ code: 'custom', input: max, path: ['max'], message: `must be larger than bounds.min (${min})` });
  })
  .meta({ description: 'Bounds on each domain\'s solved multiplier at every scale; null: the range of the multipliers tried (no extrapolation).' });

export const runnerSection = section(
  {
    redis: z
      .string({ error: 'must be a Redis URL string or null (the local runner)' })
      .check((ctx) => {
        const problem = redisUrlProblem(ctx.value);
        if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
      })
      .nullable()
      .default(DEFAULTS.runner.redis)
      .meta({ description: 'Redis URL (redis://host:6379) of a BullMQ queue: `autoscale worker` processes on other machines train the runs; null: they train in this process.' }),
    queue: z
      .string({ error: (issue) => `must be a queue name string, got ${JSON.stringify(issue.input)}` })
      .check((ctx) => {
        const problem = queueNameProblem(ctx.value);
        if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
      })
      .default(DEFAULTS.runner.queue)
      .meta({ description: 'Queue name shared with the workers (`autoscale worker --queue`).' }),
  },
  `must be an object {"redis": "redis://host:6379", "queue": "${DEFAULT_QUEUE}"}`,
).meta({ description: 'Where the runs train: in this process (the default) or on workers through a Redis queue.' });

// ---------------------------------------------------------------------------------------------
// The mixture comparison (issue 15): "validation.mixtures" and "regmix". Kept in one piece: validationSection and
// pipelineConfigObject each name one field of it.

/** The mixture methods the validation stage can train, by their config names (README, "Comparing methods"). */
export const MIXTURE_METHODS = ['uniform', 'natural', 'unimax', 'ddo', 'autoscale', 'regmix', 'dml'] as const;
export type MixtureMethod = (typeof MIXTURE_METHODS)[number];
/** What validation trains when "mixtures" is left out: the comparison AutoScale argues (uniform, the small-scale optimum, AutoScale). */
export const DEFAULT_VALIDATION_MIXTURES: readonly MixtureMethod[] = ['uniform', 'ddo', 'autoscale'];
/** Random-mixture runs per domain when "regmix.runs" is left out. */
export const REGMIX_RUNS_PER_DOMAIN = 4;

/**
 * One mixture of the validation stage: a method's, or the user's own weights per domain (normalised when used);
 * `source` names where an own mixture came from when not from the config (`--mixture mine=mine.json`), for errors.
 */
export type MixtureEntry = { kind: 'method'; method: MixtureMethod } | { kind: 'own'; name: string; weights: Record<string, number>; source?: string };

const OWN_MIXTURE_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,39}$/;
const methodList = MIXTURE_METHODS.map((m) => `"${m}"`).join(', ');

/** Edit distance, to suggest the method a misspelt name meant. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * What is wrong with an own mixture's name (config or `autoscale compare --mixture NAME=FILE`), or null: 1 to 40
 * letters, digits, spaces or ._+-, and not a method's mixture name (any case) nor the DDO mixture's "DDO N=...".
 *
 * @example ownMixtureNameProblem('mine') // null
 */
export function ownMixtureNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || !OWN_MIXTURE_NAME.test(name)) {
    return `must be a name of 1 to 40 letters, digits, spaces or ._+- starting with a letter or digit, got ${JSON.stringify(name)}; e.g. "mine"`;
  }
  const lower = name.toLowerCase();
  if ((MIXTURE_METHODS as readonly string[]).includes(lower) || lower.startsWith('ddo')) return `"${name}" is the name of a method's mixture; give your own mixture another name, e.g. "mine"`;
  return null;
}

const methodName = z.string().check((ctx) => {
  if ((MIXTURE_METHODS as readonly string[]).includes(ctx.value)) return;
  const near = MIXTURE_METHODS.filter((m) => editDistance(m, ctx.value.toLowerCase()) <= 2);
  ctx.issues.push({
    code: 'custom',
    input: ctx.value,
    message: `unknown mixture method "${ctx.value}"${near.length ? ` (did you mean "${near[0]}"?)` : ''}; the methods are ${methodList}, ` +
      'and a mixture of your own is written {"name": "mine", "weights": {"<domain>": weight, ...}}',
  });
}).meta({ enum: [...MIXTURE_METHODS] }); // the JSON Schema lists the methods; the parser's check names the one meant

const ownMixture = section(
  {
    name: z.string({ error: (issue) => ownMixtureNameProblem(issue.input)! }).check((ctx) => {
      const problem = ownMixtureNameProblem(ctx.value);
      if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
    }).meta({ description: 'The mixture\'s name in validation.json and the report.' }),
    weights: domainWeights().meta({ description: 'Weight per domain (normalised; a domain left out gets 0).' }),
  },
  'must be {"name": "mine", "weights": {"<domain>": weight, ...}}',
);

const mixtureName = (m: string | { name: string }): string => (typeof m === 'string' ? m : m.name);

export const validationMixtures = list(
  z.union([methodName, ownMixture], { error: `must be a method name (${methodList}) or {"name": "mine", "weights": {...}}` }),
  `must be a list of mixtures, e.g. ["uniform", "natural", "ddo", "autoscale"]: methods among ${methodList}, or your own {"name": "mine", "weights": {...}}`,
  1,
)
  .check((ctx) => {
    const seen = new Map<string, number>();
    ctx.value.forEach((m, i) => {
      const key = mixtureName(m).toLowerCase();
      const earlier = seen.get(key);
      if (earlier !== undefined) ctx.issues.push({ code: 'custom', input: m, path: [i], message: `"${mixtureName(m)}" is named twice (also validation.mixtures[${earlier}]); list each mixture once` });
      seen.set(key, i);
    });
    if (!ctx.value.includes('uniform')) ctx.issues.push({ code: 'custom', input: ctx.value, message: 'must include "uniform": every other mixture is compared with it seed by seed; add "uniform" to the list' });
  })
  .transform((items): MixtureEntry[] => items.map((m) => (typeof m === 'string' ? { kind: 'method', method: m as MixtureMethod } : { kind: 'own', name: m.name, weights: m.weights })))
  .prefault([...DEFAULT_VALIDATION_MIXTURES])
  .meta({
    description: `The mixtures trained and compared, each once: methods among ${methodList}, or your own {"name": "mine", "weights": {...}}; "uniform" is required, every other is compared with it.`,
  });

export const regmixSection = section(
  {
    runs: wholeNumber(2, 100000).nullable().default(null).meta({ description: `Random mixtures, each trained once on the first seed; null: ${REGMIX_RUNS_PER_DOMAIN} x the number of domains.` }),
    scale: wholeNumber(1).nullable().default(null).meta({ description: 'Total training tokens of each random-mixture run; null: the smallest DDO scale.' }),
    concentration: z.number().gt(0).max(1e6).nullable().default(null).meta({ description: 'Dirichlet concentration (sum of the parameters) around the natural mixture; null: the number of domains (randomMixtures\' default).' }),
    seed: wholeNumber(0, 2 ** 32 - 1).default(0).meta({ description: 'Seed of the draws of the random mixtures (which mixtures), apart from the training seed.' }),
  },
  'must be an object {"runs": n, "scale": N, "concentration": c, "seed": s}',
).meta({ description: 'The random-mixture runs that "regmix" and "dml" fit (planned only when validation names one of them).' });
// ---- End of the mixture comparison section. -------------------------------------------------------------------

export const validationSection = section(
  {
    scale: wholeNumber(1).meta({ description: 'Total training tokens of each validation run: beyond the largest DDO scale, still affordable.' }),
    evalPoints: wholeNumber(2, 1000).default(DEFAULTS.validationEvalPoints).meta({ description: 'Held-out evaluations along each validation run (the loss curves).' }),
    savingFractions: nullAsMissing(
      list(z.number().gt(0).max(0.999), 'must be a list of fractions of the validation scale in (0, 1), e.g. [0.5], or [] for none')
        .refine(distinct, 'must not repeat a fraction')
        .transform((fractions) => [...fractions].sort((a, b) => a - b))
        .prefault(DEFAULTS.savingFractions),
    ).meta({
      description: 'Shorter budgets, as fractions of scale, at which every mixture but uniform is trained again (each its own full schedule) to measure its token saving: the budget at which it reaches uniform\'s final loss; [] measures none.',
    }),
    mixtures: validationMixtures,
  },
  'must be null or {"scale": N, "evalPoints": 8}',
);

export const intervalsSection = section(
  {
    level: z.number().gt(0).max(0.999).default(DEFAULTS.intervals.level).meta({ description: 'Central probability of every interval (weights, tokens, validation differences).' }),
    draws: wholeNumber(20, 100000).default(DEFAULTS.intervals.draws).meta({ description: 'Bootstrap draws per DDO scale (carried on through the prediction).' }),
  },
  `must be an object {"level": ${DEFAULTS.intervals.level}, "draws": ${DEFAULTS.intervals.draws}}`,
).meta({ description: 'Intervals on every weight, from the seeds\' replicates.' });

const multiplier = z
  .number()
  .gt(0)
  .refine((x) => x !== 1, 'must not be 1 (the base run is always included)')
  .min(MULTIPLIER_RANGE[0], { error: multiplierRange })
  .max(MULTIPLIER_RANGE[1], { error: multiplierRange });

function multiplierRange(issue: RawIssue): string {
  return `must be within [${MULTIPLIER_RANGE[0]}, ${MULTIPLIER_RANGE[1]}] (a factor on one domain's base quantity; the paper uses 1/3 and 3), got ${String(issue.input)}`;
}

/** DDO scales: two or more, increasing. */
const scales = list(wholeNumber(1), 'must list two or more DDO scales (total training tokens per run), e.g. [200000, 400000]', 2).check((ctx) => {
  for (let i = 1; i < ctx.value.length; i++) {
    const [previous, current] = [ctx.value[i - 1]!, ctx.value[i]!];
    if (current <= previous) {
      ctx.issues.push({ code: 'custom', input: current, path: [i], message: `must be larger than scales[${i - 1}] (${previous}); list the scales in increasing order` });
      return;
    }
  }
});

/** A count of runs or threads, or "auto" (planned from the cores). */
function countOrAuto(max: number, description: string) {
  return z
    .union([z.literal('auto'), wholeNumber(1, max)], { error: (issue) => `must be "auto" or a whole number in [1, ${max}], got ${JSON.stringify(issue.input)}` })
    .default('auto')
    .meta({ description });
}

const folder = (fallback: string, description: string) =>
  z.string({ error: 'must be a non-empty path' }).min(1, { error: 'must be a non-empty path' }).default(fallback).meta({ description });

/** The "data" field as the pipeline reads it: "demo" or an object, which the data layer checks when it prepares it (lib/data/config.ts). */
const dataReference = z.custom<'demo' | Record<string, unknown>>((value) => value === 'demo' || (typeof value === 'object' && value !== null && !Array.isArray(value)), {
  error: (issue) => (issue.input === undefined ? 'is required: a data config ({"domains": [...]}) or "demo" for the embedded corpus' : 'must be a data config object or "demo"'),
});

/**
 * The config's schema around a given "data" field: the pipeline parses with dataReference (the data layer checks the
 * data config itself, against the config file's folder), the published JSON Schema describes it with the data config's schema.
 */
function pipelineConfigObject<Data extends z.ZodType>(data: Data) {
  return strictSection(
    {
      $schema: z.string({ error: 'must be a string: the path or URL of the JSON Schema this file follows' }).optional().meta({
        description: 'The JSON Schema this file follows, for editors (e.g. "./node_modules/autoscale-lm/schema/pipeline-config.schema.json"); autoscale ignores it.',
      }),
      data: data.meta({ description: '"demo": the embedded five-domain corpus; or a data config: the domains, their sources, the tokenizer and the held-out split.' }),
      model: nullAsMissing(modelSection.prefault({})),
      training: nullAsMissing(trainingSection.prefault({})),
      eval: nullAsMissing(evalSection.prefault({})),
      scales: scales.meta({ description: 'DDO scales: total training tokens of each small-scale run, two or more, increasing.' }),
      target: wholeNumber(1).meta({ description: 'Total training tokens of the run the mixture is for; beyond the largest scale.' }),
      base: z
        .union([z.literal('uniform'), domainWeights()], { error: 'must be an object {"domain": weight, ...} with at least one domain' })
        .default(DEFAULTS.base)
        .meta({ description: 'Base composition at every scale: "uniform", or a weight per domain (normalised).' }),
      multipliers: list(multiplier, 'must list two or more multipliers other than 1, e.g. [0.3333, 3]', 2)
        .refine(distinct, 'must not repeat a value')
        .default(DEFAULTS.multipliers)
        .meta({
          description: `Factors on one domain's base quantity at a time (2m+1 DDO runs per scale for m domains); each within [${MULTIPLIER_RANGE[0]}, ${MULTIPLIER_RANGE[1]}], not 1.`,
        }),
      bounds: nullAsMissing(boundsSection.prefault({})),
      maxEpochs: z.number().gt(0).default(DEFAULTS.maxEpochs).meta({ description: 'Repeats of a domain\'s unique training tokens allowed in any run or prediction.' }),
      seeds: list(wholeNumber(0, 2 ** 32 - 1), 'must list one or more integer seeds, e.g. [0]', 1)
        .refine(distinct, 'must not repeat a seed')
        .default(DEFAULTS.seeds)
        .meta({ description: 'Every DDO run is trained once per seed; the seeds are replicates for the noise audit and the intervals.' }),
      backend: nullAsMissing(
        z.enum(['auto', 'cpu', 'cuda'], { error: (issue) => `must be "auto", "cpu" or "cuda", got ${JSON.stringify(issue.input)}` }).default(DEFAULTS.backend),
      ).meta({ description: '"auto": cuda when a device is present, else cpu.' }),
      threadsPerRun: countOrAuto(1024, 'CPU threads per run; "auto": cores / concurrent runs.'),
      concurrency: countOrAuto(4096, 'Runs at once; "auto": the runner\'s capacity plan (runs x threads <= cores).'),
      runner: nullAsMissing(runnerSection.prefault({})),
      // prefault, not default: a default is an output, which the JSON Schema of an input leaves out for a section that transforms.
      validation: validationSection.nullable().prefault(DEFAULTS.validation).meta({
        description: 'Validation at a larger scale: the mixtures named (by default uniform, the largest DDO optimum and AutoScale\'s prediction) are trained on every seed, compared seed by seed and ranked; null: no validation.',
      }),
      regmix: nullAsMissing(regmixSection.prefault({})),
      intervals: nullAsMissing(intervalsSection.prefault({})),
      out: folder(DEFAULTS.out, 'Output folder: composition*.json, ddo-*.csv, runs.csv, report.html.'),
      cacheDir: folder(DEFAULTS.cacheDir, 'The run registry, checkpoints and the data cache; pipelines may share it.'),
    },
    { unknownField: (fields) => `unknown field; the fields here are ${fields}`, notAnObject: () => 'the config must be a JSON object' },
  )
    .check((ctx) => {
      const { scales: s, target, validation } = ctx.value;
      const largest = s[s.length - 1]!;
      if (target <= largest) ctx.issues.push({ code: 'custom', input: target, path: ['target'], message: `must be larger than the largest DDO scale (${largest}), got ${target}` });
      if (validation && validation.scale <= largest) {
        ctx.issues.push({
          code: 'custom',
          input: validation.scale,
          path: ['validation', 'scale'],
          message: `must be larger than the largest DDO scale (${largest}) so that it tests the extrapolation, got ${validation.scale}`,
        });
      }
    })
    .transform(({ $schema: _ignored, ...config }) => config)
    .meta({ title: 'autoscale-lm pipeline config', description: 'The config of `autoscale run`: only "data", "scales" and "target" are required.' });
}

/** The pipeline config's schema (its "data" is checked by the data layer when the pipeline prepares it). */
export const pipelineConfigSchema = pipelineConfigObject(dataReference);

export type ModelSection = z.output<typeof modelSection>;
export type TrainingSection = z.output<typeof trainingSection>;
export type EvalSection = z.output<typeof evalSection>;
export type ValidationSection = z.output<typeof validationSection>;
export type IntervalSection = z.output<typeof intervalsSection>;
export type RunnerSection = z.output<typeof runnerSection>;
export type RegmixSection = z.output<typeof regmixSection>;
/** A validated config with every default filled in. */
export type PipelineConfig = z.output<typeof pipelineConfigSchema>;
export type Backend = PipelineConfig['backend'];

/**
 * Validates a parsed config and fills in the defaults. Throws ConfigError naming the field.
 * The "data" section is checked by the data layer when the pipeline prepares it.
 *
 * @example parsePipelineConfig({ data: 'demo', scales: [2e5, 4e5], target: 4e6 }).training.lr // 3e-3
 */
export function parsePipelineConfig(raw: unknown): PipelineConfig {
  const result = pipelineConfigSchema.safeParse(raw, { error: configMessage, reportInput: true });
  if (result.success) return result.data;
  const { issue, path } = firstIssue(result.error.issues);
  throw new ConfigError(path.length === 0 ? '(root)' : jsonPath(path), issue.message);
}

// ---------------------------------------------------------------------------------------------
// The JSON Schema and the help, both from the schema

/** Where the package ships the JSON Schema of the config, relative to its root (package.json "files" lists schema/). */
export const PIPELINE_CONFIG_SCHEMA_FILE = 'schema/pipeline-config.schema.json';

/**
 * The JSON Schema (draft-07, which every editor reads) of a pipeline config, its "data" field described by the data
 * config's schema: what schema/pipeline-config.schema.json holds (`npm run schema` writes it).
 *
 * @example pipelineConfigJsonSchema().required // ['data', 'scales', 'target']
 */
export function pipelineConfigJsonSchema(): JsonSchema {
  const data = z.union([z.literal('demo'), dataConfigSchema]);
  return z.toJSONSchema(pipelineConfigObject(data), { io: 'input', target: 'draft-7' }) as JsonSchema;
}

/**
 * The file text of the JSON Schema: what schema/pipeline-config.schema.json holds, byte for byte.
 *
 * @example writeFileSync(PIPELINE_CONFIG_SCHEMA_FILE, pipelineConfigJsonSchemaText())
 */
export function pipelineConfigJsonSchemaText(): string {
  return `${JSON.stringify(pipelineConfigJsonSchema(), null, 2)}\n`;
}

/** The parts of a JSON Schema that the help reads. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  [keyword: string]: unknown;
}

/** A default as the help prints it: JSON with a space after ":" and ",", long fractions cut to 3 digits ("0.333..."). */
function defaultText(value: unknown): string {
  if (typeof value === 'number') return String(value).length > 9 ? `${Number(value.toPrecision(3))}...` : String(value);
  if (Array.isArray(value)) return `[${value.map(defaultText).join(', ')}]`;
  if (typeof value === 'object' && value !== null) return `{${Object.entries(value).map(([k, v]) => `"${k}": ${defaultText(v)}`).join(', ')}}`;
  return JSON.stringify(value);
}

/** A value that a JSON Schema alternative allows, as the help names it: "demo", null, an object. */
function alternativeText(alternative: JsonSchema): string {
  if ('const' in alternative) return JSON.stringify(alternative.const);
  if (alternative.type === 'null') return 'null';
  return `a ${String(alternative.type)}`;
}

/**
 * A field as the help names it: `"name": default`, or `"name" (required)`; a section (its fields follow) by its
 * name; a section that may also be something else (null, "demo") with those values first.
 */
function fieldHead(name: string, field: JsonSchema, required: boolean): string {
  const head = `"${name}"${required ? ' (required)' : ''}`;
  if (field.properties || (field.items as JsonSchema | undefined)?.properties) return head;
  const others = field.anyOf?.some((alternative) => alternative.properties) ? field.anyOf.filter((alternative) => !alternative.properties) : undefined;
  if (others) return `${head}: ${others.map(alternativeText).join(', ')}, or an object`;
  return required || !('default' in field) ? head : `${head}: ${defaultText(field.default)}`;
}

/** `text` in lines of at most `width` characters: the first after `first`, the others after `rest`. */
function wrap(text: string, first: string, rest = first, width = 110): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const indent = lines.length === 0 ? first : rest;
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push((lines.length === 0 ? first : rest) + line);
  return lines;
}

/** The help's lines for the fields of one object, each with its default and meaning, a section's fields below it. */
function describeFields(schema: JsonSchema, indent: string): string[] {
  const lines: string[] = [];
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    // A section's fields follow it: an object's, a list of objects' (domains), an object alternative's (validation).
    const items = field.items as JsonSchema | undefined;
    const object = field.properties ? field : items?.properties ? items : field.anyOf?.find((alternative) => alternative.properties);
    const head = fieldHead(name, field, (schema.required ?? []).includes(name));
    lines.push(...wrap(`${head}  ${field.description ?? object?.description ?? ''}`.trimEnd(), indent, `${indent}    `));
    if (object) lines.push(...describeFields(object, `${indent}    `));
  }
  return lines;
}

/**
 * Every field of the config with its default and its meaning, for `autoscale run --help`: read from the JSON
 * Schema, so the help says what the parser does.
 *
 * @example describeDefaults().includes('"lr": 0.003') // true
 */
export function describeDefaults(): string {
  const schema = pipelineConfigJsonSchema();
  return [
    ...wrap(`Config (JSON): ${schema.description ?? ''} Every field, with its default when it is left out:`, ''),
    ...describeFields(schema, '  '),
    ...wrap(`Editors complete and check a config that names the JSON Schema this package ships: "$schema": "./node_modules/autoscale-lm/${PIPELINE_CONFIG_SCHEMA_FILE}".`, ''),
  ].join('\n');
}
