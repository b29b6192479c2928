// The CUDA backend: device memory, one stream per backend, and the ops of backend.h launched on
// it (kernels in the per-op files of this folder). Discovery (cuda_devices) never fails: with no
// driver or no device it returns an empty list and cuda_unavailable_reason() says why; the addon
// links the CUDA runtime statically, so it loads on machines without a driver.
//
// Threads: the addon runs model work on libuv worker threads, and the current CUDA device is per
// host thread, so every public method first selects this backend's device (DeviceScope).
//
// Environment (read when a backend is created; for tests and benchmarks):
//   AUTOSCALE_CUDA_KERNELS = fast (default) | reference   the slow, obvious kernels of
//                                                          reference/ (reference/reference.cuh
//                                                          lists what runs for each op)
//   AUTOSCALE_CUDA_GEMM    = own | cublaslt               GEMM implementation (default: cuBLASLt
//                                                          when it was compiled in, else own)
//   AUTOSCALE_CUDA_MATMUL_PRECISION = fp32 | tf32 | bf16  overrides options.matmul_precision (the
//                                                          op-level parity tests go through runOp,
//                                                          which has no precision option)
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "adamw.cuh"
#include "attention.cuh"
#include "backend.h"
#include "common.cuh"
#include "encoder.cuh"
#include "gelu.cuh"
#include "layernorm.cuh"
#include "matmul.cuh"
#include "reductions.cuh"
#include "reference/reference.cuh"
#include "residual.cuh"
#include "softmax_ce.cuh"

namespace autoscale {
namespace cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::string message = std::string(call) + " failed: " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) +
                        ") at " + file + ":" + std::to_string(line);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the backend stays usable
    throw NativeError(ErrorCode::OutOfMemory, "CUDA out of memory: " + message);
  }
  throw NativeError(ErrorCode::Cuda, message);
}

namespace {

std::string env_string(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// True for AUTOSCALE_CUDA_KERNELS=reference: the backend then runs the reference kernels.
bool reference_kernels_from_env() {
  std::string v = env_string("AUTOSCALE_CUDA_KERNELS");
  if (v.empty() || v == "fast") return false;
  if (v == "reference") return true;
  throw NativeError(ErrorCode::InvalidArgument,
                    "AUTOSCALE_CUDA_KERNELS must be \"fast\" or \"reference\", got \"" + v + "\"");
}

Precision precision_for(const BackendOptions& options) {
  std::string forced = env_string("AUTOSCALE_CUDA_MATMUL_PRECISION");
  return parse_precision(forced.empty() ? options.matmul_precision : forced);
}

// Selects a device for the current host thread for the lifetime of a scope.
struct DeviceScope {
  explicit DeviceScope(int device) { CUDA_CHECK(cudaSetDevice(device)); }
};

// Device scratch memory: one buffer that grows to the largest request (it never shrinks).
class DeviceWorkspace : public Workspace {
 public:
  explicit DeviceWorkspace(cudaStream_t stream) : stream_(stream) {}
  ~DeviceWorkspace() override {
    if (ptr_) cudaFree(ptr_);
  }
  void* get(size_t bytes) override {
    if (bytes <= size_) return ptr_;
    // Earlier kernels on the stream may still read the old buffer.
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (ptr_) CUDA_CHECK(cudaFree(ptr_));
    ptr_ = nullptr;
    size_ = 0;
    size_t grown = bytes + bytes / 4;  // headroom against a series of slightly larger requests
    CUDA_CHECK(cudaMalloc(&ptr_, grown));
    size_ = grown;
    return ptr_;
  }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

// Each op runs the production launcher (native/cuda/<op>.cu), or with reference_ the reference
// one (reference/reference.cuh): the only place the two meet.
class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options)
      : device_(options.device), precision_(precision_for(options)),
        reference_(reference_kernels_from_env()) {
    DeviceScope scope(device_);
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    try {
      workspace_ = std::make_unique<DeviceWorkspace>(stream_);
      gemm_ = make_gemm_engine(env_string("AUTOSCALE_CUDA_GEMM"));
      CUDA_CHECK(cudaMalloc(&result_device_, sizeof(double)));
      CUDA_CHECK(cudaMallocHost(&result_host_, sizeof(double)));
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaBackend() override { release(); }

  std::string name() const override { return "cuda"; }
  int threads() const override { return 1; }

  // ---- memory ----
  float* alloc_floats(size_t n) override { return static_cast<float*>(alloc_bytes(n, sizeof(float))); }
  int32_t* alloc_ints(size_t n) override { return static_cast<int32_t*>(alloc_bytes(n, sizeof(int32_t))); }
  // Never throws (called from destructors); a failure here surfaces at the next checked call.
  void free_floats(float* p) override { free_bytes(p); }
  void free_ints(int32_t* p) override { free_bytes(p); }
  void zero(float* p, size_t n) override {
    if (n == 0) return;
    DeviceScope scope(device_);
    CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), stream_));
  }
  void upload_floats(float* dst, const float* host_src, size_t n) override {
    copy_to_device(dst, host_src, n * sizeof(float));
  }
  void upload_ints(int32_t* dst, const int32_t* host_src, size_t n) override {
    copy_to_device(dst, host_src, n * sizeof(int32_t));
  }
  void download_floats(float* host_dst, const float* src, size_t n) override {
    if (n == 0) return;
    DeviceScope scope(device_);
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void synchronize() override {
    DeviceScope scope(device_);
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // ---- ops ----
  void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B, int T,
                       int C) override {
    DeviceScope scope(device_);
    if (reference_) cuda::encoder_forward_general(stream_, out, tokens, wte, wpe, B, T, C);
    else cuda::encoder_forward(stream_, out, tokens, wte, wpe, B, T, C);
  }
  void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B, int T,
                        int C) override {
    DeviceScope scope(device_);
    if (reference_) reference::encoder_backward(stream_, dwte, dwpe, dout, tokens, B, T, C);
    else cuda::encoder_backward(stream_, dwte, dwpe, dout, tokens, B, T, C);
  }
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                         const float* bias, int N, int C) override {
    DeviceScope scope(device_);
    if (reference_) reference::layernorm_forward(stream_, out, mean, rstd, inp, weight, bias, N, C);
    else cuda::layernorm_forward(stream_, out, mean, rstd, inp, weight, bias, N, C);
  }
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, const float* mean, const float* rstd, int N, int C) override {
    DeviceScope scope(device_);
    if (reference_) reference::layernorm_backward(stream_, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    else cuda::layernorm_backward(stream_, *workspace_, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
  }
  void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                      int OC) override {
    DeviceScope scope(device_);
    if (reference_) reference::matmul_forward(stream_, out, inp, weight, bias, N, C, OC);
    else cuda::matmul_forward(stream_, *gemm_, *workspace_, precision_, out, inp, weight, bias, N, C, OC);
  }
  void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                       const float* weight, int N, int C, int OC) override {
    DeviceScope scope(device_);
    if (reference_)
      reference::matmul_backward(stream_, *workspace_, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    else
      cuda::matmul_backward(stream_, *gemm_, *workspace_, precision_, dinp, dweight, dbias, dout, inp, weight, N,
                            C, OC);
  }
  void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int NH) override {
    DeviceScope scope(device_);
    if (reference_) cuda::attention_forward_general(stream_, out, lse, qkv, B, T, C, NH);
    else cuda::attention_forward(stream_, out, lse, qkv, B, T, C, NH);
  }
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                          int B, int T, int C, int NH) override {
    DeviceScope scope(device_);
    if (reference_) cuda::attention_backward_general(stream_, *workspace_, dqkv, dout, qkv, out, lse, B, T, C, NH);
    else cuda::attention_backward(stream_, *workspace_, dqkv, dout, qkv, out, lse, B, T, C, NH);
  }
  void gelu_forward(float* out, const float* inp, size_t N) override {
    DeviceScope scope(device_);
    if (reference_) cuda::gelu_forward_general(stream_, out, inp, N);
    else cuda::gelu_forward(stream_, out, inp, N);
  }
  void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N) override {
    DeviceScope scope(device_);
    if (reference_) cuda::gelu_backward_general(stream_, dinp, inp, dout, N);
    else cuda::gelu_backward(stream_, dinp, inp, dout, N);
  }
  void residual_forward(float* out, const float* a, const float* b, size_t N) override {
    DeviceScope scope(device_);
    if (reference_) cuda::residual_forward_general(stream_, out, a, b, N);
    else cuda::residual_forward(stream_, out, a, b, N);
  }
  void softmax_cross_entropy(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                             float dloss, int N, int V) override {
    DeviceScope scope(device_);
    if (reference_) reference::softmax_cross_entropy(stream_, losses, dlogits, logits, targets, dloss, N, V);
    else cuda::softmax_cross_entropy(stream_, losses, dlogits, logits, targets, dloss, N, V);
  }
  double sum_squares(const float* x, size_t n) override {
    DeviceScope scope(device_);
    if (reference_) reference::sum_squares(stream_, result_device_, x, n);
    else cuda::sum_squares(stream_, *workspace_, result_device_, x, n);
    CUDA_CHECK(cudaMemcpyAsync(result_host_, result_device_, sizeof(double), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return *result_host_;
  }
  void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int step, float grad_scale) override {
    DeviceScope scope(device_);
    cuda::adamw_update(stream_, params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, step, grad_scale);
  }

 private:
  void* alloc_bytes(size_t n, size_t elem) {
    DeviceScope scope(device_);
    if (n > (SIZE_MAX / 2) / elem)
      throw NativeError(ErrorCode::OutOfMemory, "cannot allocate " + std::to_string(n) + " elements on the GPU: the size overflows");
    size_t bytes = (n == 0 ? 1 : n) * elem;  // a valid, distinct pointer even for n = 0
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      throw NativeError(ErrorCode::OutOfMemory,
                        "CUDA out of memory: could not allocate " + std::to_string(bytes) + " bytes on device #" +
                            std::to_string(device_) + " (" + std::to_string(free_bytes >> 20) + " MiB free of " +
                            std::to_string(total_bytes >> 20) + " MiB)");
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    return p;
  }
  void free_bytes(void* p) {
    if (!p) return;
    if (cudaSetDevice(device_) == cudaSuccess) cudaFree(p);
  }
  void copy_to_device(void* dst, const void* host_src, size_t bytes) {
    if (bytes == 0) return;
    DeviceScope scope(device_);
    // From pageable memory the call returns once the source has been staged: the caller may
    // reuse host_src at once.
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  }
  void release() noexcept {
    if (cudaSetDevice(device_) != cudaSuccess) return;
    if (stream_) cudaStreamSynchronize(stream_);
    gemm_.reset();
    workspace_.reset();
    if (result_device_) cudaFree(result_device_);
    if (result_host_) cudaFreeHost(result_host_);
    if (stream_) cudaStreamDestroy(stream_);
    result_device_ = nullptr;
    result_host_ = nullptr;
    stream_ = nullptr;
  }

  int device_;
  Precision precision_;
  const bool reference_;  // AUTOSCALE_CUDA_KERNELS=reference
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<DeviceWorkspace> workspace_;
  std::unique_ptr<GemmEngine> gemm_;
  double* result_device_ = nullptr;
  double* result_host_ = nullptr;
};

// cudaGetDeviceCount, with a reason when it fails or finds nothing.
int device_count(std::string* reason) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (reason)
      *reason = std::string("no usable CUDA driver or device: cudaGetDeviceCount failed: ") + cudaGetErrorString(err) +
                " (" + cudaGetErrorName(err) + ")";
    return 0;
  }
  if (count == 0 && reason) *reason = "no CUDA device found";
  return count;
}

}  // namespace
}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  std::string reason;
  int count = cuda::device_count(&reason);
  if (count == 0) throw NativeError(ErrorCode::BackendUnavailable, "the CUDA backend is unavailable: " + reason);
  if (options.device < 0 || options.device >= count)
    throw NativeError(ErrorCode::BackendUnavailable,
                      "CUDA device index " + std::to_string(options.device) + " does not exist: this machine has " +
                          std::to_string(count) + " CUDA device(s), indices 0.." + std::to_string(count - 1));
  cuda::precision_for(options);  // InvalidArgument before touching the device
  return std::make_unique<cuda::CudaBackend>(options);
}

bool cuda_compiled() { return true; }

std::vector<DeviceInfo> cuda_devices() {
  std::vector<DeviceInfo> devices;
  int count = cuda::device_count(nullptr);
  for (int i = 0; i < count; i++) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    DeviceInfo info;
    info.index = i;
    info.name = prop.name;
    info.total_memory = prop.totalGlobalMem;
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    devices.push_back(info);
  }
  return devices;
}

std::string cuda_unavailable_reason() {
  std::string reason;
  cuda::device_count(&reason);
  return reason;
}

}  // namespace autoscale
