// Run by gemm-blockings.test.ts in a child process whose AUTOSCALE_GEMM_CACHES makes the CPU GEMM choose the blocking of
// another machine's caches (read once per process): every shape of matmul-shapes.ts, forward and backward, with 1, 2
// and 3 threads. Prints JSON: the blocking chosen, and per shape and product the worst element outside LONG_SUM of the
// float64 reference (null when none) and whether the three thread counts gave the same bits.
import { backendInfo, runOp } from '../../lib/native.js';
import { worstMismatch, type Mismatch } from './compare.js';
import { LONG_SUM, MATMUL_SHAPES } from './matmul-shapes.js';
import * as ref from './reference.js';

export interface BlockingResult {
  shape: string;
  product: 'out' | 'dinp' | 'dweight' | 'dbias';
  worst: Mismatch | null;
  sameBits: boolean;
}

const products = ['out', 'dinp', 'dweight', 'dbias'] as const;
const results: BlockingResult[] = [];
for (const [N, C, OC] of MATMUL_SHAPES) {
  const rng = ref.makeRng(N * 7919 + C * 104729 + OC + 1);
  const inp = ref.randomNormal(rng, N * C);
  const weight = ref.randomNormal(rng, OC * C);
  const bias = ref.randomNormal(rng, OC);
  const dout = ref.randomNormal(rng, N * OC);
  const start = { dinp: ref.randomNormal(rng, N * C), dweight: ref.randomNormal(rng, OC * C), dbias: ref.randomNormal(rng, OC) };
  const want = {
    out: ref.matmulForward(inp, weight, bias, N, C, OC),
    dinp: Float64Array.from(start.dinp),
    dweight: Float64Array.from(start.dweight),
    dbias: Float64Array.from(start.dbias),
  };
  ref.matmulBackward(want.dinp, want.dweight, want.dbias, dout, inp, weight, N, C, OC);
  const runs = [1, 2, 3].map((threads) => {
    const got = { out: new Float32Array(N * OC), dinp: start.dinp.slice(), dweight: start.dweight.slice(), dbias: start.dbias.slice() };
    runOp('cpu', 'matmul_forward', [got.out, inp, weight, bias], [N, C, OC], [], { threads });
    runOp('cpu', 'matmul_backward', [got.dinp, got.dweight, got.dbias, dout, inp, weight], [N, C, OC], [], { threads });
    return got;
  });
  for (const product of products) {
    const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    results.push({
      shape: `N=${N} C=${C} OC=${OC}`,
      product,
      worst: worstMismatch(runs[0]![product], want[product], LONG_SUM) ?? null,
      sameBits: runs.every((r) => bytes(r[product]).equals(bytes(runs[0]![product]))),
    });
  }
}
process.stdout.write(JSON.stringify({ gemm: backendInfo().backends.cpu.gemm, results }));
