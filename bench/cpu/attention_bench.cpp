// Causal attention alone (native/cpu/attention.cpp) at the presets' shapes: forward and backward
// GFLOP/s, counting the products the causal kernels compute (q.k and p.v over the T(T+1)/2 visible
// pairs: 2 products forward; the backward pass recomputes the scores and adds dP, dQ, dK, dV: 5).
// For comparing two builds of the core and for profiling; CPUTIME=1 times in process CPU seconds.
//   g++ -O2 -g -std=c++17 -fopenmp -Inative bench/cpu/attention_bench.cpp <build>/libautoscale_core.a -o /tmp/attention_bench
//   /tmp/attention_bench [threads 1] [repeats 20] [preset prefix]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "cpu/ops.h"
using namespace autoscale;

namespace {
struct Shape {
  const char* name;
  int B, T, C, NH;
};
const Shape kShapes[] = {
    {"demo", 16, 64, 64, 4}, {"cpu-a", 16, 256, 128, 4}, {"cpu-b", 16, 256, 256, 8}, {"cpu-c", 8, 256, 384, 6}};

const bool kCpuTime = std::getenv("CPUTIME") != nullptr;
double now() {
  if (kCpuTime) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  const char* only = argc > 3 ? argv[3] : "";
  std::printf("threads %d, median of %d; GFLOP/s over the causal products (forward 2, backward 5)\n\n", threads, reps);
  std::printf("| shape (B, T, C, heads) | forward GFLOP/s | backward GFLOP/s |\n|---|---:|---:|\n");
  for (const Shape& s : kShapes) {
    if (std::strncmp(s.name, only, std::strlen(only)) != 0) continue;
    const size_t BT = (size_t)s.B * s.T;
    std::vector<float> qkv(BT * 3 * s.C), out(BT * s.C), lse((size_t)s.B * s.NH * s.T), dout(BT * s.C),
        dqkv(BT * 3 * s.C);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& x : qkv) x = nd(rng);
    for (float& x : dout) x = nd(rng);
    ScratchArena arena;
    std::vector<double> f, b;
    for (int r = 0; r < reps + 1; r++) {
      const double t0 = now();
      attention_forward_cpu(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH, threads, &arena);
      const double t1 = now();
      attention_backward_cpu(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), s.B, s.T, s.C, s.NH,
                             threads, &arena);
      const double t2 = now();
      if (r > 0) {  // the first call allocates the scratch
        f.push_back(t1 - t0);
        b.push_back(t2 - t1);
      }
    }
    std::sort(f.begin(), f.end());
    std::sort(b.begin(), b.end());
    const double pairs = (double)s.T * (s.T + 1) / 2, flops = 2.0 * pairs * s.C * s.B;  // one product, all heads
    std::printf("| %s (%d, %d, %d, %d) | %.1f | %.1f |\n", s.name, s.B, s.T, s.C, s.NH, 2 * flops / f[reps / 2] / 1e9,
                5 * flops / b[reps / 2] / 1e9);
  }
}
