// `autoscale run`, as a function, in the order of the pipeline (../shared/DESIGN.md):
//   domain corpora -> tokenized shards + held-out split     plan.ts     setUp
//   -> proxy runs at every DDO scale                         plan.ts     planDdo, execute.ts runSlots
//   -> DDO per scale                                         analyse.ts  ddoAtScale
//   -> AutoScale prediction at the target                    analyse.ts  autoscalePredictor
//   -> (optional) random-mixture runs of RegMix and DML      mixture-search.ts (trained with the DDO runs)
//   -> (optional) validation runs at a larger scale          validate.ts planComparison, runValidationStage
//   -> composition-*.json, ddo-*.csv, runs.csv, report.html  outputs.ts
// Every run result comes from the registry, so a pipeline killed at any moment and started again redoes
// no finished run and writes the same compositions.
import path from 'node:path';
import { predictDocument, type DdoCompositionFile, type PredictedCompositionFile } from '../composition.js';
import { formatDuration, formatTokens } from '../format.js';
import type { PipelineConfig } from '../pipeline-config.js';
import { openRegistry, type Registry, type RunRecord } from '../registry.js';
import { renderReport, type ValidationSummary } from '../report.js';
import type { ProxyRunResult } from '../train.js';
import { autoscalePredictor, ddoAtScale, supplyOf, validationDocument } from './analyse.js';
import { predictWithIntervals, type ScaleWithDraws } from '../stats/predict-intervals.js';
import { budgetSupply, checkPipelineBudget, checkTrainRun } from './budget.js';
import { runSlots, type PipelineHooks, type SlotsEnvironment, type SlotsOutcome } from './execute.js';
import { compositionFile, ddoCsv, reportInput, runOutputRows, runsCsv, writeOutputs } from './outputs.js';
import { planDdo, setUp, trainSlot, type DataSource, type RunSlot, type Setup } from './plan.js';
import { lostMixtures, planComparison, runValidationStage, type ComparisonPlan } from './validate.js';

export type { PipelineHooks } from './execute.js';
export { PROXY_RUN_FORMAT, type ProxyRunSpec } from './spec.js';
export { tokensToReach } from './analyse.js';

export interface PipelineOptions extends DataSource {
  config: PipelineConfig;
  /** Progress lines (the CLI passes stderr). */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Retry runs that failed with a deterministic error (NaN) instead of reusing the failure. */
  retryFailed?: boolean;
  /** Seconds between overall progress lines. */
  progressEverySeconds?: number;
  hooks?: PipelineHooks;
}

export interface PipelineResult {
  outDir: string;
  prediction: PredictedCompositionFile;
  compositions: DdoCompositionFile[];
  validation: ValidationSummary | null;
  files: string[];
  trained: number;
  reused: number;
  failed: number;
  diagnostics: string[];
}

/** The pipeline ran and wrote its outputs, but every validation run of a mixture failed: no comparison, no verdict. */
export class ValidationFailedError extends Error {
  readonly code = 'ERR_VALIDATION_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'ValidationFailedError';
  }
}

/**
 * Throws ValidationFailedError when a validation mixture has no finished run (the outputs are written first):
 * `written` says where they are, `see` what else to read.
 */
export function throwIfValidationLost(validation: ValidationSummary | null, written: string, see: string[]): void {
  const lost = lostMixtures(validation);
  if (lost.length > 0) {
    throw new ValidationFailedError(`every validation run of ${lost.map((c) => c.mixture).join(', ')} failed (${lost.map((c) => c.failed).join('; ')}), so the validation ` +
      `cannot compare the mixtures; ${written}; see ${[...see, '`autoscale runs --status failed`'].join(' and ')}, then rerun`);
  }
}

/** The environment runSlots trains in, from the options, the setup and the open registry. */
export function slotsEnvironment(options: PipelineOptions, setup: Setup, registry: Registry, log: (line: string) => void): SlotsEnvironment {
  const { config } = options;
  return {
    prepared: setup.prepared,
    evalSet: setup.evalSet,
    registry,
    signal: options.signal,
    checkpointsDir: path.join(setup.cacheDir, 'checkpoints'),
    checkpointEverySeconds: config.training.checkpointEverySeconds,
    hooks: options.hooks,
    log,
    threadsPerRun: config.threadsPerRun,
    concurrency: config.concurrency,
    retryFailed: options.retryFailed ?? false,
    progressEverySeconds: options.progressEverySeconds ?? 10,
  };
}

/**
 * The runner of the stages: the local pool (runSlots), or, with `config.runner.redis`, the queue runner
 * (lib/queue), loaded only then so that a local pipeline needs no Redis client.
 */
export function slotsRunner(config: PipelineConfig, setup: Setup): (slots: RunSlot[], env: SlotsEnvironment) => Promise<SlotsOutcome> {
  const { redis, queue } = config.runner;
  if (redis === null) return runSlots;
  return async (slots, env) => {
    const { queueSlots } = await import('../queue/coordinator.js');
    return queueSlots(slots, { ...env, data: { config: setup.dataConfig, cacheDir: setup.dataCacheDir }, queue: { redis, queue } });
  };
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
  const setup = await setUp(options.config, options, log);
  for (const d of Object.keys(options.quantities)) {
    if (!setup.domains.includes(d)) throw new Error(`--tokens names "${d}", which is not a domain of the data (${setup.domains.join(', ')})`);
  }
  const seed = options.seed ?? options.config.seeds[0] ?? 0;
  const slot = trainSlot(setup, options.quantities, seed, options.config.training.evalPoints);
  for (const note of checkTrainRun(slot, budgetSupply(setup, options.config.maxEpochs))) log(`[plan] ${note}`);
  const registry = openRegistry(path.join(setup.cacheDir, 'runs.sqlite'));
  try {
    const outcome = await runSlots([slot], slotsEnvironment(options, setup, registry, log));
    return { record: registry.get<ProxyRunResult>(slot.key)!, reused: outcome.reused.has(slot.key) };
  } finally {
    registry.close();
  }
}

/**
 * Runs the whole pipeline. Resolves with the prediction and the files written; rejects with an
 * AbortError when stopped (finished runs are kept, running ones checkpointed), with an Error that
 * says what is missing when the failed runs leave too little to predict, with a BudgetError (before any
 * run) when a run or the target asks more of the data than it holds, and with a ValidationFailedError
 * (after writing the outputs, without a verdict) when every validation run of a mixture failed.
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

  const setup = await setUp(config, options, log);
  const { domains, evalWeights } = setup;
  const registry = openRegistry(path.join(setup.cacheDir, 'runs.sqlite'));
  try {
    const env = slotsEnvironment(options, setup, registry, log);
    const trainSlots = slotsRunner(config, setup);

    // Proxy runs at every DDO scale, and the random-mixture runs of RegMix and DML when validation names one, all in
    // one pool, once every run and the target fit the data's supply.
    const plans = planDdo(config, setup);
    const budget = checkPipelineBudget(config, setup, plans);
    const comparison: ComparisonPlan | null = config.validation ? planComparison({ ...config, validation: config.validation }, setup) : null;
    const planNotes = [...budget.notes, ...(comparison?.notes ?? [])];
    for (const note of planNotes) log(`[plan] ${note}`);
    const ddoSlots = plans.flatMap((p) => p.slots);
    const searchSlots = comparison?.search?.slots ?? [];
    const ddoRun = await trainSlots([...ddoSlots, ...searchSlots], env);

    // DDO per scale.
    const diagnostics: string[] = [...planNotes, ...ddoRun.diagnostics];
    const compositions: DdoCompositionFile[] = [];
    const scaleDraws: ScaleWithDraws[] = [];
    for (const plan of plans) {
      const outcome = ddoAtScale(plan, config.bounds, evalWeights, registry, config.intervals);
      diagnostics.push(...outcome.diagnostics.map((d) => `N=${formatTokens(plan.scale)}: ${d}`));
      if (outcome.composition) {
        compositions.push(outcome.composition);
        scaleDraws.push({ scale: outcome.composition.scale, tokens: outcome.composition.tokens, draws: outcome.composition.replicates ?? null, seeds: outcome.replicated?.seeds.length ?? 0 });
      }
    }
    if (compositions.length < 2) {
      const rows = runOutputRows([...ddoSlots, ...searchSlots], registry, domains, evalWeights, ddoRun.reused);
      writeOutputs(outDir, { 'runs.csv': runsCsv(rows, domains) });
      throw new Error(
        `only ${compositions.length} of ${config.scales.length} DDO scales have a usable base run, and AutoScale needs two to predict. ` +
          `${diagnostics.join(' ')} See ${path.join(outDir, 'runs.csv')} and \`autoscale runs --status failed\`.`,
      );
    }

    // AutoScale prediction at the target.
    const predict = autoscalePredictor(compositions, setup.prepared, config.maxEpochs);
    const withIntervals = predictWithIntervals(scaleDraws, config.target, { supply: supplyOf(setup.prepared, config.maxEpochs), level: config.intervals.level });
    const predicted = withIntervals.prediction;
    // These notes reach composition.json and, as its diagnostics, the report.
    if (withIntervals.intervalNote) predicted.diagnostics.push(`intervals: ${withIntervals.intervalNote}`);
    for (const l of predicted.leaveOneScaleOut ?? []) {
      predicted.diagnostics.push(`leave-one-scale-out: predicting N=${formatTokens(l.scale)} from the other scales misses its weights by at most ${(100 * l.maxWeightError).toFixed(1)} points`);
    }
    const prediction = predictDocument(withIntervals, compositions.map((c) => `composition-${c.scale}.json`));

    // Validation at a larger scale: the mixtures named (by default uniform vs the largest DDO optimum vs AutoScale).
    let validation: ValidationSummary | null = null;
    let validationSlots: RunSlot[] = [];
    let validationRun: SlotsOutcome = { trained: 0, reused: new Set<string>(), failed: 0, diagnostics: [] };
    if (config.validation && comparison) {
      const largest = compositions[compositions.length - 1]!;
      const stage = await runValidationStage({
        config: { ...config, validation: config.validation }, setup, registry, env, trainSlots, comparison, ddo: { plans, largest, predict },
      });
      diagnostics.push(...stage.diagnostics);
      validationSlots = stage.slots;
      validationRun = stage.outcome;
      validation = stage.summary;
    }

    // Outputs.
    const reused = new Set([...ddoRun.reused, ...validationRun.reused]);
    const rows = runOutputRows([...ddoSlots, ...searchSlots, ...validationSlots], registry, domains, evalWeights, reused);
    const files: Record<string, string> = {};
    for (const c of compositions) {
      files[`composition-${c.scale}.json`] = compositionFile(c);
      files[`ddo-${c.scale}.csv`] = ddoCsv(ddoSlots.filter((s) => s.scale === c.scale), registry, evalWeights);
    }
    files[`composition-${config.target}.json`] = compositionFile(prediction);
    files['composition.json'] = files[`composition-${config.target}.json`]!;
    files['runs.csv'] = runsCsv(rows, domains);
    if (validation) files['validation.json'] = `${JSON.stringify(validationDocument(validation), null, 2)}\n`;
    files['report.html'] = await renderReport(
      reportInput(config, setup, { scales: compositions, prediction, validation, rows, diagnostics }),
    );
    writeOutputs(outDir, files);
    throwIfValidationLost(validation, `the compositions are written to ${outDir}`, ['runs.csv']);
    const trained = ddoRun.trained + validationRun.trained;
    const failed = ddoRun.failed + validationRun.failed;
    log(`[done] ${trained} runs trained, ${reused.size} reused, ${failed} failed, in ${formatDuration((Date.now() - started) / 1000)}`);
    return { outDir, prediction, compositions, validation, files: Object.keys(files).map((f) => path.join(outDir, f)), trained, reused: reused.size, failed, diagnostics };
  } finally {
    registry.close();
  }
}
