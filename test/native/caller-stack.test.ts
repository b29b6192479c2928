// A native operation runs off the event loop and settles its promise from there, so the error the addon rejects
// with names no JS frame; lib/native.ts appends the caller's stack (as sharp does), class, code and message kept.
import test from 'ava';

import { Model, type ModelConfig } from '../../lib/native.js';

const TINY: ModelConfig = { vocabSize: 11, contextLength: 5, width: 8, layers: 2, heads: 2 };

/** A named caller, so that its frame can be looked for in the stack. */
async function trainStepFromTheTest(model: Model): Promise<unknown> {
  return model.trainStep(new Uint16Array(2 * (TINY.contextLength + 1)).fill(1), 1e-3);
}

test('a rejected trainStep carries the stack of the call that made it, below the native message', async (t) => {
  const model = new Model(TINY, { backend: 'cpu', batchSize: 2, seed: 1 });
  t.teardown(() => model.dispose());
  // Parameters near the float32 limit overflow the forward pass: the loss is not finite, and trainStep rejects.
  model.setParameters(new Float32Array(model.numParameters).fill(3e38));
  const error = await t.throwsAsync(trainStepFromTheTest(model), { instanceOf: Error, code: 'ERR_NON_FINITE' });
  const stack = error?.stack ?? '';
  t.true(stack.startsWith(`Error: ${error!.message}\n`), stack);
  t.regex(stack, /\n\s+at .*trainStepFromTheTest .*caller-stack\.test\.ts/);
  t.regex(stack, /\n\s+at .*Model\.trainStep /);
  t.is(model.step, 0, 'the failed step left the model as it was');
});
