// kill -9 or Ctrl-C in the middle of `autoscale run`, then the same command again: no finished run is redone and
// the compositions equal those of an uninterrupted pipeline, byte for byte. Serial: each test polls the child's
// registry from this process, and the other test's in-process pipeline would delay that polling past the child's end.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPipeline } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { openRegistry } from '../../lib/registry.js';
import { tinySetup } from './fixtures/tiny.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'lib/cli.ts');
// Larger scales than the other tests so that the kill lands while runs are in flight.
const overrides = { scales: [12000, 24000], target: 240000, validation: null };
const outputs = ['composition-12000.json', 'composition-24000.json', 'composition.json', 'ddo-12000.csv', 'ddo-24000.csv'];

function finishedRuns(file: string): Map<string, string> {
  if (!existsSync(file)) return new Map();
  try {
    const registry = openRegistry(file);
    try {
      return new Map(registry.list({ status: 'finished' }).map((r) => [r.key, r.finishedAt ?? '']));
    } finally {
      registry.close();
    }
  } catch {
    return new Map(); // the child is creating the file
  }
}

/** Polls the registry until `count` runs have finished (or about a minute has passed); returns them. */
async function untilFinished(file: string, count: number): Promise<Map<string, string>> {
  let finished = finishedRuns(file);
  for (let i = 0; i < 2400 && finished.size < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    finished = finishedRuns(file);
  }
  return finished;
}

test.serial('a pipeline killed with SIGKILL resumes without redoing finished runs and writes identical compositions', async (t) => {
  const reference = tinySetup(overrides);
  const plain = await runPipeline({ config: parsePipelineConfig(reference.raw) });
  t.is(plain.trained, 14);

  const killed = tinySetup(overrides);
  const registryFile = path.join(killed.dir, 'cache', 'runs.sqlite');
  const child = spawn(process.execPath, ['--import=tsx', cli, 'run', killed.configFile, '--quiet'], { cwd: root, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let before = await untilFinished(registryFile, 4);
  child.kill('SIGKILL');
  t.is(await exited, 'SIGKILL', 'the child was killed before it finished');
  before = finishedRuns(registryFile);
  t.true(before.size >= 4 && before.size < 14, `${before.size} runs finished before the kill`);
  t.false(existsSync(path.join(killed.dir, 'out', 'composition.json')), 'no outputs before the end');

  const rerun = spawnSync(process.execPath, ['--import=tsx', cli, 'run', killed.configFile, '--quiet'], { cwd: root, encoding: 'utf8' });
  t.is(rerun.status, 0, rerun.stderr);
  t.regex(rerun.stdout, new RegExp(`${14 - before.size} proxy runs trained, ${before.size} reused, 0 failed`));

  const registry = openRegistry(registryFile);
  const after = registry.list();
  registry.close();
  t.is(after.length, 14);
  for (const record of after) {
    t.is(record.status, 'finished');
    if (before.has(record.key)) {
      t.is(record.attempts, 1, `${record.label} was not trained again`);
      t.is(record.finishedAt ?? '', before.get(record.key) ?? '');
    }
  }
  // Runs in flight at the kill resumed from their checkpoints (a second attempt, same result).
  t.log(`${before.size} runs finished before the kill; ${after.filter((r) => r.attempts > 1).length} resumed`);
  for (const file of outputs) {
    t.is(readFileSync(path.join(killed.dir, 'out', file), 'utf8'), readFileSync(path.join(reference.dir, 'out', file), 'utf8'), file);
  }
});

test.serial('Ctrl-C (SIGINT) stops a pipeline with exit code 130 and the resume message, marks no run failed, and the same command finishes it', async (t) => {
  const reference = tinySetup(overrides);
  const plain = await runPipeline({ config: parsePipelineConfig(reference.raw) });
  t.is(plain.trained, 14);

  const stopped = tinySetup(overrides);
  const registryFile = path.join(stopped.dir, 'cache', 'runs.sqlite');
  const child = spawn(process.execPath, ['--import=tsx', cli, 'run', stopped.configFile, '--quiet'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await untilFinished(registryFile, 3);
  child.kill('SIGINT');
  t.is(await exited, 130, stderr);
  t.regex(stderr, /stopping: checkpointing the running runs/);
  t.regex(stderr, /stopped; run the same command again to resume/);
  const registry = openRegistry(registryFile);
  const records = registry.list();
  registry.close();
  t.is(records.filter((r) => r.status === 'failed').length, 0, 'an interrupted run is not a failed run');
  const finished = records.filter((r) => r.status === 'finished').length;
  t.true(finished >= 3 && finished < 14, `${finished} runs finished before Ctrl-C`);
  t.false(existsSync(path.join(stopped.dir, 'out', 'composition.json')), 'no outputs before the end');

  const rerun = spawnSync(process.execPath, ['--import=tsx', cli, 'run', stopped.configFile, '--quiet'], { cwd: root, encoding: 'utf8' });
  t.is(rerun.status, 0, rerun.stderr);
  t.regex(rerun.stdout, new RegExp(`${14 - finished} proxy runs trained, ${finished} reused, 0 failed`));
  for (const file of outputs) {
    t.is(readFileSync(path.join(stopped.dir, 'out', file), 'utf8'), readFileSync(path.join(reference.dir, 'out', file), 'utf8'), file);
  }
});
