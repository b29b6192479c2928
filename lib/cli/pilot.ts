// `autoscale pilot`: the base composition at candidate scales, a few seeds and learning rates; the seed SD of
// its response per scale, and the smallest stable scales to give `autoscale run` (lib/pipeline/pilot.ts).
import type { Command } from 'commander';
import path from 'node:path';
import { writeJsonAtomic } from '../atomic-file.js';
import { parseTokenCount } from '../composition.js';
import { formatNumber, formatTable, formatTokens } from '../format.js';
import { DEFAULT_MAX_RELATIVE_SD, runPilot, type PilotResult } from '../pipeline/pilot.js';
import { parsePipelineConfig, type PipelineConfig } from '../pipeline-config.js';
import { DEMO_CONFIG, demoDataFor, parseSeeds, readConfigFile, runInterruptible } from './run.js';

/**
 * Parses --scales: comma-separated token counts (150k, 1.5M, 300000), whole numbers.
 * @example parseScales('150k,300k,900k') // [150000, 300000, 900000]
 */
export function parseScales(text: string): number[] {
  const scales = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => parseTokenCount(s, '--scales'));
  if (scales.length === 0) throw new Error(`--scales "${text}" lists no scale; write e.g. --scales 150k,300k,900k`);
  for (const s of scales) if (!Number.isInteger(s)) throw new Error(`--scales: ${s} is not a whole number of tokens; write e.g. --scales 150k,300k,900k`);
  if (new Set(scales).size !== scales.length) throw new Error(`--scales "${text}" repeats a scale`);
  return scales;
}

/**
 * Parses --lr: comma-separated positive learning rates.
 * @example parseLearningRates('1e-3,3e-3') // [0.001, 0.003]
 */
export function parseLearningRates(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const lrs = parts.map(Number);
  if (lrs.length === 0 || !lrs.every((x) => Number.isFinite(x) && x > 0)) throw new Error(`--lr "${text}" must be a comma-separated list of positive numbers, e.g. 1e-3,3e-3`);
  if (new Set(lrs).size !== lrs.length) throw new Error(`--lr "${text}" repeats a learning rate`);
  return lrs;
}

/** The table and the recommendations `autoscale pilot` prints. */
export function pilotSummary(result: PilotResult): string {
  const rows = [['lr', 'scale', 'seeds', 'mean', 'SD', 'relative SD', 'verdict']];
  for (const r of result.rows) {
    rows.push([
      String(r.lr),
      formatTokens(r.scale),
      String(r.perSeed.length),
      r.mean === null ? '-' : r.mean.toFixed(4),
      r.sd === null ? '-' : formatNumber(r.sd, 3),
      r.relativeSd === null ? '-' : `${(100 * r.relativeSd).toFixed(2)}%`,
      r.verdict,
    ]);
  }
  const lines = [
    `Base response (eval-weighted mean held-out loss) per seed; "stable" when the relative seed SD is at most ${(100 * result.maxRelativeSd).toFixed(2)}%:`,
    formatTable(rows),
  ];
  const notes = result.rows.filter((r) => r.note).map((r) => `  - lr ${r.lr}, ${formatTokens(r.scale)}: ${r.note}`);
  if (notes.length > 0) lines.push('Notes:', ...notes);
  if (result.regimeChanges.length > 0) lines.push('Changes of regime:', ...result.regimeChanges.map((c) => `  - ${c.text}`));
  lines.push('Recommendation:', ...result.recommendations.map((r) => `  ${r.text}`));
  if (result.diagnostics.length > 0) lines.push(...result.diagnostics.map((d) => `  - ${d}`));
  lines.push(`${result.trained} base runs trained, ${result.reused} reused, ${result.failed} failed.`);
  return lines.join('\n');
}

/** pilot.json: the pilot's inputs (config fields that shape a run) and its result, rows with their per-seed values. */
export function pilotDocument(config: PipelineConfig, result: PilotResult): Record<string, unknown> {
  return {
    kind: 'autoscale-pilot',
    response: 'eval-weighted mean held-out loss of the base composition (the DDO response)',
    base: config.base,
    model: config.model,
    training: config.training,
    multipliers: config.multipliers,
    ...result,
  };
}

interface PilotCommandOptions {
  demo?: boolean;
  scales: string;
  seeds?: string;
  lr?: string;
  maxRelativeSd?: string;
  out?: string;
  cache?: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerPilotCommand(program: Command): void {
  program
    .command('pilot')
    .argument('[config]', 'pipeline config (JSON) as for autoscale run; its data, model, training, base, eval, backend and cacheDir are used')
    .description('Before DDO: train the base composition at candidate scales for a few seeds, measure the seed SD of its response, and recommend the smallest stable DDO scales')
    .option('--demo', 'use the demo config of autoscale run --demo')
    .requiredOption('--scales <list>', 'candidate scales (total training tokens of the base run), e.g. 150k,300k,900k')
    .option('--seeds <list>', 'seeds of every candidate (default: the config\'s seeds, or 0,1,2 when it has one)')
    .option('--lr <list>', 'peak learning rates to try, e.g. 1e-3,3e-3 (default: the config\'s training.lr)')
    .option('--max-relative-sd <x>', `largest seed SD / mean of the response counted as stable (default ${DEFAULT_MAX_RELATIVE_SD}, i.e. ${100 * DEFAULT_MAX_RELATIVE_SD}%)`)
    .option('--out <file>', 'write everything (rows with per-seed values, recommendations) as JSON (default: pilot.json in the config\'s "out" folder)')
    .option('--cache <dir>', 'cache folder: run registry, checkpoints, data (overrides "cacheDir")')
    .option('--json', 'print pilot.json to stdout instead of the table')
    .option('--quiet', 'no progress lines on stderr')
    .addHelpText('after', '\nExample:\n  autoscale pilot --demo --scales 150k,300k,600k,900k --seeds 0,1,2,3 --lr 1e-3,3e-3\n\n' +
      'The runs are the DDO stage\'s base runs (same spec), kept in the registry: a second pilot reuses them, and so\n' +
      'does autoscale run with the same seeds, the recommended scales and that training.lr. A DDO scale N also trains\n' +
      'perturbation runs of about 0.87 N to 1.4 N tokens (multipliers 1/3 and 3, five domains): the pilot checks the\n' +
      'candidate just below each recommended scale.')
    .action(async (file: string | undefined, options: PilotCommandOptions) => {
      if (!file && !options.demo) throw new Error('give a config file (autoscale pilot config.json --scales ...) or --demo; see autoscale pilot --help');
      if (file && options.demo) throw new Error('give either a config file or --demo, not both');
      const raw = file ? readConfigFile(file) : (JSON.parse(JSON.stringify(DEMO_CONFIG)) as Record<string, unknown>);
      const baseDir = file ? path.dirname(path.resolve(file)) : process.cwd();
      if (options.cache) raw.cacheDir = options.cache;
      const config = parsePipelineConfig(raw);
      const scales = parseScales(options.scales);
      const seeds = options.seeds !== undefined ? parseSeeds(options.seeds) : config.seeds.length > 1 ? config.seeds : [0, 1, 2];
      const lrs = options.lr === undefined ? undefined : parseLearningRates(options.lr);
      let maxRelativeSd: number | undefined;
      if (options.maxRelativeSd !== undefined) {
        maxRelativeSd = Number(options.maxRelativeSd);
        if (!(Number.isFinite(maxRelativeSd) && maxRelativeSd > 0)) throw new Error(`--max-relative-sd "${options.maxRelativeSd}" must be a positive number, e.g. 0.005 for 0.5%`);
      }
      const log = options.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const dataConfig = await demoDataFor(config);
      await runInterruptible(async (signal) => {
        const result = await runPilot({
          config, baseDir, scales, seeds, signal,
          ...(dataConfig === undefined ? {} : { dataConfig }),
          ...(lrs === undefined ? {} : { lrs }),
          ...(maxRelativeSd === undefined ? {} : { maxRelativeSd }),
          ...(log === undefined ? {} : { log }),
        });
        const document = pilotDocument(config, result);
        const out = path.resolve(options.out ?? path.join(config.out, 'pilot.json'));
        writeJsonAtomic(out, document);
        if (options.json) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
        else process.stdout.write(`${pilotSummary(result)}\nWritten: ${out}\n`);
      });
    });
}
