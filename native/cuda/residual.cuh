// Residual connections on CUDA: out = a + b.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// out (N) = a + b (out may alias a or b)
void residual_forward(cudaStream_t stream, float* out, const float* a, const float* b, size_t N);
// The general kernel, one element per thread (any N, any alignment): what residual_forward runs
// where float4 does not apply, and what the reference runs for every size.
void residual_forward_general(cudaStream_t stream, float* out, const float* a, const float* b, size_t N);

}  // namespace cuda
}  // namespace autoscale
