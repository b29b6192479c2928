// Float64 reference implementations of the backend ops and of the whole GPT-2 forward pass,
// written for clarity, not speed: the native fp32 kernels are checked against these.
// Shapes follow native/backend.h: B batch, T time, C channels, NH heads, V vocab, N rows.
// Inputs may be Float32Array (what the native side sees; widening to f64 is exact); outputs are
// Float64Array. Backward functions ACCUMULATE into the gradient arrays they are given.

export type Vec = ArrayLike<number>;

export const LAYERNORM_EPS = 1e-5;
const GELU_SCALE = Math.sqrt(2 / Math.PI);

// ---- random inputs (deterministic) ----

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller) as float32, times `scale`, plus `offset`. */
export function randomNormal(rng: () => number, n: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng(), 1e-12);
    const v = rng();
    out[i] = offset + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export function randomUniform(rng: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}

/** Integers in [lo, hi). */
export function randomInts(rng: () => number, n: number, lo: number, hi: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(rng() * (hi - lo));
  return out;
}

// ---- encoder ----

/** out (B,T,C) = wte[tokens[b,t]] + wpe[t] */
export function encoderForward(tokens: Vec, wte: Vec, wpe: Vec, B: number, T: number, C: number): Float64Array {
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const token = tokens[b * T + t]!;
      for (let c = 0; c < C; c++) out[(b * T + t) * C + c] = wte[token * C + c]! + wpe[t * C + c]!;
    }
  }
  return out;
}

/** dwte (V,C) += scatter of dout by token; dwpe (maxT,C) += sum over b of dout */
export function encoderBackward(
  dwte: Float64Array,
  dwpe: Float64Array,
  dout: Vec,
  tokens: Vec,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const token = tokens[b * T + t]!;
      for (let c = 0; c < C; c++) {
        const d = dout[(b * T + t) * C + c]!;
        dwte[token * C + c]! += d;
        dwpe[t * C + c]! += d;
      }
    }
  }
}

// ---- layernorm ----

/** out (N,C) = (x - mean) / sqrt(var + eps) * weight + bias, var biased; mean, rstd (N) */
export function layernormForward(
  inp: Vec,
  weight: Vec,
  bias: Vec,
  N: number,
  C: number,
): { out: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const out = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[n * C + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (inp[n * C + c]! - m) ** 2;
    v /= C;
    const s = 1 / Math.sqrt(v + LAYERNORM_EPS);
    for (let c = 0; c < C; c++) out[n * C + c] = (inp[n * C + c]! - m) * s * weight[c]! + bias[c]!;
    mean[n] = m;
    rstd[n] = s;
  }
  return { out, mean, rstd };
}

/** dinp (N,C) +=, dweight (C) +=, dbias (C) += ; mean and rstd recomputed exactly from inp. */
export function layernormBackward(
  dinp: Float64Array,
  dweight: Float64Array,
  dbias: Float64Array,
  dout: Vec,
  inp: Vec,
  weight: Vec,
  N: number,
  C: number,
): void {
  const { mean, rstd } = layernormForward(inp, weight, new Float64Array(C), N, C);
  for (let n = 0; n < N; n++) {
    let meanD = 0;
    let meanDNorm = 0;
    for (let c = 0; c < C; c++) {
      const norm = (inp[n * C + c]! - mean[n]!) * rstd[n]!;
      const dnorm = weight[c]! * dout[n * C + c]!;
      meanD += dnorm;
      meanDNorm += dnorm * norm;
    }
    meanD /= C;
    meanDNorm /= C;
    for (let c = 0; c < C; c++) {
      const norm = (inp[n * C + c]! - mean[n]!) * rstd[n]!;
      const dnorm = weight[c]! * dout[n * C + c]!;
      dbias[c]! += dout[n * C + c]!;
      dweight[c]! += norm * dout[n * C + c]!;
      dinp[n * C + c]! += rstd[n]! * (dnorm - meanD - norm * meanDNorm);
    }
  }
}

// ---- matmul ----

/** out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC, nullable) */
export function matmulForward(inp: Vec, weight: Vec, bias: Vec | null, N: number, C: number, OC: number): Float64Array {
  const out = new Float64Array(N * OC);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = bias ? bias[o]! : 0;
      for (let c = 0; c < C; c++) s += inp[n * C + c]! * weight[o * C + c]!;
      out[n * OC + o] = s;
    }
  }
  return out;
}

/** dinp (N,C) += dout @ weight (nullable); dweight (OC,C) += dout^T @ inp; dbias (OC) += sum_n dout (nullable) */
export function matmulBackward(
  dinp: Float64Array | null,
  dweight: Float64Array,
  dbias: Float64Array | null,
  dout: Vec,
  inp: Vec,
  weight: Vec,
  N: number,
  C: number,
  OC: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      const d = dout[n * OC + o]!;
      if (dbias) dbias[o]! += d;
      for (let c = 0; c < C; c++) {
        if (dinp) dinp[n * C + c]! += d * weight[o * C + c]!;
        dweight[o * C + c]! += d * inp[n * C + c]!;
      }
    }
  }
}

// ---- attention ----

/** Row t of head h: softmax weights over s <= t of q_t.k_s / sqrt(hs), and their log-sum-exp. */
function attentionRow(
  qkv: Vec,
  b: number,
  t: number,
  h: number,
  T: number,
  C: number,
  NH: number,
): { att: Float64Array; lse: number } {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const scores = new Float64Array(t + 1);
  const q = (b * T + t) * 3 * C + h * hs;
  let max = -Infinity;
  for (let s = 0; s <= t; s++) {
    const k = (b * T + s) * 3 * C + C + h * hs;
    let dot = 0;
    for (let i = 0; i < hs; i++) dot += qkv[q + i]! * qkv[k + i]!;
    scores[s] = dot * scale;
    max = Math.max(max, scores[s]!);
  }
  let sum = 0;
  for (let s = 0; s <= t; s++) sum += Math.exp(scores[s]! - max);
  const lse = max + Math.log(sum);
  const att = scores.map((x) => Math.exp(x - lse));
  return { att, lse };
}

/** qkv (B,T,3C) = [q|k|v]; out (B,T,C); lse (B,NH,T). Causal. */
export function attentionForward(
  qkv: Vec,
  B: number,
  T: number,
  C: number,
  NH: number,
): { out: Float64Array; lse: Float64Array } {
  const hs = C / NH;
  const out = new Float64Array(B * T * C);
  const lse = new Float64Array(B * NH * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const row = attentionRow(qkv, b, t, h, T, C, NH);
        lse[(b * NH + h) * T + t] = row.lse;
        for (let s = 0; s <= t; s++) {
          const v = (b * T + s) * 3 * C + 2 * C + h * hs;
          for (let i = 0; i < hs; i++) out[(b * T + t) * C + h * hs + i]! += row.att[s]! * qkv[v + i]!;
        }
      }
    }
  }
  return { out, lse };
}

/** dqkv (B,T,3C) += gradient of sum(dout * attention(qkv)). */
export function attentionBackward(dqkv: Float64Array, dout: Vec, qkv: Vec, B: number, T: number, C: number, NH: number): void {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const { att } = attentionRow(qkv, b, t, h, T, C, NH);
        const o = (b * T + t) * C + h * hs;
        const datt = new Float64Array(t + 1);
        for (let s = 0; s <= t; s++) {
          const v = (b * T + s) * 3 * C + 2 * C + h * hs;
          for (let i = 0; i < hs; i++) {
            datt[s]! += dout[o + i]! * qkv[v + i]!;
            dqkv[v + i]! += att[s]! * dout[o + i]!;
          }
        }
        let weighted = 0;
        for (let s = 0; s <= t; s++) weighted += att[s]! * datt[s]!;
        const q = (b * T + t) * 3 * C + h * hs;
        for (let s = 0; s <= t; s++) {
          const dscore = att[s]! * (datt[s]! - weighted) * scale;
          const k = (b * T + s) * 3 * C + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dqkv[q + i]! += dscore * qkv[k + i]!;
            dqkv[k + i]! += dscore * qkv[q + i]!;
          }
        }
      }
    }
  }
}

// ---- gelu, residual ----

/** tanh-approximation GELU (GPT-2) */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_SCALE * (x + 0.044715 * x ** 3)));
}

export function geluDerivative(x: number): number {
  const u = GELU_SCALE * (x + 0.044715 * x ** 3);
  const th = Math.tanh(u);
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * GELU_SCALE * (1 + 3 * 0.044715 * x * x);
}

export function geluForward(inp: Vec): Float64Array {
  return Float64Array.from(inp, gelu);
}

/** dinp += gelu'(inp) * dout */
export function geluBackward(dinp: Float64Array, inp: Vec, dout: Vec): void {
  for (let i = 0; i < dinp.length; i++) dinp[i]! += geluDerivative(inp[i]!) * dout[i]!;
}

export function residualForward(a: Vec, b: Vec): Float64Array {
  return Float64Array.from(a, (x, i) => x + b[i]!);
}

// ---- softmax + cross-entropy ----

/** losses (N) = -log softmax(logits)[target] (0 where target < 0); dlogits (N,V) = (p - onehot) * dloss (0 rows where ignored). */
export function softmaxCrossEntropy(
  logits: Vec,
  targets: Vec,
  dloss: number,
  N: number,
  V: number,
): { losses: Float64Array; dlogits: Float64Array } {
  const losses = new Float64Array(N);
  const dlogits = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const target = targets[n]!;
    if (target < 0) continue;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[n * V + v]!);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[n * V + v]! - max);
    const lse = max + Math.log(sum);
    losses[n] = lse - logits[n * V + target]!;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[n * V + v]! - lse);
      dlogits[n * V + v] = (p - (v === target ? 1 : 0)) * dloss;
    }
  }
  return { losses, dlogits };
}

export function sumSquares(x: Vec): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

// ---- AdamW ----

export interface AdamwArgs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
  gradScale: number;
}

/** One AdamW update with bias correction and decoupled weight decay; returns new params, m, v. */
export function adamwUpdate(
  params: Vec,
  grads: Vec,
  m: Vec,
  v: Vec,
  a: AdamwArgs,
): { params: Float64Array; m: Float64Array; v: Float64Array } {
  const n = params.length;
  const outP = new Float64Array(n);
  const outM = new Float64Array(n);
  const outV = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = grads[i]! * a.gradScale;
    const mi = a.beta1 * m[i]! + (1 - a.beta1) * g;
    const vi = a.beta2 * v[i]! + (1 - a.beta2) * g * g;
    const mhat = mi / (1 - a.beta1 ** a.step);
    const vhat = vi / (1 - a.beta2 ** a.step);
    outP[i] = params[i]! - a.lr * (mhat / (Math.sqrt(vhat) + a.eps) + a.weightDecay * params[i]!);
    outM[i] = mi;
    outV[i] = vi;
  }
  return { params: outP, m: outM, v: outV };
}

// ---- the whole GPT ----

export interface GptShape {
  vocabSize: number;
  contextLength: number;
  width: number;
  layers: number;
  heads: number;
}

export interface LayoutEntry {
  name: string;
  shape: readonly number[];
  offset: number;
  size: number;
}

/**
 * Per-position cross-entropy (n_windows, T) of the GPT-2 forward pass in float64, from the flat
 * parameter vector and its layout: token + position embeddings, L pre-LayerNorm blocks (causal
 * attention, 4x GELU MLP), final LayerNorm, LM head tied to wte.
 */
export function gptForwardLosses(
  parameters: Vec,
  layout: readonly LayoutEntry[],
  shape: GptShape,
  windows: Vec,
): Float64Array {
  const { vocabSize: V, contextLength: T, width: C, layers: L, heads: NH } = shape;
  const tensor = (name: string, layer?: number): Float64Array => {
    const entry = layout.find((p) => p.name === name);
    if (!entry) throw new Error(`parameter layout has no tensor '${name}'`);
    const per = layer === undefined ? entry.size : entry.size / L;
    const start = entry.offset + (layer ?? 0) * per;
    return Float64Array.from({ length: per }, (_, i) => parameters[start + i]!);
  };
  const B = windows.length / (T + 1);
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = windows[b * (T + 1) + t]!;
      targets[b * T + t] = windows[b * (T + 1) + t + 1]!;
    }
  }
  const wte = tensor('wte');
  const N = B * T;
  let x = encoderForward(inputs, wte, tensor('wpe'), B, T, C);
  for (let l = 0; l < L; l++) {
    const ln1 = layernormForward(x, tensor('ln1w', l), tensor('ln1b', l), N, C).out;
    const qkv = matmulForward(ln1, tensor('qkvw', l), tensor('qkvb', l), N, C, 3 * C);
    const atty = attentionForward(qkv, B, T, C, NH).out;
    const attproj = matmulForward(atty, tensor('attprojw', l), tensor('attprojb', l), N, C, C);
    x = residualForward(x, attproj);
    const ln2 = layernormForward(x, tensor('ln2w', l), tensor('ln2b', l), N, C).out;
    const fch = matmulForward(ln2, tensor('fcw', l), tensor('fcb', l), N, C, 4 * C);
    const fcproj = matmulForward(geluForward(fch), tensor('fcprojw', l), tensor('fcprojb', l), N, 4 * C, C);
    x = residualForward(x, fcproj);
  }
  const lnf = layernormForward(x, tensor('lnfw'), tensor('lnfb'), N, C).out;
  // Tied LM head over the first V rows of wte (rows past V, if the layout pads, are not tokens).
  const logits = matmulForward(lnf, wte.subarray(0, V * C), null, N, C, V);
  return softmaxCrossEntropy(logits, targets, 1, N, V).losses;
}

export function mean(x: Vec): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s / x.length;
}
