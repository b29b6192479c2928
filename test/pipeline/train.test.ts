import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { evalSteps, learningRate, readCheckpoint, trainProxyRun } from '../../lib/train.js';
import { FakeModel, fakeEvalSet, fakeStream } from './fixtures/fake-model.js';

test('learningRate warms up linearly and decays by a cosine to the floor', (t) => {
  const schedule = { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, steps: 110 };
  t.is(learningRate(schedule, 0), 1e-4);
  t.is(learningRate(schedule, 9), 1e-3);
  t.is(learningRate(schedule, 10), 1e-3);
  t.true(Math.abs(learningRate(schedule, 60) - 5.5e-4) < 1e-12); // halfway: the mean of lr and minLr
  t.true(Math.abs(learningRate(schedule, 110) - 1e-4) < 1e-12);
});

test('evalSteps spreads the curve points and always ends at the last step', (t) => {
  t.deepEqual(evalSteps(100, 4), [25, 50, 75, 100]);
  t.deepEqual(evalSteps(3, 10), [1, 2, 3]);
  t.deepEqual(evalSteps(7, 1), [7]);
});

const schedule = { lr: 0.05, minLr: 0.005, warmupSteps: 3 };

test('a run stopped at a checkpoint and resumed ends with the same losses, bit for bit', async (t) => {
  const plain = await trainProxyRun({ model: new FakeModel(), stream: fakeStream(40), evalSet: fakeEvalSet(), schedule, contextLength: 8, evalPoints: 4 });

  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'autoscale-train-')), 'run');
  const controller = new AbortController();
  const first = new FakeModel();
  await t.throwsAsync(
    trainProxyRun({
      model: first,
      stream: fakeStream(40),
      evalSet: fakeEvalSet(),
      schedule,
      contextLength: 8,
      evalPoints: 4,
      checkpointDir: dir,
      checkpointEverySteps: 5,
      signal: controller.signal,
      onProgress: (event) => {
        if (event.step === 23) controller.abort();
      },
    }),
    { name: 'AbortError' },
  );
  t.is(readCheckpoint(dir)?.header.step, 23);
  // A fresh model (fresh initialisation) picks up from the checkpoint.
  const resumed = await trainProxyRun({
    model: new FakeModel(8, 99),
    stream: fakeStream(40),
    evalSet: fakeEvalSet(),
    schedule,
    contextLength: 8,
    evalPoints: 4,
    checkpointDir: dir,
    checkpointEverySteps: 5,
  });
  t.deepEqual(resumed, plain);
  t.is(resumed.curve.length, 4);
  t.is(resumed.tokens, 40 * 2 * 8);
  t.true(existsSync(path.join(dir, 'checkpoint.bin')));
});

test('a non-finite loss surfaces as the trainer error with its code', async (t) => {
  const model = new FakeModel();
  model.nanAtStep = 5;
  await t.throwsAsync(trainProxyRun({ model, stream: fakeStream(10), evalSet: fakeEvalSet(), schedule, contextLength: 8, evalPoints: 2 }), {
    message: /NaN/,
    code: 'ERR_NON_FINITE',
  } as never);
});
