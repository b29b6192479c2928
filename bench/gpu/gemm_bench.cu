// GEMM benchmark: our kernels (WMMA TF32/BF16, SIMT fp32) against cuBLASLt (when compiled in) on
// the GEMMs of a GPT-2 training step, with the slow general kernel (gemm_general, one thread per
// output in fp32: the reference's GEMM) as the correctness check.
// Built by CMake as the optional target autoscale_gemm_bench (scripts/device-check.sh builds and
// runs it). Prints one JSON object per line:
//   {"op","M","N","K","impl","precision","ms","tflops","max_rel_err"}
// max_rel_err: max |fast - reference| / max |reference| over the output (reference = fp32);
// -1 where the reference was skipped (products above 2e11 FLOPs).
//
//   autoscale_gemm_bench [rows=16384] [width=768] [vocab=50257] [iterations=20]
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/matmul.cuh"

using namespace autoscale;
using namespace autoscale::cuda;

namespace {

class BenchWorkspace : public Workspace {
 public:
  ~BenchWorkspace() override {
    if (ptr_) cudaFree(ptr_);
  }
  void* get(size_t bytes) override {
    if (bytes <= size_) return ptr_;
    CUDA_CHECK(cudaDeviceSynchronize());
    if (ptr_) CUDA_CHECK(cudaFree(ptr_));
    CUDA_CHECK(cudaMalloc(&ptr_, bytes));
    size_ = bytes;
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

__global__ void fill_kernel(float* x, size_t n, uint32_t seed, float scale) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    x[i] = scale * ((h & 0xffffff) / 16777216.0f - 0.5f);
  }
}

float* random_buffer(size_t n, uint32_t seed, float scale) {
  float* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, n * sizeof(float)));
  fill_kernel<<<1024, 256>>>(p, n, seed, scale);
  CUDA_CHECK(cudaGetLastError());
  return p;
}

double max_rel_err(const float* a_dev, const float* b_dev, size_t n) {
  std::vector<float> a(n), b(n);
  CUDA_CHECK(cudaMemcpy(a.data(), a_dev, n * sizeof(float), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(b.data(), b_dev, n * sizeof(float), cudaMemcpyDeviceToHost));
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < n; i++) {
    max_diff = std::fmax(max_diff, std::fabs((double)a[i] - b[i]));
    max_ref = std::fmax(max_ref, std::fabs((double)b[i]));
  }
  return max_diff / (max_ref > 0 ? max_ref : 1);
}

struct Shape {
  const char* op;  // forward: out = inp W^T; dinp: dout W; dweight: dout^T inp
  const char* layer;
  int N, C, OC;
};

}  // namespace

int main(int argc, char** argv) {
  const int rows = argc > 1 ? std::atoi(argv[1]) : 16384;
  const int C = argc > 2 ? std::atoi(argv[2]) : 768;
  const int V = argc > 3 ? std::atoi(argv[3]) : 50257;
  const int iterations = argc > 4 ? std::atoi(argv[4]) : 20;
  try {
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreate(&stream));
    BenchWorkspace ws;
    std::vector<std::string> impls = {"own"};
    if (cublaslt_compiled()) impls.push_back("cublaslt");
    const Shape layers[] = {{"", "qkv", rows, C, 3 * C},
                            {"", "attproj", rows, C, C},
                            {"", "fc", rows, C, 4 * C},
                            {"", "fcproj", rows, 4 * C, C},
                            {"", "lm_head", rows, C, V}};
    for (const Shape& s : layers) {
      float* inp = random_buffer((size_t)s.N * s.C, 1, 2.0f);
      float* weight = random_buffer((size_t)s.OC * s.C, 2, 0.1f);
      float* bias = random_buffer((size_t)s.OC, 3, 0.1f);
      float* dout = random_buffer((size_t)s.N * s.OC, 4, 0.01f);
      float* out = nullptr;
      float* ref = nullptr;
      size_t out_max = std::max((size_t)s.N * s.OC, std::max((size_t)s.N * s.C, (size_t)s.OC * s.C));
      CUDA_CHECK(cudaMalloc(&out, out_max * sizeof(float)));
      CUDA_CHECK(cudaMalloc(&ref, out_max * sizeof(float)));
      for (const char* op : {"forward", "dinp", "dweight"}) {
        GemmArgs g;
        size_t out_n = 0;
        if (std::string(op) == "forward") {
          g.A = inp, g.lda = s.C, g.a_kcontig = true, g.B = weight, g.ldb = s.C, g.b_kcontig = true;
          g.ldd = s.OC, g.bias = bias, g.M = s.N, g.N = s.OC, g.K = s.C;
        } else if (std::string(op) == "dinp") {
          g.A = dout, g.lda = s.OC, g.a_kcontig = true, g.B = weight, g.ldb = s.C, g.b_kcontig = false;
          g.ldd = s.C, g.M = s.N, g.N = s.C, g.K = s.OC;
        } else {
          g.A = dout, g.lda = s.OC, g.a_kcontig = false, g.B = inp, g.ldb = s.C, g.b_kcontig = false;
          g.ldd = s.C, g.M = s.OC, g.N = s.C, g.K = s.N;
        }
        out_n = (size_t)g.M * g.N;
        const double flops = 2.0 * g.M * g.N * g.K;
        // Reference once (fp32, one thread per output), for the error column; skipped for the
        // largest products (the LM head), where the slow kernel would take longer than the rest.
        const bool check = flops <= 2e11;
        if (check) {
          GemmArgs gr = g;
          gr.D = ref;
          gemm_general(stream, gr);
          CUDA_CHECK(cudaStreamSynchronize(stream));
        }
        for (const std::string& impl : impls) {
          auto engine = make_gemm_engine(impl);
          for (Precision p : {Precision::Bf16, Precision::Tf32, Precision::Fp32}) {
            GemmArgs gf = g;
            gf.D = out;
            gemm(stream, *engine, ws, p, gf);  // warm-up (and algorithm choice)
            CUDA_CHECK(cudaStreamSynchronize(stream));
            double err = check ? max_rel_err(out, ref, out_n) : -1.0;  // -1: not checked
            cudaEvent_t start, stop;
            CUDA_CHECK(cudaEventCreate(&start));
            CUDA_CHECK(cudaEventCreate(&stop));
            CUDA_CHECK(cudaEventRecord(start, stream));
            for (int i = 0; i < iterations; i++) gemm(stream, *engine, ws, p, gf);
            CUDA_CHECK(cudaEventRecord(stop, stream));
            CUDA_CHECK(cudaEventSynchronize(stop));
            float ms = 0;
            CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
            ms /= iterations;
            std::printf(
                "{\"layer\":\"%s\",\"op\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,\"impl\":\"%s\",\"precision\":\"%s\","
                "\"ms\":%.4f,\"tflops\":%.2f,\"max_rel_err\":%.3e}\n",
                s.layer, op, g.M, g.N, g.K, impl.c_str(), precision_name(p), ms, flops / (ms * 1e-3) / 1e12, err);
            std::fflush(stdout);
            cudaEventDestroy(start);
            cudaEventDestroy(stop);
          }
        }
      }
      cudaFree(inp), cudaFree(weight), cudaFree(bias), cudaFree(dout), cudaFree(out), cudaFree(ref);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "autoscale_gemm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
