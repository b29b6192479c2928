// Reference matmul on CUDA: every GEMM of a Linear layer on production's general kernel (one
// thread per output, fp32, the obvious loop; matmul.cu's gemm_general), whatever the matmul
// precision or GEMM implementation; dbias is production's fixed-order column sum.
#include "cuda/layernorm.cuh"
#include "cuda/matmul.cuh"
#include "cuda/reference/reference.cuh"

namespace autoscale {
namespace cuda {
namespace reference {

void matmul_forward(cudaStream_t stream, float* out, const float* inp, const float* weight, const float* bias,
                    int N, int C, int OC) {
  gemm_general(stream, matmul_forward_gemm(out, inp, weight, bias, N, C, OC));
}

void matmul_backward(cudaStream_t stream, Workspace& ws, float* dinp, float* dweight, float* dbias,
                     const float* dout, const float* inp, const float* weight, int N, int C, int OC) {
  if (dinp) gemm_general(stream, matmul_dinp_gemm(dinp, dout, weight, N, C, OC));
  gemm_general(stream, matmul_dweight_gemm(dweight, dout, inp, N, C, OC));
  if (dbias) column_sums(stream, ws, dbias, nullptr, dout, nullptr, nullptr, nullptr, N, OC);
}

}  // namespace reference
}  // namespace cuda
}  // namespace autoscale
