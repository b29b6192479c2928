// `autoscale run`: the whole pipeline from a config file, or on the embedded demo corpus (--demo).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DataConfig } from '../data/config.js';
import { demoDataConfig } from '../data/demo.js';
import { runPipeline, type PipelineResult } from '../pipeline/run.js';
import { DEFAULT_VALIDATION_MIXTURES, DEFAULTS, describeDefaults, parsePipelineConfig, type PipelineConfig } from '../pipeline-config.js';
import { formatPercent, formatTable, formatTokens } from '../format.js';
import type { ValidationSummary } from '../report.js';
import type { CompositionIntervals } from '../stats/ddo-replicates.js';

/**
 * The demo: the five-domain corpus that npm packages ship, a small byte-level GPT on the CPU, DDO at two
 * scales 3x apart with eight seeds, the AutoScale prediction at 2x the larger scale, and a validation there,
 * seed by seed. The recipe was chosen by measurement (docs/noise.md). With GPT-2's initialisation (SD 0.02,
 * made for width 768) this 64-wide model sits on a plateau that each seed leaves at a different moment, and the
 * perturbations barely stood out of the seed noise (SNR 2-3, intervals 8-17 points wide). A width-scaled
 * initialisation (SD 0.08, about sqrt(2 / (5 width))) removes the plateau: the response falls smoothly up to
 * about 400k tokens, where it starts to fall faster per doubling (the model learns to use its context). The
 * DDO scales and their perturbation runs (87k to 420k tokens) lie before that change, where the seed SD is
 * 0.03-0.7% and every perturbation moves the response by 8 or more seed SDs; eight seeds of these short runs
 * cost less than three of the 300k/900k design and give intervals a few points wide. The target and the
 * validation (600k) lie where the change begins: the validation measures how well the prediction holds there.
 */
export const DEMO_CONFIG = {
  data: 'demo',
  model: { contextLength: 64, width: 64, layers: 2, heads: 4 },
  training: { batchSize: 16, lr: 1e-3, minLr: 1e-4, warmupFraction: 0.05, initStd: 0.08, evalPoints: 2 },
  eval: { windowsPerDomain: 128 },
  scales: [100_000, 300_000],
  target: 600_000,
  validation: { scale: 600_000, evalPoints: 8, savingFractions: [0.5] },
  seeds: [0, 1, 2, 3, 4, 5, 6, 7],
  backend: 'cpu',
  out: 'out/demo',
} as const;

/** Bytes per demo domain: enough for the largest demo run to see each domain's text less than once. */
export const DEMO_BYTES_PER_DOMAIN = 768 * 1024;

/**
 * The data config of a pipeline config whose "data" is "demo": the embedded corpus, written once
 * under its cacheDir (the same folder for `autoscale run` and `autoscale train`, so their runs
 * share registry keys). undefined for any other "data", which the pipeline parses itself.
 *
 * @example await demoDataFor(parsePipelineConfig({ data: 'demo', scales: [2e5, 4e5], target: 4e6 })) // { domains: [books, ...] }
 */
export async function demoDataFor(config: PipelineConfig): Promise<DataConfig | undefined> {
  if (config.data !== 'demo') return undefined;
  return demoDataConfig({ dir: path.join(path.resolve(config.cacheDir), `demo-corpus-${DEMO_BYTES_PER_DOMAIN}`), maxBytesPerDomain: DEMO_BYTES_PER_DOMAIN });
}

/** A weight with its interval, as the summary prints it: "31.2% [27.0, 35.1]". */
function cell(c: { weights: Record<string, number>; intervals?: unknown }, d: string): string {
  const w = (c.intervals as CompositionIntervals | null | undefined)?.weights[d];
  return `${(100 * (c.weights[d] ?? 0)).toFixed(1)}%${w ? ` [${(100 * w[0]).toFixed(1)}, ${(100 * w[1]).toFixed(1)}]` : ''}`;
}

/** What `autoscale run` prints: the compositions with their intervals, the noise audit, the validation verdict. */
export function runSummary(result: PipelineResult, elapsedS: number): string {
  const p = result.prediction;
  const domains = Object.keys(p.weights);
  const width = Math.max(...domains.map((d) => d.length), 6);
  const columns = [...result.compositions.map((c) => ({ c, title: `DDO ${formatTokens(c.scale)}` })), { c: p, title: `AutoScale ${formatTokens(p.scale)}` }];
  const cells = columns.map(({ c }) => domains.map((d) => cell(c, d)));
  const widths = columns.map(({ title }, k) => Math.max(title.length, ...cells[k]!.map((x) => x.length)));
  const intervals = p.intervals as CompositionIntervals | null | undefined;
  const lines = [`Predicted composition for ${formatTokens(p.scale)} training tokens` +
    (intervals ? ` (each weight with its ${Math.round(intervals.level * 100)}% interval over ${intervals.seeds} seeds):` : ':')];
  lines.push(`${'domain'.padEnd(width)}  ${columns.map(({ title }, k) => title.padStart(widths[k]!)).join('  ')}`);
  domains.forEach((d, i) => lines.push(`${d.padEnd(width)}  ${cells.map((col, k) => col[i]!.padStart(widths[k]!)).join('  ')}`));
  if (!intervals) lines.push(`No intervals: ${String(p.intervalNote ?? 'one seed')}.`);
  for (const c of result.compositions) {
    const noise = c.noise as { verdict: string; minSnr: number | null; baseSd: number | null; seeds: number } | undefined;
    if (!noise) continue;
    lines.push(`Noise at ${formatTokens(c.scale)}: ${noise.seeds} seeds, base SD ${noise.baseSd === null ? '-' : noise.baseSd.toFixed(4)}, ` +
      `smallest perturbation SNR ${noise.minSnr === null ? '-' : noise.minSnr.toFixed(1)} (${noise.verdict === 'ok' ? 'every perturbation >= 3 SDs' : noise.verdict === 'noisy' ? 'NOISY: see the notes' : 'not measured'}).`);
  }
  if (result.validation) {
    lines.push(`Validation: ${result.validation.verdict}.`);
    // The default comparison (uniform, DDO, AutoScale) keeps its one line; more mixtures get the ranking.
    if (Object.values(result.validation.methods ?? {}).some((m) => !(DEFAULT_VALIDATION_MIXTURES as readonly string[]).includes(m.method))) {
      lines.push(rankingTable(result.validation));
    }
  }
  lines.push(`${result.trained} proxy runs trained, ${result.reused} reused, ${result.failed} failed; ${elapsedS.toFixed(0)} s.`);
  if (result.diagnostics.length > 0) lines.push('Notes:', ...result.diagnostics.map((d) => `  - ${d}`));
  lines.push(`Report: ${path.join(result.outDir, 'report.html')}`);
  lines.push(`Compositions: ${path.join(result.outDir, 'composition.json')} (prediction), composition-<scale>.json; runs: runs.csv${result.validation ? '; validation.json' : ''}`);
  return lines.join('\n');
}

/**
 * The validation's mixtures as a table, best first: rank, mean final loss, the paired difference against uniform
 * with its interval and verdict, the proxy runs each method cost; then each mixture's weights.
 */
export function rankingTable(v: ValidationSummary): string {
  const pct = `${Math.round(v.level * 100)}%`;
  const names = [...(v.ranking?.order.map((r) => r.mixture) ?? []), ...v.curves.map((c) => c.mixture).filter((m) => !v.ranking?.order.some((r) => r.mixture === m))];
  const signed = (x: number): string => `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(4)}`;
  const rows = [['rank', 'mixture', 'mean loss', 'vs uniform', `${pct} interval`, 'verdict', 'proxy runs']];
  for (const name of names) {
    const r = v.ranking?.order.find((x) => x.mixture === name);
    const c = v.comparisons.find((x) => x.mixture === name);
    const curve = v.curves.find((x) => x.mixture === name)!;
    const m = v.methods?.[name];
    const d = c?.lossDifference;
    rows.push([
      r ? String(r.rank) : '-',
      name,
      curve.meanFinal === null ? 'failed' : curve.meanFinal.toFixed(4),
      name === 'uniform' ? '(reference)' : d && Number.isFinite(d.mean) ? signed(d.mean) : '-',
      d?.interval ? `[${signed(d.interval[0])}, ${signed(d.interval[1])}]` : '-',
      c?.verdict ?? '',
      m ? `${m.proxyRuns}${m.sharedWith.length ? ` (shared with ${m.sharedWith.join(', ')})` : ''}` : '-',
    ]);
  }
  const domains = Object.keys(v.curves[0]?.weights ?? {});
  const weights = [['weights', ...domains], ...names.map((name) => [name, ...domains.map((dm) => formatPercent(v.curves.find((x) => x.mixture === name)!.weights[dm]))])];
  const seeds = v.ranking?.seeds ?? v.seeds;
  return [
    `Mixtures at ${formatTokens(v.scale)} tokens, best first (rank = 1 + the number of mixtures shown better by a ${pct} paired interval ` +
      `over seeds ${seeds.join(', ') || '(none)'}; equal ranks are ties):`,
    formatTable(rows),
    ...(v.ranking?.note ? [`(${v.ranking.note})`] : []),
    ...(v.unavailable ?? []).map((u) => `Left out: ${u}`),
    formatTable(weights),
  ].join('\n');
}

/** Reads and parses a JSON config file, with errors that name it. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the config ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message})`);
  }
}

/** The flags `run` and `compare` share: where the config comes from and what on the command line overrides it. */
export interface ConfigSourceOptions {
  demo?: boolean;
  out?: string;
  cache?: string;
  seeds?: string;
  level?: string;
}

/**
 * The raw config of a command that takes `CFG` or `--demo`, with --out, --cache, --seeds and --level applied, and
 * the folder its relative paths are resolved against.
 *
 * @example const { raw, baseDir } = loadRawConfig('run', file, options);
 */
export function loadRawConfig(command: string, file: string | undefined, options: ConfigSourceOptions): { raw: Record<string, unknown>; baseDir: string } {
  if (!file && !options.demo) throw new Error(`give a config file (autoscale ${command} config.json) or --demo; see autoscale ${command} --help`);
  if (file && options.demo) throw new Error('give either a config file or --demo, not both');
  const raw = file ? readConfigFile(file) : (JSON.parse(JSON.stringify(DEMO_CONFIG)) as Record<string, unknown>);
  const baseDir = file ? path.dirname(path.resolve(file)) : process.cwd();
  if (options.out) raw.out = options.out;
  if (options.cache) raw.cacheDir = options.cache;
  if (options.seeds !== undefined) raw.seeds = parseSeeds(options.seeds);
  if (options.level !== undefined) {
    const level = Number(options.level);
    if (!(level > 0 && level < 1)) throw new Error(`--level "${options.level}" must be a probability strictly between 0 and 1, e.g. 0.9`);
    raw.intervals = { ...((raw.intervals as Record<string, unknown> | undefined) ?? {}), level };
  }
  return { raw, baseDir };
}

/**
 * Runs long CLI work under Ctrl-C: the first Ctrl-C (or SIGTERM) aborts its signal, so running runs checkpoint,
 * and the command says how to resume and exits with 130; a second one quits at once. The handlers are removed after.
 *
 * @example await runInterruptible(async (signal) => { await runPipeline({ config, signal }); });
 */
export async function runInterruptible(work: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping: checkpointing the running runs (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await work(controller.signal);
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
    process.stderr.write('stopped; run the same command again to resume\n');
    process.exitCode = 130;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * Parses --seeds: a comma-separated list of distinct non-negative integers.
 * @example parseSeeds('3,4,5') // [3, 4, 5]
 */
export function parseSeeds(text: string): number[] {
  const seeds = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 32)) {
    throw new Error(`--seeds "${text}" must be a comma-separated list of integers >= 0, e.g. 0,1,2`);
  }
  if (new Set(seeds).size !== seeds.length) throw new Error(`--seeds "${text}" repeats a seed`);
  return seeds;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .argument('[config]', 'pipeline config (JSON); see below')
    .description('Run the whole pipeline: prepare data, DDO at each small scale, AutoScale prediction, optional validation, report')
    .option('--demo', 'run on the embedded demo corpus (five domains from npm packages) with a small byte-level model on the CPU')
    .option('--out <dir>', 'output folder (overrides the config\'s "out")')
    .option('--cache <dir>', 'cache folder: run registry, checkpoints, data (overrides "cacheDir")')
    .option('--seeds <list>', 'seeds to train every run with, overriding the config\'s "seeds" (e.g. 3,4,5: a second, independent demo)')
    .option('--level <p>', `central probability of every interval, overriding "intervals.level" (default ${DEFAULTS.intervals.level})`)
    .option('--redis <url>', 'train the runs on `autoscale worker` processes through this Redis (redis://host:6379; sets "runner.redis")')
    .option('--queue <name>', `queue name shared with the workers (sets "runner.queue"; default "${DEFAULTS.runner.queue}")`)
    .option('--retry-failed', 'train again the runs that failed with a NaN loss (by default their failure is reused)')
    .option('--quiet', 'no progress lines on stderr')
    .addHelpText('after', `\n${describeDefaults()}\n\nThe demo config (--demo):\n${JSON.stringify(DEMO_CONFIG, null, 2)}\n\n` +
      'Interrupt with Ctrl-C (or kill): finished runs are kept in the registry and running ones resume from their\n' +
      'checkpoints when the same command runs again. With --redis, runs already queued stay queued and the\n' +
      'workers keep training them; the same command collects their results.')
    .action(async (file: string | undefined, options: { demo?: boolean; out?: string; cache?: string; seeds?: string; level?: string; redis?: string; queue?: string; retryFailed?: boolean; quiet?: boolean }) => {
      const { raw, baseDir } = loadRawConfig('run', file, options);
      // --redis and --queue set the config's "runner" (a runner that is not an object is left for the config check to name).
      if ((options.redis !== undefined || options.queue !== undefined) && (raw.runner === undefined || (typeof raw.runner === 'object' && raw.runner !== null))) {
        raw.runner = { ...(raw.runner as object | undefined), ...(options.redis !== undefined ? { redis: options.redis } : {}), ...(options.queue !== undefined ? { queue: options.queue } : {}) };
      }
      const config: PipelineConfig = parsePipelineConfig(raw);
      const log = options.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const dataConfig = await demoDataFor(config);

      const started = Date.now();
      await runInterruptible(async (signal) => {
        const result = await runPipeline({ config, dataConfig, baseDir, log, signal, ...(options.retryFailed ? { retryFailed: true } : {}) });
        process.stdout.write(`${runSummary(result, (Date.now() - started) / 1000)}\n`);
      });
    });
}
