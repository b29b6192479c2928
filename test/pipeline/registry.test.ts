import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, isInterrupted, openRegistry, RegistryFileError, runKey } from '../../lib/registry.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tempFile = (): string => path.join(mkdtempSync(path.join(tmpdir(), 'autoscale-registry-')), 'runs.sqlite');

test('canonicalJson sorts keys at every depth and drops undefined', (t) => {
  t.is(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }], u: undefined }), '{"a":[2,{"c":4,"d":3}],"b":1}');
  t.is(runKey({ x: 1, y: { p: 2, q: 3 } }), runKey({ y: { q: 3, p: 2 }, x: 1 }));
  t.not(runKey({ x: 1 }), runKey({ x: 2 }));
  t.throws(() => canonicalJson({ lr: Number.NaN }), { message: /\$\.lr is NaN/ });
});

test('a run goes running -> finished, is found by its spec, and cannot be restarted', (t) => {
  const registry = openRegistry(tempFile());
  const spec = { seed: 1, quantities: { a: 100, b: 200 } };
  const key = registry.start(spec, 'base');
  t.is(registry.get(key)?.status, 'running');
  t.is(registry.finished(spec), undefined);
  registry.finish(key, { losses: { a: 2.5, b: 3 } }, 4.2);
  const record = registry.finished<{ losses: Record<string, number> }>({ quantities: { b: 200, a: 100 }, seed: 1 });
  t.deepEqual(record?.result, { losses: { a: 2.5, b: 3 } });
  t.is(record?.attempts, 1);
  t.throws(() => registry.start(spec, 'again'), { message: /already finished/ });
  t.deepEqual(registry.counts(), { running: 0, finished: 1, failed: 0 });
  registry.close();
});

test('a failed run keeps its reason and code, and a retry counts an attempt', (t) => {
  const registry = openRegistry(tempFile());
  const key = registry.start({ lr: 1e9 }, 'huge lr');
  registry.fail(key, 'loss became NaN at step 3', 'ERR_NON_FINITE', 0.5);
  const failed = registry.get(key);
  t.is(failed?.status, 'failed');
  t.is(failed?.error, 'loss became NaN at step 3');
  t.is(failed?.errorCode, 'ERR_NON_FINITE');
  registry.start({ lr: 1e9 }, 'huge lr');
  t.is(registry.get(key)?.attempts, 2);
  t.is(registry.get(key)?.error, null);
  registry.close();
});

test('a process killed inside finish() leaves the run unfinished, not half written', (t) => {
  const file = tempFile();
  const child = spawnSync(process.execPath, ['--import=tsx', path.join(here, 'fixtures/registry-crash.ts'), file, 'crash'], {
    encoding: 'utf8',
  });
  t.is(child.signal, 'SIGKILL');
  const registry = openRegistry(file);
  const [record] = registry.list();
  t.truthy(record);
  t.is(record?.status, 'running');
  t.is(record?.result, null);
  t.is(record?.finishedAt, null);
  // Its process is gone, so the pipeline treats it as interrupted and runs it again.
  t.true(record !== undefined && isInterrupted(record));
  registry.close();

  const ok = spawnSync(process.execPath, ['--import=tsx', path.join(here, 'fixtures/registry-crash.ts'), file, 'ok'], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stderr);
  const reopened = openRegistry(file);
  t.is(reopened.list()[0]?.status, 'finished');
  t.is(reopened.list()[0]?.attempts, 2);
  reopened.close();
});

test('a registry file that is not a database is named with the fix, and left as it was', (t) => {
  const file = tempFile();
  const garbage = Buffer.from('this is not an SQLite database, just some bytes a bad copy left behind\n'.repeat(20));
  writeFileSync(file, garbage);
  const error = t.throws(() => openRegistry(file), { instanceOf: RegistryFileError });
  t.is((error as RegistryFileError).code, 'ERR_REGISTRY_FILE');
  t.is((error as RegistryFileError).file, file);
  t.regex(error?.message ?? '', new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be opened as a run registry \\(file is not a database\\)`));
  t.regex(error?.message ?? '', /Nothing was changed or deleted\. Fix: move it away \(e\.g\. `mv .*runs\.sqlite .*runs\.sqlite\.broken`/);
  t.deepEqual(readFileSync(file), garbage, 'the file is untouched');
});

test('each attempt records its queue worker, and a registry file from before the worker column gains it on open', async (t) => {
  const file = tempFile();
  // A registry as the first release wrote it: no worker column.
  const Database = (await import('better-sqlite3')).default;
  const old = new Database(file);
  old.exec(`CREATE TABLE runs (key TEXT PRIMARY KEY, label TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL, result TEXT, error TEXT,
    error_code TEXT, attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, duration_s REAL, pid INTEGER)`);
  old.prepare(`INSERT INTO runs (key, label, spec, status, attempts, created_at) VALUES ('k', 'old run', '{}', 'failed', 1, '2024-01-01T00:00:00Z')`).run();
  old.close();

  const registry = openRegistry(file);
  t.is(registry.get('k')?.worker, null);
  const key = registry.start({ seed: 3 }, 'queued', new Date(), 'gpu-box-1:4242');
  t.is(registry.get(key)?.worker, 'gpu-box-1:4242');
  // The worker was lost; another one retries the run.
  registry.start({ seed: 3 }, 'queued', new Date(), 'gpu-box-2:77');
  t.like(registry.get(key), { attempts: 2, worker: 'gpu-box-2:77' });
  registry.start({ seed: 3 }, 'queued');
  t.like(registry.get(key), { attempts: 3, worker: null });
  registry.close();
});
