// The machine's FMA peak: 12 independent FMA chains per thread (enough to cover the FMA latency on
// both pipes), in inline assembly so the compiler can neither merge nor drop them.
//   g++ -O2 -march=native -pthread bench/cpu/fma_peak.cpp -o /tmp/fma_peak && /tmp/fma_peak 2
// Prints the wall-clock rate of all threads and the rate per CPU-second of one thread (the peak of
// one core, steady on a loaded machine).
#include <immintrin.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#define FMA12(op, reg)                                                                                   \
  __asm__ volatile(op " %[b], %[m], %[a0]\n\t" op " %[b], %[m], %[a1]\n\t" op " %[b], %[m], %[a2]\n\t"  \
                   op " %[b], %[m], %[a3]\n\t" op " %[b], %[m], %[a4]\n\t" op " %[b], %[m], %[a5]\n\t"  \
                   op " %[b], %[m], %[a6]\n\t" op " %[b], %[m], %[a7]\n\t" op " %[b], %[m], %[a8]\n\t"  \
                   op " %[b], %[m], %[a9]\n\t" op " %[b], %[m], %[a10]\n\t" op " %[b], %[m], %[a11]\n\t" \
                   : [a0] "+" reg(a0), [a1] "+" reg(a1), [a2] "+" reg(a2), [a3] "+" reg(a3), [a4] "+" reg(a4), \
                     [a5] "+" reg(a5), [a6] "+" reg(a6), [a7] "+" reg(a7), [a8] "+" reg(a8), [a9] "+" reg(a9),    \
                     [a10] "+" reg(a10), [a11] "+" reg(a11)                                                      \
                   : [m] reg(m), [b] reg(b))

constexpr long kIters = 50000000;

// Seconds of CPU time the calling thread has used: on a shared machine this counts only the time
// the thread actually ran, so the peak per CPU-second is steady while wall-clock rates drop with load.
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

template <typename V>
void chains(float* sink, double* cpu_seconds) {
  const double c0 = thread_cpu_seconds();
  // separate variables, not an array: an array's elements may live in memory around the asm
  V a0 = V{} + 1.00f, a1 = V{} + 1.01f, a2 = V{} + 1.02f, a3 = V{} + 1.03f, a4 = V{} + 1.04f, a5 = V{} + 1.05f;
  V a6 = V{} + 1.06f, a7 = V{} + 1.07f, a8 = V{} + 1.08f, a9 = V{} + 1.09f, a10 = V{} + 1.10f, a11 = V{} + 1.11f;
  V m, b;
  m = V{} + 0.99999f;
  b = V{} + 1e-6f;
  for (long i = 0; i < kIters; i++) {
    if constexpr (sizeof(V) == 64) FMA12("vfmadd213ps", "v");
    else FMA12("vfmadd213ps", "x");
  }
  const V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  *sink = s[0];
  *cpu_seconds = thread_cpu_seconds() - c0;
}

struct Rate {
  double wall;     // GFLOP/s of all threads, wall clock
  double per_cpu;  // GFLOP/s per CPU-second of one thread (the mean over threads)
};

template <typename V>
Rate gflops(int threads) {
  std::vector<std::thread> pool;
  std::vector<float> sink(threads);
  std::vector<double> cpu(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; t++) pool.emplace_back(chains<V>, &sink[t], &cpu[t]);
  for (auto& t : pool) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double flops_per_thread = 12.0 * kIters * (sizeof(V) / 4) * 2;
  double cpu_total = 0;
  for (double c : cpu) cpu_total += c;
  return {flops_per_thread * threads / s / 1e9, flops_per_thread * threads / cpu_total / 1e9};
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  typedef float v8 __attribute__((vector_size(32)));
  typedef float v16 __attribute__((vector_size(64)));
  for (int n : {1, threads}) {
    const Rate avx2 = gflops<v8>(n);
    printf("%d thread(s): AVX2/FMA %.1f GFLOP/s (%.1f per thread CPU-second)", n, avx2.wall, avx2.per_cpu);
#if defined(__AVX512F__)
    const Rate avx512 = gflops<v16>(n);
    printf(", AVX-512 %.1f GFLOP/s (%.1f per thread CPU-second)", avx512.wall, avx512.per_cpu);
#endif
    printf("\n");
  }
}
