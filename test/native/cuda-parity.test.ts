// CUDA against CPU, test-backend-ops style: every op of the op table runs on both backends with
// the same random inputs (one table of ops and shapes), then whole models compute gradients,
// train and evaluate on both from the same seed. Without a CUDA device every test here is
// skipped, and its title says why.
//
// Variants: the fast kernels (default) and the slow reference kernels (AUTOSCALE_CUDA_KERNELS=
// reference, read when a CUDA backend is created, i.e. at every runOp/Model; native/cuda/reference/
// reference.cuh lists what runs for each op), and for the matmuls each matmul precision (runOp's
// matmulPrecision option for ops, the Model option for models).
//
// Tolerances. Outputs are compared elementwise: |cuda - cpu| <= atol * rms(cpu) + rtol * |cpu|,
// rms(cpu) being the root mean square of the CPU output (its natural scale; a wrong index or a
// missing term moves values by O(rms), far above every bound here).
//   - fp32 elementwise ops (encoder, gelu, residual, add, adamw): a few roundings apart, plus
//     fused multiply-adds and tanhf/expf implementations that differ by an ulp or two:
//     rtol 1e-5, atol 1e-6.
//   - fp32 reductions (layernorm, attention, softmax, matmul in fp32, column sums): summation
//     order differs; the error of a K-term fp32 sum is ~sqrt(K) u |terms| (u = 6e-8), < 1e-5 rms
//     for the K <= 4096 here: atol 1e-4, rtol 1e-4.
//   - TF32 matmuls: inputs rounded to 10 mantissa bits (relative error <= 2^-11 = 4.9e-4 each), so
//     a K-term product sum is off by ~sqrt(K) * 4.9e-4 * 0.6 per unit term while its rms is
//     ~sqrt(K): ~3e-4 rms, and 5e-3 is > 15 standard deviations.
//   - BF16 matmuls: 7 mantissa bits (<= 2^-9 = 2e-3 each): ~2.5e-3 rms, bound 3e-2 (> 12 sd).
//   - sum_squares: both backends add squares in double; only the order differs: rtol 1e-10.
// Whole models (2 layers, few hundred thousand parameters): losses and gradients go through
// every op; per parameter tensor, ||g_cuda - g_cpu|| / ||g_cpu|| must stay below 1e-3 (fp32),
// 3e-2 (tf32), 1e-1 (bf16): about 10x the matmul input rounding accumulated over the layers,
// while a wrong kernel gives O(1). Losses: 1e-5 / 2e-3 / 1e-2 relative.
import test, { type ExecutionContext } from 'ava';

import {
  backendInfo,
  Model,
  opTable,
  opTensorSizes,
  runOp,
  type ModelConfig,
  type OpDescription,
  type OpTensor,
} from '../../lib/native.js';
import { makeRng, randomInts, randomNormal, randomUniform } from './reference.js';
import { randomWindows } from './windows.js';

const cuda = backendInfo().backends.cuda;
const skipReason = cuda.available ? undefined : `no CUDA device: ${cuda.reason ?? 'unknown reason'}`;
const parityTests: { title: string; fn: (t: ExecutionContext) => void | Promise<void> }[] = [];
/** Collects a CUDA test; they are registered at the end of the file, or one skipped test says why not. */
function cudaTest(title: string, fn: (t: ExecutionContext) => void | Promise<void>): void {
  parityTests.push({ title, fn });
}

type Precision = 'fp32' | 'tf32' | 'bf16';
type Kernels = 'fast' | 'reference';

interface Tol {
  atol: number; // times rms of the CPU output
  rtol: number;
}
const ELEMENTWISE: Tol = { atol: 1e-6, rtol: 1e-5 };
const REDUCTION: Tol = { atol: 1e-4, rtol: 1e-4 };
const MATMUL: Record<Precision, Tol> = {
  fp32: REDUCTION,
  tf32: { atol: 5e-3, rtol: 0 },
  bf16: { atol: 3e-2, rtol: 0 },
};
const MATMUL_OPS = new Set(['matmul_forward', 'matmul_backward', 'matmul_backward_overwrite']);
/** fp32 tolerance class of each op (matmuls: MATMUL[precision]). */
const OP_TOL: Record<string, Tol> = {
  encoder_forward: ELEMENTWISE,
  encoder_backward: REDUCTION, // sums over the batch and over repeated tokens
  layernorm_forward: REDUCTION,
  residual_layernorm_forward: REDUCTION,
  layernorm_backward: REDUCTION,
  attention_forward: REDUCTION,
  attention_backward: REDUCTION,
  gelu_forward: ELEMENTWISE,
  gelu_backward: ELEMENTWISE,
  gelu_backward_overwrite: ELEMENTWISE,
  residual_forward: ELEMENTWISE,
  softmax_cross_entropy: REDUCTION,
  sum_squares: REDUCTION, // (its result is checked separately)
  adamw_update: ELEMENTWISE,
};

// ---- inputs ----

interface OpCase {
  label: string;
  ints: Record<string, number>;
  floats?: Record<string, number>;
  /** Nullable tensors passed as null. */
  nulls?: string[];
}

/** Shapes per op: fast paths (aligned, head sizes 16/32/64/128, C % 4 == 0), the fallbacks
 * (odd sizes, head sizes without a fast kernel), edge tiles and split-K GEMMs. */
const CASES: Record<string, OpCase[]> = {
  encoder_forward: [
    { label: 'B=4 T=64 C=128 V=300', ints: { B: 4, T: 64, C: 128, maxT: 64, V: 300 } },
    { label: 'odd B=3 T=37 C=13 V=50 maxT=40', ints: { B: 3, T: 37, C: 13, maxT: 40, V: 50 } },
  ],
  encoder_backward: [
    { label: 'B=4 T=64 C=128 V=30 (repeated tokens)', ints: { B: 4, T: 64, C: 128, maxT: 64, V: 30 } },
    { label: 'odd B=3 T=37 C=13 V=50 maxT=40', ints: { B: 3, T: 37, C: 13, maxT: 40, V: 50 } },
  ],
  layernorm_forward: [
    { label: 'N=300 C=768', ints: { N: 300, C: 768 } },
    { label: 'odd N=7 C=13', ints: { N: 7, C: 13 } },
  ],
  residual_layernorm_forward: [
    { label: 'N=300 C=768', ints: { N: 300, C: 768 } },
    { label: 'odd N=7 C=13', ints: { N: 7, C: 13 } },
  ],
  layernorm_backward: [
    { label: 'N=1000 C=768 (many row chunks)', ints: { N: 1000, C: 768 } },
    { label: 'odd N=7 C=13', ints: { N: 7, C: 13 } },
  ],
  matmul_forward: [
    { label: 'N=300 C=256 OC=200 bias', ints: { N: 300, C: 256, OC: 200 } },
    { label: 'N=64 C=96 OC=4097 no bias (LM head)', ints: { N: 64, C: 96, OC: 4097 }, nulls: ['bias'] },
    { label: 'odd N=37 C=13 OC=11 (unaligned rows)', ints: { N: 37, C: 13, OC: 11 } },
    { label: 'N=4096 C=64 OC=48 (split-K shape)', ints: { N: 4096, C: 64, OC: 48 } },
  ],
  matmul_backward: [
    { label: 'N=300 C=256 OC=200', ints: { N: 300, C: 256, OC: 200 } },
    { label: 'N=4096 C=64 OC=96 (split-K dweight)', ints: { N: 4096, C: 64, OC: 96 } },
    { label: 'N=64 C=96 OC=1001 no dbias (LM head, odd OC)', ints: { N: 64, C: 96, OC: 1001 }, nulls: ['dbias'] },
    { label: 'odd N=37 C=13 OC=11 no dinp', ints: { N: 37, C: 13, OC: 11 }, nulls: ['dinp'] },
  ],
  matmul_backward_overwrite: [
    { label: 'N=300 C=256 OC=200', ints: { N: 300, C: 256, OC: 200 } },
    { label: 'N=64 C=96 OC=1001 no dbias (LM head, odd OC)', ints: { N: 64, C: 96, OC: 1001 }, nulls: ['dbias'] },
  ],
  attention_forward: [
    { label: 'B=2 T=100 C=64 NH=4 (hs 16)', ints: { B: 2, T: 100, C: 64, NH: 4 } },
    { label: 'B=2 T=130 C=64 NH=2 (hs 32)', ints: { B: 2, T: 130, C: 64, NH: 2 } },
    { label: 'B=1 T=200 C=128 NH=2 (hs 64)', ints: { B: 1, T: 200, C: 128, NH: 2 } },
    { label: 'B=1 T=70 C=256 NH=2 (hs 128)', ints: { B: 1, T: 70, C: 256, NH: 2 } },
    { label: 'B=2 T=33 C=12 NH=4 (hs 3, general kernel)', ints: { B: 2, T: 33, C: 12, NH: 4 } },
    { label: 'B=3 T=1 C=32 NH=2 (T=1)', ints: { B: 3, T: 1, C: 32, NH: 2 } },
  ],
  attention_backward: [
    { label: 'B=2 T=100 C=64 NH=4 (hs 16)', ints: { B: 2, T: 100, C: 64, NH: 4 } },
    { label: 'B=2 T=130 C=64 NH=2 (hs 32)', ints: { B: 2, T: 130, C: 64, NH: 2 } },
    { label: 'B=1 T=200 C=128 NH=2 (hs 64)', ints: { B: 1, T: 200, C: 128, NH: 2 } },
    { label: 'B=1 T=70 C=256 NH=2 (hs 128)', ints: { B: 1, T: 70, C: 256, NH: 2 } },
    { label: 'B=2 T=33 C=12 NH=4 (hs 3, general kernel)', ints: { B: 2, T: 33, C: 12, NH: 4 } },
  ],
  gelu_forward: [
    { label: 'N=4096', ints: { N: 4096 } },
    { label: 'N=1001', ints: { N: 1001 } },
  ],
  gelu_backward: [
    { label: 'N=4096', ints: { N: 4096 } },
    { label: 'N=1001', ints: { N: 1001 } },
  ],
  gelu_backward_overwrite: [
    { label: 'N=4096', ints: { N: 4096 } },
    { label: 'N=1001', ints: { N: 1001 } },
  ],
  residual_forward: [
    { label: 'N=4096', ints: { N: 4096 } },
    { label: 'N=1001', ints: { N: 1001 } },
  ],
  softmax_cross_entropy: [
    { label: 'N=6 V=50257 with dlogits', ints: { N: 6, V: 50257 }, floats: { dloss: 1 / 6 } },
    { label: 'N=40 V=300 with dlogits', ints: { N: 40, V: 300 }, floats: { dloss: 0.025 } },
    { label: 'N=17 V=5 losses only', ints: { N: 17, V: 5 }, floats: { dloss: 1 }, nulls: ['dlogits'] },
  ],
  sum_squares: [
    { label: 'n=1000003', ints: { n: 1000003 } },
    { label: 'n=5', ints: { n: 5 } },
  ],
  adamw_update: [
    {
      label: 'n=10007 step 3',
      ints: { n: 10007, step: 3 },
      floats: { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1, grad_scale: 0.5 },
    },
  ],
};

const intArgs = (op: OpDescription, c: OpCase) =>
  op.ints.map((name) => {
    const v = c.ints[name];
    if (v === undefined) throw new Error(`case '${c.label}' of ${op.name} lacks int ${name}`);
    return v;
  });
const floatArgs = (op: OpDescription, c: OpCase) => op.floats.map((name) => c.floats?.[name] ?? 0.5);

/** Random inputs for one case, the same for every backend (the seed is the case's). */
function buildInputs(op: OpDescription, c: OpCase, seed: number): OpTensor[] {
  const rng = makeRng(seed);
  const ints = intArgs(op, c);
  const sizes = opTensorSizes(op.name, ints);
  const I = c.ints;
  const tensors: OpTensor[] = op.tensors.map((arg, i) => {
    const n = sizes[i]!;
    if (c.nulls?.includes(arg.name)) return null;
    if (arg.type === 'int32') {
      if (arg.name === 'targets') {
        const t = randomInts(rng, n, 0, I.V!);
        for (let k = 0; k < n; k += 5) t[k] = -1; // ignored positions
        return t;
      }
      return randomInts(rng, n, 0, I.V!); // token ids
    }
    if (arg.kind === 'out') return new Float32Array(n).fill(777); // must be overwritten
    if (op.name === 'adamw_update' && arg.name === 'v') return randomUniform(rng, n, 0, 1e-2);
    if (arg.name === 'logits') return randomNormal(rng, n, 3);
    return randomNormal(rng, n);
  });
  // Inputs that must agree with each other, made on the CPU.
  const byName = (name: string) => tensors[op.tensors.findIndex((t) => t.name === name)] as Float32Array;
  if (op.name === 'layernorm_backward') {
    const { N, C } = I as { N: number; C: number };
    const inp = byName('inp');
    const mean = byName('mean');
    const rstd = byName('rstd');
    for (let n = 0; n < N; n++) {
      let m = 0;
      for (let k = 0; k < C; k++) m += inp[n * C + k]!;
      m /= C;
      let v = 0;
      for (let k = 0; k < C; k++) v += (inp[n * C + k]! - m) ** 2;
      mean[n] = m;
      rstd[n] = 1 / Math.sqrt(v / C + 1e-5);
    }
  }
  if (op.name === 'attention_backward') {
    const qkv = byName('qkv');
    qkv.set(randomNormal(rng, qkv.length, 0.5)); // scores of O(1)
    const fwd = opTable().find((o) => o.name === 'attention_forward')!;
    const fwdInts = fwd.ints.map((name) => I[name]!);
    runOp('cpu', 'attention_forward', [byName('out'), byName('lse'), qkv], fwdInts, []);
  }
  return tensors;
}

function rms(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, x.length));
}

/** The worst element's excess over the tolerance, with a description; excess <= 1 passes. */
function compare(actual: Float32Array, expected: Float32Array, tol: Tol): { excess: number; where: string } {
  const scale = rms(expected);
  let worst = { excess: 0, where: 'all within tolerance' };
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const bound = tol.atol * scale + tol.rtol * Math.abs(e) + 1e-30;
    const excess = Number.isNaN(a) || Number.isNaN(e) ? (Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity) : Math.abs(a - e) / bound;
    if (excess > worst.excess) {
      worst = { excess, where: `[${i}] cuda ${a}, cpu ${e}, |diff| ${Math.abs(a - e).toExponential(2)}, rms ${scale.toExponential(2)}` };
    }
  }
  return worst;
}

function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const clone = (tensors: OpTensor[]): OpTensor[] => tensors.map((t) => (t === null ? null : (t.slice() as OpTensor)));

// ---- every op: a case for each, on both backends ----

test('every op of the op table has CUDA parity cases', (t) => {
  const missing = opTable()
    .map((op) => op.name)
    .filter((name) => !(name in CASES));
  t.deepEqual(missing, [], 'add cases for these ops to CASES in test/native/cuda-parity.test.ts');
  t.deepEqual(
    opTable().filter((op) => !(op.name in OP_TOL) && !MATMUL_OPS.has(op.name)).map((op) => op.name),
    [],
    'give these ops a tolerance class in OP_TOL',
  );
});

// gemm 'default' is cuBLASLt when it was compiled in, else our kernels; 'own' forces ours.
const variants: { kernels: Kernels; precision: Precision; gemm: 'default' | 'own' }[] = [
  { kernels: 'fast', precision: 'fp32', gemm: 'default' },
  { kernels: 'fast', precision: 'tf32', gemm: 'default' },
  { kernels: 'fast', precision: 'bf16', gemm: 'default' },
  { kernels: 'fast', precision: 'fp32', gemm: 'own' },
  { kernels: 'fast', precision: 'tf32', gemm: 'own' },
  { kernels: 'fast', precision: 'bf16', gemm: 'own' },
  { kernels: 'reference', precision: 'fp32', gemm: 'default' },
];

for (const op of opTable()) {
  for (const { kernels, precision, gemm } of variants) {
    // Precision and GEMM implementation only change the matmuls; the other ops run once per kernel variant.
    if ((precision !== 'fp32' || gemm !== 'default') && !MATMUL_OPS.has(op.name)) continue;
    const gemmLabel = gemm === 'own' ? ', own GEMM' : '';
    cudaTest(`${op.name}: CUDA (${kernels} kernels, ${precision}${gemmLabel}) matches CPU on every case`, (t) => {
      const tol = MATMUL_OPS.has(op.name) ? MATMUL[precision] : (OP_TOL[op.name] ?? REDUCTION);
      let seed = 1000;
      for (const c of CASES[op.name] ?? []) {
        const inputs = buildInputs(op, c, seed++);
        const cpu = clone(inputs);
        const gpu = clone(inputs);
        const cpuResult = runOp('cpu', op.name, cpu, intArgs(op, c), floatArgs(op, c));
        const env: Record<string, string> = { AUTOSCALE_CUDA_KERNELS: kernels };
        if (gemm === 'own') env.AUTOSCALE_CUDA_GEMM = 'own';
        const gpuResult = withEnv(env, () =>
          runOp('cuda', op.name, gpu, intArgs(op, c), floatArgs(op, c), { matmulPrecision: precision }),
        );
        if (op.name === 'sum_squares') {
          const rel = Math.abs(gpuResult - cpuResult) / Math.max(1e-300, Math.abs(cpuResult));
          t.true(rel <= 1e-10, `${c.label}: sum_squares cuda ${gpuResult}, cpu ${cpuResult} (relative ${rel})`);
        }
        op.tensors.forEach((arg, i) => {
          if (arg.kind === 'in' || cpu[i] === null) return;
          const { excess, where } = compare(gpu[i] as Float32Array, cpu[i] as Float32Array, tol);
          t.true(excess <= 1, `${c.label}: ${arg.name}${where} is ${excess.toFixed(1)}x the tolerance (atol ${tol.atol} rms, rtol ${tol.rtol})`);
        });
      }
    });
  }
}

// ---- whole models ----

const MODELS: { label: string; config: ModelConfig }[] = [
  // hs 16, vocab not a multiple of 4 (unaligned LM-head rows), T not a multiple of the tiles
  { label: 'V=97 T=33 C=64 L=2 NH=4', config: { vocabSize: 97, contextLength: 33, width: 64, layers: 2, heads: 4 } },
  // hs 64
  { label: 'V=256 T=64 C=128 L=2 NH=2', config: { vocabSize: 256, contextLength: 64, width: 128, layers: 2, heads: 2 } },
];
const MODEL_TOL: Record<Precision, { loss: number; grad: number; params: number }> = {
  fp32: { loss: 1e-5, grad: 1e-3, params: 2e-2 },
  tf32: { loss: 2e-3, grad: 3e-2, params: 1e-1 },
  bf16: { loss: 1e-2, grad: 1e-1, params: 2e-1 },
};

function tensorErrors(model: Model, actual: Float32Array, expected: Float32Array, base?: Float32Array) {
  return model.parameterLayout.map((p) => {
    let diff = 0;
    let norm = 0;
    for (let i = p.offset; i < p.offset + p.size; i++) {
      diff += (actual[i]! - expected[i]!) ** 2;
      norm += (expected[i]! - (base ? base[i]! : 0)) ** 2;
    }
    return { name: p.name, rel: Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-20) };
  });
}

for (const { label, config } of MODELS) {
  for (const precision of ['fp32', 'tf32', 'bf16'] as const) {
    const tol = MODEL_TOL[precision];
    cudaTest(`model ${label}: CUDA ${precision} loss and gradient match CPU (per tensor)`, async (t) => {
      const tokens = randomWindows(config, 6, 7);
      const cpu = new Model(config, { backend: 'cpu', seed: 3, batchSize: 6 });
      const gpu = new Model(config, { backend: 'cuda', seed: 3, batchSize: 6, matmulPrecision: precision });
      try {
        t.deepEqual(gpu.getParameters(), cpu.getParameters(), 'same seed, same initial parameters');
        const a = await cpu.computeGradients(tokens);
        const b = await gpu.computeGradients(tokens);
        t.true(Math.abs(b.loss - a.loss) <= tol.loss * Math.abs(a.loss), `loss cuda ${b.loss}, cpu ${a.loss}`);
        for (const e of tensorErrors(cpu, b.gradients, a.gradients)) {
          t.true(e.rel <= tol.grad, `gradient of ${e.name}: relative error ${e.rel.toExponential(2)} > ${tol.grad}`);
        }
      } finally {
        cpu.dispose();
        gpu.dispose();
      }
    });
  }
  for (const precision of ['fp32', 'bf16'] as const) {
    const tol = MODEL_TOL[precision];
    cudaTest(`model ${label}: 5 CUDA ${precision} training steps track the CPU's (losses, parameters, evalLoss)`, async (t) => {
      const cpu = new Model(config, { backend: 'cpu', seed: 5, batchSize: 4 });
      const gpu = new Model(config, { backend: 'cuda', seed: 5, batchSize: 4, matmulPrecision: precision });
      try {
        const initial = cpu.getParameters();
        for (let step = 0; step < 5; step++) {
          const batch = randomWindows(config, 4, 100 + step);
          const a = await cpu.trainStep(batch, 1e-3);
          const b = await gpu.trainStep(batch, 1e-3);
          t.true(Math.abs(b.loss - a.loss) <= 10 * tol.loss * Math.abs(a.loss), `step ${step + 1} loss cuda ${b.loss}, cpu ${a.loss}`);
          t.true(Math.abs(b.gradNorm - a.gradNorm) <= tol.grad * a.gradNorm, `step ${step + 1} grad norm cuda ${b.gradNorm}, cpu ${a.gradNorm}`);
        }
        // Relative to how far training moved each tensor (AdamW steps are ~lr per element).
        for (const e of tensorErrors(cpu, gpu.getParameters(), cpu.getParameters(), initial)) {
          t.true(e.rel <= tol.params, `parameters ${e.name} after 5 steps: relative error ${e.rel.toExponential(2)} > ${tol.params}`);
        }
        // Batched evaluation: more windows than batchSize, with a mask.
        const windows = randomWindows(config, 11, 9);
        const mask = new Float32Array(11 * config.contextLength).map((_, i) => (i % 3 === 0 ? 0 : 1));
        const la = await cpu.evalLoss(windows, { mask });
        const lb = await gpu.evalLoss(windows, { mask });
        for (let w = 0; w < la.length; w++) {
          t.true(Math.abs(lb[w]! - la[w]!) <= 10 * tol.loss * Math.abs(la[w]!), `evalLoss window ${w}: cuda ${lb[w]}, cpu ${la[w]}`);
        }
      } finally {
        cpu.dispose();
        gpu.dispose();
      }
    });
  }
}

cudaTest('the CUDA backend reports a bad device index and a bad precision as errors, not crashes', (t) => {
  t.throws(() => runOp('cuda', 'gelu_forward', [new Float32Array(3), new Float32Array(3)], [3], [], { device: 4096 }), {
    code: 'ERR_BACKEND_UNAVAILABLE',
  });
  t.throws(() => new Model(MODELS[0]!.config, { backend: 'cuda', matmulPrecision: 'fp16' as 'fp32' }), {
    code: 'ERR_INVALID_ARGUMENT',
  });
});

if (skipReason === undefined) {
  for (const { title, fn } of parityTests) test.serial(title, fn);
} else {
  test.skip(`CUDA parity: ${parityTests.length} tests of every op and of whole models [skipped: ${skipReason}]`, () => {});
}
