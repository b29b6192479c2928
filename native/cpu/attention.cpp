// Causal multi-head self-attention, flash style: the (T,T) probabilities are never stored; the
// forward pass keeps only the log-sum-exp of each score row and the backward pass recomputes
// the probabilities from q, k and lse.
// qkv (B,T,3C) = [q | k | v] along the last axis; head h uses channels [h*hs, (h+1)*hs), hs = C/NH.
// out (B,T,C); lse (B,NH,T) = log sum_{s<=t} exp(q_t . k_s * scale), scale = 1/sqrt(hs).
// Backward: dout (B,T,C); dqkv (B,T,3C) +=.
#include <cmath>
#include <memory>

#include <omp.h>

#include "ops.h"

namespace autoscale {

namespace {

inline float dot(const float* a, const float* b, int n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

}  // namespace

void attention_forward_cpu(float* out, float* lse, const float* qkv, int B, int T, int C, int NH,
                           int threads) {
  const int hs = C / NH;
  const float scale = 1.0f / std::sqrt((float)hs);
  const size_t C3 = (size_t)C * 3;
  std::unique_ptr<float[]> scratch = alloc_scratch_floats((size_t)threads * T, "attention_forward");
#pragma omp parallel for collapse(3) num_threads(threads) schedule(dynamic, 16)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      for (int t = 0; t < T; t++) {
        float* p = scratch.get() + (size_t)omp_get_thread_num() * T;
        const float* q = qkv + ((size_t)b * T + t) * C3 + h * hs;
        float mx = -INFINITY;
        for (int s = 0; s <= t; s++) {
          const float* k = qkv + ((size_t)b * T + s) * C3 + C + h * hs;
          p[s] = dot(q, k, hs) * scale;
          mx = std::fmax(mx, p[s]);
        }
        float sum = 0;
        for (int s = 0; s <= t; s++) {
          p[s] = std::exp(p[s] - mx);
          sum += p[s];
        }
        const float inv = 1.0f / sum;
        float* o = out + ((size_t)b * T + t) * C + h * hs;
        for (int i = 0; i < hs; i++) o[i] = 0;
        for (int s = 0; s <= t; s++) {
          const float* v = qkv + ((size_t)b * T + s) * C3 + 2 * C + h * hs;
          const float w = p[s] * inv;
          for (int i = 0; i < hs; i++) o[i] += w * v[i];
        }
        lse[((size_t)b * NH + h) * T + t] = mx + std::log(sum);
      }
    }
  }
}

// With P_ts = exp(q_t.k_s * scale - lse_t), dP_ts = dout_t . v_s, D_t = dout_t . out_t and
// dS_ts = P_ts (dP_ts - D_t):
//   dq_t += scale * sum_{s<=t} dS_ts k_s;   dk_s += scale * sum_{t>=s} dS_ts q_t;
//   dv_s += sum_{t>=s} P_ts dout_t.
// Two passes so that every thread owns the rows it writes: queries by t, then keys/values by s.
void attention_backward_cpu(float* dqkv, const float* dout, const float* qkv, const float* out,
                            const float* lse, int B, int T, int C, int NH, int threads) {
  const int hs = C / NH;
  const float scale = 1.0f / std::sqrt((float)hs);
  const size_t C3 = (size_t)C * 3;
  std::unique_ptr<float[]> D = alloc_scratch_floats((size_t)B * NH * T, "attention_backward");  // (B,NH,T)
#pragma omp parallel for collapse(3) num_threads(threads) schedule(static)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const size_t row = ((size_t)b * T + t) * C + h * hs;
        D[((size_t)b * NH + h) * T + t] = dot(dout + row, out + row, hs);
      }

  // queries
#pragma omp parallel for collapse(3) num_threads(threads) schedule(dynamic, 16)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      for (int t = 0; t < T; t++) {
        const size_t bh = (size_t)b * NH + h;
        const float* q = qkv + ((size_t)b * T + t) * C3 + h * hs;
        const float* d = dout + ((size_t)b * T + t) * C + h * hs;
        float* dq = dqkv + ((size_t)b * T + t) * C3 + h * hs;
        const float l = lse[bh * T + t], Dt = D[bh * T + t];
        for (int s = 0; s <= t; s++) {
          const float* k = qkv + ((size_t)b * T + s) * C3 + C + h * hs;
          const float* v = k + C;
          const float P = std::exp(dot(q, k, hs) * scale - l);
          const float dS = P * (dot(d, v, hs) - Dt) * scale;
          for (int i = 0; i < hs; i++) dq[i] += dS * k[i];
        }
      }
    }
  }

  // keys and values
#pragma omp parallel for collapse(3) num_threads(threads) schedule(dynamic, 16)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      for (int s = 0; s < T; s++) {
        const size_t bh = (size_t)b * NH + h;
        const float* k = qkv + ((size_t)b * T + s) * C3 + C + h * hs;
        const float* v = k + C;
        float* dk = dqkv + ((size_t)b * T + s) * C3 + C + h * hs;
        float* dv = dk + C;
        for (int t = s; t < T; t++) {
          const float* q = qkv + ((size_t)b * T + t) * C3 + h * hs;
          const float* d = dout + ((size_t)b * T + t) * C + h * hs;
          const float P = std::exp(dot(q, k, hs) * scale - lse[bh * T + t]);
          const float dS = P * (dot(d, v, hs) - D[bh * T + t]) * scale;
          for (int i = 0; i < hs; i++) {
            dk[i] += dS * q[i];
            dv[i] += P * d[i];
          }
        }
      }
    }
  }
}

}  // namespace autoscale
