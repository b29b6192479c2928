// Several processes on one cacheDir: a run is trained under a lease, once, and every process ends with the
// compositions of a pipeline run alone. A lease left by a killed process lapses and its run is taken over.
import test from 'ava';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPipeline, trainProxy } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { isInterrupted, LeaseLostError, leaseOwnerId, openRegistry, runKey } from '../../lib/registry.js';
import { tinySetup } from './fixtures/tiny.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'lib/cli.ts');
// Scales at which a pipeline takes a few seconds, so that two started together overlap throughout.
const overrides = { scales: [12000, 24000], target: 240000, validation: null };
const outputs = ['composition-12000.json', 'composition-24000.json', 'composition.json', 'ddo-12000.csv', 'ddo-24000.csv'];
const RUNS = 14; // 2 scales x (2 x 3 domains + 1)

interface Child {
  status: number | null;
  stdout: string;
  stderr: string;
}

function autoscale(args: string[]): Promise<Child> {
  const child = spawn(process.execPath, ['--import=tsx', cli, ...args], { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** "N proxy runs trained, M reused, F failed" of a pipeline's summary. */
function counts(stdout: string): { trained: number; reused: number; failed: number } {
  const m = /(\d+) proxy runs trained, (\d+) reused, (\d+) failed/.exec(stdout);
  if (!m) throw new Error(`no summary line in:\n${stdout}`);
  return { trained: Number(m[1]), reused: Number(m[2]), failed: Number(m[3]) };
}

/** The outputs of one pipeline alone on its own cache (the reference every concurrent pipeline must match). */
async function referenceOutputs(): Promise<Map<string, string>> {
  const reference = tinySetup(overrides);
  const result = await runPipeline({ config: parsePipelineConfig(reference.raw) });
  return new Map(outputs.map((f) => [f, readFileSync(path.join(result.outDir, f), 'utf8')]));
}

function registryRecords(cacheDir: string): ReturnType<ReturnType<typeof openRegistry>['list']> {
  const registry = openRegistry(path.join(cacheDir, 'runs.sqlite'));
  try {
    return registry.list();
  } finally {
    registry.close();
  }
}

const reference = referenceOutputs();

test('two pipelines on one cache and one out both exit 0 with the compositions of one alone, and each run is trained once', async (t) => {
  const shared = tinySetup(overrides);
  const [a, b] = await Promise.all([autoscale(['run', shared.configFile]), autoscale(['run', shared.configFile])]);
  t.is(a.status, 0, a.stderr);
  t.is(b.status, 0, b.stderr);
  t.notRegex(a.stderr + b.stderr, /FAILED|SQLITE_BUSY|already finished/);
  const ca = counts(a.stdout);
  const cb = counts(b.stdout);
  t.is(ca.failed + cb.failed, 0);
  t.is(ca.trained + cb.trained, RUNS, 'between them the two processes trained every run once');
  t.is(ca.trained + ca.reused, RUNS);
  t.is(cb.trained + cb.reused, RUNS);
  const records = registryRecords(path.join(shared.dir, 'cache'));
  t.is(records.length, RUNS);
  for (const r of records) {
    t.is(r.status, 'finished', r.label);
    t.is(r.attempts, 1, `${r.label} was started once`);
    t.is(r.leaseOwner, null, `${r.label} holds no lease once finished`);
  }
  const expected = await reference;
  for (const file of outputs) t.is(readFileSync(path.join(shared.dir, 'out', file), 'utf8'), expected.get(file) ?? "(missing)", file);
});

test('two pipelines on one cache with two out folders both exit 0 with the compositions of one alone', async (t) => {
  const shared = tinySetup(overrides);
  const outA = path.join(shared.dir, 'out-a');
  const outB = path.join(shared.dir, 'out-b');
  const [a, b] = await Promise.all([autoscale(['run', shared.configFile, '--out', outA]), autoscale(['run', shared.configFile, '--out', outB])]);
  t.is(a.status, 0, a.stderr);
  t.is(b.status, 0, b.stderr);
  t.is(counts(a.stdout).trained + counts(b.stdout).trained, RUNS);
  t.true(registryRecords(path.join(shared.dir, 'cache')).every((r) => r.status === 'finished' && r.attempts === 1));
  const expected = await reference;
  for (const file of outputs) {
    t.is(readFileSync(path.join(outA, file), 'utf8'), expected.get(file) ?? "(missing)", `out-a/${file}`);
    t.is(readFileSync(path.join(outB, file), 'utf8'), expected.get(file) ?? "(missing)", `out-b/${file}`);
  }
});

test('autoscale train next to a pipeline on one cache: the run they share is trained once and both exit 0', async (t) => {
  const shared = tinySetup(overrides);
  // The base run of the 12k scale: uniform over the three domains, the config's first seed.
  const [pipeline, train] = await Promise.all([
    autoscale(['run', shared.configFile]),
    autoscale(['train', shared.configFile, '--tokens', 'digits=4000,words=4000,code=4000', '--json']),
  ]);
  t.is(pipeline.status, 0, pipeline.stderr);
  t.is(train.status, 0, train.stderr);
  const trained = JSON.parse(train.stdout) as { key: string; status: string; attempts: number };
  t.is(trained.status, 'finished');
  const records = registryRecords(path.join(shared.dir, 'cache'));
  t.is(records.length, RUNS, 'the train run is one of the pipeline runs');
  t.truthy(records.find((r) => r.key === trained.key), 'the train run is the pipeline\'s N=12k base run');
  t.true(records.every((r) => r.status === 'finished' && r.attempts === 1), records.map((r) => `${r.label}: ${r.attempts}`).join(', '));
  const expected = await reference;
  for (const file of outputs) t.is(readFileSync(path.join(shared.dir, 'out', file), 'utf8'), expected.get(file) ?? "(missing)", file);
});

test('a lease is exclusive until it expires; then another owner takes it over and the first can no longer record the run', (t) => {
  const { dir } = tinySetup();
  const registry = openRegistry(path.join(dir, 'runs.sqlite'));
  const spec = { run: 'lease' };
  const first = leaseOwnerId();
  const second = leaseOwnerId();
  t.not(first, second);
  t.regex(first, new RegExp(`:${process.pid}:[0-9a-f]{12}$`));
  const t0 = new Date('2030-01-01T00:00:00Z');
  const at = (ms: number): Date => new Date(t0.getTime() + ms);
  t.is(registry.acquire(spec, 'lease test', { owner: first, ttlMs: 30_000 }, { now: t0 }).status, 'acquired');
  t.is(registry.acquire(spec, 'lease test', { owner: second, ttlMs: 30_000 }, { now: at(29_000) }).status, 'leased');
  t.throws(() => registry.start(spec, 'lease test', at(29_000)), { message: /is being trained by .*:[0-9a-f]{12}; wait for it/ });
  // A heartbeat keeps it: 29 s after the renewal it still holds.
  t.true(registry.renew(runKey(spec), first, 30_000, at(20_000)));
  t.is(registry.acquire(spec, 'lease test', { owner: second, ttlMs: 30_000 }, { now: at(49_000) }).status, 'leased');
  // No heartbeat for longer than the expiry: the lease lapses and the second owner takes the run (a second attempt).
  const taken = registry.acquire(spec, 'lease test', { owner: second, ttlMs: 30_000 }, { now: at(50_001) });
  t.is(taken.status, 'acquired');
  t.is(taken.record.attempts, 2);
  t.is(taken.record.leaseOwner, second);
  t.false(registry.renew(taken.key, first, 30_000, at(50_002)));
  t.throws(() => registry.finish(taken.key, { losses: { a: 1 } }, 1, at(50_003), first), { instanceOf: LeaseLostError, message: /no longer held by/ });
  t.throws(() => registry.fail(taken.key, 'boom', null, 1, at(50_003), first), { instanceOf: LeaseLostError });
  t.is(registry.get(taken.key)?.status, 'running');
  registry.finish(taken.key, { losses: { a: 1 } }, 1, at(50_004), second);
  t.is(registry.acquire(spec, 'lease test', { owner: first, ttlMs: 30_000 }, { now: at(60_000) }).status, 'finished');
  registry.close();
});

test('a lease whose holder on this machine was killed is void at once; one held on another machine waits for its expiry', async (t) => {
  const { dir } = tinySetup();
  const file = path.join(dir, 'runs.sqlite');
  // A child takes a lease and dies by SIGKILL while it holds it.
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', `
    import { openRegistry, leaseOwnerId } from ${JSON.stringify(path.join(root, 'lib/registry.ts'))};
    const registry = openRegistry(${JSON.stringify(file)});
    registry.acquire({ run: 'killed' }, 'killed', { owner: leaseOwnerId(), ttlMs: 3_600_000 });
    process.kill(process.pid, 'SIGKILL');`], { cwd: root, stdio: 'ignore' });
  t.is(await new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal))), 'SIGKILL');
  const registry = openRegistry(file);
  const left = registry.get(runKey({ run: 'killed' }))!;
  t.is(left.status, 'running');
  t.truthy(left.leaseOwner);
  t.true(Date.parse(left.leaseExpiresAt!) > Date.now() + 3_000_000, 'the lease has not expired');
  t.true(isInterrupted(left), 'its holder is gone, so the run is interrupted');
  t.is(registry.acquire({ run: 'killed' }, 'killed', { owner: leaseOwnerId(), ttlMs: 30_000 }).status, 'acquired');

  // The same lease as seen from another machine (another pid namespace): only its expiry frees it.
  const db = new Database(file);
  db.prepare("UPDATE runs SET lease_scope = 'linux:another-machine', pid = ?, lease_expires = ? WHERE key = ?").run(left.pid, Date.now() + 60_000, left.key);
  db.close();
  t.false(isInterrupted(registry.get(left.key)!));
  t.is(registry.acquire({ run: 'killed' }, 'killed', { owner: leaseOwnerId(), ttlMs: 30_000 }).status, 'leased');
  t.is(registry.acquire({ run: 'killed' }, 'killed', { owner: leaseOwnerId(), ttlMs: 30_000 }, { now: new Date(Date.now() + 60_001) }).status, 'acquired');
  registry.close();
});

test('a run whose lease was left by a killed process elsewhere is waited for, then taken over and trained by the next process', async (t) => {
  const { raw, dir } = tinySetup({ validation: null });
  const config = parsePipelineConfig(raw);
  const quantities = { digits: 2000, words: 2000, code: 2000 };
  const lines: string[] = [];
  // Train it once in another cache for its spec and reference losses.
  const alone = await trainProxy({ config: parsePipelineConfig({ ...raw, cacheDir: path.join(dir, 'cache-alone') }), quantities });
  const spec = alone.record.spec;
  // A process on another machine took its lease and was killed: the lease lapses 6 s from now.
  const file = path.join(dir, 'cache', 'runs.sqlite');
  const registry = openRegistry(file);
  const expires = Date.now() + 6_000;
  registry.acquire(spec, 'train N=6k seed 0', { owner: 'elsewhere:4242:0123456789ab', ttlMs: 6_000 });
  registry.close();
  const db = new Database(file);
  db.prepare("UPDATE runs SET lease_scope = 'linux:another-machine'").run();
  db.close();
  const { record, reused } = await trainProxy({ config, quantities, log: (line) => lines.push(line) });
  t.true(lines.some((l) => /waiting for 1 run\(s\) that another process is training: train N=6k seed 0 \(elsewhere:4242:0123456789ab\)/.test(l)), lines.join('\n'));
  t.true(Date.parse(record.startedAt!) >= expires, `taken over at ${record.startedAt}, after the lease lapsed at ${new Date(expires).toISOString()}`);
  t.false(reused);
  t.is(record.status, 'finished');
  t.is(record.attempts, 2, 'the killed attempt and the one that trained it');
  t.is(record.leaseOwner, null);
  t.deepEqual(record.result?.losses, alone.record.result?.losses);
});
