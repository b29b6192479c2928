// Token + position embedding on CUDA.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// tokens (B,T) int32 in [0,V); wte (V,C); wpe (maxT,C); out (B,T,C) = wte[token] + wpe[t]
void encoder_forward(cudaStream_t stream, KernelVariant variant, float* out, const int32_t* tokens,
                     const float* wte, const float* wpe, int B, int T, int C);
// dwte (V,C) += dout scattered by token; dwpe (maxT,C) += sum over b of dout
void encoder_backward(cudaStream_t stream, KernelVariant variant, float* dwte, float* dwpe,
                      const float* dout, const int32_t* tokens, int B, int T, int C);

}  // namespace cuda
}  // namespace autoscale
