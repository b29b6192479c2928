// GELU on CUDA: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Elementwise; the fast kernels
// move float4s (N % 4 == 0 and aligned pointers), the general ones one element per thread.
#include "gelu.cuh"

namespace autoscale {
namespace cuda {

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)

__device__ __forceinline__ float gelu(float x) {
  float cube = 0.044715f * x * x * x;
  return 0.5f * x * (1.0f + tanhf(kGeluScale * (x + cube)));
}

__device__ __forceinline__ float gelu_grad(float x) {
  float cube = 0.044715f * x * x * x;
  float t = tanhf(kGeluScale * (x + cube));
  float sech2 = 1.0f - t * t;
  return 0.5f * (1.0f + t) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
}

__global__ void gelu_forward_kernel(float* out, const float* inp, size_t N) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
    out[i] = gelu(inp[i]);
}

__global__ void gelu_forward_vec4_kernel(float4* out, const float4* inp, size_t N4) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N4; i += (size_t)gridDim.x * blockDim.x) {
    float4 x = inp[i];
    out[i] = make_float4(gelu(x.x), gelu(x.y), gelu(x.z), gelu(x.w));
  }
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, size_t N) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
    dinp[i] += gelu_grad(inp[i]) * dout[i];
}

__global__ void gelu_backward_vec4_kernel(float4* dinp, const float4* inp, const float4* dout, size_t N4) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N4; i += (size_t)gridDim.x * blockDim.x) {
    float4 x = inp[i], d = dout[i], g = dinp[i];
    g.x += gelu_grad(x.x) * d.x;
    g.y += gelu_grad(x.y) * d.y;
    g.z += gelu_grad(x.z) * d.z;
    g.w += gelu_grad(x.w) * d.w;
    dinp[i] = g;
  }
}

void gelu_forward_general(cudaStream_t stream, float* out, const float* inp, size_t N) {
  if (N == 0) return;
  const unsigned block = 256;
  gelu_forward_kernel<<<grid_for(N, block), block, 0, stream>>>(out, inp, N);
  CUDA_CHECK_LAUNCH("gelu_forward");
}

void gelu_forward(cudaStream_t stream, float* out, const float* inp, size_t N) {
  if (N == 0) return;
  const unsigned block = 256;
  if (N % 4 == 0 && aligned16(out, inp)) {
    gelu_forward_vec4_kernel<<<grid_for(N / 4, block), block, 0, stream>>>((float4*)out, (const float4*)inp, N / 4);
    CUDA_CHECK_LAUNCH("gelu_forward");
  } else {
    gelu_forward_general(stream, out, inp, N);
  }
}

void gelu_backward_general(cudaStream_t stream, float* dinp, const float* inp, const float* dout, size_t N) {
  if (N == 0) return;
  const unsigned block = 256;
  gelu_backward_kernel<<<grid_for(N, block), block, 0, stream>>>(dinp, inp, dout, N);
  CUDA_CHECK_LAUNCH("gelu_backward");
}

void gelu_backward(cudaStream_t stream, float* dinp, const float* inp, const float* dout, size_t N) {
  if (N == 0) return;
  const unsigned block = 256;
  if (N % 4 == 0 && aligned16(dinp, inp, dout)) {
    gelu_backward_vec4_kernel<<<grid_for(N / 4, block), block, 0, stream>>>((float4*)dinp, (const float4*)inp,
                                                                            (const float4*)dout, N / 4);
    CUDA_CHECK_LAUNCH("gelu_backward");
  } else {
    gelu_backward_general(stream, dinp, inp, dout, N);
  }
}

}  // namespace cuda
}  // namespace autoscale
