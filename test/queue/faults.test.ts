// Faults of the queue runner against a real Redis: a worker killed with -9 mid-run (another worker retries
// the run from its checkpoint), and the coordinator killed with -9 and started again (it collects what
// the workers finished meanwhile and trains nothing twice). Both pipelines write the local runner's
// compositions byte for byte.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runPipeline } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { openRegistry, type RunRecord } from '../../lib/registry.js';
import { tinySetup } from '../pipeline/fixtures/tiny.js';
import { cli, redisMissing, root, startRedis, startWorkerProcess, waitFor, type TestRedis, type WorkerProcess } from './fixtures/redis.js';

const missing = redisMissing();
const serial = missing ? test.skip : test.serial;
let redis: TestRedis;
const workers: WorkerProcess[] = [];
// Larger scales than the other tests so that a kill lands while runs are in flight (as test/pipeline/resume.test.ts).
const overrides = { scales: [12000, 24000], target: 240000, validation: null };
const outputs = ['composition-12000.json', 'composition-24000.json', 'composition.json', 'ddo-12000.csv', 'ddo-24000.csv'];
let referenceOut = '';

test.before(async () => {
  if (missing) return;
  redis = await startRedis();
  const local = tinySetup(overrides);
  const reference = await runPipeline({ config: parsePipelineConfig(local.raw) });
  referenceOut = reference.outDir;
});
test.after.always(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await redis?.stop();
});
if (missing) test('the queue fault tests need redis-server', (t) => {
  t.log(missing);
  t.pass();
});

/** Runs `autoscale ...args` to its end and returns its exit status and output. */
async function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import=tsx', cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { status, stdout, stderr };
}

const read = (dir: string, name: string): string => readFileSync(path.join(dir, name), 'utf8');

function records(cacheDir: string): RunRecord[] {
  if (!existsSync(path.join(cacheDir, 'runs.sqlite'))) return [];
  try {
    const registry = openRegistry(path.join(cacheDir, 'runs.sqlite'));
    try {
      return registry.list();
    } finally {
      registry.close();
    }
  } catch {
    return []; // being created
  }
}

/** Keys of the runs that have a checkpoint on disk now. */
function checkpointed(cacheDir: string): string[] {
  const dir = path.join(cacheDir, 'checkpoints');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((key) => existsSync(path.join(dir, key, 'checkpoint.bin')));
}

serial('a worker killed with -9 mid-run: another worker resumes the run from its checkpoint, nothing is lost, the compositions are the same', async (t) => {
  const lockArgs = ['--queue', 'kill', '--concurrency', '1', '--threads', '1', '--lock-seconds', '1'];
  const victim = startWorkerProcess(redis.url, 'victim', lockArgs);
  workers.push(victim);
  await victim.ready;
  const { raw, dir } = tinySetup({ ...overrides, runner: { redis: redis.url, queue: 'kill' } });
  const cacheDir = path.join(dir, 'cache');
  const lines: string[] = [];
  const pipeline = runPipeline({ config: parsePipelineConfig(raw), log: (line) => lines.push(line) });
  pipeline.catch(() => undefined);

  // Kill it once some runs are done and the one it trains has a checkpoint on the shared disk.
  const inFlight = await waitFor('a checkpointed run in flight after two finished runs', 240, () => {
    const finished = records(cacheDir).filter((r) => r.status === 'finished').length;
    const keys = checkpointed(cacheDir);
    return finished >= 2 && keys.length > 0 ? keys : undefined;
  });
  victim.child.kill('SIGKILL');
  t.is((await victim.exited).signal, 'SIGKILL');
  const rescuer = startWorkerProcess(redis.url, 'rescuer', lockArgs);
  workers.push(rescuer);

  const result = await pipeline;
  t.is(result.failed, 0);
  for (const file of outputs) t.is(read(result.outDir, file), read(referenceOut, file), file);
  const after = records(cacheDir);
  t.is(after.length, 14);
  t.true(after.every((r) => r.status === 'finished'));
  const killed = after.filter((r) => inFlight.includes(r.key));
  t.is(killed.length, 1, 'one run was in flight at the kill');
  t.like(killed[0], { attempts: 2, worker: 'rescuer' });
  t.true(lines.some((l) => l.startsWith(`[run] retry ${killed[0]!.label} on rescuer (attempt 2; its worker victim was lost)`)), lines.join('\n'));
  t.regex(rescuer.log(), new RegExp(`\\[job\\] ${killed[0]!.label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: resumed from its checkpoint at `));
  t.true(after.filter((r) => r.key !== killed[0]!.key).every((r) => r.attempts === 1));
  rescuer.child.kill('SIGTERM');
  t.is((await rescuer.exited).code, 0);
});

serial('the coordinator killed with -9 and started again collects what the workers finished meanwhile and trains no run twice', async (t) => {
  const args = ['--queue', 'restart', '--concurrency', '1', '--threads', '1'];
  const pair = [startWorkerProcess(redis.url, 'left', args), startWorkerProcess(redis.url, 'right', args)];
  workers.push(...pair);
  await Promise.all(pair.map((w) => w.ready));
  const { configFile, dir } = tinySetup({ ...overrides, runner: { redis: redis.url, queue: 'restart' } });
  const cacheDir = path.join(dir, 'cache');

  const coordinator = spawn(process.execPath, ['--import=tsx', cli, 'run', configFile, '--quiet'], { cwd: root, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => coordinator.on('exit', (_code, signal) => resolve(signal)));
  await waitFor('three runs recorded by the first coordinator', 240, () => (records(cacheDir).filter((r) => r.status === 'finished').length >= 3 ? true : undefined));
  coordinator.kill('SIGKILL');
  t.is(await exited, 'SIGKILL');
  const before = new Map(records(cacheDir).filter((r) => r.status === 'finished').map((r) => [r.key, r.finishedAt]));
  t.true(before.size >= 3 && before.size < 14, `${before.size} runs recorded before the kill`);
  // The workers keep training the queued runs with no coordinator listening.
  const done = (): number => pair.reduce((n, w) => n + (w.log().match(/\[job\] done /g) ?? []).length, 0);
  await waitFor('a run finished while no coordinator listened', 240, () => (done() > before.size ? true : undefined));

  // Spawned asynchronously: spawnSync would stop this process from reading the workers' logs meanwhile.
  const rerun = await runCli(['run', configFile]);
  t.is(rerun.status, 0, rerun.stderr);
  t.regex(rerun.stdout, new RegExp(`${14 - before.size} proxy runs trained, ${before.size} reused, 0 failed`));
  t.regex(rerun.stderr, /\[queue\] \d+ of them were already in the queue \(enqueued by an earlier coordinator\)/);
  for (const file of outputs) t.is(read(path.join(dir, 'out'), file), read(referenceOut, file), file);

  const after = records(cacheDir);
  t.is(after.length, 14);
  for (const r of after) {
    t.is(r.status, 'finished');
    t.is(r.attempts, 1, `${r.label} was started once\n${rerun.stderr.split('\n').filter((l) => l.includes(r.label)).join('\n')}`);
    if (before.has(r.key)) t.is(r.finishedAt, before.get(r.key) ?? null, `${r.label} was recorded once`);
  }
  // Every run was trained exactly once over both workers.
  const startsOf = (): string[] => pair.flatMap((w) => [...w.log().matchAll(/^\[job\] start (.+) \(/gm)].map((m) => m[1]!)).sort();
  await waitFor('the workers\' logs', 10, () => (startsOf().length >= 14 ? true : undefined)).catch(() => undefined);
  t.deepEqual(startsOf(), after.map((r) => r.label).sort());
  for (const w of pair) w.child.kill('SIGTERM');
  for (const w of pair) t.is((await w.exited).code, 0, w.log());
});
