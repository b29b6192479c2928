// Outputs: what the pipeline writes into its output folder. runs.csv (one row per run), ddo-<N>.csv (one
// scale's results in the `autoscale ddo` input format), the composition files, and report.html's input.
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { CompositionFile, DdoCompositionFile, PredictedCompositionFile } from '../composition.js';
import { formatCount, formatMultiplier, formatTokens } from '../format.js';
import type { PipelineConfig } from '../pipeline-config.js';
import type { Registry } from '../registry.js';
import type { ComparisonReportInput, ReportedRun, ReportInput, ValidationSummary } from '../report.js';
import type { ProxyRunResult } from '../train.js';
import { response } from './analyse.js';
import type { RunSlot, Setup } from './plan.js';

/** One run as the outputs show it: its runs.csv fields and its row of the report's runs table. */
export interface RunOutputRow {
  csv: Record<string, string | number>;
  report: ReportedRun;
}

/** One output row per slot, from the registry's records (`reused`: the keys the registry answered this time). */
export function runOutputRows(slots: RunSlot[], registry: Registry, domains: string[], evalWeights: Record<string, number>, reused: Set<string>): RunOutputRow[] {
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

/** runs.csv: one line per run, with its tokens and losses per domain, response, steps, duration and error. */
export function runsCsv(rows: RunOutputRow[], domains: string[]): string {
  const head = ['label', 'purpose', 'scale', 'seed', 'run', 'domain', 'multiplier', 'status', 'reused', 'key', ...domains.map((d) => `tokens_${d}`), ...domains.map((d) => `loss_${d}`), 'response', 'steps', 'duration_s', 'error'];
  return `${[head.join(','), ...rows.map((r) => head.map((h) => csvField(r.csv[h] ?? '')).join(','))].join('\n')}\n`;
}

/**
 * One scale's results in the `autoscale ddo` input format: "domain,multiplier,loss" with one seed, and
 * "domain,multiplier,loss,seed" (every seed, each with its own base row) with several, so `autoscale ddo` on
 * the file reproduces the scale's composition and its intervals.
 */
export function ddoCsv(slots: RunSlot[], registry: Registry, evalWeights: Record<string, number>): string {
  const seeds = new Set(slots.map((s) => s.seed));
  const withSeed = seeds.size > 1;
  const lines = [withSeed ? 'domain,multiplier,loss,seed' : 'domain,multiplier,loss'];
  for (const slot of slots) {
    const r = registry.get<ProxyRunResult>(slot.key);
    if (r?.status !== 'finished' || !r.result) continue;
    lines.push(`${slot.domain === null ? 'base' : csvField(slot.domain)},${slot.multiplier},${response(r.result.losses, evalWeights)}${withSeed ? `,${slot.seed}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A composition file's text: two-space JSON and a final newline. */
export function compositionFile(composition: CompositionFile): string {
  return `${JSON.stringify(composition, null, 2)}\n`;
}

/** What report.html shows: the setup in words, the compositions, fits, validation, runs and diagnostics. */
export function reportInput(
  config: PipelineConfig,
  setup: Setup,
  results: {
    scales: DdoCompositionFile[];
    prediction: PredictedCompositionFile;
    validation: ValidationSummary | null;
    rows: RunOutputRow[];
    diagnostics: string[];
  },
): ReportInput {
  const { domains } = setup;
  return {
    title: `AutoScale: data composition for ${formatCount(config.target)} training tokens`,
    domains,
    setup: [
      ...setupLines(config, setup),
      `DDO scales ${config.scales.map(formatTokens).join(', ')} tokens; multipliers ${config.multipliers.map(formatMultiplier).join(', ')}; seeds ${config.seeds.join(', ')}; target ${formatTokens(config.target)}`,
      `response: held-out loss, ${config.eval.weights ? 'weighted' : 'mean'} over domains, ${config.eval.windowsPerDomain} windows per domain`,
    ],
    scales: results.scales,
    prediction: results.prediction,
    validation: results.validation,
    runs: results.rows.map((r) => r.report),
    diagnostics: results.diagnostics,
  };
}

/** The lines of the report's setup that say what data, model and training the proxy runs share. */
function setupLines(config: PipelineConfig, setup: Setup): string[] {
  const { domains, prepared } = setup;
  return [
    `data: ${domains.length} domains, ${prepared.tokenizer} tokenizer (vocab ${prepared.vocabSize}); training tokens ${domains
      .map((d) => `${d} ${formatCount(prepared.domains.find((p) => p.name === d)!.trainTokens)}`)
      .join(', ')}`,
    `model: ${config.model.layers} layers x ${config.model.width} wide, ${config.model.heads} heads, context ${config.model.contextLength}; ${setup.shared.backend}`,
    `training: batch ${config.training.batchSize} windows, lr ${config.training.lr} -> ${config.training.minLr} (warmup ${config.training.warmupFraction * 100}%, cosine), AdamW wd ${config.training.weightDecay}`,
  ];
}

/** What the page of `autoscale compare` shows when it ran no DDO stage. */
export function comparisonReportInput(
  config: PipelineConfig,
  setup: Setup,
  results: { validation: ValidationSummary; rows: RunOutputRow[]; diagnostics: string[] },
): ComparisonReportInput {
  const v = results.validation;
  return {
    title: `Mixture comparison at ${formatCount(v.scale)} training tokens`,
    domains: setup.domains,
    setup: [
      ...setupLines(config, setup),
      `validation: ${v.curves.map((c) => c.mixture).join(', ')} at ${formatTokens(v.scale)} tokens; seeds ${config.seeds.join(', ')}`,
      `response: held-out loss, ${config.eval.weights ? 'weighted' : 'mean'} over domains, ${config.eval.windowsPerDomain} windows per domain`,
    ],
    validation: v,
    runs: results.rows.map((r) => r.report),
    diagnostics: results.diagnostics,
  };
}

/** Writes each file (name -> text) into `outDir`, atomically. */
export function writeOutputs(outDir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileAtomic(path.join(outDir, name), [text]);
}
