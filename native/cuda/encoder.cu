// Token + position embedding on CUDA.
// Forward is a gather. Backward: dwpe is a deterministic sum over the batch (one thread per
// (t,c), b in order); dwte is a scatter-add with atomicAdd, because different positions may hold
// the same token. The atomics make dwte's last bits depend on scheduling (not bit-reproducible
// run to run); its large contribution, the tied LM head's matmul, is deterministic.
#include "encoder.cuh"

namespace autoscale {
namespace cuda {

// ---- general: one thread per output element ----
__global__ void encoder_forward_kernel(float* out, const int32_t* tokens, const float* wte,
                                                 const float* wpe, int B, int T, int C) {
  size_t total = (size_t)B * T * C;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t bt = i / C;
    int c = (int)(i % C);
    int t = (int)(bt % T);
    out[i] = wte[(size_t)tokens[bt] * C + c] + wpe[(size_t)t * C + c];
  }
}

// ---- fast: float4 along C (C % 4 == 0, aligned pointers) ----
__global__ void encoder_forward_vec4_kernel(float4* out, const int32_t* __restrict__ tokens,
                                            const float4* __restrict__ wte,
                                            const float4* __restrict__ wpe, int B, int T, int C4) {
  size_t total = (size_t)B * T * C4;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t bt = i / C4;
    int c = (int)(i % C4);
    int t = (int)(bt % T);
    float4 a = wte[(size_t)tokens[bt] * C4 + c];
    float4 p = wpe[(size_t)t * C4 + c];
    out[i] = make_float4(a.x + p.x, a.y + p.y, a.z + p.z, a.w + p.w);
  }
}

void encoder_forward_general(cudaStream_t stream, float* out, const int32_t* tokens, const float* wte,
                             const float* wpe, int B, int T, int C) {
  const unsigned block = 256;
  size_t n = (size_t)B * T * C;
  encoder_forward_kernel<<<grid_for(n, block), block, 0, stream>>>(out, tokens, wte, wpe,
                                                                             B, T, C);
  CUDA_CHECK_LAUNCH("encoder_forward");
}

void encoder_forward(cudaStream_t stream, float* out, const int32_t* tokens, const float* wte,
                     const float* wpe, int B, int T, int C) {
  const unsigned block = 256;
  if (C % 4 == 0 && aligned16(out, wte, wpe)) {
    size_t n = (size_t)B * T * (C / 4);
    encoder_forward_vec4_kernel<<<grid_for(n, block), block, 0, stream>>>(
        (float4*)out, tokens, (const float4*)wte, (const float4*)wpe, B, T, C / 4);
    CUDA_CHECK_LAUNCH("encoder_forward");
  } else {
    encoder_forward_general(stream, out, tokens, wte, wpe, B, T, C);
  }
}

// dwpe[t,c] += sum_b dout[b,t,c], in order of b (deterministic).
__global__ void encoder_backward_wpe_kernel(float* dwpe, const float* dout, int B, int T, int C) {
  size_t total = (size_t)T * C;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    float acc = 0.0f;
    for (int b = 0; b < B; b++) acc += dout[(size_t)b * total + i];
    dwpe[i] += acc;
  }
}

// dwte[token[b,t], c] += dout[b,t,c]: one thread per element, atomics for repeated tokens.
__global__ void encoder_backward_wte_kernel(float* dwte, const float* dout, const int32_t* tokens,
                                            int B, int T, int C) {
  size_t total = (size_t)B * T * C;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t bt = i / C;
    int c = (int)(i % C);
    atomicAdd(&dwte[(size_t)tokens[bt] * C + c], dout[i]);
  }
}

void encoder_backward_wpe(cudaStream_t stream, float* dwpe, const float* dout, int B, int T, int C) {
  const unsigned block = 256;
  size_t tc = (size_t)T * C;
  encoder_backward_wpe_kernel<<<grid_for(tc, block), block, 0, stream>>>(dwpe, dout, B, T, C);
  CUDA_CHECK_LAUNCH("encoder_backward_wpe");
}

void encoder_backward(cudaStream_t stream, float* dwte, float* dwpe, const float* dout,
                      const int32_t* tokens, int B, int T, int C) {
  const unsigned block = 256;
  encoder_backward_wpe(stream, dwpe, dout, B, T, C);
  size_t n = (size_t)B * T * C;
  encoder_backward_wte_kernel<<<grid_for(n, block), block, 0, stream>>>(dwte, dout, tokens, B, T, C);
  CUDA_CHECK_LAUNCH("encoder_backward_wte");
}

}  // namespace cuda
}  // namespace autoscale
