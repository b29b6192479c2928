// The reference CUDA kernels: slow, obvious versions of the ops (one thread per row, column or
// output, plain loops in a fixed order), kept out of the production files. Training never runs
// them; AUTOSCALE_CUDA_KERNELS=reference makes the backend run them instead of the production
// launchers (backend.cu, the one place that chooses), so the parity tests
// (test/native/cuda-parity.test.ts) check them against the CPU as they check the fast ones.
//
// What the reference runs, op by op (shapes as in the production headers):
//   encoder_forward          production's general kernel (encoder_forward_general)
//   encoder_backward         below: dwte serially per channel; dwpe production's
//   layernorm_forward/back.  below
//   matmul_forward/backward  below: every GEMM on production's general kernel (gemm_general)
//   attention_forward/back.  production's general kernels (attention_*_general)
//   gelu_forward/backward    production's general kernels (gelu_*_general)
//   residual_forward         production's general kernel (residual_forward_general)
//   softmax_cross_entropy    below
//   sum_squares              below
//   adamw_update             production's (one element per thread: already the obvious version)
// The general kernels are the production fallbacks for sizes, alignments or head sizes the fast
// kernels do not take, so they stay in the production files.
#pragma once
#include "cuda/common.cuh"

namespace autoscale {
namespace cuda {
namespace reference {

void encoder_backward(cudaStream_t stream, float* dwte, float* dwpe, const float* dout,
                      const int32_t* tokens, int B, int T, int C);

void layernorm_forward(cudaStream_t stream, float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, int N, int C);
void layernorm_backward(cudaStream_t stream, float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd, int N,
                        int C);

void matmul_forward(cudaStream_t stream, float* out, const float* inp, const float* weight, const float* bias,
                    int N, int C, int OC);
void matmul_backward(cudaStream_t stream, Workspace& ws, float* dinp, float* dweight, float* dbias,
                     const float* dout, const float* inp, const float* weight, int N, int C, int OC);

void softmax_cross_entropy(cudaStream_t stream, float* losses, float* dlogits, const float* logits,
                           const int32_t* targets, float dloss, int N, int V);

// Writes sum(x^2) over x (n), accumulated in double, to *result_device.
void sum_squares(cudaStream_t stream, double* result_device, const float* x, size_t n);

}  // namespace reference
}  // namespace cuda
}  // namespace autoscale
