// One owner per rule: lib/native.ts's schema holds the rules a user meets and their messages (vocabSize >= 2,
// the optimizer's ranges) and resolves backend 'auto'; the addon reads types; the core keeps what memory
// safety needs (positive sizes, heads dividing width, known backend names). Whatever the addon is given, it
// throws a coded error rather than crash.
import test from 'ava';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

import { addonCandidates, MIN_VOCAB_SIZE, Model, resolveBackend, type ModelConfig } from '../../lib/native.js';

const TINY: ModelConfig = { vocabSize: 11, contextLength: 5, width: 8, layers: 2, heads: 2 };

interface RawModel {
  trainStep(tokens: Uint16Array, lr: number): Promise<{ loss: number; step: number }>;
  dispose(): void;
}
const raw = createRequire(import.meta.url)(addonCandidates().find((p) => existsSync(p))!) as { Model: new (config: unknown, options?: unknown) => RawModel };

test('the minimum vocabulary is TypeScript\'s rule: Model refuses vocabSize 1 with the minimum, the addon and core take it', async (t) => {
  t.is(MIN_VOCAB_SIZE, 2);
  t.throws(() => new Model({ ...TINY, vocabSize: 1 }), { instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: `config.vocabSize must be an integer in [${MIN_VOCAB_SIZE}, 2147483647], got 1` });
  // One token: nothing to predict, but nothing unsafe either; the core needs V >= 1 only.
  const model = new raw.Model({ ...TINY, vocabSize: 1 }, { batchSize: 1 });
  t.teardown(() => model.dispose());
  const { loss, step } = await model.trainStep(new Uint16Array(TINY.contextLength + 1), 1e-3);
  t.is(loss, 0);
  t.is(step, 1);
});

test('backend "auto" is resolved in TypeScript (resolveBackend, which Model uses); the addon takes only "cpu" or "cuda"', (t) => {
  const model = new Model(TINY, { backend: 'auto' });
  t.teardown(() => model.dispose());
  t.is(model.backend, resolveBackend('auto'));
  t.is(resolveBackend('cpu'), 'cpu');
  t.throws(() => new raw.Model(TINY, { backend: 'auto' }), { instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: /backend \("auto"\) must be "cpu" or "cuda"/ });
});

test('the core still refuses what memory safety needs, with a code, when the addon is called directly', (t) => {
  const cases: [string, unknown, unknown, string][] = [
    ['vocabSize 0', { ...TINY, vocabSize: 0 }, {}, 'ERR_INVALID_ARGUMENT'],
    ['heads 0 (no division by zero)', { ...TINY, heads: 0 }, {}, 'ERR_INVALID_ARGUMENT'],
    ['negative width', { ...TINY, width: -8 }, {}, 'ERR_INVALID_ARGUMENT'],
    ['heads not dividing width', { ...TINY, heads: 3 }, {}, 'ERR_INVALID_SHAPE'],
    ['batchSize 0', TINY, { batchSize: 0 }, 'ERR_INVALID_ARGUMENT'],
    ['an unknown precision', TINY, { matmulPrecision: 'fp8' }, 'ERR_INVALID_ARGUMENT'],
    ['a beta1 beyond float32', TINY, { optimizer: { beta1: 1e39 } }, 'ERR_INVALID_ARGUMENT'],
    ['a size beyond int32', { ...TINY, layers: 2 ** 31 }, {}, 'ERR_INVALID_ARGUMENT'],
  ];
  for (const [what, config, options, code] of cases) t.throws(() => new raw.Model(config, options), { instanceOf: RangeError, code }, what);
});
