// Matrix multiplication on CUDA: the three GEMMs of a Linear layer (forward, dinp, dweight),
// with cuBLASLt where it was found at build time (AUTOSCALE_WITH_CUBLASLT) and our own kernels
// otherwise: WMMA tensor cores for TF32/BF16 (fp32 accumulate), register-tiled SIMT for fp32,
// and a one-thread-per-output general kernel (K = 0, and the reference).
#pragma once
#include <memory>
#include <string>

#include "common.cuh"

namespace autoscale {
namespace cuda {

enum class Precision { Fp32, Tf32, Bf16 };
// "fp32" | "tf32" | "bf16"; throws NativeError(InvalidArgument) for anything else.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

// D(m,n) = sum_k A(m,k) B(k,n) (+ bias[n]) (+ D(m,n) when accumulate), all row-major fp32:
//   A(m,k) = a_kcontig ? A[m*lda + k] : A[k*lda + m]
//   B(k,n) = b_kcontig ? B[n*ldb + k] : B[k*ldb + n]
//   D(m,n) = D[m*ldd + n]
struct GemmArgs {
  const float* A = nullptr;
  int lda = 0;
  bool a_kcontig = true;
  const float* B = nullptr;
  int ldb = 0;
  bool b_kcontig = true;
  float* D = nullptr;
  int ldd = 0;
  const float* bias = nullptr;  // (N), nullable
  bool accumulate = false;
  int M = 0, N = 0, K = 0;
};

enum class GemmImpl { Own, CublasLt };

// Per-backend GEMM state: the implementation in use, the device's SM count (split-K),
// and the cuBLASLt handle, workspace and algorithm cache when compiled in.
class GemmEngine {
 public:
  virtual ~GemmEngine() = default;
  virtual GemmImpl impl() const = 0;
  virtual const char* impl_name() const = 0;
};
// impl_request: "" (the default: cuBLASLt when compiled in, else own), "own" or "cublaslt"
// (throws BackendUnavailable when cuBLASLt was not compiled in). Uses the current device.
std::unique_ptr<GemmEngine> make_gemm_engine(const std::string& impl_request);
bool cublaslt_compiled();

void gemm(cudaStream_t stream, GemmEngine& engine, Workspace& ws, Precision precision, const GemmArgs& args);
// The general kernel, one thread per output in fp32 (the obvious loop): gemm() runs it for K = 0
// (an empty sum), the reference (reference/matmul.cu) for every GEMM.
void gemm_general(cudaStream_t stream, const GemmArgs& args);

// inp (N,C); weight (OC,C); bias (OC) nullable; out (N,OC) = inp @ weight^T + bias
void matmul_forward(cudaStream_t stream, GemmEngine& engine, Workspace& ws, Precision precision, float* out,
                    const float* inp, const float* weight, const float* bias, int N, int C, int OC);
// dinp (N,C) += dout @ weight (nullable); dweight (OC,C) += dout^T @ inp; dbias (OC) += sum_n dout (nullable)
void matmul_backward(cudaStream_t stream, GemmEngine& engine, Workspace& ws, Precision precision, float* dinp,
                     float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                     int N, int C, int OC);

// The GEMMs of those two, shared with the reference: out = inp @ weight^T + bias;
// dinp += dout @ weight; dweight += dout^T @ inp.
GemmArgs matmul_forward_gemm(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                             int OC);
GemmArgs matmul_dinp_gemm(float* dinp, const float* dout, const float* weight, int N, int C, int OC);
GemmArgs matmul_dweight_gemm(float* dweight, const float* dout, const float* inp, int N, int C, int OC);

}  // namespace cuda
}  // namespace autoscale
