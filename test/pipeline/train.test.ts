import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeTensorFile } from '../../lib/tensor-file.js';
import { CHECKPOINT_FILE, evalSteps, inspectCheckpoint, learningRate, readCheckpoint, trainProxyRun } from '../../lib/train.js';
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

// A fake that, like the native Model, refuses non-finite parameters and moments.
class StrictFakeModel extends FakeModel {
  override setParameters(parameters: Float32Array): void {
    if (!parameters.every(Number.isFinite)) throw Object.assign(new Error('setParameters(parameters) has a non-finite value'), { code: 'ERR_INVALID_ARGUMENT' });
    super.setParameters(parameters);
  }
}

// Trains 40 steps, stopping at step 23 after a checkpoint; returns the checkpoint folder.
async function stoppedRun(t: ExecutionContext): Promise<string> {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'autoscale-train-')), 'run');
  const controller = new AbortController();
  await t.throwsAsync(
    trainProxyRun({
      model: new FakeModel(), stream: fakeStream(40), evalSet: fakeEvalSet(), schedule, contextLength: 8, evalPoints: 4,
      checkpointDir: dir, checkpointEverySteps: 5, signal: controller.signal,
      onProgress: (event) => { if (event.step === 23) controller.abort(); },
    }),
    { name: 'AbortError' },
  );
  return dir;
}

// Rewrites the first of the three float32 vectors at the end of a checkpoint (parameters, m, v of
// `n` floats each: the layout of the old format and the new one alike).
function editCheckpointParameters(dir: string, n: number, edit: (x: number, i: number) => number): void {
  const file = path.join(dir, 'checkpoint.bin');
  const bytes = readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = bytes.byteLength - 12 * n;
  for (let i = 0; i < n; i++) view.setFloat32(start + 4 * i, edit(view.getFloat32(start + 4 * i, true), i), true);
  writeFileSync(file, bytes);
}

const resumeOptions = (dir: string, log: string[]) => ({
  stream: fakeStream(40), evalSet: fakeEvalSet(), schedule, contextLength: 8, evalPoints: 4, checkpointDir: dir, checkpointEverySteps: 5,
  log: (line: string) => log.push(line),
});

test('a checkpoint whose floats were changed (x1.5) is discarded with the reason and the run trains from the start', async (t) => {
  const plain = await trainProxyRun({ model: new FakeModel(), stream: fakeStream(40), evalSet: fakeEvalSet(), schedule, contextLength: 8, evalPoints: 4 });
  const dir = await stoppedRun(t);
  editCheckpointParameters(dir, 8, (x) => x * 1.5);
  const log: string[] = [];
  const result = await trainProxyRun({ model: new FakeModel(), ...resumeOptions(dir, log) });
  t.deepEqual(result, plain); // before: resumed from the scaled floats, another result, recorded
  t.is(log.length, 1);
  t.regex(log[0]!, /checkpoint\.bin: checkpoint discarded \(its checksum is [0-9a-f]{16}\.\.\. but its header says [0-9a-f]{16}\.\.\.: the file was changed after it was written\); the run trains from the start$/);
});

test('a NaN in a checkpoint does not fail its run on every rerun: it is discarded and the run trains from the start', async (t) => {
  const plain = await trainProxyRun({ model: new FakeModel(), stream: fakeStream(40), evalSet: fakeEvalSet(), schedule, contextLength: 8, evalPoints: 4 });
  const dir = await stoppedRun(t);
  editCheckpointParameters(dir, 8, (x, i) => (i === 3 ? Number.NaN : x));
  const log: string[] = [];
  t.deepEqual(await trainProxyRun({ model: new StrictFakeModel(), ...resumeOptions(dir, log) }), plain);
  t.is(log.length, 1);

  // A NaN under a valid checksum (a model that diverged between two checkpoints) is refused too.
  const again = await stoppedRun(t);
  const checkpoint = readCheckpoint(again)!;
  checkpoint.m[5] = Number.POSITIVE_INFINITY;
  writeTensorFile(path.join(again, CHECKPOINT_FILE), {
    metadata: { 'autoscale.kind': 'checkpoint', 'autoscale.checkpoint': JSON.stringify(checkpoint.header) },
    tensors: [['parameters', checkpoint.parameters], ['optimizer.m', checkpoint.m], ['optimizer.v', checkpoint.v]].map(([name, data]) => ({ name: name as string, dtype: 'F32' as const, shape: [8], data: data as Float32Array })),
  });
  t.deepEqual(inspectCheckpoint(again), { status: 'discarded', file: path.join(again, CHECKPOINT_FILE), reason: 'optimizer.m[5] is Infinity' });
  const log2: string[] = [];
  t.deepEqual(await trainProxyRun({ model: new StrictFakeModel(), ...resumeOptions(again, log2) }), plain);
  t.regex(log2[0] ?? '', /checkpoint discarded \(optimizer\.m\[5\] is Infinity\); the run trains from the start$/);
});

test('a checkpoint of another model size, or of the old "ASCK" format, is discarded and the run trains from the start', async (t) => {
  const plain = await trainProxyRun({ model: new FakeModel(), stream: fakeStream(40), evalSet: fakeEvalSet(), schedule, contextLength: 8, evalPoints: 4 });
  const dir = await stoppedRun(t);
  const log: string[] = [];
  const wider = await trainProxyRun({ model: new FakeModel(12), ...resumeOptions(dir, log) });
  t.is(wider.steps, 40);
  t.regex(log[0] ?? '', /checkpoint discarded \(it holds 8 parameters but the model has 12\)/);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, CHECKPOINT_FILE), Buffer.concat([Buffer.from('ASCK'), Buffer.alloc(200)]));
  t.deepEqual(await trainProxyRun({ model: new FakeModel(), ...resumeOptions(dir, log) }), plain);
  t.regex(log[1] ?? '', /checkpoint discarded \(an "ASCK" checkpoint of an earlier autoscale, before the safetensors layout\)/);
});
