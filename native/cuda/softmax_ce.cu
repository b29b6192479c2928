// Fused softmax + cross-entropy on CUDA.
// One block per row. Pass 1 keeps a per-thread online (max, sum of exp) and combines them across
// the block; pass 2 writes the gradient. Each element is read and then written by the same
// thread, and the target's logit is read before the barrier that precedes any write, so dlogits
// may alias logits.
// A target >= V is a caller bug (the model validates tokens): its loss is NaN so it cannot pass
// unnoticed.
#include <cmath>

#include "softmax_ce.cuh"

namespace autoscale {
namespace cuda {

constexpr int kCeThreads = 512;

struct MaxSum {
  float m, s;
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  if (a.m == -INFINITY) return b;
  if (b.m == -INFINITY) return a;
  float m = fmaxf(a.m, b.m);
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__global__ void __launch_bounds__(kCeThreads)
    softmax_ce_kernel(float* losses, float* dlogits, const float* logits, const int32_t* targets, float dloss,
                      int V) {
  __shared__ MaxSum warp_parts[kCeThreads / 32];
  __shared__ MaxSum total;
  const int row = blockIdx.x;
  const float* x = logits + (size_t)row * V;
  float* dx = dlogits ? dlogits + (size_t)row * V : nullptr;
  const int target = targets[row];
  if (target < 0) {  // uniform across the block
    if (threadIdx.x == 0) losses[row] = 0.0f;
    if (dx)
      for (int i = threadIdx.x; i < V; i += blockDim.x) dx[i] = 0.0f;
    return;
  }
  MaxSum acc{-INFINITY, 0.0f};
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float v = x[i];
    if (v > acc.m) {
      acc.s = acc.s * expf(acc.m - v) + 1.0f;
      acc.m = v;
    } else {
      acc.s += expf(v - acc.m);
    }
  }
  const float x_target = (threadIdx.x == 0 && target < V) ? x[target] : NAN;  // before any write
  for (int off = 16; off > 0; off >>= 1) {
    MaxSum other{__shfl_xor_sync(0xffffffffu, acc.m, off), __shfl_xor_sync(0xffffffffu, acc.s, off)};
    acc = combine(acc, other);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_parts[warp] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    MaxSum t = warp_parts[0];
    for (int w = 1; w < (int)(blockDim.x / 32); w++) t = combine(t, warp_parts[w]);
    total = t;
  }
  __syncthreads();
  const float lse = total.m + logf(total.s);
  if (threadIdx.x == 0) losses[row] = lse - x_target;
  if (dx) {
    for (int i = threadIdx.x; i < V; i += blockDim.x) dx[i] = expf(x[i] - lse) * dloss;
    __syncthreads();
    if (threadIdx.x == 0 && target < V) dx[target] -= dloss;
  }
}

void softmax_cross_entropy(cudaStream_t stream, float* losses, float* dlogits, const float* logits,
                           const int32_t* targets, float dloss, int N, int V) {
  if (N <= 0) return;
  // Small vocabularies do not need 512 threads per row.
  int threads = V >= 4096 ? kCeThreads : V >= 1024 ? 256 : 128;
  softmax_ce_kernel<<<(unsigned)N, threads, 0, stream>>>(losses, dlogits, logits, targets, dloss, V);
  CUDA_CHECK_LAUNCH("softmax_cross_entropy");
}

}  // namespace cuda
}  // namespace autoscale
