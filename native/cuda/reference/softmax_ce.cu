// Reference fused softmax + cross-entropy on CUDA: one thread per row, three plain loops.
// A target >= V gives a NaN loss, as in production (softmax_ce.cu).
#include <cmath>

#include "cuda/reference/reference.cuh"

namespace autoscale {
namespace cuda {
namespace reference {

__global__ void softmax_ce_reference_kernel(float* losses, float* dlogits, const float* logits,
                                            const int32_t* targets, float dloss, int N, int V) {
  int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= N) return;
  const float* x = logits + (size_t)row * V;
  float* dx = dlogits ? dlogits + (size_t)row * V : nullptr;
  int target = targets[row];
  if (target < 0) {
    losses[row] = 0.0f;
    if (dx)
      for (int i = 0; i < V; i++) dx[i] = 0.0f;
    return;
  }
  float mx = -INFINITY;
  for (int i = 0; i < V; i++) mx = fmaxf(mx, x[i]);
  float sum = 0.0f;
  for (int i = 0; i < V; i++) sum += expf(x[i] - mx);
  float lse = mx + logf(sum);
  losses[row] = target < V ? lse - x[target] : NAN;
  if (dx) {
    for (int i = 0; i < V; i++) dx[i] = expf(x[i] - lse) * dloss;
    if (target < V) dx[target] -= dloss;
  }
}

void softmax_cross_entropy(cudaStream_t stream, float* losses, float* dlogits, const float* logits,
                           const int32_t* targets, float dloss, int N, int V) {
  if (N <= 0) return;
  softmax_ce_reference_kernel<<<ceil_div(N, 64), 64, 0, stream>>>(losses, dlogits, logits, targets, dloss, N, V);
  CUDA_CHECK_LAUNCH("softmax_cross_entropy");
}

}  // namespace reference
}  // namespace cuda
}  // namespace autoscale
