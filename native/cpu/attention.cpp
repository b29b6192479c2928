// Causal multi-head self-attention, flash style: the (T,T) probabilities are never stored; the
// forward pass keeps only the log-sum-exp of each score row and the backward pass recomputes
// the probabilities from q, k and lse.
// qkv (B,T,3C) = [q | k | v] along the last axis; head h uses channels [h*hs, (h+1)*hs), hs = C/NH.
// out (B,T,C); lse (B,NH,T) = log sum_{s<=t} exp(q_t . k_s * scale), scale = 1/sqrt(hs).
// Backward: dout (B,T,C); dqkv (B,T,3C) +=.
//
// One task per (batch, head), owned by one thread: the head's K and V are packed once into
// contiguous, zero-padded tiles, then queries are processed QB rows at a time with the small
// register-blocked GEMM of simd.h (scores Q K^T, outputs P V; in the backward pass also
// dP = dO V^T, dQ = dS K, dK += dS^T Q, dV += P^T dO). Every output element is summed in a fixed
// order inside one task, so results do not depend on the thread count.
#include <omp.h>

#include <cmath>
#include <cstdint>

#include "ops.h"
#include "simd.h"

namespace autoscale {

namespace {

using simd::ivec;
using simd::vec;
using simd::W;
using simd::round_up;
using simd::small_gemm;

constexpr int QB = 64;  // query rows per block: scores (QB, T) stay in L2

// 0, 1, ..., W-1: lane l of the v-th vector of a score row holds key v*W + l
vec lane_index() {
  vec x;
  for (int l = 0; l < W; l++) x[l] = (float)l;
  return x;
}

// Per-head tile sizes: hp = head size padded to whole vectors, Tp = keys padded likewise.
struct HeadDims {
  int T, hs, hp, Tp;
  HeadDims(int T_, int hs_) : T(T_), hs(hs_), hp(round_up(hs_, W)), Tp(round_up(T_, W)) {}
};

// Causal products within a block of queries [t0, t0 + rows): query row r sees keys s <= t0 + r, so
// each group of MR query rows (the small GEMM's register tile) computes only the keys its last
// row can see. The terms skipped are exact zeros of the masked probabilities, so the results are
// the same bits as the full products.

// C (rows, keys) = A (rows, K) @ B (K, keys), A's rows contiguous (a + r * lda): scores Q K^T and
// dP = dO V^T. Columns past a group's last visible key are left unwritten (the caller masks them).
void causal_scores(float* c, long ldc, const float* a, long lda, const float* b, long ldb, int t0, int rows,
                   int K) {
  for (int i = 0; i < rows; i += simd::MR) {
    const int rg = rows - i < simd::MR ? rows - i : simd::MR;
    small_gemm(c + (long)i * ldc, ldc, a + (long)i * lda, lda, 1, b, ldb, rg, round_up(t0 + i + rg, W), K, false);
  }
}

// C (rows, N) = P (rows, keys) @ B (keys, N), P row-major (masked entries zero): outputs P V and
// dQ = dS K. A group sums over the keys its last row can see, in order.
void causal_probs_times(float* c, long ldc, const float* p, long ldp, const float* b, long ldb, int t0, int rows,
                        int N) {
  for (int i = 0; i < rows; i += simd::MR) {
    const int rg = rows - i < simd::MR ? rows - i : simd::MR;
    small_gemm(c + (long)i * ldc, ldc, p + (long)i * ldp, ldp, 1, b, ldb, rg, N, t0 + i + rg, false);
  }
}

// C (nk, N) += P^T (nk, rows) @ B (rows, N), P (rows, keys) row-major: dK += dS^T Q and
// dV += P^T dO. Key s gets terms from the queries that see it (t >= s): a group of keys starting
// at s0 sums over query rows from max(0, s0 - t0), in order.
void causal_probs_t_times(float* c, long ldc, const float* p, long ldp, const float* b, long ldb, int t0, int rows,
                          int nk, int N) {
  for (int s0 = 0; s0 < nk; s0 += simd::MR) {
    const int rg = nk - s0 < simd::MR ? nk - s0 : simd::MR;
    const int r0 = s0 > t0 ? s0 - t0 : 0;
    small_gemm(c + (long)s0 * ldc, ldc, p + s0 + (long)r0 * ldp, 1, ldp, b + (long)r0 * ldb, ldb, rg, N, rows - r0,
               true);
  }
}

// Prefetches the head's slice (hs floats at src + t * stride) of rows [0, T) toward L2, for writing when `write`. A
// task reads its head's slices of qkv, out and dout row by row at strides of C or 3C floats, a line or two per row,
// and the hardware prefetchers did not fetch them ahead: at the start of a task, all of them (8 slices of 256 rows of
// 128 bytes at cpu-b's shape: 256 KB, a quarter of a 1 MB L2) are requested at once, so their misses overlap instead
// of stalling one row at a time. Measured on a Zen 4 against the code without them, interleaved in one process
// (bench/RESULTS.md): 1 thread, forward +2-10%, backward +7-15% at the demo's and cpu-a/b/c's shapes; 2 threads, +1-15%
// at cpu-a/b/c, -4% at the demo's (which trains one thread per model). They change no arithmetic.
void prefetch_slice(const float* src, size_t stride, int T, int hs, bool write) {
  for (int t = 0; t < T; t++) {
    const uintptr_t first = (uintptr_t)(src + (size_t)t * stride), last = first + (size_t)hs * sizeof(float) - 1;
    for (uintptr_t line = first & ~(uintptr_t)63; line <= last; line += 64) {
      if (write)
        __builtin_prefetch(reinterpret_cast<const void*>(line), 1, 2);
      else
        __builtin_prefetch(reinterpret_cast<const void*>(line), 0, 2);
    }
  }
}

// dst (T, hp) = rows src + t*stride, hs channels each, zero padded to hp
void pack_rows(float* dst, const float* src, size_t stride, int rows, int hs, int hp) {
  for (int t = 0; t < rows; t++) {
    const float* s = src + (size_t)t * stride;
    float* d = dst + (size_t)t * hp;
    for (int c = 0; c < hs; c++) d[c] = s[c];
    for (int c = hs; c < hp; c++) d[c] = 0.0f;
  }
}

// dst (hs, Tp) = transpose of rows src + t*stride (T rows of hs channels), zero padded to Tp. Whole W x W blocks are
// transposed in registers (W vector loads, W vector stores); the rest element by element. (Element by element
// throughout, the transposes of K and V were 9-13% of the forward pass and 8% of the backward at cpu-a/b/c's shapes.)
void pack_transposed(float* dst, const float* src, size_t stride, int T, int hs, int Tp) {
  const int tw = T / W * W, cw = hs / W * W;
  for (int t0 = 0; t0 < tw; t0 += W)
    for (int c0 = 0; c0 < cw; c0 += W) {
      vec x[W];
      for (int i = 0; i < W; i++) x[i] = simd::load(src + (size_t)(t0 + i) * stride + c0);
      simd::transpose(x);
      for (int i = 0; i < W; i++) simd::store(dst + (size_t)(c0 + i) * Tp + t0, x[i]);
    }
  for (int c = 0; c < hs; c++) {
    for (int t = c < cw ? tw : 0; t < T; t++) dst[(size_t)c * Tp + t] = src[(size_t)t * stride + c];
    for (int t = T; t < Tp; t++) dst[(size_t)c * Tp + t] = 0.0f;
  }
}

}  // namespace

void attention_forward_cpu(float* out, float* lse, const float* qkv, int B, int T, int C, int NH,
                           int threads, ScratchArena* arena) {
  const HeadDims d(T, C / NH);
  const int hs = d.hs, hp = d.hp, Tp = d.Tp;
  const float scale = 1.0f / std::sqrt((float)hs);
  const size_t C3 = (size_t)C * 3;
  // per thread: K^T (hs, Tp), V (T, hp), scores (QB, Tp), outputs (QB, hp)
  const size_t per_thread = (size_t)hs * Tp + (size_t)T * hp + (size_t)QB * Tp + (size_t)QB * hp;
  ScratchArena local;
  float* const scratch = (arena ? *arena : local).floats(per_thread * threads, "attention_forward");
  const vec lane = lane_index();
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    float* kt = scratch + per_thread * omp_get_thread_num();
    float* vv = kt + (size_t)hs * Tp;
    float* S = vv + (size_t)T * hp;
    float* O = S + (size_t)QB * Tp;
    const float* base = qkv + (size_t)b * T * C3 + h * hs;
    for (int part = 0; part < 3; part++) prefetch_slice(base + part * C, C3, T, hs, false);  // q, k, v
    prefetch_slice(out + (size_t)b * T * C + h * hs, C, T, hs, true);
    pack_transposed(kt, base + C, C3, T, hs, Tp);
    pack_rows(vv, base + 2 * C, C3, T, hs, hp);
    for (int t0 = 0; t0 < T; t0 += QB) {
      const int rows = T - t0 < QB ? T - t0 : QB;
      const int nk = t0 + rows;  // keys [0, nk) are visible to the block
      causal_scores(S, Tp, base + (size_t)t0 * C3, (long)C3, kt, Tp, t0, rows, hs);
      float inv[QB];  // 1 / row sum: P V is normalised when it is written out
      for (int r = 0; r < rows; r++) {
        const int t = t0 + r;
        float* p = S + (size_t)r * Tp;
        // Whole vectors up to the one holding key t; lanes past t are masked to zero (the
        // scores there are not computed) and the row is zeroed on to nk (causal mask).
        const int nv = t / W + 1;
        const vec limit = (vec{} + (float)t) - lane;  // lane l of vector v is key v*W + l
        vec vmx = vec{} - INFINITY;  // a NaN score is skipped here but still poisons its row's sum
        for (int v = 0; v < nv; v++) {
          const vec x = simd::load(p + v * W);
          const ivec keep = (vec{} + (float)(v * W)) <= limit;
          vmx = ((x > vmx) & keep) != 0 ? x : vmx;
        }
        float mx = -INFINITY;
        for (int l = 0; l < W; l++) mx = vmx[l] > mx ? vmx[l] : mx;
        mx *= scale;
        vec vsum = {};
        for (int v = 0; v < nv; v++) {
          const vec e = simd::exp_approx(simd::load(p + v * W) * scale - mx);
          const vec pe = (vec{} + (float)(v * W)) <= limit ? e : vec{};
          simd::store(p + v * W, pe);
          vsum += pe;
        }
        float sum = 0;
        for (int l = 0; l < W; l++) sum += vsum[l];
        for (int s = nv * W; s < nk; s++) p[s] = 0.0f;
        lse[(size_t)bh * T + t] = mx + std::log(sum);
        inv[r] = 1.0f / sum;
      }
      causal_probs_times(O, hp, S, Tp, vv, hp, t0, rows, hp);
      for (int r = 0; r < rows; r++) {
        float* o = out + ((size_t)b * T + t0 + r) * C + h * hs;
        const float* src = O + (size_t)r * hp;
        for (int c = 0; c < hs; c++) o[c] = src[c] * inv[r];
      }
    }
  }
}

// With P_ts = exp(q_t.k_s * scale - lse_t), dP_ts = dout_t . v_s, D_t = dout_t . out_t and
// dS_ts = P_ts (dP_ts - D_t) * scale:
//   dq_t += sum_{s<=t} dS_ts k_s;   dk_s += sum_{t>=s} dS_ts q_t;   dv_s += sum_{t>=s} P_ts dout_t.
void attention_backward_cpu(float* dqkv, const float* dout, const float* qkv, const float* out,
                            const float* lse, int B, int T, int C, int NH, int threads, ScratchArena* arena) {
  const HeadDims d(T, C / NH);
  const int hs = d.hs, hp = d.hp, Tp = d.Tp;
  const float scale = 1.0f / std::sqrt((float)hs);
  const size_t C3 = (size_t)C * 3;
  // per thread: K (T, hp), K^T and V^T (hs, Tp), dK and dV (T, hp), Q, dO and dQ blocks (QB, hp),
  // P and dS (QB, Tp)
  const size_t per_thread = 3 * (size_t)T * hp + 2 * (size_t)hs * Tp + 3 * (size_t)QB * hp + 2 * (size_t)QB * Tp;
  ScratchArena local;
  float* const scratch = (arena ? *arena : local).floats(per_thread * threads, "attention_backward");
  const vec lane = lane_index();
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    float* kk = scratch + per_thread * omp_get_thread_num();
    float* dk = kk + (size_t)T * hp;
    float* dv = dk + (size_t)T * hp;
    float* kt = dv + (size_t)T * hp;
    float* vt = kt + (size_t)hs * Tp;
    float* qb = vt + (size_t)hs * Tp;
    float* dob = qb + (size_t)QB * hp;
    float* dqb = dob + (size_t)QB * hp;
    float* P = dqb + (size_t)QB * hp;
    float* dS = P + (size_t)QB * Tp;
    const float* base = qkv + (size_t)b * T * C3 + h * hs;
    const float* lse_bh = lse + (size_t)bh * T;
    for (int part = 0; part < 3; part++) {  // q, k, v and their gradients
      prefetch_slice(base + part * C, C3, T, hs, false);
      prefetch_slice(dqkv + (size_t)b * T * C3 + h * hs + part * C, C3, T, hs, true);
    }
    prefetch_slice(out + (size_t)b * T * C + h * hs, C, T, hs, false);
    prefetch_slice(dout + (size_t)b * T * C + h * hs, C, T, hs, false);
    pack_rows(kk, base + C, C3, T, hs, hp);
    pack_transposed(kt, base + C, C3, T, hs, Tp);
    pack_transposed(vt, base + 2 * C, C3, T, hs, Tp);
    for (size_t i = 0; i < 2 * (size_t)T * hp; i++) dk[i] = 0.0f;  // dk and dv are adjacent
    for (int t0 = 0; t0 < T; t0 += QB) {
      const int rows = T - t0 < QB ? T - t0 : QB;
      const int nk = t0 + rows, nkp = round_up(nk, W);
      const size_t row0 = (size_t)b * T + t0;
      pack_rows(qb, base + (size_t)t0 * C3, C3, rows, hs, hp);
      pack_rows(dob, dout + row0 * C + h * hs, C, rows, hs, hp);
      causal_scores(P, Tp, qb, hp, kt, Tp, t0, rows, hs);    // scores
      causal_scores(dS, Tp, dob, hp, vt, Tp, t0, rows, hs);  // dP
      for (int r = 0; r < rows; r++) {
        const int t = t0 + r;
        const float* o = out + (row0 + r) * C + h * hs;
        const float* g = dob + (size_t)r * hp;
        float Dt = 0;
#pragma omp simd reduction(+ : Dt)
        for (int c = 0; c < hs; c++) Dt += g[c] * o[c];
        const float l = lse_bh[t];
        float* p = P + (size_t)r * Tp;
        float* ds = dS + (size_t)r * Tp;
        // whole vectors up to the one holding key t, lanes past t masked to zero, then zeros to nkp
        const int nv = t / W + 1;
        const vec limit = (vec{} + (float)t) - lane;
        for (int v = 0; v < nv; v++) {
          const ivec keep = (vec{} + (float)(v * W)) <= limit;
          const vec pe = simd::exp_approx(simd::load(p + v * W) * scale - l);
          const vec dse = pe * (simd::load(ds + v * W) - Dt) * scale;
          simd::store(p + v * W, keep ? pe : vec{});
          simd::store(ds + v * W, keep ? dse : vec{});
        }
        for (int s = nv * W; s < nkp; s++) p[s] = ds[s] = 0.0f;
      }
      causal_probs_times(dqb, hp, dS, Tp, kk, hp, t0, rows, hp);         // dQ = dS K
      causal_probs_t_times(dk, hp, dS, Tp, qb, hp, t0, rows, nk, hp);    // dK += dS^T Q
      causal_probs_t_times(dv, hp, P, Tp, dob, hp, t0, rows, nk, hp);    // dV += P^T dO
      for (int r = 0; r < rows; r++) {
        float* dq = dqkv + (row0 + r) * C3 + h * hs;
        const float* src = dqb + (size_t)r * hp;
        for (int c = 0; c < hs; c++) dq[c] += src[c];
      }
    }
    for (int t = 0; t < T; t++) {
      float* dkt = dqkv + ((size_t)b * T + t) * C3 + C + h * hs;
      float* dvt = dkt + C;
      const float* sk = dk + (size_t)t * hp;
      const float* sv = dv + (size_t)t * hp;
      for (int c = 0; c < hs; c++) {
        dkt[c] += sk[c];
        dvt[c] += sv[c];
      }
    }
  }
}

}  // namespace autoscale
