// Every bad argument is rejected with the right error class and a stable `code`, first by the
// TypeScript layer (messages naming the argument and the fix) and again by the addon itself
// (called directly here, bypassing lib/native.ts): whatever JS passes, the process survives.
import test from 'ava';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

import { addonCandidates, backendInfo, Model, runOp, type ModelConfig } from '../../lib/native.js';
import { randomWindows } from './windows.js';

const TINY: ModelConfig = { vocabSize: 11, contextLength: 5, width: 8, layers: 2, heads: 2 };
const WINDOW = TINY.contextLength + 1;

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;
interface Case {
  what: string;
  call: (model: Model) => unknown;
  instanceOf: ErrorClass;
  code: string;
  message?: RegExp;
}

const good = () => randomWindows(TINY, 2, 1);

const cases: Case[] = [
  // ---- construction ----
  { what: 'heads not dividing width', call: () => new Model({ ...TINY, heads: 3 }), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE', message: /heads = 3 does not divide config.width = 8/ },
  { what: 'width 0', call: () => new Model({ ...TINY, width: 0 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: /config.width/ },
  { what: 'negative layers', call: () => new Model({ ...TINY, layers: -1 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'non-integer contextLength', call: () => new Model({ ...TINY, contextLength: 4.5 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'NaN vocabSize', call: () => new Model({ ...TINY, vocabSize: Number.NaN }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'vocabSize 1', call: () => new Model({ ...TINY, vocabSize: 1 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'a string width', call: () => new Model({ ...TINY, width: '8' as unknown as number }), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'a missing field', call: () => new Model({ vocabSize: 11, contextLength: 5, width: 8, layers: 2 } as ModelConfig), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT', message: /config.heads/ },
  { what: 'a misspelt option', call: () => new Model(TINY, { batch_size: 2 } as object), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: /batch_size/ },
  { what: 'no config', call: () => new Model(undefined as unknown as ModelConfig), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: "backend 'tpu'", call: () => new Model(TINY, { backend: 'tpu' as 'cpu' }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'batchSize 0', call: () => new Model(TINY, { batchSize: 0 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'negative seed', call: () => new Model(TINY, { seed: -1 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'initStd 0', call: () => new Model(TINY, { initStd: 0 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: /options\.initStd/ },
  { what: 'NaN initStd', call: () => new Model(TINY, { initStd: Number.NaN }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: /options\.initStd/ },
  { what: 'beta1 = 1', call: () => new Model(TINY, { optimizer: { beta1: 1 } }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  // ---- trainStep / computeGradients / evalLoss ----
  { what: 'trainStep with a Float32Array', call: (m) => m.trainStep(new Float32Array(WINDOW) as never, 1e-3), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT', message: /Uint16Array, Uint32Array or Int32Array/ },
  { what: 'trainStep with a plain Array', call: (m) => m.trainStep([1, 2, 3, 4, 5, 6] as never, 1e-3), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'trainStep with an Int8Array', call: (m) => m.trainStep(new Int8Array(WINDOW) as never, 1e-3), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'trainStep with a partial window', call: (m) => m.trainStep(new Uint16Array(WINDOW + 1), 1e-3), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE', message: /contextLength \+ 1 = 6/ },
  { what: 'trainStep with no ids', call: (m) => m.trainStep(new Uint16Array(0), 1e-3), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE' },
  { what: 'trainStep with more windows than batchSize', call: (m) => m.trainStep(randomWindows(TINY, 3, 1), 1e-3), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE', message: /batchSize = 2/ },
  { what: 'a token id >= vocabSize', call: (m) => m.trainStep(new Uint16Array(WINDOW).fill(11), 1e-3), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: /\[0\] = 11/ },
  { what: 'a negative token id', call: (m) => m.computeGradients(new Int32Array(WINDOW).fill(-1)), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'a huge Uint32 token id', call: (m) => m.evalLoss(new Uint32Array(WINDOW).fill(2 ** 32 - 1)), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'NaN lr', call: (m) => m.trainStep(good(), Number.NaN), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT', message: /lr/ },
  { what: 'infinite lr', call: (m) => m.trainStep(good(), Number.POSITIVE_INFINITY), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'negative lr', call: (m) => m.trainStep(good(), -1e-3), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'a string lr', call: (m) => m.trainStep(good(), '1e-3' as unknown as number), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'a mask of the wrong length', call: (m) => m.evalLoss(good(), { mask: new Float32Array(3) }), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE' },
  { what: 'a Float64Array mask', call: (m) => m.evalLoss(good(), { mask: new Float64Array(10) as never }), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'a NaN in the mask', call: (m) => m.evalLoss(good(), { mask: new Float32Array(10).fill(Number.NaN) }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'a negative mask weight', call: (m) => m.evalLoss(good(), { mask: new Float32Array(10).fill(-1) }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  // ---- parameters and optimizer state ----
  { what: 'setParameters of the wrong length', call: (m) => m.setParameters(new Float32Array(3)), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE', message: /expected 1888/ },
  { what: 'setParameters with a Float64Array', call: (m) => m.setParameters(new Float64Array(m.numParameters) as never), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'setParameters with a NaN', call: (m) => m.setParameters(new Float32Array(m.numParameters).fill(Number.NaN)), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'setOptimizerState with short moments', call: (m) => m.setOptimizerState({ m: new Float32Array(2), v: new Float32Array(2), step: 1 }), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE' },
  { what: 'setOptimizerState with a negative v', call: (m) => m.setOptimizerState({ m: new Float32Array(m.numParameters), v: new Float32Array(m.numParameters).fill(-1), step: 1 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'setOptimizerState with step -1', call: (m) => m.setOptimizerState({ m: new Float32Array(m.numParameters), v: new Float32Array(m.numParameters), step: -1 }), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  // ---- runOp ----
  { what: 'runOp with a tensor of the wrong size', call: () => runOp('cpu', 'matmul_forward', [new Float32Array(35), new Float32Array(91), new Float32Array(65), new Float32Array(4)], [7, 13, 5], []), instanceOf: RangeError, code: 'ERR_INVALID_SHAPE', message: /bias has 4 elements; expected 5/ },
  { what: 'runOp with an Int32Array for a float tensor', call: () => runOp('cpu', 'gelu_forward', [new Float32Array(3), new Int32Array(3) as never], [3], []), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'runOp with null for a required tensor', call: () => runOp('cpu', 'gelu_forward', [new Float32Array(3), null], [3], []), instanceOf: TypeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'runOp with an unknown op', call: () => runOp('cpu', 'conv2d_forward', [], [], []), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'runOp with too few ints', call: () => runOp('cpu', 'gelu_forward', [new Float32Array(3), new Float32Array(3)], [], []), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'runOp with a zero dimension', call: () => runOp('cpu', 'gelu_forward', [new Float32Array(0), new Float32Array(0)], [0], []), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'runOp with heads not dividing C', call: () => runOp('cpu', 'attention_forward', [new Float32Array(8), new Float32Array(3), new Float32Array(24)], [1, 1, 8, 3], []), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'runOp with a token id >= V', call: () => runOp('cpu', 'encoder_forward', [new Float32Array(4), new Int32Array([7]), new Float32Array(28), new Float32Array(4)], [1, 1, 4, 1, 7], []), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
  { what: 'runOp with a NaN float argument', call: () => runOp('cpu', 'softmax_cross_entropy', [new Float32Array(1), null, new Float32Array(2), new Int32Array(1)], [1, 2], [Number.NaN]), instanceOf: RangeError, code: 'ERR_INVALID_ARGUMENT' },
];

for (const c of cases) {
  test(`rejects ${c.what} with ${c.instanceOf.name} ${c.code}`, (t) => {
    const model = new Model(TINY, { batchSize: 2, seed: 1 });
    const error = t.throws(() => c.call(model), { instanceOf: c.instanceOf, code: c.code, ...(c.message ? { message: c.message } : {}) });
    t.true((error?.message.length ?? 0) > 10, 'the message explains');
    model.dispose();
  });
}

test('runOp takes a matmulPrecision option: the CPU computes fp32 under every precision, an unknown one is a RangeError', (t) => {
  const inp = Float32Array.from({ length: 7 * 13 }, (_, i) => Math.sin(i));
  const weight = Float32Array.from({ length: 5 * 13 }, (_, i) => Math.cos(i));
  const results = (['fp32', 'tf32', 'bf16'] as const).map((matmulPrecision) => {
    const out = new Float32Array(7 * 5);
    runOp('cpu', 'matmul_forward', [out, inp, weight, null], [7, 13, 5], [], { matmulPrecision });
    return Array.from(out);
  });
  // The CPU backend has one (fp32) GEMM: the option must not change a bit there.
  t.deepEqual(results[1], results[0]);
  t.deepEqual(results[2], results[0]);
  const bad = t.throws(
    () => runOp('cpu', 'matmul_forward', [new Float32Array(35), inp, weight, null], [7, 13, 5], [], { matmulPrecision: 'fp8' as never }),
    { instanceOf: RangeError },
  );
  t.is((bad as { code?: string }).code, 'ERR_INVALID_ARGUMENT');
  t.regex(bad!.message, /matmulPrecision must be 'fp32', 'tf32' or 'bf16'/);
});

test("backend 'cuda' without a CUDA device throws ERR_BACKEND_UNAVAILABLE (model and runOp)", (t) => {
  if (backendInfo().backends.cuda.available) {
    t.pass('this machine has a CUDA device');
    return;
  }
  t.throws(() => new Model(TINY, { backend: 'cuda' }), { instanceOf: Error, code: 'ERR_BACKEND_UNAVAILABLE', message: /backend 'cpu'/ });
  t.throws(() => runOp('cuda', 'gelu_forward', [new Float32Array(3), new Float32Array(3)], [3], []), { code: 'ERR_BACKEND_UNAVAILABLE' });
  const model = new Model(TINY, { backend: 'auto' });
  t.is(model.backend, 'cpu', "'auto' falls back to the CPU");
  model.dispose();
});

test('after dispose() every method throws ERR_DISPOSED; dispose() is idempotent', async (t) => {
  const model = new Model(TINY, { batchSize: 2 });
  await model.trainStep(good(), 1e-3);
  const bytes = model.memoryBytes;
  t.true(bytes > 0);
  model.dispose();
  model.dispose();
  t.true(model.disposed);
  t.is(model.memoryBytes, 0);
  const calls: Array<[string, () => unknown]> = [
    ['trainStep', () => model.trainStep(good(), 1e-3)],
    ['evalLoss', () => model.evalLoss(good())],
    ['computeGradients', () => model.computeGradients(good())],
    ['getParameters', () => model.getParameters()],
    ['setParameters', () => model.setParameters(new Float32Array(model.numParameters))],
    ['getGradients', () => model.getGradients()],
    ['getOptimizerState', () => model.getOptimizerState()],
    ['setOptimizerState', () => model.setOptimizerState({ m: new Float32Array(1), v: new Float32Array(1), step: 0 })],
  ];
  for (const [name, call] of calls) {
    t.throws(call, { code: 'ERR_DISPOSED', message: new RegExp(`${name}\\(\\).*disposed`) }, name);
  }
  t.is(model.parameterLayout.length, 16, 'the layout stays readable');
});

// ---- the addon alone: it must check everything itself ----

interface RawModel {
  [method: string]: (...args: unknown[]) => unknown;
}
interface RawAddon {
  Model: new (...args: unknown[]) => RawModel;
  runOp: (...args: unknown[]) => unknown;
  opTensorSizes: (...args: unknown[]) => unknown;
  backendInfo: () => unknown;
}

function rawAddon(): RawAddon {
  const path = addonCandidates().find((p) => existsSync(p));
  if (!path) throw new Error('no built addon');
  return createRequire(import.meta.url)(path) as RawAddon;
}

function detached(): Uint16Array {
  const a = new Uint16Array(WINDOW);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

test('the addon itself rejects bad arguments (bypassing the TypeScript checks) with the right class and code', (t) => {
  const raw = rawAddon();
  const model = new raw.Model(TINY, { batchSize: 2 });
  const checks: Array<[string, () => unknown, ErrorClass, string]> = [
    ['config not an object', () => new raw.Model(42), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['width 2^31', () => new raw.Model({ ...TINY, width: 2 ** 31 }), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['heads not dividing width', () => new raw.Model({ ...TINY, heads: 3 }), RangeError, 'ERR_INVALID_SHAPE'],
    ['an absurdly large model', () => new raw.Model({ vocabSize: 2 ** 30, contextLength: 2 ** 20, width: 2 ** 28, layers: 1000, heads: 1 }), Error, 'ERR_OUT_OF_MEMORY'],
    ['backend name', () => new raw.Model(TINY, { backend: 'gpu' }), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['seed NaN', () => new raw.Model(TINY, { seed: Number.NaN }), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['tokens as a string', () => model.trainStep!('abc', 0.1), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['tokens as a Float64Array', () => model.evalLoss!(new Float64Array(WINDOW)), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['tokens as a DataView', () => model.evalLoss!(new DataView(new ArrayBuffer(12))), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['a detached token buffer', () => model.evalLoss!(detached()), RangeError, 'ERR_INVALID_SHAPE'],
    ['too many windows', () => model.computeGradients!(new Uint16Array(3 * WINDOW)), RangeError, 'ERR_INVALID_SHAPE'],
    ['token >= vocab', () => model.evalLoss!(new Uint16Array(WINDOW).fill(60000)), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['lr NaN', () => model.trainStep!(new Uint16Array(WINDOW), Number.NaN), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['lr beyond float32', () => model.trainStep!(new Uint16Array(WINDOW), 1e300), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['lr missing', () => model.trainStep!(new Uint16Array(WINDOW)), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['mask of the wrong type', () => model.evalLoss!(new Uint16Array(WINDOW), [1, 1, 1, 1, 1]), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['mask too short', () => model.evalLoss!(new Uint16Array(WINDOW), new Float32Array(4)), RangeError, 'ERR_INVALID_SHAPE'],
    ['mask with Infinity', () => model.evalLoss!(new Uint16Array(WINDOW), new Float32Array(5).fill(Number.POSITIVE_INFINITY)), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['setParameters short', () => model.setParameters!(new Float32Array(10)), RangeError, 'ERR_INVALID_SHAPE'],
    ['setParameters not an array', () => model.setParameters!({ length: 1888 }), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['setOptimizerState step 1.5', () => model.setOptimizerState!(new Float32Array(1888), new Float32Array(1888), 1.5), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['runOp ints beyond int32', () => raw.runOp('cpu', 'gelu_forward', [new Float32Array(1), new Float32Array(1)], [2 ** 40], []), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['runOp sizes', () => raw.runOp('cpu', 'gelu_forward', [new Float32Array(1), new Float32Array(2)], [2], []), RangeError, 'ERR_INVALID_SHAPE'],
    ['runOp tensors not an array', () => raw.runOp('cpu', 'gelu_forward', null, [1], []), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['runOp null for a required tensor', () => raw.runOp('cpu', 'gelu_forward', [null, new Float32Array(1)], [1], []), TypeError, 'ERR_INVALID_ARGUMENT'],
    ['runOp backend', () => raw.runOp('tpu', 'gelu_forward', [new Float32Array(1), new Float32Array(1)], [1], []), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['runOp float count', () => raw.runOp('cpu', 'gelu_forward', [new Float32Array(1), new Float32Array(1)], [1], [1]), RangeError, 'ERR_INVALID_ARGUMENT'],
    ['opTensorSizes of an unknown op', () => raw.opTensorSizes('nope', []), RangeError, 'ERR_INVALID_ARGUMENT'],
  ];
  for (const [what, call, instanceOf, code] of checks) t.throws(call, { instanceOf, code }, what);
  t.throws(() => (raw.Model as unknown as () => unknown)(), { instanceOf: TypeError }, 'Model without new (V8 refuses it)');
  (model.dispose as () => void)();
});

test('the addon survives random junk in every argument position (it throws coded errors, never crashes)', async (t) => {
  const raw = rawAddon();
  const junk: unknown[] = [
    undefined, null, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '', 'cpu', {}, [], [null],
    Symbol('x'), () => 0, 10n, new Uint16Array(0), new Uint16Array(WINDOW), new Uint16Array(WINDOW).fill(65535),
    new Int32Array(WINDOW).fill(-5), new Uint32Array(2 * WINDOW), new Float32Array(5), new Float32Array(1888),
    new Float64Array(3), new Uint8Array(6), detached(), new Proxy({}, {}), { vocabSize: 11 },
  ];
  const model = new raw.Model(TINY, { batchSize: 2 });
  const methods = ['trainStep', 'evalLoss', 'computeGradients', 'setParameters', 'setOptimizerState', 'getParameters'];
  const rng = (() => {
    let s = 12345;
    return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  })();
  const pick = () => junk[Math.floor(rng() * junk.length)];
  let calls = 0;
  let coded = 0;
  for (let i = 0; i < 600; i++) {
    const args = [pick(), pick(), pick()];
    const target = i % 3;
    try {
      calls++;
      let result: unknown;
      if (target === 0) result = (model[methods[i % methods.length]!] as (...a: unknown[]) => unknown)(...args);
      else if (target === 1) result = raw.runOp('cpu', ['gelu_forward', 'matmul_forward', 'softmax_cross_entropy'][i % 3], ...args, pick());
      else result = new raw.Model(pick(), pick());
      if (result instanceof Promise) await result.catch((e: unknown) => e);
      if (result && typeof result === 'object' && 'dispose' in result) (result as RawModel).dispose!();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      t.true(error instanceof Error, `call ${i} threw a non-Error`);
      if (typeof code === 'string' && code.startsWith('ERR_')) coded++;
      else t.fail(`call ${i} threw without a code: ${(error as Error).message}`);
    }
  }
  t.true(coded > calls / 2, `${coded} of ${calls} junk calls were rejected with a code`);
  (model.dispose as () => void)();
});
