// Throughput of the queue runner: the DDO stage of a small pipeline through W `autoscale worker` processes
// of one thread each, against one worker, and against the local runner with W runs at once of one thread.
// Starts its own redis-server (Debian's) on a free port.
//
//   node --import tsx bench/queue-throughput.bench.ts [--workers 1,2] [--scales 12000,24000] [--rounds 2]
//
// Each round runs every setting once, in turn, each on a fresh cache (so nothing is reused); the table
// gives the median over the rounds of the wall time of runPipeline (data preparation is a few ms of it).
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { runPipeline } from '../lib/pipeline/run.js';
import { parsePipelineConfig } from '../lib/pipeline-config.js';
import { tinySetup } from '../test/pipeline/fixtures/tiny.js';
import { redisMissing, startRedis, startWorkerProcess, type WorkerProcess } from '../test/queue/fixtures/redis.js';

const { values } = parseArgs({ options: { workers: { type: 'string', default: '1,2' }, scales: { type: 'string', default: '12000,24000' }, rounds: { type: 'string', default: '2' } } });
const workerCounts = values.workers.split(',').map(Number);
const scales = values.scales.split(',').map(Number);
const rounds = Number(values.rounds);
const missing = redisMissing();
if (missing) throw new Error(missing);

const redis = await startRedis();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
// The tiny corpus is small: larger scales repeat it (maxEpochs), which changes nothing about the throughput.
const overrides = { scales, target: scales[scales.length - 1]! * 10, validation: null, threadsPerRun: 1, maxEpochs: 1000 };
const times = new Map<string, number[]>();
let runs = 0;

async function timed(name: string, raw: Record<string, unknown>): Promise<void> {
  const started = process.hrtime.bigint();
  const result = await runPipeline({ config: parsePipelineConfig(raw) });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  runs = result.trained;
  times.set(name, [...(times.get(name) ?? []), seconds]);
  process.stderr.write(`${name}: ${result.trained} runs in ${seconds.toFixed(2)} s\n`);
}

try {
  for (let round = 0; round < rounds; round++) {
    for (const w of workerCounts) {
      await timed(`local, ${w} run(s) at once x 1 thread`, tinySetup({ ...overrides, concurrency: w }).raw);
      const queue = `bench-${round}-${w}`;
      const started: WorkerProcess[] = Array.from({ length: w }, (_, i) => startWorkerProcess(redis.url, `w${i}`, ['--queue', queue, '--concurrency', '1', '--threads', '1']));
      try {
        await Promise.all(started.map((p) => p.ready));
        await timed(`queue, ${w} worker(s) x 1 thread`, tinySetup({ ...overrides, runner: { redis: redis.url, queue } }).raw);
      } finally {
        for (const p of started) p.child.kill('SIGTERM');
        await Promise.all(started.map((p) => p.exited));
      }
    }
  }
} finally {
  await redis.stop();
}

const oneWorker = median(times.get('queue, 1 worker(s) x 1 thread') ?? [Number.NaN]);
process.stdout.write(`${runs} DDO runs (scales ${scales.join(', ')}; tiny model of test/pipeline/fixtures/tiny.ts), ${availableParallelism()} cores, median of ${rounds} round(s)\n\n`);
process.stdout.write('| setting | seconds | speed-up over 1 queue worker |\n|---|---:|---:|\n');
for (const [name, xs] of times) process.stdout.write(`| ${name} | ${median(xs).toFixed(2)} | ${(oneWorker / median(xs)).toFixed(2)}x |\n`);
