// lib/bench.ts: the presets, the FLOP count of the formula, and one short measurement.
import test from 'ava';

import { BENCH_PRESETS, benchTrain, flopsPerToken } from '../../lib/bench.js';
import { DEMO_CONFIG } from '../../lib/cli/run.js';
import { backendInfo } from '../../lib/native.js';

test('flopsPerToken is 6 (12 L d^2) + 6 V d + 6 L T d', (t) => {
  // cpu-a: L 4, d 128, V 256, T 256
  t.is(flopsPerToken(BENCH_PRESETS['cpu-a']!.config), 6 * 12 * 4 * 128 * 128 + 6 * 256 * 128 + 6 * 4 * 256 * 128);
  t.is(BENCH_PRESETS['gpt2-124m']!.batchSize, 4);
});

test('the demo preset is the model and batch of autoscale run --demo, byte vocabulary', (t) => {
  const demo = BENCH_PRESETS.demo!;
  t.deepEqual(demo.config, { vocabSize: 256, ...DEMO_CONFIG.model });
  t.is(demo.batchSize, DEMO_CONFIG.training.batchSize);
  t.is(flopsPerToken(demo.config), 6 * 12 * 2 * 64 * 64 + 6 * 256 * 64 + 6 * 2 * 64 * 64);
});

const haveCpu = (() => {
  try {
    return backendInfo().backends.cpu.available;
  } catch {
    return false;
  }
})();

(haveCpu ? test : test.skip)('benchTrain measures cpu-a training and evaluation throughput', async (t) => {
  const r = await benchTrain({ preset: 'cpu-a', backend: 'cpu', threads: 1, warmup: 0, repeats: 1 });
  t.is(r.threads, 1);
  t.is(r.tokensPerStep, 16 * 256);
  t.true(r.trainTokensPerSecond > 0 && Number.isFinite(r.trainTokensPerSecond));
  t.true(r.evalTokensPerSecond > r.trainTokensPerSecond, 'a forward pass is cheaper than a training step');
  t.is(r.trainSeconds.length, 1);
  t.is(r.trainCpuSeconds.length, 1);
  t.true(r.trainTokensPerCpuSecond > 0 && Number.isFinite(r.trainTokensPerCpuSecond));
  // one compute thread: the process's CPU time is at most a little more than the wall-clock time
  t.true(r.trainCpuSeconds[0]! <= r.trainSeconds[0]! * 1.5 + 0.01, `${r.trainCpuSeconds[0]} CPU s vs ${r.trainSeconds[0]} s`);
});

test('benchTrain rejects an unknown preset with the list of presets', async (t) => {
  await t.throwsAsync(benchTrain({ preset: 'cpu-z' }), { message: /unknown model preset "cpu-z": use one of cpu-a, cpu-b/ });
});
