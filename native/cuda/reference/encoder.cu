// Reference token + position embedding backward on CUDA. dwpe is production's (encoder.cu: one
// thread per (t,c), b in order, already deterministic and obvious); dwte is the serial kernel
// below instead of production's scatter-add with atomics. The forward's reference is
// production's general kernel (encoder_forward_general).
#include "cuda/encoder.cuh"
#include "cuda/reference/reference.cuh"

namespace autoscale {
namespace cuda {
namespace reference {

// Reference dwte: one thread per channel walks every position in order (serial, deterministic).
__global__ void encoder_backward_wte_reference_kernel(float* dwte, const float* dout,
                                                      const int32_t* tokens, int B, int T, int C) {
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
    for (size_t bt = 0; bt < (size_t)B * T; bt++) dwte[(size_t)tokens[bt] * C + c] += dout[bt * C + c];
  }
}

void encoder_backward(cudaStream_t stream, float* dwte, float* dwpe, const float* dout,
                      const int32_t* tokens, int B, int T, int C) {
  encoder_backward_wpe(stream, dwpe, dout, B, T, C);
  encoder_backward_wte_reference_kernel<<<ceil_div(C, 64), 64, 0, stream>>>(dwte, dout, tokens, B, T, C);
  CUDA_CHECK_LAUNCH("encoder_backward_wte");
}

}  // namespace reference
}  // namespace cuda
}  // namespace autoscale
