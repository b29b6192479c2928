// The CPU kernels' blocked and vectorised code paths (native/cpu/matmul.cpp, attention.cpp,
// gelu.cpp, softmax_ce.cpp, simd.h) against the float64 reference, at shapes chosen to hit every
// edge of the blocking: the GEMM's register tile (MR rows x 2 vectors: 8 x 32 floats with AVX-512,
// 4 x 16 with AVX2), its KC = 256 deep panels, its NB = 256 column tasks and its 4M-float chunks of
// packed B; attention's QB = 64 query blocks and head sizes that are not whole vectors; vector
// loops with remainders; extreme inputs to the polynomial exp. And: every result is bitwise the
// same for 1, 2 and 3 threads.
//
// Tolerances: fp32 sums of K products of O(1) random terms err by about sqrt(K) u |sum| with
// u = 6e-8 (K u at worst): for K <= 1100 and |sum| ~ sqrt(K) ~ 33 that is ~ 7e-5 typically and
// 2e-3 at the very worst, so atol 1e-3 + rtol 1e-4 bounds it while a missing or duplicated term
// (an error of O(1)) still fails. Elementwise ops: a few roundings, rtol 1e-5 / atol 1e-6 as in
// ops.test.ts (the exp polynomial is within 2 ulp).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { backendInfo, runOp } from '../../lib/native.js';
import { assertClose, type Tolerance } from './compare.js';
import { LONG_SUM, MATMUL_SHAPES } from './matmul-shapes.js';
import * as ref from './reference.js';

const ATTENTION: Tolerance = { atol: 2e-4, rtol: 1e-4 };
const ELEMENTWISE: Tolerance = { atol: 1e-6, rtol: 1e-5 };
const f64 = (x: ref.Vec) => Float64Array.from(x);

const haveCpu = (() => {
  try {
    return backendInfo().backends.cpu.available;
  } catch {
    return false;
  }
})();
const cpuTest = haveCpu ? test : test.skip;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---- GEMM ----

for (const [N, C, OC, what] of MATMUL_SHAPES) {
  cpuTest(`matmul forward and backward match float64 at N=${N} C=${C} OC=${OC} (${what})`, (t) => {
    const rng = ref.makeRng(N * 7919 + C * 104729 + OC);
    const inp = ref.randomNormal(rng, N * C);
    const weight = ref.randomNormal(rng, OC * C);
    const bias = ref.randomNormal(rng, OC);
    const out = new Float32Array(N * OC).fill(777);
    runOp('cpu', 'matmul_forward', [out, inp, weight, bias], [N, C, OC], []);
    assertClose(t, out, ref.matmulForward(inp, weight, bias, N, C, OC), LONG_SUM, 'out');

    const dout = ref.randomNormal(rng, N * OC);
    const dinp = ref.randomNormal(rng, N * C);
    const dweight = ref.randomNormal(rng, OC * C);
    const dbias = ref.randomNormal(rng, OC);
    const want = { dinp: f64(dinp), dweight: f64(dweight), dbias: f64(dbias) };
    runOp('cpu', 'matmul_backward', [dinp, dweight, dbias, dout, inp, weight], [N, C, OC], []);
    ref.matmulBackward(want.dinp, want.dweight, want.dbias, dout, inp, weight, N, C, OC);
    assertClose(t, dinp, want.dinp, LONG_SUM, 'dinp (accumulated)');
    assertClose(t, dweight, want.dweight, LONG_SUM, 'dweight (accumulated)');
    assertClose(t, dbias, want.dbias, LONG_SUM, 'dbias (accumulated)');
  });
}

cpuTest('matmul_forward without bias overwrites its output at a ragged shape', (t) => {
  const [N, C, OC] = [11, 45, 50];
  const rng = ref.makeRng(5);
  const inp = ref.randomNormal(rng, N * C);
  const weight = ref.randomNormal(rng, OC * C);
  const out = new Float32Array(N * OC).fill(Number.NaN);
  runOp('cpu', 'matmul_forward', [out, inp, weight, null], [N, C, OC], []);
  assertClose(t, out, ref.matmulForward(inp, weight, null, N, C, OC), LONG_SUM, 'out');
});

// ---- attention ----

// [B, T, C, NH]: T past one or more 64-row query blocks; head sizes 5 (padded to a vector), 32, 48
const ATTENTION_SHAPES: Array<[number, number, number, number]> = [
  [2, 130, 15, 3],
  [1, 65, 64, 2],
  [1, 128, 96, 2],
];

for (const [B, T, C, NH] of ATTENTION_SHAPES) {
  cpuTest(`attention forward and backward match float64 across query blocks at B=${B} T=${T} C=${C} NH=${NH}`, (t) => {
    const rng = ref.makeRng(B * 31 + T * 17 + C);
    const qkv = ref.randomNormal(rng, B * T * 3 * C);
    const out = new Float32Array(B * T * C).fill(777);
    const lse = new Float32Array(B * NH * T).fill(777);
    runOp('cpu', 'attention_forward', [out, lse, qkv], [B, T, C, NH], []);
    const want = ref.attentionForward(qkv, B, T, C, NH);
    assertClose(t, out, want.out, ATTENTION, 'out');
    assertClose(t, lse, want.lse, ATTENTION, 'lse');

    const dout = ref.randomNormal(rng, B * T * C);
    const dqkv = ref.randomNormal(rng, B * T * 3 * C);
    const wantDqkv = f64(dqkv);
    ref.attentionBackward(wantDqkv, dout, qkv, B, T, C, NH);
    runOp('cpu', 'attention_backward', [dqkv, dout, qkv, Float32Array.from(want.out), Float32Array.from(want.lse)],
      [B, T, C, NH], []);
    assertClose(t, dqkv, wantDqkv, ATTENTION, 'dqkv (accumulated)');
  });
}

// ---- GELU and softmax + cross-entropy: the polynomial exp at the edges of its range ----

cpuTest('gelu forward and backward match float64 from -100 to 100, including exact zeros and the vector tail', (t) => {
  const rng = ref.makeRng(11);
  const edges = [0, -0, 1e-30, -1e-30, 1e-6, -1e-6, 5, -5, 9.5, -9.5, 20, -20, 44, -44, 100, -100];
  const inp = Float32Array.from([...edges, ...ref.randomUniform(rng, 1000, -12, 12)]);  // 1016: not whole vectors
  const out = new Float32Array(inp.length);
  runOp('cpu', 'gelu_forward', [out, inp], [inp.length], []);
  assertClose(t, out, ref.geluForward(inp), ELEMENTWISE, 'gelu');
  const dout = ref.randomNormal(rng, inp.length);
  const dinp = ref.randomNormal(rng, inp.length);
  const want = f64(dinp);
  ref.geluBackward(want, inp, dout);
  runOp('cpu', 'gelu_backward', [dinp, inp, dout], [inp.length], []);
  assertClose(t, dinp, want, ELEMENTWISE, 'dinp');
});

cpuTest('gelu and softmax cross-entropy propagate NaN', (t) => {
  const out = new Float32Array(3);
  runOp('cpu', 'gelu_forward', [out, Float32Array.from([1, Number.NaN, -1])], [3], []);
  t.true(Number.isNaN(out[1]!));
  const V = 37;
  const logits = new Float32Array(2 * V).fill(0.5);
  logits[V + 3] = Number.NaN;
  const losses = new Float32Array(2);
  runOp('cpu', 'softmax_cross_entropy', [losses, null, logits, Int32Array.from([1, 2])], [2, V], [1]);
  t.true(Number.isFinite(losses[0]!));
  t.true(Number.isNaN(losses[1]!), 'a NaN logit makes its row loss NaN (train_step detects it)');
});

cpuTest('softmax cross-entropy matches float64 on wide rows with huge, tiny and -1e30 logits', (t) => {
  const [N, V] = [6, 5003];  // V not a multiple of any vector width
  const rng = ref.makeRng(13);
  const logits = ref.randomNormal(rng, N * V, 3);
  logits[0] = 80;  // dominates row 0: exp(-80 - ...) terms underflow next to it
  logits[V + 1] = -1e30;
  for (let v = 0; v < V; v++) logits[2 * V + v] = -90 + (v % 7);  // a row of very negative logits
  const targets = Int32Array.from([0, 1, 2, -1, V - 1, 17]);
  const dloss = 1 / N;
  const want = ref.softmaxCrossEntropy(logits, targets, dloss, N, V);
  const losses = new Float32Array(N);
  const dlogits = new Float32Array(N * V).fill(777);
  runOp('cpu', 'softmax_cross_entropy', [losses, dlogits, logits, targets], [N, V], [dloss]);
  // losses: one fp32 log-sum-exp over 5003 terms (double sum) -> a few ulp of lse ~ 1e-6 relative
  assertClose(t, losses, want.losses, { atol: 1e-5, rtol: 1e-5 }, 'losses');
  assertClose(t, dlogits, want.dlogits, { atol: 1e-8, rtol: 1e-5 }, 'dlogits');
});

// ---- thread-count independence ----

function bits(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer.slice(0));
}

cpuTest('the blocked kernels give the same bits with 1, 2 and 3 threads', (t) => {
  const rng = ref.makeRng(17);
  const [N, C, OC] = [203, 300, 290];
  const inp = ref.randomNormal(rng, N * C);
  const weight = ref.randomNormal(rng, OC * C);
  const bias = ref.randomNormal(rng, OC);
  const dout = ref.randomNormal(rng, N * OC);
  const [B, T, AC, NH] = [2, 130, 24, 3];
  const qkv = ref.randomNormal(rng, B * T * 3 * AC);
  const adout = ref.randomNormal(rng, B * T * AC);
  const logits = ref.randomNormal(rng, 9 * 1001, 2);
  const targets = ref.randomInts(rng, 9, 0, 1001);
  const run = (threads: number): Float32Array[] => {
    const options = { threads };
    const out = new Float32Array(N * OC);
    runOp('cpu', 'matmul_forward', [out, inp, weight, bias], [N, C, OC], [], options);
    const dinp = new Float32Array(N * C);
    const dweight = new Float32Array(OC * C);
    const dbias = new Float32Array(OC);
    runOp('cpu', 'matmul_backward', [dinp, dweight, dbias, dout, inp, weight], [N, C, OC], [], options);
    const aout = new Float32Array(B * T * AC);
    const lse = new Float32Array(B * NH * T);
    runOp('cpu', 'attention_forward', [aout, lse, qkv], [B, T, AC, NH], [], options);
    const dqkv = new Float32Array(B * T * 3 * AC);
    runOp('cpu', 'attention_backward', [dqkv, adout, qkv, aout, lse], [B, T, AC, NH], [], options);
    const g = new Float32Array(inp.length);
    runOp('cpu', 'gelu_forward', [g, inp], [inp.length], [], options);
    const losses = new Float32Array(9);
    const dlogits = new Float32Array(logits.length);
    runOp('cpu', 'softmax_cross_entropy', [losses, dlogits, logits, targets], [9, 1001], [0.5], options);
    return [out, dinp, dweight, dbias, aout, lse, dqkv, g, losses, dlogits];
  };
  const names = ['out', 'dinp', 'dweight', 'dbias', 'attention out', 'lse', 'dqkv', 'gelu', 'losses', 'dlogits'];
  const one = run(1);
  for (const threads of [2, 3]) {
    run(threads).forEach((x, i) => t.deepEqual(bits(x), bits(one[i]!), `${names[i]} with ${threads} threads`));
  }
});

cpuTest('the weight gradient with a packed A (OC = 1024) gives the same bits with 1, 2 and 3 threads', (t) => {
  const rng = ref.makeRng(23);
  const [N, C, OC] = [150, 40, 1024];
  const dout = ref.randomNormal(rng, N * OC);
  const inp = ref.randomNormal(rng, N * C);
  const weight = ref.randomNormal(rng, OC * C);
  const run = (threads: number): Float32Array => {
    const dweight = new Float32Array(OC * C);
    runOp('cpu', 'matmul_backward', [null, dweight, null, dout, inp, weight], [N, C, OC], [], { threads });
    return dweight;
  };
  const one = bits(run(1));
  for (const threads of [2, 3]) t.deepEqual(bits(run(threads)), one, `dweight with ${threads} threads`);
});

cpuTest('the weight gradient in passes over K gives the bits of one pass, with 1, 2 and 3 threads, with and without prefetches', (t) => {
  // Small OC and many tokens: packed B (the input) is larger than half of any L2 up to 4 MB, so the GEMM packs and
  // runs it in passes of whole panels (matmul.cpp, kpass). AUTOSCALE_GEMM_KPASS=0 (read once per process, hence the
  // child processes) packs all of it first; the panels and their order are the same, so the bits must be too.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'autoscale-kpass-'));
  const script = path.join(dir, 'kpass.ts');
  writeFileSync(script, [
    `import { runOp } from ${JSON.stringify(path.join(repoRoot, 'lib', 'native.ts'))};`,
    'const [N, C, OC] = [6000, 96, 40];',
    'let x = 12345;',
    'const r = (): number => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 4294967296 - 0.5; };',
    'const dout = Float32Array.from({ length: N * OC }, r);',
    'const inp = Float32Array.from({ length: N * C }, r);',
    'const out: string[] = [];',
    'for (const threads of [1, 2, 3]) {',
    '  const dweight = new Float32Array(OC * C);',
    "  runOp('cpu', 'matmul_backward', [null, dweight, null, dout, inp, new Float32Array(OC * C)], [N, C, OC], [], { threads });",
    "  out.push(Buffer.from(dweight.buffer).toString('base64'));",
    '}',
    "process.stdout.write(JSON.stringify(out));",
  ].join('\n'));
  const run = (env: Record<string, string>): string[] => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26,
    });
    t.is(child.status, 0, child.stderr);
    return JSON.parse(child.stdout) as string[];
  };
  const passes = run({ AUTOSCALE_GEMM_KPASS: '1' });
  const onePass = run({ AUTOSCALE_GEMM_KPASS: '0' });
  // the software prefetches (micro_tile) are hints: off, the bits are the same
  const noPrefetch = run({ AUTOSCALE_GEMM_PREFETCH: '0' });
  rmSync(dir, { recursive: true, force: true });
  t.is(passes.length, 3);
  passes.forEach((b, i) => t.is(b, onePass[0], `${i + 1} thread(s) in passes against 1 thread in one pass`));
  onePass.forEach((b, i) => t.is(b, onePass[0], `${i + 1} thread(s) in one pass`));
  noPrefetch.forEach((b, i) => t.is(b, onePass[0], `${i + 1} thread(s) without software prefetches`));
});

// ---- denormals ----

// Denormal floats take a slow path on x86; the CPU backend runs every op with flush-to-zero and
// denormals-are-zero set (native/cpu/backend.cpp) and restores the calling thread's mode after it.
const x86 = process.arch === 'x64' || process.arch === 'ia32';
(haveCpu && x86 ? test : test.skip)('CPU ops flush denormals to zero, in every thread, and leave the caller in IEEE mode', (t) => {
  const tiny = 1e-39; // a float32 denormal (the smallest normal float32 is 1.18e-38)
  t.true(Math.fround(tiny) > 0 && Math.fround(tiny) < 1.1754943508222875e-38);
  for (const threads of [1, 2]) {
    const n = 4096; // enough elements for both threads of the team to take a share
    const a = new Float32Array(n).fill(tiny);
    const b = new Float32Array(n);
    const out = new Float32Array(n).fill(7);
    runOp('cpu', 'residual_forward', [out, a, b], [n], [], { threads });
    // DAZ reads the denormal inputs as 0, so a + 0 is exactly 0 in every element
    t.deepEqual(out, new Float32Array(n), `residual_forward with ${threads} thread(s)`);
  }
  // this (the calling) thread still computes denormal doubles: FTZ would make the quotient 0
  const operands = new Float64Array([2.5e-308, 4]);
  t.true(operands[0]! / operands[1]! > 0, 'the caller keeps gradual underflow');
});
