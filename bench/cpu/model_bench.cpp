// Training and evaluation throughput of the native model straight from C++ (no Node, no addon):
// for profiling (perf record) and for comparing two builds of the core. Same presets and FLOP
// formula as lib/bench.ts. CPUTIME=1 reports tokens per second of process CPU time (steadier
// on a shared machine; meaningful for 1 thread).
//   g++ -O2 -g -std=c++17 -fopenmp -Inative bench/cpu/model_bench.cpp <build>/libautoscale_core.a -o /tmp/model_bench
//   /tmp/model_bench demo|cpu-a|cpu-b|cpu-c|gpt2-124m [threads 2] [repeats 5]
#include "model.h"
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include <random>
using namespace autoscale;
int main(int argc, char** argv) {
  const char* p = argc > 1 ? argv[1] : "cpu-a";
  int threads = argc > 2 ? atoi(argv[2]) : 2;
  int reps = argc > 3 ? atoi(argv[3]) : 5;
  ModelConfig c; int B;
  if (!strcmp(p, "demo")) { c = {256, 64, 64, 2, 4}; B = 16; }
  else if (!strcmp(p, "cpu-a")) { c = {256, 256, 128, 4, 4}; B = 16; }
  else if (!strcmp(p, "cpu-b")) { c = {256, 256, 256, 6, 8}; B = 16; }
  else if (!strcmp(p, "cpu-c")) { c = {4096, 256, 384, 6, 6}; B = 8; }
  else { c = {50257, 1024, 768, 12, 12}; B = 4; }
  ModelOptions o; o.batch_size = B; o.backend_options.threads = threads;
  Model m(c, o);
  std::mt19937 rng(1);
  std::vector<int32_t> tok((size_t)B * (c.context_length + 1));
  for (auto& t : tok) t = rng() % c.vocab_size;
  TokenView v{tok.data(), TokenType::Int32, tok.size()};
  std::vector<double> losses(B);
  bool cpu = getenv("CPUTIME") != nullptr;
  auto now = [cpu] { if (cpu) { timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); return std::chrono::steady_clock::time_point(std::chrono::nanoseconds((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec)); } return std::chrono::steady_clock::now(); };
  m.train_step(v, 1e-4f); m.eval_loss(v, nullptr, losses.data());
  std::vector<double> tr, ev;
  for (int r = 0; r < reps; r++) {
    auto t0 = now(); m.train_step(v, 1e-4f); auto t1 = now(); m.eval_loss(v, nullptr, losses.data()); auto t2 = now();
    tr.push_back(std::chrono::duration<double>(t1 - t0).count()); ev.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  std::sort(tr.begin(), tr.end()); std::sort(ev.begin(), ev.end());
  double tokens = (double)B * c.context_length;
  double L = c.layers, d = c.width, V = c.vocab_size, T = c.context_length;
  double fpt = 6 * (12 * L * d * d) + 6 * V * d + 6 * L * T * d;
  double trt = tokens / tr[reps / 2], evt = tokens / ev[reps / 2];
  printf("%s threads %d: train %.0f tok/s (%.1f GFLOP/s) eval %.0f tok/s  [train min %.0f]\n", p, threads, trt, trt * fpt / 1e9, evt, tokens / tr[0]);
}
