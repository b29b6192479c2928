// AdamW on CUDA: elementwise, one element per thread in a grid-stride loop (already the obvious
// version, so the reference runs it too). Bias corrections are computed on the host in double, as
// on the CPU.
#include <cmath>

#include "adamw.cuh"

namespace autoscale {
namespace cuda {

__global__ void adamw_kernel(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                             float* __restrict__ v, size_t n, float lr, float beta1, float beta2, float eps,
                             float weight_decay, float c1, float c2, float grad_scale) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const float g = grads[i] * grad_scale;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float mhat = mi * c1, vhat = vi * c2;
    const float p = params[i];
    params[i] = p - lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * p);
  }
}

void adamw_update(cudaStream_t stream, float* params, const float* grads, float* m, float* v, size_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int step, float grad_scale) {
  if (n == 0) return;
  const float c1 = (float)(1.0 / (1.0 - std::pow((double)beta1, step)));
  const float c2 = (float)(1.0 / (1.0 - std::pow((double)beta2, step)));
  const unsigned block = 256;
  adamw_kernel<<<grid_for(n, block), block, 0, stream>>>(params, grads, m, v, n, lr, beta1, beta2, eps,
                                                         weight_decay, c1, c2, grad_scale);
  CUDA_CHECK_LAUNCH("adamw_update");
}

}  // namespace cuda
}  // namespace autoscale
