// The native GPT proxy model as a whole: its loss against a float64 forward pass of the same
// parameters, its gradient against finite differences, training, determinism, evalLoss masks,
// checkpoints, and the token array types it reads.
import test from 'ava';

import { Model, type ModelConfig } from '../../lib/native.js';
import type { ProxyModel } from '../../lib/train.js';
import { assertClose } from './compare.js';
import { adamwUpdate, gptForwardLosses, mean } from './reference.js';
import { cyclicWindows, randomWindows } from './windows.js';

const TINY: ModelConfig = { vocabSize: 11, contextLength: 5, width: 8, layers: 2, heads: 2 };
const ODD: ModelConfig = { vocabSize: 37, contextLength: 7, width: 12, layers: 1, heads: 3 };

/** Per-window mean of per-position losses (n_windows, T). */
function windowMeans(losses: Float64Array, T: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < losses.length / T; w++) out.push(mean(losses.subarray(w * T, (w + 1) * T)));
  return out;
}

test('parameterLayout is the GPT-2 layout: contiguous named tensors covering numParameters', (t) => {
  const model = new Model(TINY, { seed: 1 });
  const { vocabSize: V, contextLength: T, width: C, layers: L } = TINY;
  const shapes = Object.fromEntries(model.parameterLayout.map((p) => [p.name, p.shape]));
  t.deepEqual(shapes, {
    wte: [V, C],
    wpe: [T, C],
    ln1w: [L, C],
    ln1b: [L, C],
    qkvw: [L, 3 * C, C],
    qkvb: [L, 3 * C],
    attprojw: [L, C, C],
    attprojb: [L, C],
    ln2w: [L, C],
    ln2b: [L, C],
    fcw: [L, 4 * C, C],
    fcb: [L, 4 * C],
    fcprojw: [L, C, 4 * C],
    fcprojb: [L, C],
    lnfw: [C],
    lnfb: [C],
  });
  let offset = 0;
  for (const p of model.parameterLayout) {
    t.is(p.offset, offset, `${p.name} starts where the previous tensor ends`);
    t.is(p.size, p.shape.reduce((a, b) => a * b, 1));
    const matrix = ['wte', 'wpe', 'qkvw', 'attprojw', 'fcw', 'fcprojw'].includes(p.name);
    t.is(p.weightDecay, matrix, `${p.name}: weight decay on matrices only`);
    offset += p.size;
  }
  t.is(model.numParameters, offset);
  t.is(model.getParameters().length, offset);
  t.true(model.memoryBytes >= 4 * 4 * offset, 'parameters, gradients, m and v are at least 16 bytes per parameter');
  model.dispose();
});

for (const initStd of [undefined, 0.08]) {
  const sd = initStd ?? 0.02;
  test(`initialisation follows GPT-2: LayerNorm weights 1, biases 0, weights ~ N(0, ${sd})${initStd ? ' (options.initStd)' : ''}`, (t) => {
    const model = new Model({ vocabSize: 64, contextLength: 16, width: 32, layers: 2, heads: 4 }, { seed: 3, ...(initStd ? { initStd } : {}) });
    const params = model.getParameters();
    for (const p of model.parameterLayout) {
      const x = params.subarray(p.offset, p.offset + p.size);
      if (['ln1w', 'ln2w', 'lnfw'].includes(p.name)) t.true(x.every((v) => v === 1), `${p.name} is all ones`);
      else if (!p.weightDecay) t.true(x.every((v) => v === 0), `${p.name} is all zeros`);
      else {
        const std = Math.sqrt(mean(Array.from(x, (v) => v * v)));
        // residual projections are scaled by 1/sqrt(2L) = 0.5 here; sample std within 15% (the smallest tensor,
        // wpe, has 512 draws: the sample SD's relative error is about 1/sqrt(2 * 512) = 3%)
        const want = p.name === 'attprojw' || p.name === 'fcprojw' ? sd / 2 : sd;
        t.true(Math.abs(std - want) < 0.15 * want, `${p.name} std ${std.toFixed(4)}, expected ${want}`);
      }
    }
    model.dispose();
  });
}

test('initStd scales the same draws: same seed, parameters in the ratio of the SDs', (t) => {
  const config = { vocabSize: 64, contextLength: 16, width: 32, layers: 2, heads: 4 };
  const a = new Model(config, { seed: 5 });
  const b = new Model(config, { seed: 5, initStd: 0.1 });
  const pa = a.getParameters();
  const pb = b.getParameters();
  let worst = 0;
  for (let i = 0; i < pa.length; i++) if (pa[i] !== 1 && pa[i] !== 0) worst = Math.max(worst, Math.abs(pb[i]! - 5 * pa[i]!) / Math.abs(5 * pa[i]!));
  // each weight is the same normal draw times the SD, rounded to float32 (relative error <= 2^-24 on each side)
  t.true(worst < 1e-6, `worst relative difference ${worst}`);
  a.dispose();
  b.dispose();
});

test('the loss at initialisation is close to ln(vocabSize)', async (t) => {
  const config = { vocabSize: 256, contextLength: 16, width: 32, layers: 2, heads: 4 };
  const model = new Model(config, { seed: 5, batchSize: 4 });
  const losses = await model.evalLoss(randomWindows(config, 4, 1));
  // logits are ~ N(0, 0.02^2 C) at init: the loss exceeds ln V by about their variance / 2 < 0.01.
  t.true(Math.abs(mean(losses) - Math.log(256)) < 0.05, `loss ${mean(losses)} vs ln 256 = ${Math.log(256)}`);
  model.dispose();
});

for (const [label, config] of [
  ['V=11 T=5 C=8 L=2 NH=2', TINY],
  ['V=37 T=7 C=12 L=1 NH=3', ODD],
] as const) {
  test(`the model's loss equals a float64 forward pass of its parameters (${label}), at init and after training`, async (t) => {
    const model = new Model(config, { seed: 11, batchSize: 3 });
    const windows = randomWindows(config, 3, 2);
    // fp32 activations through a few layers: per-window losses agree to ~1e-6; 2e-5 leaves margin
    // while a wrong op (missing bias, wrong scale) moves the loss by far more.
    const tol = { atol: 2e-5, rtol: 2e-5 };
    for (let round = 0; round < 2; round++) {
      const expected = gptForwardLosses(model.getParameters(), model.parameterLayout, config, windows);
      assertClose(t, await model.evalLoss(windows), windowMeans(expected, config.contextLength), tol, `evalLoss round ${round}`);
      const { loss } = await model.computeGradients(windows);
      assertClose(t, [loss], [mean(expected)], tol, `computeGradients loss round ${round}`);
      // move away from the symmetric initialisation (LayerNorm weights 1, biases 0) and check again
      for (let s = 0; s < 5; s++) await model.trainStep(randomWindows(config, 3, 100 + s), 2e-2);
    }
    model.dispose();
  });
}

test('computeGradients matches central finite differences of evalLoss (every tensor, largest entries)', async (t) => {
  const model = new Model(TINY, { seed: 7, batchSize: 2 });
  // Train a little first, so that biases and LayerNorm parameters have non-trivial gradients.
  for (let s = 0; s < 3; s++) await model.trainStep(randomWindows(TINY, 2, 50 + s), 2e-2);
  const windows = randomWindows(TINY, 2, 3);
  const { loss, gradients } = await model.computeGradients(windows);
  t.deepEqual(model.getGradients(), gradients, 'getGradients returns the same gradient');
  const params = model.getParameters();
  t.true(Math.abs(mean(await model.evalLoss(windows)) - loss) < 1e-6, 'evalLoss and computeGradients agree on the loss');

  // Entries checked: the largest |gradient| of every tensor, and the 12 largest overall.
  const picked = new Set<number>();
  for (const p of model.parameterLayout) {
    let best = p.offset;
    for (let i = p.offset; i < p.offset + p.size; i++) if (Math.abs(gradients[i]!) > Math.abs(gradients[best]!)) best = i;
    picked.add(best);
  }
  const order = Array.from(gradients.keys()).sort((a, b) => Math.abs(gradients[b]!) - Math.abs(gradients[a]!));
  order.slice(0, 12).forEach((i) => picked.add(i));

  // eps = 1e-2: per-position losses are fp32 (relative rounding ~1e-7, averaged in double), so
  // the loss difference carries ~2e-7 of noise, ~1e-5 after dividing by 2 eps; the truncation
  // error of the central difference is O(eps^2) = 1e-4 times the third derivative (observed
  // relative errors are ~1e-4). Tolerance: 1% of the gradient plus 3e-5 absolute, so even the
  // small LayerNorm gradients (~1e-3) are checked to a few percent.
  const eps = 1e-2;
  const failures: string[] = [];
  const perturbed = params.slice();
  for (const i of picked) {
    const original = params[i]!;
    perturbed[i] = original + eps;
    const plus = Math.fround(perturbed[i]!);
    model.setParameters(perturbed);
    const lossPlus = mean(await model.evalLoss(windows));
    perturbed[i] = original - eps;
    const minus = Math.fround(perturbed[i]!);
    model.setParameters(perturbed);
    const lossMinus = mean(await model.evalLoss(windows));
    perturbed[i] = original;
    const numeric = (lossPlus - lossMinus) / (plus - minus);
    const analytic = gradients[i]!;
    const name = model.parameterLayout.find((p) => i >= p.offset && i < p.offset + p.size)!.name;
    if (Math.abs(numeric - analytic) > 0.01 * Math.abs(analytic) + 3e-5) {
      failures.push(`${name}[${i}]: analytic ${analytic}, finite difference ${numeric}`);
    }
  }
  model.setParameters(params);
  t.deepEqual(failures, [], `checked ${picked.size} entries`);
  t.true(picked.size >= 16);
  model.dispose();
});

test('a tiny model drives the loss on a short repeated sequence below 0.05 within 200 steps', async (t) => {
  const config = { vocabSize: 16, contextLength: 8, width: 32, layers: 2, heads: 4 };
  const model = new Model(config, { seed: 1, batchSize: 4, optimizer: { weightDecay: 0 } });
  const batch = cyclicWindows([3, 1, 4, 15, 9, 2, 6], config.contextLength, 4);
  const first = await model.trainStep(batch, 1e-2);
  t.true(Math.abs(first.loss - Math.log(16)) < 0.1, `initial loss ${first.loss}`);
  let last = first;
  while (last.loss >= 0.05 && last.step < 200) last = await model.trainStep(batch, 1e-2);
  t.true(last.loss < 0.05, `loss ${last.loss} after ${last.step} steps`);
  t.is(model.step, last.step);
  t.true(mean(await model.evalLoss(batch)) < 0.06, 'evalLoss agrees the sequence is learned');
  model.dispose();
});

async function trainedRun(seed: number, steps: number): Promise<{ losses: number[]; params: Float32Array }> {
  const model = new Model(TINY, { seed, batchSize: 2 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push((await model.trainStep(randomWindows(TINY, 2, 200 + s), 1e-2)).loss);
  const params = model.getParameters();
  model.dispose();
  return { losses, params };
}

test('the same seed and inputs give identical losses and parameters; different seeds differ', async (t) => {
  const a = await trainedRun(42, 5);
  const b = await trainedRun(42, 5);
  t.deepEqual(a.losses, b.losses);
  t.deepEqual(a.params, b.params);
  const c = await trainedRun(43, 5);
  t.notDeepEqual(a.params, c.params);
  t.notDeepEqual(a.losses, c.losses);
  const init42 = new Model(TINY, { seed: 42 });
  const init43 = new Model(TINY, { seed: 43 });
  t.notDeepEqual(init42.getParameters(), init43.getParameters());
  init42.dispose();
  init43.dispose();
});

test('trainStep reports the loss before the update, the gradient norm, and counts steps', async (t) => {
  const model = new Model(TINY, { seed: 9, batchSize: 2, optimizer: { gradClip: 0 } });
  const windows = randomWindows(TINY, 2, 4);
  const before = mean(await model.evalLoss(windows));
  const { gradients } = await model.computeGradients(windows);
  const norm = Math.sqrt(gradients.reduce((s, g) => s + g * g, 0));
  const params = model.getParameters();
  const r = await model.trainStep(windows, 1e-2);
  t.true(Math.abs(r.loss - before) < 1e-6);
  t.true(Math.abs(r.gradNorm - norm) < 1e-5 * norm, `gradNorm ${r.gradNorm} vs ${norm}`);
  t.is(r.step, 1);
  t.is(model.step, 1);
  t.notDeepEqual(model.getParameters(), params, 'the parameters moved');
  t.true(mean(await model.evalLoss(windows)) < before, 'one step lowers the loss on its own batch');
  model.dispose();
});

test('trainStep applies AdamW to every tensor of the flat block, weight decay on matrices only (float64 reference)', async (t) => {
  // Two steps with clipping: the second has non-zero m and v and a bias correction at step 2.
  const optimizer = { beta1: 0.8, beta2: 0.9, eps: 1e-6, weightDecay: 0.5, gradClip: 0.05 };
  const model = new Model(ODD, { seed: 4, batchSize: 2, optimizer });
  const windows = randomWindows(ODD, 2, 8);
  const lr = 3e-2;
  let m = new Float64Array(model.numParameters);
  let v = new Float64Array(model.numParameters);
  for (const step of [1, 2]) {
    const params = model.getParameters();
    const { gradients } = await model.computeGradients(windows);
    const norm = Math.sqrt(gradients.reduce((s, g) => s + g * g, 0));
    const gradScale = norm > optimizer.gradClip ? optimizer.gradClip / norm : 1;
    await model.trainStep(windows, lr);
    const got = model.getParameters();
    const nextM = new Float64Array(m.length);
    const nextV = new Float64Array(v.length);
    for (const p of model.parameterLayout) {
      const slice = (x: Float32Array | Float64Array) => x.subarray(p.offset, p.offset + p.size);
      const want = adamwUpdate(slice(params), slice(gradients), slice(m), slice(v), {
        lr, beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps,
        weightDecay: p.weightDecay ? optimizer.weightDecay : 0, step, gradScale,
      });
      // fp32 update of fp32 values: a few roundings of terms of size lr (3e-2) -> atol 1e-6
      assertClose(t, slice(got), want.params, { atol: 1e-6, rtol: 1e-5 }, `step ${step} ${p.name}`);
      nextM.set(want.m, p.offset);
      nextV.set(want.v, p.offset);
    }
    m = nextM;
    v = nextV;
  }
  model.dispose();
});

test('evalLoss mask: weights per target position; ones equal no mask; a zero mask gives NaN', async (t) => {
  const model = new Model(ODD, { seed: 2, batchSize: 2 });
  const T = ODD.contextLength;
  const windows = randomWindows(ODD, 3, 8); // more windows than batchSize: processed in chunks
  const perPosition = gptForwardLosses(model.getParameters(), model.parameterLayout, ODD, windows);
  const plain = await model.evalLoss(windows);
  const ones = await model.evalLoss(windows, { mask: new Float32Array(3 * T).fill(1) });
  assertClose(t, ones, plain, { atol: 1e-12, rtol: 1e-12 }, 'all-ones mask');

  const mask = new Float32Array(3 * T);
  mask[0 * T + 2] = 1; // window 0: position 2 only
  mask[1 * T + 0] = 2; // window 1: positions 0 and 6, with weights 2 and 1
  mask[1 * T + 6] = 1;
  // window 2: all zero
  const masked = await model.evalLoss(windows, { mask });
  const expected = [
    perPosition[2]!,
    (2 * perPosition[T + 0]! + perPosition[T + 6]!) / 3,
    Number.NaN,
  ];
  assertClose(t, masked, expected, { atol: 2e-5, rtol: 2e-5 }, 'masked window losses');
  t.true(Number.isNaN(masked[2]!), 'a window whose mask sums to 0 has loss NaN');
  model.dispose();
});

test('evalLoss takes any number of windows, in chunks of batchSize, and equals window-by-window evaluation', async (t) => {
  const model = new Model(TINY, { seed: 4, batchSize: 2 });
  const windows = randomWindows(TINY, 7, 9);
  const all = await model.evalLoss(windows);
  t.is(all.length, 7);
  const window = TINY.contextLength + 1;
  for (let w = 0; w < 7; w++) {
    const one = await model.evalLoss(windows.subarray(w * window, (w + 1) * window));
    t.is(one[0], all[w], `window ${w}`);
  }
  model.dispose();
});

test('Uint16Array, Uint32Array, Int32Array and offset views of the same ids give identical results', async (t) => {
  const model = new Model(TINY, { seed: 6, batchSize: 2 });
  const ids = randomWindows(TINY, 2, 10);
  const expected = await model.evalLoss(ids);
  const big = new Uint32Array(ids.length + 5);
  big.set(ids, 3);
  const variants = {
    Uint32Array: Uint32Array.from(ids),
    Int32Array: Int32Array.from(ids),
    'Uint16Array view at byteOffset 6': (() => {
      const buffer = new Uint16Array(ids.length + 7);
      buffer.set(ids, 3);
      return buffer.subarray(3, 3 + ids.length);
    })(),
    'Uint32Array view at byteOffset 12': big.subarray(3, 3 + ids.length),
  };
  for (const [label, tokens] of Object.entries(variants)) {
    t.deepEqual(await model.evalLoss(tokens), expected, label);
  }
  const g16 = (await model.computeGradients(ids)).gradients;
  const g32 = (await model.computeGradients(variants['Uint32Array view at byteOffset 12'])).gradients;
  t.deepEqual(g32, g16, 'computeGradients reads an offset view too');
  model.dispose();
});

test('a checkpoint (parameters + optimizer state) restored into another model continues identically', async (t) => {
  const options = { batchSize: 2 } as const;
  const a = new Model(TINY, { ...options, seed: 1 });
  for (let s = 0; s < 3; s++) await a.trainStep(randomWindows(TINY, 2, 300 + s), 1e-2);
  const saved = { parameters: a.getParameters(), ...a.getOptimizerState() };
  t.is(saved.step, 3);
  t.true(saved.m.some((x) => x !== 0) && saved.v.some((x) => x > 0), 'the moments are populated');

  const b = new Model(TINY, { ...options, seed: 999 });
  b.setParameters(saved.parameters);
  b.setOptimizerState({ m: saved.m, v: saved.v, step: saved.step });
  t.is(b.step, 3);
  t.deepEqual(b.getParameters(), saved.parameters);
  const state = b.getOptimizerState();
  t.deepEqual([state.m, state.v, state.step], [saved.m, saved.v, saved.step]);

  for (let s = 3; s < 6; s++) {
    const batch = randomWindows(TINY, 2, 300 + s);
    const ra = await a.trainStep(batch, 1e-2);
    const rb = await b.trainStep(batch, 1e-2);
    t.deepEqual(rb, ra, `step ${s + 1}`);
  }
  t.deepEqual(b.getParameters(), a.getParameters());
  t.deepEqual(b.getOptimizerState(), a.getOptimizerState());
  a.dispose();
  b.dispose();
});

test('setParameters changes what the model computes; getParameters returns a copy', async (t) => {
  const model = new Model(TINY, { seed: 1, batchSize: 2 });
  const windows = randomWindows(TINY, 2, 12);
  const params = model.getParameters();
  params.fill(0); // a copy: the model is unchanged
  t.notDeepEqual(model.getParameters(), params);
  const before = await model.evalLoss(windows);
  model.setParameters(params); // all zeros: uniform predictions, loss exactly ln V
  const zero = await model.evalLoss(windows);
  assertClose(t, zero, [Math.log(11), Math.log(11)], { atol: 1e-6, rtol: 0 }, 'zero parameters');
  t.notDeepEqual(zero, before);
  model.dispose();
});

test('Model provides the trainer surface a proxy run needs (lib/train.ts ProxyModel)', async (t) => {
  const model: ProxyModel = new Model(TINY, { batchSize: 2 });
  const { loss } = await model.trainStep(randomWindows(TINY, 2, 1), 1e-3);
  t.true(Number.isFinite(loss));
  model.dispose();
});
