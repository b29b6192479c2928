// Our CPU GEMM (native/cpu/matmul.cpp, through the op entry points the model uses) against
// OpenBLAS's cblas_sgemm at the proxy models' shapes, same thread count, interleaved: for each
// shape and product, rounds alternate ours and OpenBLAS and each side reports its median.
//
//   bench/gemm/run.sh [threads] [rounds] [shape prefix]   (builds the core and this file, links -lopenblas)
//   CPUTIME=1 bench/gemm/run.sh 1 5       1 thread, CPU-time: the steady comparison on a shared machine
//
// Products, in the PyTorch Linear layout of backend.h (inp (N,C), weight (OC,C), dout (N,OC)):
//   forward  out = inp @ weight^T                  sgemm(NoTrans, Trans)
//   dweight  dweight += dout^T @ inp                sgemm(Trans, NoTrans)
//   dinp     dinp += dout @ weight                  sgemm(NoTrans, NoTrans)
// dinp and dweight are timed separately (our backward op with the other gradient null).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cpu/ops.h"

extern "C" void openblas_set_num_threads(int);

using namespace autoscale;

// CPUTIME=1: time calls in process CPU seconds instead of wall-clock ones. With 1 thread that is
// the time the call actually ran, steady on a machine loaded by others; with more threads it
// also counts threads spinning at barriers.
static const bool kCpuTime = std::getenv("CPUTIME") != nullptr;
static double now_seconds() {
  if (kCpuTime) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call, from a batch of calls long enough (>= 20 ms) to average out the scheduler.
static double seconds(const std::function<void()>& f) {
  int n = 0;
  double elapsed = 0;
  const double t0 = now_seconds();
  do {
    f();
    n++;
    elapsed = now_seconds() - t0;
  } while (elapsed < 0.02);
  return elapsed / n;
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Shape {
  const char* name;
  int N, C, OC;
};

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  // optional third argument: only the shapes whose name starts with it ("demo", "cpu-b")
  const std::string only = argc > 3 ? argv[3] : "";
  openblas_set_num_threads(threads);
  // (N = batch * context rows, C in, OC out) of each linear layer of the presets (lib/bench.ts)
  const Shape shapes[] = {
      {"demo qkv", 512, 64, 192},         {"demo attproj", 512, 64, 64},     {"demo fc", 512, 64, 256},
      {"demo fcproj", 512, 256, 64},      {"demo lm head", 512, 64, 256},
      {"cpu-a qkv", 4096, 128, 384},      {"cpu-a attproj", 4096, 128, 128}, {"cpu-a fc", 4096, 128, 512},
      {"cpu-a fcproj", 4096, 512, 128},   {"cpu-a lm head", 4096, 128, 256},
      {"cpu-b qkv", 4096, 256, 768},      {"cpu-b attproj", 4096, 256, 256}, {"cpu-b fc", 4096, 256, 1024},
      {"cpu-b fcproj", 4096, 1024, 256},  {"cpu-b lm head", 4096, 256, 256},
      {"cpu-c qkv", 2048, 384, 1152},     {"cpu-c attproj", 2048, 384, 384}, {"cpu-c fc", 2048, 384, 1536},
      {"cpu-c fcproj", 2048, 1536, 384},  {"cpu-c lm head", 2048, 384, 4096},
  };
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  printf("threads %d, median of %d interleaved rounds; GFLOP/s = 2*N*C*OC / %s time\nours: %s\n\n", threads,
         rounds, kCpuTime ? "CPU" : "wall-clock", gemm_blocking_description().c_str());
  printf("| shape (N x C -> OC) | product | ours GFLOP/s | OpenBLAS GFLOP/s | ratio |\n|---|---|---:|---:|---:|\n");
  double sum_ratio_log = 0;
  int count = 0;
  for (const Shape& s : shapes) {
    if (std::string(s.name).rfind(only, 0) != 0) continue;
    const size_t nin = (size_t)s.N * s.C, nw = (size_t)s.OC * s.C, nout = (size_t)s.N * s.OC;
    std::vector<float> inp(nin), w(nw), dout(nout), out(nout), dinp(nin), dw(nw);
    for (auto* v : {&inp, &w, &dout})
      for (float& x : *v) x = nd(rng);
    const double flops = 2.0 * s.N * s.C * s.OC;
    std::vector<double> of, bf, ow, bw, oi, bi;
    ScratchArena arena;  // as the CPU backend passes its own: packing buffers are reused between calls
    auto ours_fwd = [&] { matmul_forward_cpu(out.data(), inp.data(), w.data(), nullptr, s.N, s.C, s.OC, threads, &arena); };
    auto blas_fwd = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.N, s.OC, s.C, 1.0f, inp.data(), s.C, w.data(), s.C, 0.0f,
                  out.data(), s.OC);
    };
    auto ours_dw = [&] {
      matmul_backward_cpu(nullptr, dw.data(), nullptr, dout.data(), inp.data(), w.data(), s.N, s.C, s.OC, threads, &arena);
    };
    auto blas_dw = [&] {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.OC, s.C, s.N, 1.0f, dout.data(), s.OC, inp.data(), s.C,
                  1.0f, dw.data(), s.C);
    };
    auto ours_di = [&] {
      matmul_backward_cpu(dinp.data(), nullptr, nullptr, dout.data(), inp.data(), w.data(), s.N, s.C, s.OC, threads, &arena);
    };
    auto blas_di = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.N, s.C, s.OC, 1.0f, dout.data(), s.OC, w.data(), s.C,
                  1.0f, dinp.data(), s.C);
    };
    for (int r = 0; r < rounds + 1; r++) {  // round 0 warms up
      const double a = seconds(ours_fwd), b = seconds(blas_fwd), c = seconds(ours_dw), d = seconds(blas_dw),
                   e = seconds(ours_di), f = seconds(blas_di);
      if (r == 0) continue;
      of.push_back(a), bf.push_back(b), ow.push_back(c), bw.push_back(d), oi.push_back(e), bi.push_back(f);
    }
    const double tof = median(of), tbf = median(bf), tow = median(ow), tbw = median(bw);
    const double toi = median(oi), tbi = median(bi);
    const struct {
      const char* product;
      double ours, blas;
    } rows[] = {{"forward", tof, tbf}, {"dinp", toi, tbi}, {"dweight", tow, tbw}};
    for (const auto& row : rows) {
      printf("| %s (%d x %d -> %d) | %s | %.1f | %.1f | %.2f |\n", s.name, s.N, s.C, s.OC, row.product,
             flops / row.ours / 1e9, flops / row.blas / 1e9, row.blas / row.ours);
      sum_ratio_log += std::log(row.blas / row.ours);
      count++;
    }
    fflush(stdout);
  }
  printf("\ngeometric mean ratio (ours / OpenBLAS throughput): %.2f\n", std::exp(sum_ratio_log / count));
}
