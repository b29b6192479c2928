// Residual connections on CUDA. Elementwise (each element read then written by one thread, so
// out may alias a or b): float4 when sizes and pointers allow, else one element per thread.
#include "residual.cuh"

namespace autoscale {
namespace cuda {

__global__ void residual_forward_kernel(float* out, const float* a, const float* b, size_t N) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
    out[i] = a[i] + b[i];
}

__global__ void residual_forward_vec4_kernel(float4* out, const float4* a, const float4* b, size_t N4) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N4; i += (size_t)gridDim.x * blockDim.x) {
    float4 x = a[i], y = b[i];
    out[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
  }
}

void residual_forward_general(cudaStream_t stream, float* out, const float* a, const float* b, size_t N) {
  if (N == 0) return;
  const unsigned block = 256;
  residual_forward_kernel<<<grid_for(N, block), block, 0, stream>>>(out, a, b, N);
  CUDA_CHECK_LAUNCH("residual_forward");
}

void residual_forward(cudaStream_t stream, float* out, const float* a, const float* b, size_t N) {
  if (N == 0) return;
  const unsigned block = 256;
  if (N % 4 == 0 && aligned16(out, a, b)) {
    residual_forward_vec4_kernel<<<grid_for(N / 4, block), block, 0, stream>>>((float4*)out, (const float4*)a,
                                                                               (const float4*)b, N / 4);
    CUDA_CHECK_LAUNCH("residual_forward");
  } else {
    residual_forward_general(stream, out, a, b, N);
  }
}

}  // namespace cuda
}  // namespace autoscale
