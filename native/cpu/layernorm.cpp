// LayerNorm over the last axis, eps = 1e-5.
// inp (N,C); weight, bias (C); out (N,C); mean, rstd (N) saved for the backward pass.
#include <cmath>

#include "ops.h"

namespace autoscale {

namespace {
constexpr float kEps = 1e-5f;
constexpr int kChannelBlock = 64;  // channels per task in the weight/bias gradient reduction

// One row: o = (x - mean) * rstd * weight + bias, mean and rstd returned.
inline void layernorm_row(float* o, float& mean, float& rstd, const float* x, const float* weight, const float* bias,
                          int C) {
  // Two passes (mean, then centred variance) for accuracy; double accumulators because a
  // row can be thousands of channels wide.
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int c = 0; c < C; c++) s += x[c];
  const float m = (float)(s / C);
  double v = 0;
#pragma omp simd reduction(+ : v)
  for (int c = 0; c < C; c++) {
    const float d = x[c] - m;
    v += (double)d * d;
  }
  const float r = (float)(1.0 / std::sqrt(v / C + kEps));
  for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * weight[c] + bias[c];
  mean = m;
  rstd = r;
}

}  // namespace

void layernorm_forward_cpu(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, int N, int C, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++)
    layernorm_row(out + (size_t)n * C, mean[n], rstd[n], inp + (size_t)n * C, weight, bias, C);
}

// res (N,C) = a + b, then out = LayerNorm(res): one pass over a and b, the row still in L1 for the
// normalisation. The same bits as residual_forward followed by layernorm_forward.
void residual_layernorm_forward_cpu(float* res, float* out, float* mean, float* rstd, const float* a, const float* b,
                                    const float* weight, const float* bias, int N, int C, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    float* r = res + (size_t)n * C;
    const float* x = a + (size_t)n * C;
    const float* y = b + (size_t)n * C;
#pragma omp simd
    for (int c = 0; c < C; c++) r[c] = x[c] + y[c];
    layernorm_row(out + (size_t)n * C, mean[n], rstd[n], r, weight, bias, C);
  }
}

// dout (N,C). dinp (N,C) +=, dweight (C) +=, dbias (C) +=.
void layernorm_backward_cpu(float* dinp, float* dweight, float* dbias, const float* dout,
                            const float* inp, const float* weight, const float* mean, const float* rstd,
                            int N, int C, int threads) {
  // dinp row by row: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    const float* x = inp + (size_t)n * C;
    const float* d = dout + (size_t)n * C;
    float* dx = dinp + (size_t)n * C;
    const float m = mean[n], r = rstd[n];
    double sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int c = 0; c < C; c++) {
      const float g = d[c] * weight[c];
      sg += g;
      sgx += (double)g * ((x[c] - m) * r);
    }
    const float mg = (float)(sg / C), mgx = (float)(sgx / C);
    for (int c = 0; c < C; c++) {
      const float xhat = (x[c] - m) * r;
      dx[c] += r * (d[c] * weight[c] - mg - xhat * mgx);
    }
  }
  // dweight, dbias: sums over rows. Each task owns a block of channels (no race), rows in order.
  const int nblocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int blk = 0; blk < nblocks; blk++) {
    const int c0 = blk * kChannelBlock, c1 = c0 + kChannelBlock < C ? c0 + kChannelBlock : C;
    float dw[kChannelBlock] = {0}, db[kChannelBlock] = {0};
    for (int n = 0; n < N; n++) {
      const float* x = inp + (size_t)n * C;
      const float* d = dout + (size_t)n * C;
      const float m = mean[n], r = rstd[n];
      for (int c = c0; c < c1; c++) {
        dw[c - c0] += d[c] * ((x[c] - m) * r);
        db[c - c0] += d[c];
      }
    }
    for (int c = c0; c < c1; c++) {
      dweight[c] += dw[c - c0];
      dbias[c] += db[c - c0];
    }
  }
}

}  // namespace autoscale
