// Token + position embedding on CUDA.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// tokens (B,T) int32 in [0,V); wte (V,C); wpe (maxT,C); out (B,T,C) = wte[token] + wpe[t]
void encoder_forward(cudaStream_t stream, float* out, const int32_t* tokens, const float* wte,
                     const float* wpe, int B, int T, int C);
// dwte (V,C) += dout scattered by token; dwpe (maxT,C) += sum over b of dout
void encoder_backward(cudaStream_t stream, float* dwte, float* dwpe, const float* dout,
                      const int32_t* tokens, int B, int T, int C);

// The parts the reference (reference/encoder.cu) shares with production:
// encoder_forward's general kernel, one thread per element (any C, any alignment);
void encoder_forward_general(cudaStream_t stream, float* out, const int32_t* tokens, const float* wte,
                             const float* wpe, int B, int T, int C);
// dwpe (maxT,C) += sum over b of dout, b in order (deterministic).
void encoder_backward_wpe(cudaStream_t stream, float* dwpe, const float* dout, int B, int T, int C);

}  // namespace cuda
}  // namespace autoscale
