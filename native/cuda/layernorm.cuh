// LayerNorm on CUDA (eps = 1e-5).
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

constexpr float kLayerNormEps = 1e-5f;

// inp (N,C); weight, bias (C); out (N,C); mean, rstd (N) saved for backward
void layernorm_forward(cudaStream_t stream, float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, int N, int C);
// dinp (N,C) +=, dweight (C) +=, dbias (C) +=
void layernorm_backward(cudaStream_t stream, Workspace& ws, float* dinp, float* dweight, float* dbias,
                        const float* dout, const float* inp, const float* weight, const float* mean,
                        const float* rstd, int N, int C);

// Column sums used by LayerNorm's dweight/dbias and matmul's dbias, deterministic (fixed order):
// dsum (C) += sum_n x[n,c] * (norm ? (inp[n,c] - mean[n]) * rstd[n] : 1).
// Partial sums over row chunks go to the workspace, then one kernel adds them in order.
void column_sums(cudaStream_t stream, Workspace& ws, float* dsum_plain, float* dsum_normed,
                 const float* x, const float* inp, const float* mean, const float* rstd, int N, int C);

}  // namespace cuda
}  // namespace autoscale
