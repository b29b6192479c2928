// `autoscale compare`, as a function: only what the validation stage needs. The random-mixture runs of RegMix and
// DML when one is named, then every mixture named at the validation scale on every seed. Every run comes from the
// registry when it is there, so mixtures compared after `autoscale run` reuse its runs.
//
// "ddo" and "autoscale" need the DDO stage. compare runs it then (the whole pipeline, reusing every run the registry
// has, so after `autoscale run` with the same config it trains none of them again) instead of refusing: a user who
// asks for AutoScale wants it compared, and the pipeline is the only way to get it. Without them no DDO run is
// planned, and the page written is the comparison alone.
import path from 'node:path';
import { formatDuration } from '../format.js';
import type { PipelineConfig, ValidationSection } from '../pipeline-config.js';
import { openRegistry } from '../registry.js';
import { renderComparisonReport, type ValidationSummary } from '../report.js';
import { validationDocument } from './analyse.js';
import { checkValidationScale } from './budget.js';
import { needsDdo } from './mixtures.js';
import { comparisonReportInput, runOutputRows, writeOutputs } from './outputs.js';
import { setUp } from './plan.js';
import { runPipeline, slotsEnvironment, slotsRunner, throwIfValidationLost, type PipelineOptions } from './run.js';
import { planComparison, runValidationStage } from './validate.js';

export interface CompareResult {
  outDir: string;
  validation: ValidationSummary;
  /** True when a mixture named needed the DDO stage, so the whole pipeline ran (and wrote its outputs too). */
  ranDdo: boolean;
  files: string[];
  trained: number;
  reused: number;
  failed: number;
  diagnostics: string[];
}

/**
 * Trains and compares the mixtures of `config.validation.mixtures` at `config.validation.scale`. Writes
 * validation.json and report.html into `config.out` (with "ddo" or "autoscale", everything `autoscale run` writes).
 * Rejects as runPipeline does: BudgetError before any run, ValidationFailedError (after writing) when a mixture has no
 * finished run, AbortError when stopped.
 *
 * @example
 * const result = await compareMixtures({ config: parsePipelineConfig({ ...json, validation: { scale: 6e5, mixtures: ['uniform', 'natural', 'regmix'] } }) });
 * result.validation.ranking?.order[0]?.mixture // e.g. "RegMix"
 */
export async function compareMixtures(options: PipelineOptions): Promise<CompareResult> {
  const { config } = options;
  const log = options.log ?? (() => undefined);
  if (!config.validation) {
    throw new Error('config: validation: autoscale compare trains the validation stage and the config has none; add "validation": {"scale": N, "mixtures": [...]}, or give --scale N');
  }
  const validationConfig: PipelineConfig & { validation: ValidationSection } = { ...config, validation: config.validation };
  if (config.validation.mixtures.some(needsDdo)) {
    log('[compare] "ddo" and "autoscale" need the DDO stage: running the pipeline (runs in the registry are reused)');
    const result = await runPipeline(options);
    return { outDir: result.outDir, validation: result.validation!, ranDdo: true, files: result.files, trained: result.trained, reused: result.reused, failed: result.failed, diagnostics: result.diagnostics };
  }

  const outDir = path.resolve(config.out);
  const started = Date.now();
  const setup = await setUp(config, options, log);
  const registry = openRegistry(path.join(setup.cacheDir, 'runs.sqlite'));
  try {
    const env = slotsEnvironment(options, setup, registry, log);
    const trainSlots = slotsRunner(config, setup);
    checkValidationScale(config, setup, null);
    const comparison = planComparison(validationConfig, setup);
    for (const note of comparison.notes) log(`[plan] ${note}`);
    const searchSlots = comparison.search?.slots ?? [];
    const searchRun = searchSlots.length ? await trainSlots(searchSlots, env) : { trained: 0, reused: new Set<string>(), failed: 0, diagnostics: [] };
    const stage = await runValidationStage({ config: validationConfig, setup, registry, env, trainSlots, comparison, ddo: null });
    const diagnostics = [...comparison.notes, ...searchRun.diagnostics, ...stage.diagnostics];
    const reused = new Set([...searchRun.reused, ...stage.outcome.reused]);
    const rows = runOutputRows([...searchSlots, ...stage.slots], registry, setup.domains, setup.evalWeights, reused);
    const files: Record<string, string> = {
      'validation.json': `${JSON.stringify(validationDocument(stage.summary), null, 2)}\n`,
      'report.html': await renderComparisonReport(comparisonReportInput(config, setup, { validation: stage.summary, rows, diagnostics })),
    };
    writeOutputs(outDir, files);
    throwIfValidationLost(stage.summary, `validation.json and report.html are written to ${outDir}`, []);
    const trained = searchRun.trained + stage.outcome.trained;
    const failed = searchRun.failed + stage.outcome.failed;
    log(`[done] ${trained} runs trained, ${reused.size} reused, ${failed} failed, in ${formatDuration((Date.now() - started) / 1000)}`);
    return { outDir, validation: stage.summary, ranDdo: false, files: Object.keys(files).map((f) => path.join(outDir, f)), trained, reused: reused.size, failed, diagnostics };
  } finally {
    registry.close();
  }
}
