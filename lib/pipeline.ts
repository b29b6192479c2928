// `autoscale run`, as a function: prepare the domains, run DDO at every small scale (proxy runs
// through the runner, results through the registry), predict the target composition with
// AutoScale, optionally validate at a larger scale, and write composition-*.json, runs.csv and
// report.html. Every run result comes from the registry, so a pipeline killed at any moment and
// started again redoes no finished run and writes the same compositions.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseDataConfig, type DataConfig } from './data/config.js';
import { prepareData, type PreparedData } from './data/prepare.js';
import { MixtureSampler } from './data/sampler.js';
import { heldOutSet } from './data/split.js';
import { predictComposition, supplyCaps } from './autoscale.js';
import { ddoDocument } from './cli/ddo.js';
import { predictDocument } from './cli/predict.js';
import type { CompositionDocument } from './composition.js';
import { planDdoRuns, type DdoRun } from './ddo/plan.js';
import { optimizeComposition, type DdoComposition } from './ddo/optimize.js';
import type { DdoResults } from './ddo/results.js';
import { addonCandidates, backendInfo, Model } from './native.js';
import type { PipelineConfig } from './pipeline-config.js';
import { openRegistry, runKey, type Registry, type RunRecord } from './registry.js';
import { formatTokens, renderReport, type DomainFit, type ReportInput, type RunRow, type ScaleSummary, type ValidationCurve, type ValidationSummary } from './report.js';
import { formatCount, formatDuration, planCapacity, runPool, type RunTask } from './runner.js';
import { writeFileAtomic } from './atomic-file.js';
import { removeCheckpoint, trainProxyRun, type EvalSet, type ProxyModel, type ProxyRunResult } from './train.js';

/** Bumped whenever what a proxy run computes changes (trainer loop, schedule, sampler): old results stop matching. */
export const PROXY_RUN_FORMAT = 1;

/** Everything that determines a proxy run's result; its canonical hash is the run's registry key. */
export interface ProxyRunSpec {
  kind: 'proxy-run';
  format: number;
  /** Package version. */
  version: string;
  /** sha256 (first 16 hex) of the native addon binary: a rebuilt trainer (new kernels, new float rounding) gets new keys. */
  native: string;
  /** PreparedData.key: the exact training and held-out tokens. */
  data: string;
  vocabSize: number;
  model: PipelineConfig['model'];
  training: Omit<PipelineConfig['training'], 'checkpointEverySeconds' | 'evalPoints'>;
  evalPoints: number;
  windowsPerDomain: number;
  seed: number;
  /** Training tokens asked of each domain (whole tokens; the sampler realises round(N_i / T) windows). */
  quantities: Record<string, number>;
  backend: 'cpu' | 'cuda';
}

/** Where a run belongs in the pipeline (not part of its key). */
interface RunSlot {
  spec: ProxyRunSpec;
  key: string;
  label: string;
  purpose: 'ddo' | 'validation';
  scale: number;
  seed: number;
  /** DDO: the plan's run ("base" or "<domain>@<multiplier>"); validation: the mixture name. */
  id: string;
  domain: string | null;
  multiplier: number;
}

export interface PipelineHooks {
  /** Wraps every model the pipeline creates (tests inject failures here). */
  wrapModel?: (model: ProxyModel, slot: { label: string; spec: ProxyRunSpec }) => ProxyModel;
}

export interface PipelineOptions {
  config: PipelineConfig;
  /** A validated data config to use instead of config.data (the CLI's --demo). */
  dataConfig?: DataConfig;
  /** Relative paths in config.data resolve here (the config file's folder). */
  baseDir?: string;
  /** Progress lines (the CLI passes stderr). */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Retry runs that failed with a deterministic error (NaN) instead of reusing the failure. */
  retryFailed?: boolean;
  /** Seconds between overall progress lines. */
  progressEverySeconds?: number;
  hooks?: PipelineHooks;
}

/**
 * A composition file (composition-*.json): the contract of lib/composition.ts, as `autoscale ddo`
 * (method "ddo", with fits) and `autoscale predict` (method "autoscale", with the trajectory) write it.
 */
export type CompositionJson = CompositionDocument & { diagnostics: string[] };

export interface PipelineResult {
  outDir: string;
  prediction: CompositionJson;
  compositions: CompositionJson[];
  validation: ValidationSummary | null;
  files: string[];
  trained: number;
  reused: number;
  failed: number;
  diagnostics: string[];
}

let addonHash: string | undefined;

/** Hash of the addon file the binding loads (the first candidate that exists). */
function nativeBuildId(): string {
  if (addonHash === undefined) {
    const file = addonCandidates().find((candidate) => existsSync(candidate));
    addonHash = file ? createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16) : 'none';
  }
  return addonHash;
}

function sum(values: Iterable<number>): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

/** Response of a run: the evaluation target, a weighted mean of per-domain held-out losses. */
function response(losses: Record<string, number>, weights: Record<string, number>): number {
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

function baseComposition(config: PipelineConfig, domains: string[], scale: number): Record<string, number> {
  const weights = config.base === 'uniform' ? Object.fromEntries(domains.map((d) => [d, 1])) : config.base;
  for (const d of Object.keys(weights)) {
    if (!domains.includes(d)) throw new Error(`config: base.${d}: no domain "${d}" in the data; the domains are ${domains.join(', ')}`);
  }
  const total = sum(domains.map((d) => weights[d] ?? 0));
  const out: Record<string, number> = {};
  for (const d of domains) {
    const w = (weights[d] ?? 0) / total;
    if (!(w > 0)) throw new Error(`config: base.${d}: every domain needs a positive base weight for DDO to perturb it`);
    out[d] = w * scale;
  }
  return out;
}

function roundQuantities(tokens: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(tokens).map(([d, n]) => [d, Math.max(0, Math.round(n))]));
}

function shortMultiplier(x: number): string {
  if (x >= 1) return String(+x.toPrecision(3));
  const inverse = 1 / x;
  return Math.abs(inverse - Math.round(inverse)) < 1e-9 ? `1/${Math.round(inverse)}` : String(+x.toPrecision(3));
}

interface Setup {
  prepared: PreparedData;
  domains: string[];
  evalWeights: Record<string, number>;
  evalSet: EvalSet;
  cacheDir: string;
  makeSpec: (quantities: Record<string, number>, seed: number, points: number) => ProxyRunSpec;
}

/** Prepares the data, the evaluation set and the spec of runs: what every proxy run of a config shares. */
async function setUp(options: PipelineOptions, log: (line: string) => void): Promise<Setup> {
  const { config } = options;
  const baseDir = options.baseDir ?? process.cwd();
  const cacheDir = path.resolve(config.cacheDir);
  const dataConfig = options.dataConfig ?? parseDataConfig(config.data, baseDir, 'data.');
  log(`[data] preparing ${dataConfig.domains.length} domains (${dataConfig.tokenizer} tokenizer)`);
  const prepared = await prepareData(dataConfig, {
    cacheDir: path.join(cacheDir, 'data'),
    onProgress: (p) => {
      if (p.phase === 'done' || p.phase === 'cached') log(`[data] ${p.domain}: ${p.phase === 'cached' ? 'cached' : 'tokenized'}, ${formatCount(p.tokens)} tokens`);
    },
  });
  const domains = prepared.domains.map((d) => d.name);
  for (const d of prepared.domains) {
    log(`[data] ${d.name}: ${formatCount(d.trainTokens)} training tokens, ${formatCount(d.heldOutTokens)} held out (${d.trainDocuments}/${d.heldOutDocuments} documents)`);
  }
  const evalWeights = config.eval.weights ?? Object.fromEntries(domains.map((d) => [d, 1]));
  for (const d of Object.keys(evalWeights)) {
    if (!domains.includes(d)) throw new Error(`config: eval.weights.${d}: no domain "${d}" in the data; the domains are ${domains.join(', ')}`);
  }
  const evalSet: EvalSet = heldOutSet(prepared, config.model.contextLength, config.eval.windowsPerDomain);

  const info = backendInfo();
  const backend: 'cpu' | 'cuda' = config.backend === 'auto' ? (info.backends.cuda.available ? 'cuda' : 'cpu') : config.backend;
  if (backend === 'cuda' && !info.backends.cuda.available) {
    throw new Error(`config: backend: "cuda" but CUDA is unavailable (${info.backends.cuda.reason ?? 'no device'}); use "auto" or "cpu"`);
  }
  const { checkpointEverySeconds: _checkpoints, evalPoints: _points, ...training } = config.training;
  const makeSpec = (quantities: Record<string, number>, seed: number, points: number): ProxyRunSpec => ({
    kind: 'proxy-run',
    format: PROXY_RUN_FORMAT,
    version: info.version,
    native: nativeBuildId(),
    data: prepared.key,
    vocabSize: prepared.vocabSize,
    model: config.model,
    training,
    evalPoints: points,
    windowsPerDomain: config.eval.windowsPerDomain,
    seed,
    quantities: roundQuantities(quantities),
    backend,
  });
  return { prepared, domains, evalWeights, evalSet, cacheDir, makeSpec };
}

/**
 * Trains one proxy run of a config (or finds it in the registry): `autoscale train`.
 *
 * @example
 * const { record } = await trainProxy({ config, quantities: { books: 1e5, code: 2e5 }, seed: 0 });
 * record.result?.losses // { books: 2.9, code: 2.1, ... }
 */
export async function trainProxy(
  options: PipelineOptions & { quantities: Record<string, number>; seed?: number },
): Promise<{ record: RunRecord<ProxyRunResult>; reused: boolean }> {
  const log = options.log ?? (() => undefined);
  const setup = await setUp(options, log);
  for (const d of Object.keys(options.quantities)) {
    if (!setup.domains.includes(d)) throw new Error(`--tokens names "${d}", which is not a domain of the data (${setup.domains.join(', ')})`);
  }
  const seed = options.seed ?? options.config.seeds[0] ?? 0;
  const spec = setup.makeSpec(options.quantities, seed, options.config.training.evalPoints);
  const total = sum(Object.values(spec.quantities));
  const slot: RunSlot = { spec, key: runKey(spec), label: `train N=${formatTokens(total)} seed ${seed}`, purpose: 'ddo', scale: total, seed, id: 'train', domain: null, multiplier: 1 };
  const registry = openRegistry(path.join(setup.cacheDir, 'runs.sqlite'));
  try {
    const context = { config: options.config, prepared: setup.prepared, evalSet: setup.evalSet, registry, cacheDir: setup.cacheDir, log, options, checkpointEverySeconds: options.config.training.checkpointEverySeconds };
    const outcome = await runSlots([slot], context);
    return { record: registry.get<ProxyRunResult>(slot.key)!, reused: outcome.reused.has(slot.key) };
  } finally {
    registry.close();
  }
}

/**
 * Runs the whole pipeline. Resolves with the prediction and the files written; rejects with an
 * AbortError when stopped (finished runs are kept, running ones checkpointed) and with an Error that
 * says what is missing when the failed runs leave too little to predict.
 *
 * @example
 * const result = await runPipeline({ config: parsePipelineConfig(json), baseDir: '.', log: console.error });
 * result.prediction.weights // { books: 0.21, code: 0.33, ... }
 */
export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const { config } = options;
  const log = options.log ?? (() => undefined);
  const outDir = path.resolve(config.out);
  const started = Date.now();

  // 1. Data.
  const { prepared, domains, evalWeights, evalSet, cacheDir, makeSpec } = await setUp(options, log);
  const { checkpointEverySeconds, evalPoints } = config.training;
  const backend = makeSpec({}, 0, 1).backend;

  const registry = openRegistry(path.join(cacheDir, 'runs.sqlite'));
  try {
    // 2. DDO runs at every small scale, all in one pool.
    const plans = new Map<number, { base: Record<string, number>; runs: DdoRun[] }>();
    const ddoSlots: RunSlot[] = [];
    for (const scale of config.scales) {
      const base = baseComposition(config, domains, scale);
      const runs = planDdoRuns({ baseTokens: base, multipliers: config.multipliers });
      plans.set(scale, { base, runs });
      for (const seed of config.seeds) {
        for (const run of runs) {
          const spec = makeSpec(run.tokens, seed, evalPoints);
          const what = run.domain === null ? 'base' : `${run.domain} x${shortMultiplier(run.multiplier)}`;
          ddoSlots.push({
            spec,
            key: runKey(spec),
            label: `N=${formatTokens(scale)} ${what}${config.seeds.length > 1 ? ` seed ${seed}` : ''}`,
            purpose: 'ddo',
            scale,
            seed,
            id: run.id,
            domain: run.domain,
            multiplier: run.multiplier,
          });
        }
      }
    }
    const context = { config, prepared, evalSet, registry, cacheDir, log, options, checkpointEverySeconds };
    const ddoRun = await runSlots(ddoSlots, context);

    // Fit and solve per scale.
    const diagnostics: string[] = [...ddoRun.diagnostics];
    const compositions: CompositionJson[] = [];
    const summaries: ScaleSummary[] = [];
    for (const scale of config.scales) {
      const plan = plans.get(scale)!;
      const outcome = ddoAtScale(scale, plan.base, plan.runs, ddoSlots.filter((s) => s.scale === scale), config, evalWeights, registry);
      diagnostics.push(...outcome.diagnostics.map((d) => `N=${formatTokens(scale)}: ${d}`));
      if (outcome.composition) {
        compositions.push(outcome.composition);
        summaries.push(outcome.summary!);
      }
    }
    if (compositions.length < 2) {
      const rows = runRows([...ddoSlots], registry, domains, evalWeights, ddoRun.reused);
      await writeOutputs(outDir, { 'runs.csv': runsCsv(rows, domains) });
      throw new Error(
        `only ${compositions.length} of ${config.scales.length} DDO scales have a usable base run, and AutoScale needs two to predict. ` +
          `${diagnostics.join(' ')} See ${path.join(outDir, 'runs.csv')} and \`autoscale runs --status failed\`.`,
      );
    }

    // 3. AutoScale prediction.
    const supply = supplyCaps(Object.fromEntries(prepared.domains.map((d) => [d.name, d.trainTokens])), config.maxEpochs);
    const predict = (target: number): ReturnType<typeof predictComposition> =>
      predictComposition(compositions.map((c) => ({ scale: c.scale, tokens: c.tokens })), target, { supply });
    const predicted = predict(config.target);
    const prediction = predictDocument(predicted, compositions.map((c) => `composition-${c.scale}.json`)) as CompositionJson;
    if (predicted.leaveOneScaleOut) {
      for (const l of predicted.leaveOneScaleOut) {
        predicted.diagnostics.push(`leave-one-scale-out: predicting N=${formatTokens(l.scale)} from the other scales misses its weights by at most ${(100 * l.maxWeightError).toFixed(1)} points`);
      }
    }

    // 4. Validation.
    let validation: ValidationSummary | null = null;
    const validationSlots: RunSlot[] = [];
    let validationRun = { trained: 0, reused: new Set<string>(), failed: 0, diagnostics: [] as string[] };
    if (config.validation) {
      const scale = config.validation.scale;
      const seed = config.seeds[0] ?? 0;
      const largest = compositions[compositions.length - 1]!;
      const mixtures: { name: string; tokens: Record<string, number> }[] = [
        { name: 'uniform', tokens: Object.fromEntries(domains.map((d) => [d, scale / domains.length])) },
        { name: `DDO N=${formatTokens(largest.scale)}`, tokens: Object.fromEntries(domains.map((d) => [d, (largest.weights[d] ?? 0) * scale])) },
        { name: 'AutoScale', tokens: predict(scale).tokens },
      ];
      for (const mixture of mixtures) {
        const spec = makeSpec(mixture.tokens, seed, config.validation.evalPoints);
        validationSlots.push({ spec, key: runKey(spec), label: `validate N=${formatTokens(scale)} ${mixture.name}`, purpose: 'validation', scale, seed, id: mixture.name, domain: null, multiplier: 1 });
      }
      validationRun = await runSlots(validationSlots, context);
      diagnostics.push(...validationRun.diagnostics);
      validation = validationSummary(scale, mixtures, validationSlots, registry, evalWeights);
      for (const curve of validation.curves) {
        if (curve.failed) diagnostics.push(`validation run ${curve.mixture} failed (${curve.failed}): the validation comparison and the speed-up miss it`);
      }
    }

    // 5. Outputs.
    const allSlots = [...ddoSlots, ...validationSlots];
    const reused = new Set([...ddoRun.reused, ...validationRun.reused]);
    const rows = runRows(allSlots, registry, domains, evalWeights, reused);
    const files: Record<string, string> = {};
    for (const c of compositions) {
      files[`composition-${c.scale}.json`] = `${JSON.stringify(c, null, 2)}\n`;
      files[`ddo-${c.scale}.csv`] = ddoCsv(ddoSlots.filter((s) => s.scale === c.scale && s.seed === config.seeds[0]), registry, evalWeights);
    }
    files[`composition-${config.target}.json`] = `${JSON.stringify(prediction, null, 2)}\n`;
    files['composition.json'] = files[`composition-${config.target}.json`]!;
    files['runs.csv'] = runsCsv(rows, domains);
    const report: ReportInput = {
      title: `AutoScale: data composition for ${formatCount(config.target)} training tokens`,
      domains,
      setup: [
        `data: ${domains.length} domains, ${prepared.tokenizer} tokenizer (vocab ${prepared.vocabSize}); training tokens ${domains
          .map((d) => `${d} ${formatCount(prepared.domains.find((p) => p.name === d)!.trainTokens)}`)
          .join(', ')}`,
        `model: ${config.model.layers} layers x ${config.model.width} wide, ${config.model.heads} heads, context ${config.model.contextLength}; ${backend}`,
        `training: batch ${config.training.batchSize} windows, lr ${config.training.lr} -> ${config.training.minLr} (warmup ${config.training.warmupFraction * 100}%, cosine), AdamW wd ${config.training.weightDecay}`,
        `DDO scales ${config.scales.map(formatTokens).join(', ')} tokens; multipliers ${config.multipliers.map(shortMultiplier).join(', ')}; seeds ${config.seeds.join(', ')}; target ${formatTokens(config.target)}`,
        `response: held-out loss, ${config.eval.weights ? 'weighted' : 'mean'} over domains, ${config.eval.windowsPerDomain} windows per domain`,
      ],
      scales: summaries,
      prediction: { scale: prediction.scale, tokens: prediction.tokens, weights: prediction.weights, notes: predicted.diagnostics },
      validation,
      runs: rows.map((r) => r.report),
      diagnostics,
    };
    files['report.html'] = await renderReport(report);
    await writeOutputs(outDir, files);
    const totalTrained = ddoRun.trained + validationRun.trained;
    log(`[done] ${totalTrained} runs trained, ${reused.size} reused, ${ddoRun.failed + validationRun.failed} failed, in ${formatDuration((Date.now() - started) / 1000)}`);
    return {
      outDir,
      prediction,
      compositions,
      validation,
      files: Object.keys(files).map((f) => path.join(outDir, f)),
      trained: totalTrained,
      reused: reused.size,
      failed: ddoRun.failed + validationRun.failed,
      diagnostics,
    };
  } finally {
    registry.close();
  }
}

interface RunContext {
  config: PipelineConfig;
  prepared: PreparedData;
  evalSet: EvalSet;
  registry: Registry;
  cacheDir: string;
  log: (line: string) => void;
  options: PipelineOptions;
  checkpointEverySeconds: number;
}

/** Trains the slots that have no usable record; returns which were reused and what failed. */
async function runSlots(
  slots: RunSlot[],
  context: RunContext,
): Promise<{ trained: number; reused: Set<string>; failed: number; diagnostics: string[] }> {
  const { registry, log, config, prepared, evalSet, cacheDir, options } = context;
  const reused = new Set<string>();
  const todo: RunSlot[] = [];
  const seen = new Set<string>();
  for (const slot of slots) {
    if (seen.has(slot.key)) continue;
    seen.add(slot.key);
    const record = registry.get(slot.key);
    const deterministicFailure = record?.status === 'failed' && record.errorCode === 'ERR_NON_FINITE' && !options.retryFailed;
    if (record?.status === 'finished' || deterministicFailure) reused.add(slot.key);
    else todo.push(slot);
  }
  const diagnostics: string[] = [];
  let failed = 0;
  for (const key of reused) {
    const record = registry.get(key);
    if (record?.status === 'failed') {
      failed += 1;
      diagnostics.push(`run ${record.label} failed before with ${record.errorCode} (deterministic): its failure is reused; \`autoscale run --retry-failed\` trains it again`);
    }
  }
  if (todo.length === 0) {
    log(`[runs] all ${seen.size} runs found in the registry; nothing to train`);
    return { trained: 0, reused, failed, diagnostics };
  }
  const backend = todo[0]!.spec.backend;
  const capacity = planCapacity({
    backend,
    runs: todo.length,
    cores: availableParallelism(),
    threadsPerRun: config.threadsPerRun === 'auto' ? undefined : config.threadsPerRun,
    concurrency: config.concurrency === 'auto' ? undefined : config.concurrency,
  });
  log(`[runs] ${todo.length} to train, ${reused.size} reused from the registry; ${capacity.reason}`);

  const tasks: RunTask<ProxyRunResult>[] = todo.map((slot) => {
    const sampler = new MixtureSampler(prepared, slot.spec.quantities, { contextLength: config.model.contextLength, batchSize: config.training.batchSize, seed: slot.seed });
    const tokens = sampler.totalWindows * config.model.contextLength;
    return {
      key: slot.key,
      label: slot.label,
      tokens,
      run: async (progress) => {
        registry.start(slot.spec, slot.label);
        const t0 = Date.now();
        const checkpointDir = path.join(cacheDir, 'checkpoints', slot.key);
        let model: ProxyModel | undefined;
        try {
          const native = new Model(
            { vocabSize: prepared.vocabSize, ...config.model },
            {
              backend: slot.spec.backend,
              threads: capacity.threadsPerRun,
              seed: slot.seed,
              batchSize: config.training.batchSize,
              optimizer: { beta1: training(slot).beta1, beta2: training(slot).beta2, eps: training(slot).eps, weightDecay: training(slot).weightDecay, gradClip: training(slot).gradClip },
            },
          );
          model = options.hooks?.wrapModel ? options.hooks.wrapModel(native, { label: slot.label, spec: slot.spec }) : native;
          const t = training(slot);
          const result = await trainProxyRun({
            model,
            stream: sampler,
            evalSet,
            schedule: { lr: t.lr, minLr: t.minLr, warmupSteps: Math.max(1, Math.round(t.warmupFraction * sampler.steps)) },
            contextLength: config.model.contextLength,
            evalPoints: slot.spec.evalPoints,
            checkpointDir,
            checkpointEverySeconds: context.checkpointEverySeconds,
            onProgress: (e) => progress(e.tokens, e.loss),
            signal: options.signal,
          });
          registry.finish(slot.key, result, (Date.now() - t0) / 1000);
          removeCheckpoint(checkpointDir);
          return result;
        } catch (error) {
          if ((error as Error)?.name !== 'AbortError') {
            const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : null;
            registry.fail(slot.key, (error as Error)?.message ?? String(error), code, (Date.now() - t0) / 1000);
            if (code === 'ERR_NON_FINITE') removeCheckpoint(checkpointDir);
          }
          throw error;
        } finally {
          model?.dispose();
        }
      },
    };
  });
  const outcomes = await runPool(tasks, { concurrency: capacity.concurrency, log, signal: options.signal, progressEverySeconds: options.progressEverySeconds ?? 10 });
  for (const o of outcomes) if (o.status === 'failed') failed += 1;
  return { trained: todo.length, reused, failed, diagnostics };
}

function training(slot: RunSlot): ProxyRunSpec['training'] {
  return slot.spec.training;
}

/** DDO at one scale from the registry's records: fit per domain, solve, and say what failed runs mean. */
function ddoAtScale(
  scale: number,
  base: Record<string, number>,
  runs: DdoRun[],
  slots: RunSlot[],
  config: PipelineConfig,
  evalWeights: Record<string, number>,
  registry: Registry,
): { composition: CompositionJson | null; summary: ScaleSummary | null; diagnostics: string[] } {
  const diagnostics: string[] = [];
  const domains = Object.keys(base);
  const recordOf = (slot: RunSlot): RunRecord<ProxyRunResult> | undefined => registry.get<ProxyRunResult>(slot.key);
  const failure = (slot: RunSlot): string => {
    const r = recordOf(slot);
    return `${r?.error ?? 'no result'}${r?.errorCode ? ` [${r.errorCode}]` : ''}`;
  };
  // Per seed: the base response; per run id: mean over seeds of response / base response.
  const baseBySeed = new Map<number, number>();
  for (const slot of slots.filter((s) => s.id === 'base')) {
    const r = recordOf(slot);
    if (r?.status === 'finished' && r.result) baseBySeed.set(slot.seed, response(r.result.losses, evalWeights));
    else diagnostics.push(`the base run ${slot.label} failed (${failure(slot)})`);
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
      else if (r?.status !== 'finished') diagnostics.push(`run ${slot.label} failed (${failure(slot)}): its point is missing from the ${run.domain} fit`);
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
  const fitsJson: Record<string, unknown> = {};
  const fits: DomainFit[] = [];
  const active: string[] = [];
  let solved: DdoComposition | null = null;
  if (usable.length > 0) {
    const usableBase = Object.fromEntries(usable.map((d) => [d, base[d]!]));
    const ddoOptions: Parameters<typeof optimizeComposition>[1] = { baseTokens: usableBase };
    if (config.bounds.min !== null) ddoOptions.minMultiplier = config.bounds.min;
    if (config.bounds.max !== null) ddoOptions.maxMultiplier = config.bounds.max;
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

/** Validation curves and the speed-up: tokens AutoScale needs to reach uniform's final loss. */
function validationSummary(
  scale: number,
  mixtures: { name: string; tokens: Record<string, number> }[],
  slots: RunSlot[],
  registry: Registry,
  evalWeights: Record<string, number>,
): ValidationSummary {
  const curves: ValidationCurve[] = mixtures.map((m, i) => {
    const slot = slots[i]!;
    const r = registry.get<ProxyRunResult>(slot.key);
    const total = sum(Object.values(m.tokens));
    const weights = Object.fromEntries(Object.entries(m.tokens).map(([d, n]) => [d, n / total]));
    if (r?.status !== 'finished' || !r.result) {
      return { mixture: m.name, weights, points: [], finalLosses: {}, failed: `${r?.error ?? 'no result'}${r?.errorCode ? ` [${r.errorCode}]` : ''}` };
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

interface Row {
  report: RunRow;
  csv: Record<string, string | number>;
}

function runRows(slots: RunSlot[], registry: Registry, domains: string[], evalWeights: Record<string, number>, reused: Set<string>): Row[] {
  return slots.map((slot) => {
    const r = registry.get<ProxyRunResult>(slot.key);
    const losses = r?.status === 'finished' && r.result ? r.result.losses : null;
    const csv: Record<string, string | number> = {
      label: slot.label,
      purpose: slot.purpose,
      scale: slot.scale,
      seed: slot.seed,
      run: slot.id,
      domain: slot.domain ?? '',
      multiplier: slot.multiplier,
      status: r?.status ?? 'missing',
      reused: reused.has(slot.key) ? 1 : 0,
      key: slot.key,
    };
    for (const d of domains) csv[`tokens_${d}`] = slot.spec.quantities[d] ?? 0;
    for (const d of domains) csv[`loss_${d}`] = losses?.[d] ?? '';
    csv.response = losses ? response(losses, evalWeights) : '';
    csv.steps = r?.result?.steps ?? '';
    csv.duration_s = r?.durationS ?? '';
    csv.error = r?.error ?? '';
    return {
      csv,
      report: {
        label: slot.label,
        status: r?.status ?? 'missing',
        scale: slot.scale,
        seed: slot.seed,
        tokens: slot.spec.quantities,
        losses,
        durationS: r?.durationS ?? null,
        reused: reused.has(slot.key),
        error: r?.error ?? null,
      },
    };
  });
}

function csvField(value: string | number): string {
  const text = typeof value === 'number' ? String(value) : value;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function runsCsv(rows: Row[], domains: string[]): string {
  const head = ['label', 'purpose', 'scale', 'seed', 'run', 'domain', 'multiplier', 'status', 'reused', 'key', ...domains.map((d) => `tokens_${d}`), ...domains.map((d) => `loss_${d}`), 'response', 'steps', 'duration_s', 'error'];
  return `${[head.join(','), ...rows.map((r) => head.map((h) => csvField(r.csv[h] ?? '')).join(','))].join('\n')}\n`;
}

/** One scale's results in the `autoscale ddo` input format (domain,multiplier,loss), first seed only. */
function ddoCsv(slots: RunSlot[], registry: Registry, evalWeights: Record<string, number>): string {
  const lines = ['domain,multiplier,loss'];
  for (const slot of slots) {
    const r = registry.get<ProxyRunResult>(slot.key);
    if (r?.status !== 'finished' || !r.result) continue;
    lines.push(`${slot.domain === null ? 'base' : csvField(slot.domain)},${slot.multiplier},${response(r.result.losses, evalWeights)}`);
  }
  return `${lines.join('\n')}\n`;
}

async function writeOutputs(outDir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) writeFileAtomic(path.join(outDir, name), [text]);
}
