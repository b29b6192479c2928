// Causal multi-head self-attention on CUDA, flash style: no (T,T) matrix in global memory;
// the forward saves only the log-sum-exp of each score row and the backward recomputes scores.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// qkv (B,T,3C) = [q | k | v]; head h uses channels [h*hs, (h+1)*hs), hs = C/NH.
// out (B,T,C); lse (B,NH,T) = log sum_{s<=t} exp(q_t.k_s / sqrt(hs))
void attention_forward(cudaStream_t stream, float* out, float* lse, const float* qkv, int B, int T, int C,
                       int NH);
// dqkv (B,T,3C) +=
void attention_backward(cudaStream_t stream, Workspace& ws, float* dqkv, const float* dout, const float* qkv,
                        const float* out, const float* lse, int B, int T, int C, int NH);

// Head sizes with a fast kernel; others run the general kernels.
bool attention_fast_head_size(int hs);

// The general kernels, one thread per row (any head size, any alignment): what the two above run
// where the fast kernels do not apply, and what the reference runs for every shape.
void attention_forward_general(cudaStream_t stream, float* out, float* lse, const float* qkv, int B, int T,
                               int C, int NH);
void attention_backward_general(cudaStream_t stream, Workspace& ws, float* dqkv, const float* dout,
                                const float* qkv, const float* out, const float* lse, int B, int T, int C,
                                int NH);

}  // namespace cuda
}  // namespace autoscale
