// Residual connections on CUDA: out = a + b.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// out (N) = a + b (out may alias a or b)
void residual_forward(cudaStream_t stream, KernelVariant variant, float* out, const float* a, const float* b,
                      size_t N);

}  // namespace cuda
}  // namespace autoscale
