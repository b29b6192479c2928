// The pipeline's commands as a user runs them: help, config errors, train, runs.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tinySetup } from './fixtures/tiny.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const autoscale = (...args: string[]) =>
  spawnSync(process.execPath, ['--import=tsx', path.join(root, 'lib/cli.ts'), ...args], { cwd: root, encoding: 'utf8' });

test('autoscale run --help explains the config and its defaults', (t) => {
  const help = autoscale('run', '--help');
  t.is(help.status, 0);
  for (const text of ['--demo', '"scales"', '"target"', 'multipliers', 'validation', 'checkpointEverySeconds', 'cacheDir']) t.true(help.stdout.includes(text), text);
});

test('autoscale run rejects bad configs with the field named, before any training', (t) => {
  const { dir, raw } = tinySetup();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...raw, scales: [6000, 3000] }, /config: scales\[1\]: must be larger than scales\[0\]/],
    [{ ...raw, training: { lr: 'fast' } }, /config: training\.lr: must be a finite number/],
    [{ ...raw, data: { ...(raw.data as object), domains: [{ name: 'a', sources: ['/nonexistent/file.txt'] }] } }, /nonexistent/],
    [{ ...raw, data: { ...(raw.data as object), tokenizer: 'bpe9' } }, /data\.tokenizer/],
  ];
  for (const [config, message] of cases) {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(config));
    const result = autoscale('run', file, '--quiet');
    t.is(result.status, 1, result.stderr);
    t.regex(result.stderr, message);
  }
  const notJson = path.join(dir, 'broken.json');
  writeFileSync(notJson, '{"scales": [1, 2],');
  t.regex(autoscale('run', notJson).stderr, /broken\.json is not valid JSON/);
});

test('autoscale train runs one proxy run, reuses it the second time, and autoscale runs lists it', (t) => {
  const { configFile } = tinySetup();
  const first = autoscale('train', configFile, '--tokens', 'digits=2000,code=1k');
  t.is(first.status, 0, first.stderr);
  t.regex(first.stdout, /^run [0-9a-f]{12}: \d+ steps, 3008 tokens\n/); // round(N / T) windows of T = 16 tokens: 125 + 63
  t.regex(first.stdout, /\nmean +\d\.\d{4}\n$/);
  const second = autoscale('train', configFile, '--tokens', 'code=1000,digits=2e3');
  t.regex(second.stdout, /\(reused from the registry\)/);
  const cache = path.join(path.dirname(configFile), 'cache');
  const runs = autoscale('runs', '--cache', cache);
  t.is(runs.status, 0, runs.stderr);
  t.regex(runs.stdout, /1 finished, 0 failed/);
  t.regex(runs.stdout, /finished\t3\.0k\t\d\.\d{4}\t[\d.]+\t1\ttrain N=3k seed 0/);
  t.is(autoscale('train', configFile, '--tokens', 'novel=10').status, 1);
});

test('autoscale train accepts "data": "demo" as autoscale run does (the embedded corpus)', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'autoscale-train-demo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'demo.json');
  writeFileSync(configFile, JSON.stringify({
    data: 'demo',
    model: { contextLength: 16, width: 16, layers: 1, heads: 2 },
    training: { batchSize: 4, evalPoints: 1 },
    eval: { windowsPerDomain: 4 },
    scales: [1e4, 2e4],
    target: 1e5,
    backend: 'cpu',
    cacheDir: path.join(dir, 'cache'),
  }));
  const result = autoscale('train', configFile, '--tokens', 'books=2000,code=1000', '--save', path.join(dir, 'run.model'));
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^run [0-9a-f]{12}: \d+ steps, 3008 tokens\n/);
  for (const domain of ['books', 'speeches', 'email', 'lexicon', 'code']) t.regex(result.stdout, new RegExp(`\\n${domain} +\\d\\.\\d{4}\\n`), domain);
  t.regex(result.stderr, /parameters written to/);
});
