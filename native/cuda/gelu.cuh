// GELU (tanh approximation, GPT-2) on CUDA.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// out (N) = gelu(inp)
void gelu_forward(cudaStream_t stream, float* out, const float* inp, size_t N);
// dinp (N) += gelu'(inp) * dout
void gelu_backward(cudaStream_t stream, float* dinp, const float* inp, const float* dout, size_t N);

// The general kernels, one element per thread (any N, any alignment): what the two above run
// where float4 does not apply, and what the reference runs for every size.
void gelu_forward_general(cudaStream_t stream, float* out, const float* inp, size_t N);
void gelu_backward_general(cudaStream_t stream, float* dinp, const float* inp, const float* dout, size_t N);

}  // namespace cuda
}  // namespace autoscale
