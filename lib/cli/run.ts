// `autoscale run`: the whole pipeline from a config file, or on the embedded demo corpus (--demo).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { demoDataConfig } from '../data/demo.js';
import { runPipeline, type PipelineResult } from '../pipeline/run.js';
import { describeDefaults, parsePipelineConfig, type PipelineConfig } from '../pipeline-config.js';
import { formatTokens } from '../format.js';

/**
 * The demo: the five-domain corpus that npm packages ship, a small byte-level GPT on the CPU, two
 * DDO scales 3x apart and a target 10x the larger one; sized to finish in a few minutes on two
 * cores. Two seeds: the seed-to-seed spread of a run's held-out loss is as large as the
 * differences between the perturbation runs, and averaging seeds is the cheapest help. Scales
 * below about 300k tokens leave these proxies in the early phase of training, where the response
 * to more data is not a convex power law and most DDO fits come out degenerate (measured: 3 of 10
 * fits at 150k/300k, 2 of 10 at 300k/900k, none at 900k).
 */
export const DEMO_CONFIG = {
  data: 'demo',
  model: { contextLength: 64, width: 64, layers: 2, heads: 4 },
  training: { batchSize: 8, lr: 3e-3, minLr: 3e-4, warmupFraction: 0.05, evalPoints: 2 },
  eval: { windowsPerDomain: 128 },
  scales: [300_000, 900_000],
  target: 9_000_000,
  validation: { scale: 2_700_000, evalPoints: 8 },
  seeds: [0, 1],
  backend: 'cpu',
  out: 'out/demo',
} as const;

/** Bytes per demo domain: enough for the largest demo run to see each domain's text less than once. */
export const DEMO_BYTES_PER_DOMAIN = 768 * 1024;

function summary(result: PipelineResult, elapsedS: number): string {
  const p = result.prediction;
  const domains = Object.keys(p.weights);
  const width = Math.max(...domains.map((d) => d.length), 6);
  const scales = result.compositions.map((c) => c.scale);
  const head = `${'domain'.padEnd(width)}  ${scales.map((s) => `DDO ${formatTokens(s)}`.padStart(10)).join('  ')}  ${`AutoScale ${formatTokens(p.scale)}`.padStart(14)}`;
  const lines = [`Predicted composition for ${formatTokens(p.scale)} training tokens:`, head];
  for (const d of domains) {
    const cells = result.compositions.map((c) => `${(100 * (c.weights[d] ?? 0)).toFixed(1)}%`.padStart(10));
    lines.push(`${d.padEnd(width)}  ${cells.join('  ')}  ${`${(100 * (p.weights[d] ?? 0)).toFixed(1)}%`.padStart(14)}`);
  }
  if (result.validation) {
    const v = result.validation;
    lines.push(
      v.tokenFraction === null
        ? `Validation at ${formatTokens(v.scale)} tokens: the AutoScale mixture did not reach the uniform mixture's final loss.`
        : `Validation at ${formatTokens(v.scale)} tokens: AutoScale reaches uniform's final loss with ${(100 * v.tokenFraction).toFixed(1)}% of the tokens.`,
    );
  }
  lines.push(`${result.trained} proxy runs trained, ${result.reused} reused, ${result.failed} failed; ${elapsedS.toFixed(0)} s.`);
  if (result.diagnostics.length > 0) lines.push('Notes:', ...result.diagnostics.map((d) => `  - ${d}`));
  lines.push(`Report: ${path.join(result.outDir, 'report.html')}`);
  lines.push(`Compositions: ${path.join(result.outDir, 'composition.json')} (prediction), composition-<scale>.json; runs: runs.csv`);
  return lines.join('\n');
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .argument('[config]', 'pipeline config (JSON); see below')
    .description('Run the whole pipeline: prepare data, DDO at each small scale, AutoScale prediction, optional validation, report')
    .option('--demo', 'run on the embedded demo corpus (five domains from npm packages) with a small byte-level model on the CPU')
    .option('--out <dir>', 'output folder (overrides the config\'s "out")')
    .option('--cache <dir>', 'cache folder: run registry, checkpoints, data (overrides "cacheDir")')
    .option('--retry-failed', 'train again the runs that failed with a NaN loss (by default their failure is reused)')
    .option('--quiet', 'no progress lines on stderr')
    .addHelpText('after', `\n${describeDefaults()}\n\nThe demo config (--demo):\n${JSON.stringify(DEMO_CONFIG, null, 2)}\n\n` +
      'Interrupt with Ctrl-C (or kill): finished runs are kept in the registry and running ones resume from their\n' +
      'checkpoints when the same command runs again.')
    .action(async (file: string | undefined, options: { demo?: boolean; out?: string; cache?: string; retryFailed?: boolean; quiet?: boolean }) => {
      if (!file && !options.demo) throw new Error('give a config file (autoscale run config.json) or --demo; see autoscale run --help');
      if (file && options.demo) throw new Error('give either a config file or --demo, not both');
      let raw: Record<string, unknown>;
      let baseDir = process.cwd();
      if (file) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          throw new Error(`cannot read the config ${file}: ${(error as Error).message}`);
        }
        try {
          raw = JSON.parse(text) as Record<string, unknown>;
        } catch (error) {
          throw new Error(`${file} is not valid JSON (${(error as Error).message})`);
        }
        baseDir = path.dirname(path.resolve(file));
      } else {
        raw = JSON.parse(JSON.stringify(DEMO_CONFIG)) as Record<string, unknown>;
      }
      if (options.out) raw.out = options.out;
      if (options.cache) raw.cacheDir = options.cache;
      const config: PipelineConfig = parsePipelineConfig(raw);
      const log = options.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const dataConfig =
        config.data === 'demo'
          ? await demoDataConfig({ dir: path.join(path.resolve(config.cacheDir), `demo-corpus-${DEMO_BYTES_PER_DOMAIN}`), maxBytesPerDomain: DEMO_BYTES_PER_DOMAIN })
          : undefined;

      const controller = new AbortController();
      const stop = (): void => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('\nstopping: checkpointing the running runs (Ctrl-C again to quit at once)\n');
        controller.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const started = Date.now();
      try {
        const result = await runPipeline({ config, dataConfig, baseDir, log, signal: controller.signal, ...(options.retryFailed ? { retryFailed: true } : {}) });
        process.stdout.write(`${summary(result, (Date.now() - started) / 1000)}\n`);
      } catch (error) {
        if ((error as Error).name === 'AbortError') {
          process.stderr.write('stopped; run the same command again to resume\n');
          process.exitCode = 130;
          return;
        }
        throw error;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
