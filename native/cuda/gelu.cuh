// GELU (tanh approximation, GPT-2) on CUDA.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// out (N) = gelu(inp)
void gelu_forward(cudaStream_t stream, KernelVariant variant, float* out, const float* inp, size_t N);
// dinp (N) += gelu'(inp) * dout
void gelu_backward(cudaStream_t stream, KernelVariant variant, float* dinp, const float* inp, const float* dout,
                   size_t N);

}  // namespace cuda
}  // namespace autoscale
