// `autoscale bench train`: training and evaluation throughput of the native trainer on a preset.
import type { Command } from 'commander';
import { BENCH_PRESETS, benchTrain } from '../bench.js';

function integer(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${value}"`);
    return n;
  };
}

export function registerBenchCommand(program: Command): void {
  const bench = program.command('bench').description('Benchmarks of the native trainer');
  bench
    .command('train')
    .description(
      'Training (trainStep) and evaluation (evalLoss) tokens/s on a model preset, after warm-up, median of repeats',
    )
    .requiredOption('--model <preset>', `model preset: ${Object.keys(BENCH_PRESETS).join(', ')}`)
    .option('--backend <name>', 'cpu or cuda', 'cpu')
    .option('--threads <n>', 'CPU worker threads (default: all hardware threads)', integer('threads', 1))
    .option('--warmup <n>', 'untimed steps before measuring', integer('warmup', 0), 2)
    .option('--repeats <n>', 'timed repeats (the median is reported)', integer('repeats', 1), 5)
    .option('--steps <n>', 'training steps per timed repeat', integer('steps', 1), 1)
    .option('--json', 'print the result as JSON')
    .action(
      async (options: {
        model: string;
        backend: string;
        threads?: number;
        warmup: number;
        repeats: number;
        steps: number;
        json?: boolean;
      }) => {
        if (options.backend !== 'cpu' && options.backend !== 'cuda') {
          throw new Error(`--backend must be cpu or cuda, got "${options.backend}"`);
        }
        const r = await benchTrain({
          preset: options.model,
          backend: options.backend,
          threads: options.threads,
          warmup: options.warmup,
          repeats: options.repeats,
          stepsPerRepeat: options.steps,
        });
        if (options.json) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        const f = (x: number) => Math.round(x).toLocaleString('en-US');
        process.stdout.write(
          `${r.model} on ${r.backend} (${r.threads} thread${r.threads === 1 ? '' : 's'}), ` +
            `batch ${r.batchSize} x ${r.config.contextLength} tokens, median of ${r.repeats}:\n` +
            `  train ${f(r.trainTokensPerSecond)} tokens/s (${r.trainGflops.toFixed(1)} GFLOP/s), ` +
            `${f(r.trainTokensPerCpuSecond)} tokens per CPU-second\n` +
            `  eval  ${f(r.evalTokensPerSecond)} tokens/s (${r.evalGflops.toFixed(1)} GFLOP/s), ` +
            `${f(r.evalTokensPerCpuSecond)} tokens per CPU-second\n`,
        );
      },
    );
}
