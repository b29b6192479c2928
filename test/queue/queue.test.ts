// The queue runner against a real Redis (started here on a free port, with a password): a pipeline through
// worker processes writes the local runner's compositions bit for bit; a NaN run fails once and is not
// retried; a run much longer than the lock keeps it; a worker whose data or build differs from the spec's
// (or whose GEMM panel depth differs) refuses with both named; a wrong password fails at once; no log line shows the password.
import test from 'ava';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runPipeline } from '../../lib/pipeline/run.js';
import { setUp, trainSlot } from '../../lib/pipeline/plan.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { queueSlots } from '../../lib/queue/coordinator.js';
import { startQueueWorker } from '../../lib/queue/worker.js';
import { openRegistry, runKey } from '../../lib/registry.js';
import type { ProxyModel } from '../../lib/train.js';
import { tinySetup } from '../pipeline/fixtures/tiny.js';
import { cli, redisMissing, root, startRedis, startWorkerProcess, waitFor, type TestRedis, type WorkerProcess } from './fixtures/redis.js';

const missing = redisMissing();
const serial = missing ? test.skip : test.serial;
const PASSWORD = 'queue-test-secret-7f3a';
let redis: TestRedis;
const workers: WorkerProcess[] = [];

test.before(async () => {
  if (!missing) redis = await startRedis({ password: PASSWORD });
});
test.after.always(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await redis?.stop();
});
if (missing) test('the queue tests need redis-server', (t) => {
  t.log(missing);
  t.pass();
});

const outputs = ['composition-3000.json', 'composition-6000.json', 'composition.json', 'ddo-3000.csv', 'ddo-6000.csv'];
const read = (dir: string, name: string): string => readFileSync(path.join(dir, name), 'utf8');

async function workersOn(queue: string): Promise<number> {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection });
  try {
    return await q.getWorkersCount();
  } finally {
    await q.close();
    connection.disconnect();
  }
}

/** Wraps a model so that its trainStep fails like the native trainer does on a NaN loss. */
function nanAfter(model: ProxyModel, steps: number): ProxyModel {
  let n = 0;
  return {
    trainStep: async (tokens, lr) => {
      n += 1;
      if (n > steps) throw Object.assign(new Error(`the loss is not finite (NaN) at step ${n}; the parameters were left unchanged`), { code: 'ERR_NON_FINITE' });
      return model.trainStep(tokens, lr);
    },
    evalLoss: (windows) => model.evalLoss(windows),
    getParameters: () => model.getParameters(),
    setParameters: (p) => model.setParameters(p),
    getOptimizerState: () => model.getOptimizerState(),
    setOptimizerState: (s) => model.setOptimizerState(s),
    dispose: () => model.dispose(),
  };
}

serial('a pipeline through three worker processes writes the local runner\'s compositions bit for bit, and the registry names the workers', async (t) => {
  const local = tinySetup();
  const reference = await runPipeline({ config: parsePipelineConfig(local.raw) });
  t.is(reference.trained, 19);

  const names = ['alpha', 'beta', 'gamma'];
  const started = names.map((name) => startWorkerProcess(redis.url, name, ['--queue', 'pipeline', '--concurrency', '1', '--threads', '1']));
  workers.push(...started);
  await Promise.all(started.map((w) => w.ready));
  await waitFor('three workers on the queue', 30, async () => ((await workersOn('pipeline-cpu')) === 3 ? true : undefined));

  const queued = tinySetup({ runner: { redis: redis.url, queue: 'pipeline' } });
  const lines: string[] = [];
  const result = await runPipeline({ config: parsePipelineConfig(queued.raw), log: (line) => lines.push(line), progressEverySeconds: 1 });
  t.is(result.trained, 19);
  t.is(result.failed, 0);
  for (const file of outputs) t.is(read(result.outDir, file), read(reference.outDir, file), file);

  const registry = openRegistry(path.join(queued.dir, 'cache', 'runs.sqlite'));
  const records = registry.list();
  registry.close();
  t.is(records.length, 19);
  for (const r of records) {
    t.is(r.status, 'finished');
    t.is(r.attempts, 1, r.label);
    t.true(names.includes(r.worker ?? ''), `${r.label} was trained by ${r.worker}`);
  }
  t.true(new Set(records.map((r) => r.worker)).size >= 2, 'the runs were spread over the workers');
  // The coordinator's progress says which worker has each run, as the local runner's does without it.
  t.true(lines.some((l) => /^\[run\] start N=3k base on (alpha|beta|gamma) \(3\.0k tokens\)$/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^\[run\] done N=6k base on (alpha|beta|gamma) in /.test(l)));

  // A second coordinator finds everything in its registry and enqueues nothing.
  const again = await runPipeline({ config: parsePipelineConfig(queued.raw) });
  t.is(again.trained, 0);

  for (const w of started) w.child.kill('SIGTERM');
  for (const w of started) t.deepEqual(await w.exited, { code: 0, signal: null }, `${w.name} stopped on SIGTERM:\n${w.log()}`);
  const everything = [...lines, ...started.map((w) => w.log())].join('\n');
  t.false(everything.includes(PASSWORD), 'no log line shows the Redis password');
  t.true(everything.includes(`redis://:***@127.0.0.1:${redis.port}`));
});

serial('a run that fails with a NaN loss fails once on the queue: not retried, recorded with its code, reused by the next coordinator', async (t) => {
  const lines: string[] = [];
  const worker = await startQueueWorker({
    redis: redis.url,
    queue: 'nan',
    backend: 'cpu',
    concurrency: 1,
    threads: 1,
    name: 'nan-worker',
    log: (line) => lines.push(line),
    hooks: { wrapModel: (model, slot) => (slot.label === 'N=6k code x3' ? nanAfter(model, 3) : model) },
  });
  try {
    await worker.ready;
    const { raw, dir } = tinySetup({ validation: null, runner: { redis: redis.url, queue: 'nan' } });
    const config = parsePipelineConfig(raw);
    const result = await runPipeline({ config });
    t.is(result.failed, 1);
    t.is(lines.filter((l) => l.startsWith('[job] start N=6k code x3 ')).length, 1, 'trained once, not retried');
    const registry = openRegistry(path.join(dir, 'cache', 'runs.sqlite'));
    const failed = registry.list({ status: 'failed' });
    registry.close();
    t.is(failed.length, 1);
    t.like(failed[0], { label: 'N=6k code x3', errorCode: 'ERR_NON_FINITE', attempts: 1, worker: 'nan-worker' });
    t.regex(failed[0]!.error ?? '', /NaN/);
    t.true(result.diagnostics.some((d) => /N=6k code x3 failed .*NaN/.test(d)), result.diagnostics.join('\n'));

    const again = await runPipeline({ config });
    t.is(again.trained, 0);
    t.is(again.failed, 1);
  } finally {
    await worker.close();
  }
});

serial('a run many lock periods long keeps its lock: no stall, one attempt, while a second worker checks for stalled jobs', async (t) => {
  // Training runs on the model's own thread, so the worker's event loop renews the 1 s lock; were it blocked,
  // the second worker's stalled-job check (every second) would take the run from it and start it again.
  const { raw, dir } = tinySetup({ model: { contextLength: 32, width: 64, layers: 2, heads: 4 }, runner: { redis: redis.url, queue: 'lock' } });
  const config = parsePipelineConfig(raw);
  const setup = await setUp(config, {}, () => undefined);
  // 600k tokens: about 7 s on one thread of a 2-core Zen 4 (120k took 3.0 s there under CI's load, 240k 2.9 s alone:
  // too close to 3 lock periods for the check below to hold on a faster or quieter machine).
  const slot = trainSlot(setup, { digits: 200_000, words: 200_000, code: 200_000 }, 0, 2);
  const first = startWorkerProcess(redis.url, 'holder', ['--queue', 'lock', '--concurrency', '1', '--threads', '1', '--lock-seconds', '1']);
  workers.push(first);
  await first.ready;
  const registry = openRegistry(path.join(dir, 'cache', 'runs.sqlite'));
  const lines: string[] = [];
  let second: WorkerProcess | undefined;
  try {
    const outcome = queueSlots([slot], {
      prepared: setup.prepared,
      evalSet: setup.evalSet,
      registry,
      checkpointsDir: path.join(setup.cacheDir, 'checkpoints'),
      checkpointEverySeconds: 0.05,
      log: (line) => {
        lines.push(line);
        // Once the first worker holds the run, start the one that would steal it if the lock lapsed.
        if (!second && line.startsWith('[run] start ')) {
          second = startWorkerProcess(redis.url, 'checker', ['--queue', 'lock', '--concurrency', '1', '--threads', '1', '--lock-seconds', '1']);
          workers.push(second);
        }
      },
      threadsPerRun: 1,
      concurrency: 1,
      retryFailed: false,
      progressEverySeconds: 1,
      data: { config: setup.dataConfig, cacheDir: setup.dataCacheDir },
      queue: { redis: redis.url, queue: 'lock' },
    });
    t.is((await outcome).failed, 0);
    const record = registry.get(slot.key)!;
    const seconds = record.durationS ?? 0;
    t.log(`the run took ${seconds.toFixed(1)} s with a 1 s lock`);
    t.true(seconds > 3, `the run lasted ${seconds.toFixed(1)} s, more than 3 lock periods`);
    t.like(record, { status: 'finished', attempts: 1, worker: 'holder' });
    t.false(lines.some((l) => /stalled|retry|back in the queue/.test(l)), lines.join('\n'));
    await second?.ready;
    t.notRegex(second?.log() ?? '', /\[job\] start/);
  } finally {
    registry.close();
    first.child.kill('SIGTERM');
    second?.child.kill('SIGTERM');
    await Promise.all([first.exited, second?.exited]);
  }
});

serial('a worker whose corpus differs from the coordinator\'s refuses the run with both data keys instead of training on other data', async (t) => {
  const { raw, dir } = tinySetup({ validation: null, runner: { redis: redis.url, queue: 'mismatch' } });
  const config = parsePipelineConfig(raw);
  const setup = await setUp(config, {}, () => undefined);
  const slot = trainSlot(setup, { digits: 2000, words: 1000 }, 0, 2);
  // The corpus changes between the coordinator's preparation and the worker's.
  const source = setup.dataConfig.domains[0]!.sources[0]!.path;
  writeFileSync(source, `${readFileSync(source, 'utf8')}${JSON.stringify({ text: 'one more document' })}\n`);
  const lines: string[] = [];
  const worker = await startQueueWorker({ redis: redis.url, queue: 'mismatch', backend: 'cpu', concurrency: 1, threads: 1, name: 'other-data', log: (line) => lines.push(line) });
  const registry = openRegistry(path.join(dir, 'cache', 'runs.sqlite'));
  try {
    const outcome = await queueSlots([slot], {
      prepared: setup.prepared,
      evalSet: setup.evalSet,
      registry,
      checkpointsDir: path.join(setup.cacheDir, 'checkpoints'),
      checkpointEverySeconds: 30,
      log: () => undefined,
      threadsPerRun: 1,
      concurrency: 1,
      retryFailed: false,
      progressEverySeconds: 10,
      data: { config: setup.dataConfig, cacheDir: setup.dataCacheDir },
      queue: { redis: redis.url, queue: 'mismatch' },
    });
    t.is(outcome.failed, 1);
    const record = registry.get(slot.key)!;
    t.like(record, { status: 'failed', errorCode: 'ERR_DATA_MISMATCH', attempts: 1 });
    t.true(record.error!.includes(setup.prepared.key), record.error ?? '');
    t.regex(record.error ?? '', /names the data [0-9a-f]{32}, but its data config prepares to [0-9a-f]{32} here/);
    t.false(lines.some((l) => l.startsWith('[job] start')), 'nothing was trained');
  } finally {
    registry.close();
    await worker.close();
  }
});

/** Plans one run as if the coordinator's trainer were `native` (the spec names it, and so does its key) and gives it to a
 * worker of this build: the registry's record of the refused run and the worker's log. */
async function refusedBy(t: import('ava').ExecutionContext, queue: string, native: (own: string) => string) {
  const { raw, dir } = tinySetup({ validation: null, runner: { redis: redis.url, queue } });
  const setup = await setUp(parsePipelineConfig(raw), {}, () => undefined);
  const planned = trainSlot(setup, { digits: 2000, words: 1000 }, 0, 2);
  const spec = { ...planned.spec, native: native(planned.spec.native) };
  const slot = { ...planned, spec, key: runKey(spec) };
  const lines: string[] = [];
  const worker = await startQueueWorker({ redis: redis.url, queue, backend: 'cpu', concurrency: 1, threads: 1, name: 'this-build', log: (line) => lines.push(line) });
  const registry = openRegistry(path.join(dir, 'cache', 'runs.sqlite'));
  try {
    const outcome = await queueSlots([slot], {
      prepared: setup.prepared,
      evalSet: setup.evalSet,
      registry,
      checkpointsDir: path.join(setup.cacheDir, 'checkpoints'),
      checkpointEverySeconds: 30,
      log: () => undefined,
      threadsPerRun: 1,
      concurrency: 1,
      retryFailed: false,
      progressEverySeconds: 10,
      data: { config: setup.dataConfig, cacheDir: setup.dataCacheDir },
      queue: { redis: redis.url, queue },
    });
    t.is(outcome.failed, 1);
    return { own: planned.spec.native, record: registry.get(slot.key)!, lines };
  } finally {
    registry.close();
    await worker.close();
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

serial('a worker of another build refuses a run with both builds named, and it is not retried', async (t) => {
  const { own, record, lines } = await refusedBy(t, 'build', () => '0123456789abcdef');
  t.like(record, { status: 'failed', errorCode: 'ERR_WORKER_BUILD', attempts: 1, worker: 'this-build' });
  t.regex(record.error ?? '', new RegExp(`addon 0123456789abcdef, this worker is [^ ]+ with addon ${escape(own)}`));
  t.false(lines.some((l) => l.startsWith('[job] start')), 'nothing was trained');
});

serial('a worker whose CPU GEMM sums in panels of another depth (another L1d, the same addon) refuses, naming the setting that fixes it', async (t) => {
  // CPU run keys name the addon and the GEMM's KC: the same binary on a machine with another L1d trains to other bits
  const { own, record, lines } = await refusedBy(t, 'kc', (native) => {
    const [build, kc] = native.split('+kc');
    t.regex(kc ?? '', /^\d+$/, `a CPU spec names the GEMM's KC: ${native}`);
    return `${build}+kc${kc === '128' ? 256 : 128}`;
  });
  const other = own.endsWith('+kc128') ? 256 : 128;
  t.like(record, { status: 'failed', errorCode: 'ERR_WORKER_BUILD', attempts: 1, worker: 'this-build' });
  t.regex(record.error ?? '', new RegExp(`planned where the CPU GEMM sums in panels of KC ${other}, this worker's are KC ${own.split('+kc')[1]}`));
  t.regex(record.error ?? '', new RegExp(`AUTOSCALE_GEMM_KC=${other}`));
  t.false(lines.some((l) => l.startsWith('[job] start')), 'nothing was trained');
});

serial('a wrong Redis password fails the coordinator and the worker at once, and neither prints it', async (t) => {
  const wrong = `redis://:not-the-${PASSWORD}@127.0.0.1:${redis.port}`;
  const { configFile } = tinySetup({ validation: null });
  const run = spawnSync(process.execPath, ['--import=tsx', cli, 'run', configFile, '--redis', wrong], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  t.is(run.status, 1, run.stderr);
  t.regex(run.stderr, new RegExp(`autoscale: Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} refused the credentials \\(WRONGPASS`));
  const worker = spawnSync(process.execPath, ['--import=tsx', cli, 'worker', '--redis', wrong], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  t.is(worker.status, 1, worker.stderr);
  t.regex(worker.stderr, /refused the credentials/);
  for (const text of [run.stderr, run.stdout, worker.stderr, worker.stdout]) t.false(text.includes(PASSWORD));
});

serial('a run a local pipeline on the same cache holds the lease of is not enqueued: its result is reused when recorded', async (t) => {
  const { raw, dir } = tinySetup({ validation: null, runner: { redis: redis.url, queue: 'lease' } });
  const setup = await setUp(parsePipelineConfig(raw), {}, () => undefined);
  const mine = trainSlot(setup, { digits: 2000, words: 1000 }, 0, 2);
  const theirs = trainSlot(setup, { digits: 1000, code: 2000 }, 0, 2);
  const registry = openRegistry(path.join(dir, 'cache', 'runs.sqlite'));
  // Another pipeline (here: this process, alive, under another owner) is training `theirs`.
  const owner = 'local-pipeline:1:abc';
  t.is(registry.acquire(theirs.spec, theirs.label, { owner, ttlMs: 60_000 }).status, 'acquired');
  const lines: string[] = [];
  const worker = await startQueueWorker({ redis: redis.url, queue: 'lease', backend: 'cpu', concurrency: 1, threads: 1, name: 'lease-worker', log: (line) => lines.push(line) });
  try {
    const outcome = queueSlots([mine, theirs], {
      prepared: setup.prepared,
      evalSet: setup.evalSet,
      registry,
      checkpointsDir: path.join(setup.cacheDir, 'checkpoints'),
      checkpointEverySeconds: 30,
      log: (line) => lines.push(line),
      threadsPerRun: 1,
      concurrency: 1,
      retryFailed: false,
      progressEverySeconds: 10,
      data: { config: setup.dataConfig, cacheDir: setup.dataCacheDir },
      queue: { redis: redis.url, queue: 'lease', reconcileEverySeconds: 0.2 },
    });
    await waitFor('the queued run to finish', 60, () => (registry.get(mine.key)?.status === 'finished' ? true : undefined));
    registry.finish(theirs.key, { losses: { digits: 1, words: 2, code: 3 }, curve: [], steps: 1, tokens: 3000, trainLoss: 1 }, 1, new Date(), owner);
    const result = await outcome;
    t.is(result.trained, 1);
    t.true(result.reused.has(theirs.key));
    t.true(lines.some((l) => l.startsWith('[runs] 1 to train, 0 reused from the registry, 1 being trained by another process')), lines.join('\n'));
    t.is(lines.filter((l) => l.startsWith('[job] start')).length, 1, 'the worker trained only the free run');
  } finally {
    registry.close();
    await worker.close();
  }
});
