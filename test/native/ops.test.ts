// Every backend op, forward and backward, on random inputs against the float64 reference
// (test/native/reference.ts), through runOp on the CPU backend: one table of ops and shapes,
// test-backend-ops style. Backward ops start from NON-ZERO gradients and must accumulate (+=).
// Forward outputs start filled with a sentinel and must be overwritten. Inputs must not change.
//
// Tolerances (fp32 kernels vs f64 reference; fp32 unit roundoff u = 6e-8):
//   - elementwise ops (encoder, residual, add, gelu): a few roundings per element -> rtol 1e-5
//     (gelu: tanhf is accurate to a few ulps; atol 1e-6 covers values near 0).
//   - reductions over K terms (matmul, layernorm, attention, softmax, backward sums): the error of
//     a fp32 dot product grows like sqrt(K) u |terms| for random signs (K u worst case); with
//     K <= 128 and terms of O(1) that is < 1e-5, so atol 1e-4 / rtol 1e-4 has a 10x margin and
//     still catches any real bug (a wrong index or a missing term moves values by O(0.1)).
//   - AdamW: one update of size ~lr; compared at rtol 1e-5 of the parameter, atol 1e-6.
import test from 'ava';

import { backendInfo, opTable, opTensorSizes, runOp, type BackendName, type OpDescription } from '../../lib/native.js';
import { assertClose, type Tolerance } from './compare.js';
import * as ref from './reference.js';

type Dims = Record<string, number>;
type Tensors = Record<string, Float32Array | Int32Array | null>;

interface OpCase {
  label: string;
  dims: Dims;
  /** Variant switches read by the input builder (e.g. a nullable tensor left out). */
  variant?: string;
}

interface Built {
  tensors: Tensors;
  floats: Record<string, number>;
}

interface Expected {
  tensors: Record<string, ref.Vec>;
  result?: number;
}

interface OpReference {
  cases: OpCase[];
  /** Element count of every tensor (checked against the native op table's sizes()). */
  sizes(d: Dims): Record<string, number>;
  build(rng: () => number, c: OpCase): Built;
  /** Values of every out / inout tensor after the op, from copies of the inputs. */
  expect(inputs: Built, c: OpCase): Expected;
  tol: Tolerance;
}

const SENTINEL = 777; // forward outputs start as this and must be overwritten
const REDUCTION: Tolerance = { atol: 1e-4, rtol: 1e-4 };
const ELEMENTWISE: Tolerance = { atol: 1e-6, rtol: 1e-5 };

const filled = (n: number) => new Float32Array(n).fill(SENTINEL);
const plus = (initial: ref.Vec, delta: ref.Vec) => Float64Array.from(initial, (x, i) => x + delta[i]!);
const f64 = (x: ref.Vec) => Float64Array.from(x);

const REFERENCES: Record<string, OpReference> = {
  encoder_forward: {
    cases: [
      { label: 'B=2 T=5 C=8 V=11', dims: { B: 2, T: 5, C: 8, V: 11, maxT: 5 } },
      { label: 'B=1 T=1 C=13 V=7 maxT=3', dims: { B: 1, T: 1, C: 13, V: 7, maxT: 3 } },
      { label: 'B=3 T=37 C=13 V=50 maxT=40', dims: { B: 3, T: 37, C: 13, V: 50, maxT: 40 } },
    ],
    sizes: ({ B, T, C, V, maxT }) => ({ out: B! * T! * C!, tokens: B! * T!, wte: V! * C!, wpe: maxT! * C! }),
    build: (rng, { dims: { B, T, C, V, maxT } }) => ({
      tensors: {
        out: filled(B! * T! * C!),
        tokens: ref.randomInts(rng, B! * T!, 0, V!),
        wte: ref.randomNormal(rng, V! * C!),
        wpe: ref.randomNormal(rng, maxT! * C!),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { B, T, C } }) => ({
      tensors: { out: ref.encoderForward(x.tokens!, x.wte!, x.wpe!, B!, T!, C!) },
    }),
    tol: ELEMENTWISE,
  },
  encoder_backward: {
    cases: [
      // V small against B*T so that tokens repeat and the scatter must add, not overwrite.
      { label: 'B=2 T=5 C=8 V=3', dims: { B: 2, T: 5, C: 8, V: 3, maxT: 5 } },
      { label: 'B=1 T=1 C=13 V=7 maxT=3', dims: { B: 1, T: 1, C: 13, V: 7, maxT: 3 } },
      { label: 'B=3 T=37 C=13 V=11 maxT=40', dims: { B: 3, T: 37, C: 13, V: 11, maxT: 40 } },
    ],
    sizes: ({ B, T, C, V, maxT }) => ({ dwte: V! * C!, dwpe: maxT! * C!, dout: B! * T! * C!, tokens: B! * T! }),
    build: (rng, { dims: { B, T, C, V, maxT } }) => ({
      tensors: {
        dwte: ref.randomNormal(rng, V! * C!),
        dwpe: ref.randomNormal(rng, maxT! * C!),
        dout: ref.randomNormal(rng, B! * T! * C!),
        tokens: ref.randomInts(rng, B! * T!, 0, V!),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { B, T, C } }) => {
      const dwte = f64(x.dwte!);
      const dwpe = f64(x.dwpe!);
      ref.encoderBackward(dwte, dwpe, x.dout!, x.tokens!, B!, T!, C!);
      return { tensors: { dwte, dwpe } };
    },
    tol: { atol: 1e-5, rtol: 1e-5 },
  },
  layernorm_forward: {
    cases: [
      { label: 'N=7 C=13', dims: { N: 7, C: 13 } },
      { label: 'N=3 C=1', dims: { N: 3, C: 1 } },
      { label: 'N=37 C=64', dims: { N: 37, C: 64 } },
      // Rows with a mean far from 0: a one-pass E[x^2] - E[x]^2 variance loses digits here.
      { label: 'N=5 C=48, inputs offset by 10', dims: { N: 5, C: 48 }, variant: 'offset' },
    ],
    sizes: ({ N, C }) => ({ out: N! * C!, mean: N!, rstd: N!, inp: N! * C!, weight: C!, bias: C! }),
    build: (rng, { dims: { N, C }, variant }) => ({
      tensors: {
        out: filled(N! * C!),
        mean: filled(N!),
        rstd: filled(N!),
        inp: ref.randomNormal(rng, N! * C!, 1, variant === 'offset' ? 10 : 0),
        weight: ref.randomNormal(rng, C!, 0.5, 1),
        bias: ref.randomNormal(rng, C!, 0.5),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { N, C } }) => {
      const r = ref.layernormForward(x.inp!, x.weight!, x.bias!, N!, C!);
      return { tensors: { out: r.out, mean: r.mean, rstd: r.rstd } };
    },
    tol: REDUCTION,
  },
  residual_layernorm_forward: {
    cases: [
      { label: 'N=7 C=13', dims: { N: 7, C: 13 } },
      { label: 'N=3 C=1', dims: { N: 3, C: 1 } },
      { label: 'N=37 C=64', dims: { N: 37, C: 64 } },
      // the sum's mean far from 0, as in layernorm_forward's offset case
      { label: 'N=5 C=48, inputs offset by 10', dims: { N: 5, C: 48 }, variant: 'offset' },
    ],
    sizes: ({ N, C }) => ({
      res: N! * C!, out: N! * C!, mean: N!, rstd: N!, a: N! * C!, b: N! * C!, weight: C!, bias: C!,
    }),
    build: (rng, { dims: { N, C }, variant }) => ({
      tensors: {
        res: filled(N! * C!),
        out: filled(N! * C!),
        mean: filled(N!),
        rstd: filled(N!),
        a: ref.randomNormal(rng, N! * C!, 1, variant === 'offset' ? 10 : 0),
        b: ref.randomNormal(rng, N! * C!),
        weight: ref.randomNormal(rng, C!, 0.5, 1),
        bias: ref.randomNormal(rng, C!, 0.5),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { N, C } }) => {
      const res = ref.residualForward(x.a!, x.b!);
      const r = ref.layernormForward(res, x.weight!, x.bias!, N!, C!);
      return { tensors: { res, out: r.out, mean: r.mean, rstd: r.rstd } };
    },
    tol: REDUCTION,
  },
  layernorm_backward: {
    cases: [
      { label: 'N=7 C=13', dims: { N: 7, C: 13 } },
      { label: 'N=3 C=1', dims: { N: 3, C: 1 } },
      { label: 'N=37 C=64', dims: { N: 37, C: 64 } },
    ],
    sizes: ({ N, C }) => ({
      dinp: N! * C!,
      dweight: C!,
      dbias: C!,
      dout: N! * C!,
      inp: N! * C!,
      weight: C!,
      mean: N!,
      rstd: N!,
    }),
    build: (rng, { dims: { N, C } }) => {
      const inp = ref.randomNormal(rng, N! * C!);
      const weight = ref.randomNormal(rng, C!, 0.5, 1);
      const forward = ref.layernormForward(inp, weight, new Float64Array(C!), N!, C!);
      return {
        tensors: {
          dinp: ref.randomNormal(rng, N! * C!),
          dweight: ref.randomNormal(rng, C!),
          dbias: ref.randomNormal(rng, C!),
          dout: ref.randomNormal(rng, N! * C!),
          inp,
          weight,
          mean: Float32Array.from(forward.mean),
          rstd: Float32Array.from(forward.rstd),
        },
        floats: {},
      };
    },
    expect: ({ tensors: x }, { dims: { N, C } }) => {
      const dinp = f64(x.dinp!);
      const dweight = f64(x.dweight!);
      const dbias = f64(x.dbias!);
      ref.layernormBackward(dinp, dweight, dbias, x.dout!, x.inp!, x.weight!, N!, C!);
      return { tensors: { dinp, dweight, dbias } };
    },
    // rstd up to 1/sqrt(1e-5) = 316 for C=1 multiplies the rounding of (dnorm - mean(dnorm)).
    tol: { atol: 2e-4, rtol: 1e-4 },
  },
  matmul_forward: {
    cases: [
      { label: 'N=7 C=13 OC=5', dims: { N: 7, C: 13, OC: 5 } },
      { label: 'N=7 C=13 OC=5, no bias', dims: { N: 7, C: 13, OC: 5 }, variant: 'no-bias' },
      { label: 'N=1 C=1 OC=1', dims: { N: 1, C: 1, OC: 1 } },
      { label: 'N=37 C=64 OC=96', dims: { N: 37, C: 64, OC: 96 } },
      { label: 'N=65 C=33 OC=17', dims: { N: 65, C: 33, OC: 17 } },
    ],
    sizes: ({ N, C, OC }) => ({ out: N! * OC!, inp: N! * C!, weight: OC! * C!, bias: OC! }),
    build: (rng, { dims: { N, C, OC }, variant }) => ({
      tensors: {
        out: filled(N! * OC!),
        inp: ref.randomNormal(rng, N! * C!),
        weight: ref.randomNormal(rng, OC! * C!, 1 / Math.sqrt(C!)),
        bias: variant === 'no-bias' ? null : ref.randomNormal(rng, OC!),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { N, C, OC } }) => ({
      tensors: { out: ref.matmulForward(x.inp!, x.weight!, x.bias ?? null, N!, C!, OC!) },
    }),
    tol: REDUCTION,
  },
  matmul_backward: {
    cases: [
      { label: 'N=7 C=13 OC=5', dims: { N: 7, C: 13, OC: 5 } },
      { label: 'N=7 C=13 OC=5, no dinp and no dbias', dims: { N: 7, C: 13, OC: 5 }, variant: 'weight-only' },
      { label: 'N=1 C=1 OC=1', dims: { N: 1, C: 1, OC: 1 } },
      { label: 'N=37 C=64 OC=96', dims: { N: 37, C: 64, OC: 96 } },
      { label: 'N=65 C=33 OC=17', dims: { N: 65, C: 33, OC: 17 } },
    ],
    sizes: ({ N, C, OC }) => ({
      dinp: N! * C!,
      dweight: OC! * C!,
      dbias: OC!,
      dout: N! * OC!,
      inp: N! * C!,
      weight: OC! * C!,
    }),
    build: (rng, { dims: { N, C, OC }, variant }) => ({
      tensors: {
        dinp: variant === 'weight-only' ? null : ref.randomNormal(rng, N! * C!),
        dweight: ref.randomNormal(rng, OC! * C!),
        dbias: variant === 'weight-only' ? null : ref.randomNormal(rng, OC!),
        dout: ref.randomNormal(rng, N! * OC!),
        inp: ref.randomNormal(rng, N! * C!),
        weight: ref.randomNormal(rng, OC! * C!, 1 / Math.sqrt(C!)),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { N, C, OC } }) => {
      const dinp = x.dinp ? f64(x.dinp) : null;
      const dweight = f64(x.dweight!);
      const dbias = x.dbias ? f64(x.dbias) : null;
      ref.matmulBackward(dinp, dweight, dbias, x.dout!, x.inp!, x.weight!, N!, C!, OC!);
      const tensors: Record<string, ref.Vec> = { dweight };
      if (dinp) tensors.dinp = dinp;
      if (dbias) tensors.dbias = dbias;
      return { tensors };
    },
    tol: REDUCTION,
  },
  // dinp is overwritten (its prior contents, random here, must not show); dweight, dbias accumulate
  matmul_backward_overwrite: {
    cases: [
      { label: 'N=7 C=13 OC=5', dims: { N: 7, C: 13, OC: 5 } },
      { label: 'N=7 C=13 OC=5, no dbias', dims: { N: 7, C: 13, OC: 5 }, variant: 'no-dbias' },
      { label: 'N=1 C=1 OC=1', dims: { N: 1, C: 1, OC: 1 } },
      { label: 'N=37 C=64 OC=96', dims: { N: 37, C: 64, OC: 96 } },
      { label: 'N=65 C=17 OC=300 (dinp sums over two 256-deep panels)', dims: { N: 65, C: 17, OC: 300 } },
    ],
    sizes: ({ N, C, OC }) => ({
      dinp: N! * C!,
      dweight: OC! * C!,
      dbias: OC!,
      dout: N! * OC!,
      inp: N! * C!,
      weight: OC! * C!,
    }),
    build: (rng, { dims: { N, C, OC }, variant }) => ({
      tensors: {
        dinp: ref.randomNormal(rng, N! * C!),
        dweight: ref.randomNormal(rng, OC! * C!),
        dbias: variant === 'no-dbias' ? null : ref.randomNormal(rng, OC!),
        dout: ref.randomNormal(rng, N! * OC!),
        inp: ref.randomNormal(rng, N! * C!),
        weight: ref.randomNormal(rng, OC! * C!, 1 / Math.sqrt(C!)),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { N, C, OC } }) => {
      const dinp = new Float64Array(N! * C!);
      const dweight = f64(x.dweight!);
      const dbias = x.dbias ? f64(x.dbias) : null;
      ref.matmulBackward(dinp, dweight, dbias, x.dout!, x.inp!, x.weight!, N!, C!, OC!);
      const tensors: Record<string, ref.Vec> = { dinp, dweight };
      if (dbias) tensors.dbias = dbias;
      return { tensors };
    },
    tol: REDUCTION,
  },
  attention_forward: {
    cases: [
      { label: 'B=2 T=5 C=8 NH=2', dims: { B: 2, T: 5, C: 8, NH: 2 } },
      { label: 'B=1 T=1 C=4 NH=1', dims: { B: 1, T: 1, C: 4, NH: 1 } },
      { label: 'B=2 T=37 C=12 NH=3', dims: { B: 2, T: 37, C: 12, NH: 3 } },
      { label: 'B=1 T=64 C=32 NH=4', dims: { B: 1, T: 64, C: 32, NH: 4 } },
      // Scores in the hundreds: exp() overflows fp32 unless the row maximum is subtracted.
      { label: 'B=1 T=9 C=8 NH=2, scores ~ +-100', dims: { B: 1, T: 9, C: 8, NH: 2 }, variant: 'large' },
    ],
    sizes: ({ B, T, C, NH }) => ({ out: B! * T! * C!, lse: B! * NH! * T!, qkv: B! * T! * 3 * C! }),
    build: (rng, { dims: { B, T, C, NH }, variant }) => ({
      tensors: {
        out: filled(B! * T! * C!),
        lse: filled(B! * NH! * T!),
        qkv: ref.randomNormal(rng, B! * T! * 3 * C!, variant === 'large' ? 8 : 1),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { B, T, C, NH } }) => {
      const r = ref.attentionForward(x.qkv!, B!, T!, C!, NH!);
      return { tensors: { out: r.out, lse: r.lse } };
    },
    tol: { atol: 2e-4, rtol: 1e-4 },
  },
  attention_backward: {
    cases: [
      { label: 'B=2 T=5 C=8 NH=2', dims: { B: 2, T: 5, C: 8, NH: 2 } },
      { label: 'B=1 T=1 C=4 NH=1', dims: { B: 1, T: 1, C: 4, NH: 1 } },
      { label: 'B=2 T=37 C=12 NH=3', dims: { B: 2, T: 37, C: 12, NH: 3 } },
      { label: 'B=1 T=64 C=32 NH=4', dims: { B: 1, T: 64, C: 32, NH: 4 } },
    ],
    sizes: ({ B, T, C, NH }) => ({
      dqkv: B! * T! * 3 * C!,
      dout: B! * T! * C!,
      qkv: B! * T! * 3 * C!,
      out: B! * T! * C!,
      lse: B! * NH! * T!,
    }),
    build: (rng, { dims: { B, T, C, NH } }) => {
      const qkv = ref.randomNormal(rng, B! * T! * 3 * C!);
      const forward = ref.attentionForward(qkv, B!, T!, C!, NH!);
      return {
        tensors: {
          dqkv: ref.randomNormal(rng, B! * T! * 3 * C!),
          dout: ref.randomNormal(rng, B! * T! * C!),
          qkv,
          out: Float32Array.from(forward.out),
          lse: Float32Array.from(forward.lse),
        },
        floats: {},
      };
    },
    expect: ({ tensors: x }, { dims: { B, T, C, NH } }) => {
      const dqkv = f64(x.dqkv!);
      ref.attentionBackward(dqkv, x.dout!, x.qkv!, B!, T!, C!, NH!);
      return { tensors: { dqkv } };
    },
    tol: { atol: 2e-4, rtol: 1e-4 },
  },
  gelu_forward: {
    cases: [
      { label: 'N=7', dims: { N: 7 } },
      { label: 'N=1', dims: { N: 1 } },
      { label: 'N=1001', dims: { N: 1001 } },
    ],
    sizes: ({ N }) => ({ out: N!, inp: N! }),
    build: (rng, { dims: { N } }) => ({
      tensors: { out: filled(N!), inp: ref.randomUniform(rng, N!, -6, 6) },
      floats: {},
    }),
    expect: ({ tensors: x }) => ({ tensors: { out: ref.geluForward(x.inp!) } }),
    tol: ELEMENTWISE,
  },
  gelu_backward: {
    cases: [
      { label: 'N=7', dims: { N: 7 } },
      { label: 'N=1', dims: { N: 1 } },
      { label: 'N=1001', dims: { N: 1001 } },
    ],
    sizes: ({ N }) => ({ dinp: N!, inp: N!, dout: N! }),
    build: (rng, { dims: { N } }) => ({
      tensors: {
        dinp: ref.randomNormal(rng, N!),
        inp: ref.randomUniform(rng, N!, -6, 6),
        dout: ref.randomNormal(rng, N!),
      },
      floats: {},
    }),
    expect: ({ tensors: x }) => {
      const dinp = f64(x.dinp!);
      ref.geluBackward(dinp, x.inp!, x.dout!);
      return { tensors: { dinp } };
    },
    tol: ELEMENTWISE,
  },
  // dinp is overwritten: its prior contents (random here) must not show
  gelu_backward_overwrite: {
    cases: [
      { label: 'N=7', dims: { N: 7 } },
      { label: 'N=1', dims: { N: 1 } },
      { label: 'N=1001', dims: { N: 1001 } },
    ],
    sizes: ({ N }) => ({ dinp: N!, inp: N!, dout: N! }),
    build: (rng, { dims: { N } }) => ({
      tensors: {
        dinp: ref.randomNormal(rng, N!),
        inp: ref.randomUniform(rng, N!, -6, 6),
        dout: ref.randomNormal(rng, N!),
      },
      floats: {},
    }),
    expect: ({ tensors: x }, { dims: { N } }) => {
      const dinp = new Float64Array(N!);
      ref.geluBackward(dinp, x.inp!, x.dout!);
      return { tensors: { dinp } };
    },
    tol: ELEMENTWISE,
  },
  residual_forward: {
    cases: [
      { label: 'N=7', dims: { N: 7 } },
      { label: 'N=1', dims: { N: 1 } },
      { label: 'N=1001', dims: { N: 1001 } },
    ],
    sizes: ({ N }) => ({ out: N!, a: N!, b: N! }),
    build: (rng, { dims: { N } }) => ({
      tensors: { out: filled(N!), a: ref.randomNormal(rng, N!), b: ref.randomNormal(rng, N!) },
      floats: {},
    }),
    expect: ({ tensors: x }) => ({ tensors: { out: ref.residualForward(x.a!, x.b!) } }),
    tol: ELEMENTWISE,
  },
  softmax_cross_entropy: {
    cases: [
      { label: 'N=7 V=13, some targets ignored', dims: { N: 7, V: 13 } },
      { label: 'N=7 V=13, no dlogits', dims: { N: 7, V: 13 }, variant: 'no-grad' },
      { label: 'N=1 V=1', dims: { N: 1, V: 1 } },
      { label: 'N=5 V=1000', dims: { N: 5, V: 1000 } },
      // Logits near +100: exp() overflows fp32 unless the row maximum is subtracted.
      { label: 'N=4 V=17, logits offset by 100', dims: { N: 4, V: 17 }, variant: 'large' },
    ],
    sizes: ({ N, V }) => ({ losses: N!, dlogits: N! * V!, logits: N! * V!, targets: N! }),
    build: (rng, { dims: { N, V }, variant }) => {
      const targets = ref.randomInts(rng, N!, 0, V!);
      if (N! > 2) targets[1] = -1; // ignored position
      if (N! > 4) targets[4] = -100; // any negative target is ignored
      return {
        tensors: {
          losses: filled(N!),
          dlogits: variant === 'no-grad' ? null : filled(N! * V!),
          logits: ref.randomNormal(rng, N! * V!, 2, variant === 'large' ? 100 : 0),
          targets,
        },
        floats: { dloss: 1 / N! },
      };
    },
    expect: ({ tensors: x, floats }, { dims: { N, V }, variant }) => {
      const r = ref.softmaxCrossEntropy(x.logits!, x.targets!, floats.dloss!, N!, V!);
      const tensors: Record<string, ref.Vec> = { losses: r.losses };
      if (variant !== 'no-grad') tensors.dlogits = r.dlogits;
      return { tensors };
    },
    tol: { atol: 1e-5, rtol: 1e-4 },
  },
  sum_squares: {
    cases: [
      { label: 'n=7', dims: { N: 7, n: 7 } },
      { label: 'n=1', dims: { N: 1, n: 1 } },
      { label: 'n=100003', dims: { N: 100003, n: 100003 } },
    ],
    sizes: (d) => ({ x: d.n! }),
    build: (rng, { dims }) => ({ tensors: { x: ref.randomNormal(rng, dims.n!) }, floats: {} }),
    // Accumulated in double: only the inputs are fp32, so the sum is nearly exact.
    expect: ({ tensors: x }) => ({ tensors: {}, result: ref.sumSquares(x.x!) }),
    tol: { atol: 1e-9, rtol: 1e-9 },
  },
  adamw_update: {
    cases: [
      { label: 'n=7 step=1', dims: { N: 7, n: 7, step: 1 } },
      { label: 'n=1 step=3', dims: { N: 1, n: 1, step: 3 } },
      { label: 'n=1001 step=10, grads scaled by 0.5', dims: { N: 1001, n: 1001, step: 10 }, variant: 'clipped' },
    ],
    sizes: (d) => ({ params: d.n!, grads: d.n!, m: d.n!, v: d.n! }),
    build: (rng, { dims, variant }) => ({
      tensors: {
        params: ref.randomNormal(rng, dims.n!),
        grads: ref.randomNormal(rng, dims.n!),
        m: ref.randomNormal(rng, dims.n!, 0.1),
        v: ref.randomUniform(rng, dims.n!, 0, 0.05),
      },
      floats: {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.1,
        weightDecay: 0.1,
        grad_scale: variant === 'clipped' ? 0.5 : 1,
        gradScale: variant === 'clipped' ? 0.5 : 1,
      },
    }),
    expect: ({ tensors: x, floats: f }, { dims }) => {
      // The native op takes fp32 hyperparameters: use the same rounded values.
      const r = ref.adamwUpdate(x.params!, x.grads!, x.m!, x.v!, {
        lr: Math.fround(f.lr!),
        beta1: Math.fround(f.beta1!),
        beta2: Math.fround(f.beta2!),
        eps: Math.fround(f.eps!),
        weightDecay: Math.fround(f.weight_decay!),
        step: dims.step!,
        gradScale: Math.fround(f.grad_scale!),
      });
      return { tensors: { params: r.params, m: r.m, v: r.v } };
    },
    tol: { atol: 1e-6, rtol: 1e-5 },
  },
};

function findOp(name: string): OpDescription {
  const op = opTable().find((o) => o.name === name);
  if (!op) throw new Error(`the native op table has no op '${name}'`);
  return op;
}

function intsFor(op: OpDescription, dims: Dims): number[] {
  return op.ints.map((name) => {
    const value = dims[name];
    if (value === undefined) throw new Error(`${op.name}: the test case gives no value for int '${name}'`);
    return value;
  });
}

function copyTensors(tensors: Tensors): Tensors {
  return Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, v ? v.slice() : null]));
}

// Every backend runs the same table: the CPU always, CUDA where a device is present (elsewhere
// one skipped test says so).
const cudaAvailable = backendInfo().backends.cuda.available;
const backends: BackendName[] = cudaAvailable ? ['cpu', 'cuda'] : ['cpu'];
if (!cudaAvailable) test.skip('every op on cuda matches the float64 reference (no CUDA device here)', () => {});
for (const backend of backends) {
  let caseSeed = 1;
  for (const [name, reference] of Object.entries(REFERENCES)) {
    for (const c of reference.cases) {
      const seed = caseSeed++;
      const title = `${name} on ${backend} matches the float64 reference (${c.label})`;
      test(title, (t) => {
        const op = findOp(name);
        const ints = intsFor(op, c.dims);
        const expectedSizes = reference.sizes(c.dims);
        const nativeSizes = opTensorSizes(name, ints);
        op.tensors.forEach((arg, i) => {
          t.is(nativeSizes[i], expectedSizes[arg.name], `size of ${name} tensor ${arg.name}`);
        });

        const built = reference.build(ref.makeRng(seed), c);
        const before: Built = { tensors: copyTensors(built.tensors), floats: built.floats };
        const expected = reference.expect(before, c);
        const tensors = op.tensors.map((arg) => {
          if (!(arg.name in built.tensors)) throw new Error(`${name}: the reference builds no tensor '${arg.name}'`);
          return built.tensors[arg.name]!;
        });
        const floats = op.floats.map((f) => {
          const value = built.floats[f];
          if (value === undefined) throw new Error(`${name}: the reference gives no value for float '${f}'`);
          return value;
        });
        const result = runOp(backend, name, tensors, ints, floats);

        for (const arg of op.tensors) {
          const actual = built.tensors[arg.name];
          if (!actual) continue;
          if (arg.kind === 'in') {
            t.deepEqual(actual, before.tensors[arg.name], `${name} must not modify its input ${arg.name}`);
            continue;
          }
          const want = expected.tensors[arg.name];
          if (!want) {
            t.fail(`${name}: the reference gives no expected value for ${arg.kind} tensor ${arg.name}`);
            continue;
          }
          assertClose(t, actual, want, reference.tol, `${name} ${arg.name}`);
        }
        if (expected.result !== undefined) {
          assertClose(t, [result], [expected.result], reference.tol, `${name} result`);
        } else {
          t.is(result, 0, `${name} returns 0 (it has no scalar result)`);
        }
      });
    }
  }
}

test('every op in the native op table has a float64 reference and test cases, and vice versa', (t) => {
  const native = opTable().map((o) => o.name).sort();
  const tested = Object.keys(REFERENCES).sort();
  t.deepEqual(
    native.filter((n) => !tested.includes(n)),
    [],
    'ops without a reference: add them to REFERENCES in test/native/ops.test.ts',
  );
  t.deepEqual(tested.filter((n) => !native.includes(n)), [], 'references for ops the native table does not have');
});

test('the op table describes each tensor as in / out / inout, float32 / int32, and backward ops accumulate', (t) => {
  for (const op of opTable()) {
    t.regex(op.name, /^[a-z_]+$/);
    for (const arg of op.tensors) {
      t.true(['in', 'out', 'inout'].includes(arg.kind), `${op.name}.${arg.name} kind`);
      t.true(['float32', 'int32'].includes(arg.type), `${op.name}.${arg.name} type`);
    }
    if (op.name.endsWith('_backward')) {
      const written = op.tensors.filter((a) => a.kind !== 'in');
      t.true(written.length > 0 && written.every((a) => a.kind === 'inout'), `${op.name} gradients are inout (+=)`);
    }
  }
});
