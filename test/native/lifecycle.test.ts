// The model's life at the N-API boundary: long operations run off the event loop, one at a time
// per model; failures inside a worker reject with coded errors and leave the model usable;
// in-flight operations keep their model and inputs alive; native memory is freed by dispose(),
// by the finalizer, at exit and when worker threads end, without ever crashing the process.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Model, type ModelConfig } from '../../lib/native.js';
import { randomWindows } from './windows.js';

const TINY: ModelConfig = { vocabSize: 11, contextLength: 5, width: 8, layers: 2, heads: 2 };
const MEDIUM: ModelConfig = { vocabSize: 256, contextLength: 64, width: 64, layers: 2, heads: 4 };

test('evalLoss runs off the event loop: a setImmediate scheduled after the call fires before it resolves', async (t) => {
  const model = new Model(MEDIUM, { batchSize: 8 });
  const windows = randomWindows(MEDIUM, 64, 1); // tens of milliseconds of work
  const order: string[] = [];
  const pending = model.evalLoss(windows).then(() => order.push('evalLoss resolved'));
  // A synchronous implementation would resolve in the microtask queue, before any immediate.
  setImmediate(() => order.push('immediate'));
  await pending;
  t.deepEqual(order, ['immediate', 'evalLoss resolved']);
  model.dispose();
});

test('one operation at a time: while one is in flight every other call throws ERR_BUSY, then the model works', async (t) => {
  const model = new Model(MEDIUM, { batchSize: 8 });
  const batch = randomWindows(MEDIUM, 8, 2);
  const pending = model.computeGradients(batch);
  // The busy flag is cleared on the main thread when the worker completes, so these calls,
  // made synchronously after starting the operation, are always refused.
  const refused: Array<[string, () => unknown]> = [
    ['trainStep', () => model.trainStep(batch, 1e-3)],
    ['evalLoss', () => model.evalLoss(batch)],
    ['computeGradients', () => model.computeGradients(batch)],
    ['getParameters', () => model.getParameters()],
    ['setParameters', () => model.setParameters(new Float32Array(model.numParameters))],
    ['getGradients', () => model.getGradients()],
    ['getOptimizerState', () => model.getOptimizerState()],
    ['dispose', () => model.dispose()],
  ];
  for (const [name, call] of refused) t.throws(call, { instanceOf: Error, code: 'ERR_BUSY' }, name);
  t.is(model.step, 0, 'descriptive properties stay readable while busy');
  const { gradients } = await pending;
  t.is(gradients.length, model.numParameters);
  t.deepEqual(model.getGradients(), gradients, 'usable again once the operation settled');
  t.is((await model.trainStep(batch, 1e-3)).step, 1);
  model.dispose();
});

test('two models run operations concurrently', async (t) => {
  const a = new Model(TINY, { batchSize: 2, seed: 1 });
  const b = new Model(TINY, { batchSize: 2, seed: 1 });
  const windows = randomWindows(TINY, 2, 3);
  const [la, lb] = await Promise.all([a.evalLoss(windows), b.evalLoss(windows)]);
  t.deepEqual(la, lb);
  a.dispose();
  b.dispose();
});

test('a native failure inside a worker rejects with a coded Error and leaves the model unchanged and usable', async (t) => {
  const model = new Model(TINY, { batchSize: 2 });
  const windows = randomWindows(TINY, 2, 4);
  const huge = new Float32Array(model.numParameters).fill(1e30); // logits overflow fp32: loss is not finite
  model.setParameters(huge);
  const error = await t.throwsAsync(model.trainStep(windows, 1e-3), { instanceOf: Error, code: 'ERR_NON_FINITE' });
  t.regex(error?.message ?? '', /unchanged/);
  t.is(model.step, 0, 'no step was taken');
  t.deepEqual(model.getParameters(), huge, 'the parameters were left untouched');
  model.setParameters(new Float32Array(model.numParameters));
  t.true(Number.isFinite((await model.trainStep(windows, 1e-3)).loss), 'the model is usable after the failure');
  model.dispose();
});

test('dispose() frees the native memory now and Symbol.dispose does the same', (t) => {
  const model = new Model(MEDIUM, { batchSize: 8 });
  t.true(model.memoryBytes > 0);
  model[Symbol.dispose]();
  t.true(model.disposed);
  t.is(model.memoryBytes, 0);
});

const child = fileURLToPath(new URL('./fixtures/lifecycle-child.ts', import.meta.url));
const scenarios: Array<[string, string]> = [
  ['gc-during-operation', 'an in-flight operation keeps its model and input array alive through garbage collections'],
  ['finalizer-frees-memory', 'models dropped without dispose() are collected under external-memory pressure and freed'],
  ['exit-while-running', 'process.exit() while an operation runs ends the process cleanly'],
  ['exit-undisposed', 'the process exits cleanly with undisposed models (env cleanup hook)'],
  ['worker-threads', 'worker threads that end or are terminated mid-operation leave the process healthy'],
];
for (const [scenario, title] of scenarios) {
  test(title, (t) => {
    const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, scenario], {
      encoding: 'utf8',
      env: process.env,
      timeout: 60_000,
    });
    t.is(result.signal, null, `no crash (stderr: ${result.stderr})`);
    t.is(result.status, 0, result.stderr);
    t.true(result.stdout.includes(`ok ${scenario}`), result.stdout + result.stderr);
  });
}

// Runs in a child process: ava runs test files in worker threads of one process, whose thread
// count /proc/self/task would mix with this one's.
const threadsScript = `
import { readdirSync } from 'node:fs';
const { Model } = await import(${JSON.stringify(new URL('../../lib/native.ts', import.meta.url).href)});
const config = ${JSON.stringify(MEDIUM)};
const windows = new Uint16Array(8 * (config.contextLength + 1)).map((_, i) => (i * 31) % 256);
const count = () => readdirSync('/proc/self/task').length;
// OpenMP team threads leave shortly after their master thread: poll until the count settles.
async function settle(limit) {
  for (let i = 0; i < 200 && count() > limit; i++) await new Promise((r) => setTimeout(r, 25));
  return count();
}
async function operations(model) {
  await model.trainStep(windows, 1e-3);
  await model.evalLoss(windows);
  await model.computeGradients(windows);
}
const warm = new Model(config, { batchSize: 8, threads: 2 }); // starts the libuv pool
await operations(warm);
warm.dispose();
const base = await settle(0);
const idle = new Model(config, { batchSize: 8, threads: 2 });
const unused = count();
await operations(idle);
const running = count();
idle.dispose();
const disposed = await settle(base);
for (let i = 0; i < 20; i++) {
  const pair = [new Model(config, { batchSize: 8, threads: 2 }), new Model(config, { batchSize: 8, threads: 2 })];
  await Promise.all(pair.map(operations));
  for (const model of pair) model.dispose();
}
const after = await settle(base);
console.log(JSON.stringify({ base, unused, running, disposed, after }));
`;

test('each model runs its operations on one thread of its own, started on first use; dispose() ends it and leaves no thread behind', (t) => {
  if (process.platform !== 'linux') {
    t.pass('/proc/self/task is Linux-only');
    return;
  }
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', threadsScript], {
    encoding: 'utf8',
    env: process.env,
    timeout: 60_000,
  });
  t.is(result.status, 0, result.stderr);
  const counts = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
  t.is(counts.unused, counts.base, `a model that has run nothing has no thread: ${result.stdout}`);
  t.true(counts.running > counts.base, `a model that has run an operation has its own thread: ${result.stdout}`);
  t.is(counts.disposed, counts.base, `dispose() ends the model's thread: ${result.stdout}`);
  t.is(counts.after, counts.base, `40 models, each run and disposed, leave no thread behind: ${result.stdout}`);
});

test('a NaN loss from a huge lr hints what the config allows: "enable grad_clip" only while clipping is off', async (t) => {
  const windows = randomWindows(TINY, 2, 4);
  const hints: Record<string, string> = {};
  for (const gradClip of [0, 1]) {
    const model = new Model(TINY, { batchSize: 2, seed: 1, optimizer: { gradClip } });
    let error: (Error & { code?: string }) | undefined;
    // lr 1e10 blows the parameters up within a few steps; the step that sees the NaN refuses it.
    for (let i = 0; i < 20 && !error; i++) {
      try {
        await model.trainStep(windows, 1e10);
      } catch (e) {
        error = e as Error & { code?: string };
      }
    }
    t.is(error?.code, 'ERR_NON_FINITE', `gradClip ${gradClip}`);
    hints[gradClip] = error?.message ?? '';
    model.dispose();
  }
  t.regex(hints[0]!, /lower lr \(1e\+10\) or enable grad_clip/);
  t.notRegex(hints[1]!, /enable grad_clip/);
  t.regex(hints[1]!, /lower lr \(1e\+10\); gradient clipping is already on \(grad_clip = 1\)/);
});
