// Sum of squares in double on CUDA.
// A fixed number of blocks (a function of n only, never of the device) each reduce a
// grid-strided share in double (warp shuffles, then shared memory), then one block adds the
// partials in order: the result is the same on every run and every GPU.
#include "reductions.cuh"

namespace autoscale {
namespace cuda {

constexpr int kSumThreads = 256;
constexpr int kSumMaxBlocks = 1024;

__device__ double block_sum(double v) {
  __shared__ double parts[kSumThreads / 32];
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) parts[warp] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0)
    for (int w = 0; w < kSumThreads / 32; w++) total += parts[w];
  return total;  // valid in thread 0
}

__global__ void __launch_bounds__(kSumThreads) sum_squares_partial_kernel(double* partials, const float* x, size_t n) {
  double acc = 0.0;
  for (size_t i = blockIdx.x * (size_t)kSumThreads + threadIdx.x; i < n; i += (size_t)gridDim.x * kSumThreads) {
    double v = x[i];
    acc += v * v;
  }
  double total = block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

__global__ void __launch_bounds__(kSumThreads) sum_partials_kernel(double* result, const double* partials, int count) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += kSumThreads) acc += partials[i];
  double total = block_sum(acc);
  if (threadIdx.x == 0) *result = total;
}

void sum_squares(cudaStream_t stream, Workspace& ws, double* result_device, const float* x, size_t n) {
  int blocks = (int)ceil_div(n, (size_t)kSumThreads * 16);
  if (blocks < 1) blocks = 1;
  if (blocks > kSumMaxBlocks) blocks = kSumMaxBlocks;
  double* partials = (double*)ws.get(sizeof(double) * blocks);
  sum_squares_partial_kernel<<<blocks, kSumThreads, 0, stream>>>(partials, x, n);
  CUDA_CHECK_LAUNCH("sum_squares_partial");
  sum_partials_kernel<<<1, kSumThreads, 0, stream>>>(result_device, partials, blocks);
  CUDA_CHECK_LAUNCH("sum_partials");
}

}  // namespace cuda
}  // namespace autoscale
