// Reference LayerNorm on CUDA (eps = kLayerNormEps, as in production): one thread per row for
// the forward and for dinp, one thread per column (rows in order) for dweight and dbias.
#include "cuda/layernorm.cuh"
#include "cuda/reference/reference.cuh"

namespace autoscale {
namespace cuda {
namespace reference {

// ---- forward ----
__global__ void layernorm_forward_reference_kernel(float* out, float* mean, float* rstd,
                                                   const float* inp, const float* weight,
                                                   const float* bias, int N, int C) {
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const float* x = inp + (size_t)n * C;
  float m = 0.0f;
  for (int c = 0; c < C; c++) m += x[c];
  m /= C;
  float v = 0.0f;
  for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
  v /= C;
  float s = rsqrtf(v + kLayerNormEps);
  float* o = out + (size_t)n * C;
  for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];
  if (mean) mean[n] = m;
  if (rstd) rstd[n] = s;
}

void layernorm_forward(cudaStream_t stream, float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, int N, int C) {
  layernorm_forward_reference_kernel<<<ceil_div(N, 128), 128, 0, stream>>>(out, mean, rstd, inp,
                                                                          weight, bias, N, C);
  CUDA_CHECK_LAUNCH("layernorm_forward");
}

// ---- backward: dinp ----
// norm = (x - mean) * rstd; dnorm = dout * w;
// dinp += rstd * (dnorm - mean_c(dnorm) - norm * mean_c(dnorm * norm))
__global__ void layernorm_backward_dinp_reference_kernel(float* dinp, const float* dout,
                                                         const float* inp, const float* weight,
                                                         const float* mean, const float* rstd, int N,
                                                         int C) {
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const float* x = inp + (size_t)n * C;
  const float* dy = dout + (size_t)n * C;
  float m = mean[n], s = rstd[n];
  float a = 0.0f, b = 0.0f;
  for (int c = 0; c < C; c++) {
    float dn = dy[c] * weight[c];
    a += dn;
    b += dn * (x[c] - m) * s;
  }
  a /= C;
  b /= C;
  float* dx = dinp + (size_t)n * C;
  for (int c = 0; c < C; c++) {
    float norm = (x[c] - m) * s;
    dx[c] += s * (dy[c] * weight[c] - a - norm * b);
  }
}

// Reference dweight/dbias: one thread per column, rows in order.
__global__ void layernorm_backward_params_reference_kernel(float* dweight, float* dbias,
                                                           const float* dout, const float* inp,
                                                           const float* mean, const float* rstd,
                                                           int N, int C) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float dw = 0.0f, db = 0.0f;
  for (int n = 0; n < N; n++) {
    float dy = dout[(size_t)n * C + c];
    db += dy;
    dw += dy * (inp[(size_t)n * C + c] - mean[n]) * rstd[n];
  }
  dweight[c] += dw;
  dbias[c] += db;
}

void layernorm_backward(cudaStream_t stream, float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd, int N,
                        int C) {
  layernorm_backward_dinp_reference_kernel<<<ceil_div(N, 128), 128, 0, stream>>>(
      dinp, dout, inp, weight, mean, rstd, N, C);
  CUDA_CHECK_LAUNCH("layernorm_backward_dinp");
  layernorm_backward_params_reference_kernel<<<ceil_div(C, 128), 128, 0, stream>>>(
      dweight, dbias, dout, inp, mean, rstd, N, C);
  CUDA_CHECK_LAUNCH("layernorm_backward_params");
}

}  // namespace reference
}  // namespace cuda
}  // namespace autoscale
