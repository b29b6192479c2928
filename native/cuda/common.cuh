// Shared pieces of the CUDA backend: the error-check macros (they THROW NativeError, never
// exit or abort: we live inside someone's Node process), launch helpers, warp reductions and
// the workspace that ops borrow scratch memory from.
//
// Every op family has its own header/source pair (encoder, layernorm, matmul, attention, gelu,
// residual, softmax_ce, adamw, reductions) holding what training runs: the fast kernels and the
// general ones they fall back to for sizes, alignments or head sizes the fast ones do not take.
// The slow, obvious reference kernels live apart, in reference/ (as llm.c keeps its in dev/cuda/);
// AUTOSCALE_CUDA_KERNELS=reference makes the backend run them (backend.cu, the one place that
// chooses), so the parity tests check both against the CPU.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "status.h"

namespace autoscale {
namespace cuda {

// Throws NativeError(Cuda) or, for an allocation failure, NativeError(OutOfMemory).
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

#define CUDA_CHECK(call)                                                          \
  do {                                                                            \
    cudaError_t autoscale_cuda_err_ = (call);                                     \
    if (autoscale_cuda_err_ != cudaSuccess)                                       \
      ::autoscale::cuda::throw_cuda_error(autoscale_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports a bad launch configuration at once (asynchronous faults show up
// at the next synchronising call, which is checked too).
#define CUDA_CHECK_LAUNCH(name) CUDA_CHECK(cudaGetLastError())

inline unsigned ceil_div(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

// 16-byte alignment of every pointer: the float4 paths need it (and sizes divisible by 4).
inline bool aligned16(const void* p) { return ((uintptr_t)p & 15u) == 0; }
template <typename... Ps>
inline bool aligned16(const void* p, Ps... rest) {
  return aligned16(p) && aligned16(rest...);
}

// Device scratch memory owned by the backend. All ops of one backend run in order on its one
// stream, so one growing buffer serves every op; an op that needs several regions carves them
// out of one request. Contents are unspecified.
class Workspace {
 public:
  virtual ~Workspace() = default;
  virtual void* get(size_t bytes) = 0;
};

// Grid-stride loops keep launches within the grid limits for any n.
inline unsigned grid_for(size_t n, unsigned block, unsigned max_blocks = 65535u * 8u) {
  size_t g = (n + block - 1) / block;
  if (g < 1) g = 1;
  if (g > max_blocks) g = max_blocks;
  return (unsigned)g;
}

#ifdef __CUDACC__
__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
#endif

}  // namespace cuda
}  // namespace autoscale
