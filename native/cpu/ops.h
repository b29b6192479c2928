// The CPU ops behind CpuBackend, one family per file (encoder.cpp, layernorm.cpp, matmul.cpp,
// attention.cpp, gelu.cpp, softmax_ce.cpp, adamw.cpp). Shapes and semantics are those of
// backend.h: forward ops overwrite, backward ops accumulate (+=). `threads` is the OpenMP team
// size of every parallel region (>= 1).
//
// Every op is deterministic and gives the same bits for any `threads`: each output element is
// computed by one thread with a fixed summation order (no atomics, no thread-count-dependent
// reductions).
//
// Nothing here throws inside an OpenMP region (an exception escaping one terminates the process):
// scratch memory is taken before the region.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "../backend.h"

namespace autoscale {

// Host scratch memory kept between op calls: the CPU backend owns one (so one per model) and
// passes it to the ops that need scratch (GEMM packing, attention tiles). It grows to the largest
// request and is then reused, so a training step allocates nothing and faults in no fresh pages.
// An op called without one (nullptr: benchmarks, direct callers) uses a temporary arena.
class ScratchArena {
 public:
  ScratchArena() = default;
  ScratchArena(const ScratchArena&) = delete;
  ScratchArena& operator=(const ScratchArena&) = delete;
  ~ScratchArena();
  // n floats, 64-byte aligned, contents unspecified, valid until the next call. Throws
  // NativeError(OutOfMemory) naming the op and the byte count.
  float* floats(size_t n, const char* op);
  size_t capacity() const { return capacity_; }  // floats held

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

void encoder_forward_cpu(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                         int T, int C, int threads);
void encoder_backward_cpu(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                          int T, int C, int threads);

void layernorm_forward_cpu(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, int N, int C, int threads);
// res = a + b, out = LayerNorm(res) (mean, rstd saved): residual_forward + layernorm_forward fused
void residual_layernorm_forward_cpu(float* res, float* out, float* mean, float* rstd, const float* a, const float* b,
                                    const float* weight, const float* bias, int N, int C, int threads);
void layernorm_backward_cpu(float* dinp, float* dweight, float* dbias, const float* dout,
                            const float* inp, const float* weight, const float* mean, const float* rstd,
                            int N, int C, int threads);

// The GEMM's blocking on this machine and the cache sizes it was chosen from, for benchmarks.
std::string gemm_blocking_description();
// The GEMM's panel depth KC (from the L1d size, or AUTOSCALE_GEMM_CACHES / AUTOSCALE_GEMM_KC): every element of C is
// summed panel by panel, so KC fixes the order of the sums, and one binary gives other bits on a machine with another
// L1d. Part of the CPU runs' key (lib/pipeline/spec.ts).
int gemm_panel_depth();

void matmul_forward_cpu(float* out, const float* inp, const float* weight, const float* bias, int N,
                        int C, int OC, int threads, ScratchArena* scratch = nullptr);
// overwrite_dinp: dinp = dout @ weight instead of +=. dinp, dweight and dbias are each nullable (a benchmark times
// dinp alone with dweight null).
void matmul_backward_cpu(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, int N, int C, int OC, int threads, ScratchArena* scratch = nullptr,
                         bool overwrite_dinp = false);

void attention_forward_cpu(float* out, float* lse, const float* qkv, int B, int T, int C, int NH,
                           int threads, ScratchArena* scratch = nullptr);
void attention_backward_cpu(float* dqkv, const float* dout, const float* qkv, const float* out,
                            const float* lse, int B, int T, int C, int NH, int threads,
                            ScratchArena* scratch = nullptr);

void gelu_forward_cpu(float* out, const float* inp, size_t N, int threads);
// overwrite: dinp = gelu'(inp) * dout instead of +=
void gelu_backward_cpu(float* dinp, const float* inp, const float* dout, size_t N, int threads,
                       bool overwrite = false);

void softmax_cross_entropy_cpu(float* losses, float* dlogits, const float* logits,
                               const int32_t* targets, float dloss, int N, int V, int threads);

void adamw_update_cpu(float* params, const float* grads, float* m, float* v, size_t n, float lr,
                      float beta1, float beta2, float eps, float weight_decay, int step,
                      float grad_scale, int threads);
// The whole parameter block in one pass; spans (backend.h DecaySpan) in order, covering [0, n).
void adamw_update_spans_cpu(float* params, const float* grads, float* m, float* v, const DecaySpan* spans,
                            size_t nspans, float lr, float beta1, float beta2, float eps, float weight_decay,
                            int step, float grad_scale, int threads);

}  // namespace autoscale
