// The CPU backend: host memory (64-byte aligned), OpenMP threads, ops from native/cpu/*.cpp.
#include <omp.h>
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define AUTOSCALE_HAVE_MXCSR 1
#endif

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <utility>

#include "../backend.h"
#include "../status.h"
#include "ops.h"

namespace autoscale {

ScratchArena::~ScratchArena() { std::free(data_); }

float* ScratchArena::floats(size_t n, const char* op) {
  if (n <= capacity_ && data_) return data_;
  const size_t max_floats = (SIZE_MAX - 64) / sizeof(float);
  // grow by at least half again, so a few slightly larger requests do not each reallocate
  size_t want = n > capacity_ + capacity_ / 2 ? n : capacity_ + capacity_ / 2;
  if (want > max_floats) want = n;
  const size_t bytes = ((n > want ? n : want) * sizeof(float) + 63) / 64 * 64;
  void* p = n <= max_floats ? std::aligned_alloc(64, bytes ? bytes : 64) : nullptr;
  if (!p)
    throw NativeError(ErrorCode::OutOfMemory, std::string(op) + ": could not allocate " +
                                                  std::to_string(n * sizeof(float)) +
                                                  " bytes of host scratch memory");
  std::free(data_);
  data_ = static_cast<float*>(p);
  capacity_ = bytes / sizeof(float);
  return data_;
}

namespace {

constexpr size_t kAlignment = 64;   // one cache line, a full AVX-512 vector
constexpr size_t kSumBlock = 4096;  // elements per partial sum in sum_squares

void* aligned_host_alloc(size_t n, size_t elem_size) {
  if (n > (SIZE_MAX - kAlignment) / elem_size)
    throw NativeError(ErrorCode::OutOfMemory,
                      "cannot allocate " + std::to_string(n) + " elements of " +
                          std::to_string(elem_size) + " bytes: the size overflows");
  size_t bytes = n * elem_size;
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (bytes == 0) bytes = kAlignment;  // a valid, distinct pointer even for n = 0
  void* p = std::aligned_alloc(kAlignment, bytes);
  if (!p)
    throw NativeError(ErrorCode::OutOfMemory,
                      "the CPU backend could not allocate " + std::to_string(bytes) +
                          " bytes of host memory");
  return p;
}

// Denormal floats take a slow microcode path on x86 (tens to hundreds of cycles per operation);
// a GPT's tiny gradients and AdamW's v reach them. Every op runs with flush-to-zero and
// denormals-are-zero (MXCSR bits 15 and 6) and then restores the caller's mode, so the thread that
// called (Node's own threads included) keeps IEEE semantics. OpenMP worker threads are created
// by the calling thread while the mode is set and inherit it; a team made before (by other code
// on that thread) is switched once, in flush_team().
#if defined(AUTOSCALE_HAVE_MXCSR)
constexpr unsigned kFlushDenormals = 0x8040;
class DenormalsFlushed {
 public:
  DenormalsFlushed() : saved_(_mm_getcsr()) {
    if ((saved_ & kFlushDenormals) != kFlushDenormals) _mm_setcsr(saved_ | kFlushDenormals);
  }
  ~DenormalsFlushed() {
    if ((saved_ & kFlushDenormals) != kFlushDenormals) _mm_setcsr(saved_);
  }
  DenormalsFlushed(const DenormalsFlushed&) = delete;
  DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

 private:
  unsigned saved_;
};
#else
struct DenormalsFlushed {};  // other architectures: IEEE denormals (no FTZ/DAZ here)
#endif

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads) {}

  std::string name() const override { return "cpu"; }
  int threads() const override { return threads_; }

  float* alloc_floats(size_t n) override {
    return static_cast<float*>(aligned_host_alloc(n, sizeof(float)));
  }
  int32_t* alloc_ints(size_t n) override {
    return static_cast<int32_t*>(aligned_host_alloc(n, sizeof(int32_t)));
  }
  void free_floats(float* p) override { std::free(p); }
  void free_ints(int32_t* p) override { std::free(p); }
  void zero(float* p, size_t n) override {
    if (n) std::memset(p, 0, n * sizeof(float));
  }
  void upload_floats(float* dst, const float* host_src, size_t n) override {
    if (n) std::memcpy(dst, host_src, n * sizeof(float));
  }
  void download_floats(float* host_dst, const float* src, size_t n) override {
    if (n) std::memcpy(host_dst, src, n * sizeof(float));
  }
  void upload_ints(int32_t* dst, const int32_t* host_src, size_t n) override {
    if (n) std::memcpy(dst, host_src, n * sizeof(int32_t));
  }
  void synchronize() override {}

  void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                       int T, int C) override {
    const DenormalsFlushed flushed;
    flush_team();
    encoder_forward_cpu(out, tokens, wte, wpe, B, T, C, threads_);
  }
  void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                        int T, int C) override {
    const DenormalsFlushed flushed;
    flush_team();
    encoder_backward_cpu(dwte, dwpe, dout, tokens, B, T, C, threads_);
  }
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                         const float* bias, int N, int C) override {
    const DenormalsFlushed flushed;
    flush_team();
    layernorm_forward_cpu(out, mean, rstd, inp, weight, bias, N, C, threads_);
  }
  void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* a, const float* b,
                                  const float* weight, const float* bias, int N, int C) override {
    const DenormalsFlushed flushed;
    flush_team();
    residual_layernorm_forward_cpu(res, out, mean, rstd, a, b, weight, bias, N, C, threads_);
  }
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                          const float* inp, const float* weight, const float* mean, const float* rstd,
                          int N, int C) override {
    const DenormalsFlushed flushed;
    flush_team();
    layernorm_backward_cpu(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, threads_);
  }
  void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N,
                      int C, int OC) override {
    const DenormalsFlushed flushed;
    flush_team();
    matmul_forward_cpu(out, inp, weight, bias, N, C, OC, threads_, &scratch_);
  }
  void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                       const float* weight, int N, int C, int OC) override {
    const DenormalsFlushed flushed;
    flush_team();
    matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC, threads_, &scratch_);
  }
  void matmul_backward_overwrite(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const float* weight, int N, int C, int OC) override {
    const DenormalsFlushed flushed;
    flush_team();
    AUTOSCALE_CHECK(dinp != nullptr, "matmul_backward_overwrite: dinp is required");
    matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC, threads_, &scratch_, true);
  }
  void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C,
                         int NH) override {
    const DenormalsFlushed flushed;
    flush_team();
    AUTOSCALE_CHECK(NH > 0 && C % NH == 0, "attention_forward: NH must divide C");
    attention_forward_cpu(out, lse, qkv, B, T, C, NH, threads_, &scratch_);
  }
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                          const float* lse, int B, int T, int C, int NH) override {
    const DenormalsFlushed flushed;
    flush_team();
    AUTOSCALE_CHECK(NH > 0 && C % NH == 0, "attention_backward: NH must divide C");
    attention_backward_cpu(dqkv, dout, qkv, out, lse, B, T, C, NH, threads_, &scratch_);
  }
  void gelu_forward(float* out, const float* inp, size_t N) override {
    const DenormalsFlushed flushed;
    flush_team();
    gelu_forward_cpu(out, inp, N, threads_);
  }
  void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N) override {
    const DenormalsFlushed flushed;
    flush_team();
    gelu_backward_cpu(dinp, inp, dout, N, threads_);
  }
  void gelu_backward_overwrite(float* dinp, const float* inp, const float* dout, size_t N) override {
    const DenormalsFlushed flushed;
    flush_team();
    gelu_backward_cpu(dinp, inp, dout, N, threads_, true);
  }
  // residual_forward is one line: it lives here, not in a file of its own.
  void residual_forward(float* out, const float* a, const float* b, size_t N) override {
    const DenormalsFlushed flushed;
    flush_team();
#pragma omp parallel for simd num_threads(threads_) schedule(static)
    for (size_t i = 0; i < N; i++) out[i] = a[i] + b[i];
  }
  void softmax_cross_entropy(float* losses, float* dlogits, const float* logits,
                             const int32_t* targets, float dloss, int N, int V) override {
    const DenormalsFlushed flushed;
    flush_team();
    for (int n = 0; n < N; n++)
      AUTOSCALE_CHECK(targets[n] < V, "softmax_cross_entropy: target " + std::to_string(targets[n]) +
                                          " at row " + std::to_string(n) + " is not below V = " +
                                          std::to_string(V));
    softmax_cross_entropy_cpu(losses, dlogits, logits, targets, dloss, N, V, threads_);
  }
  // Partial sums over fixed blocks, added in block order: the same bits for any thread count.
  double sum_squares(const float* x, size_t n) override {
    const DenormalsFlushed flushed;
    flush_team();
    const size_t blocks = (n + kSumBlock - 1) / kSumBlock;
    std::unique_ptr<double[]> partial(new (std::nothrow) double[blocks ? blocks : 1]);
    if (!partial)
      throw NativeError(ErrorCode::OutOfMemory, "sum_squares: could not allocate " +
                                                    std::to_string(blocks * sizeof(double)) + " bytes");
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (size_t blk = 0; blk < blocks; blk++) {
      const size_t i0 = blk * kSumBlock, i1 = i0 + kSumBlock < n ? i0 + kSumBlock : n;
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (size_t i = i0; i < i1; i++) s += (double)x[i] * x[i];
      partial[blk] = s;
    }
    double total = 0;
    for (size_t blk = 0; blk < blocks; blk++) total += partial[blk];
    return total;
  }
  void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, float lr,
                    float beta1, float beta2, float eps, float weight_decay, int step,
                    float grad_scale) override {
    const DenormalsFlushed flushed;
    flush_team();
    AUTOSCALE_CHECK(step >= 1, "adamw_update: step starts at 1");
    adamw_update_cpu(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, step, grad_scale,
                     threads_);
  }

  void adamw_update_spans(float* params, const float* grads, float* m, float* v,
                          const std::vector<DecaySpan>& spans, float lr, float beta1, float beta2, float eps,
                          float weight_decay, int step, float grad_scale) override {
    const DenormalsFlushed flushed;
    flush_team();
    AUTOSCALE_CHECK(step >= 1, "adamw_update_spans: step starts at 1");
    adamw_update_spans_cpu(params, grads, m, v, spans.data(), spans.size(), lr, beta1, beta2, eps, weight_decay,
                           step, grad_scale, threads_);
  }

 private:
  // Sets FTZ/DAZ on the OpenMP team of the calling thread once (see DenormalsFlushed); the
  // calling thread itself is covered by the op's DenormalsFlushed.
  void flush_team() {
#if defined(AUTOSCALE_HAVE_MXCSR)
    if (threads_ < 2 || team_flushed_for_ == std::this_thread::get_id()) return;
#pragma omp parallel num_threads(threads_)
    _mm_setcsr(_mm_getcsr() | kFlushDenormals);
    team_flushed_for_ = std::this_thread::get_id();
#endif
  }

  int threads_;
  ScratchArena scratch_;  // GEMM packing and attention tiles, reused by every call
  std::thread::id team_flushed_for_;
};

}  // namespace

// The hardware threads this process may run on: its CPU affinity mask where the OS has one (a
// container or `taskset` limit shows there, not in hardware_concurrency), else all online ones.
int cpu_hardware_threads() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? (int)n : 1;
}

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options) {
  if (options.threads < 0)
    throw NativeError(ErrorCode::InvalidArgument,
                      "threads (" + std::to_string(options.threads) +
                          ") must be >= 0: use 0 for all hardware threads (" +
                          std::to_string(cpu_hardware_threads()) + " here)");
  const int threads = options.threads == 0 ? cpu_hardware_threads() : options.threads;
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace autoscale
