// Attention A/B in one process: another revision's native/cpu/attention.cpp (its entry points renamed *_old, built by
// attention_ab.sh) against the working tree's, on the same inputs, rounds interleaved and alternating which goes first:
// on a machine whose speed drifts between invocations, the ratio within one run is the steady number. Prints GFLOP/s
// as attention_bench.cpp counts them, the ratio new/old, and whether the two gave the same bits.
//   bench/cpu/attention_ab.sh REV [threads 1] [rounds 21]      (WALL=1: wall-clock time, for more than 1 thread)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>
#include "cpu/ops.h"
namespace autoscale {
void attention_forward_old(float* out, float* lse, const float* qkv, int B, int T, int C, int NH, int threads, ScratchArena* arena);
void attention_backward_old(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int B, int T, int C, int NH, int threads, ScratchArena* arena);
}
using namespace autoscale;
struct Shape { const char* name; int B, T, C, NH; };
const Shape kShapes[] = {{"demo", 16, 64, 64, 4}, {"cpu-a", 16, 256, 128, 4}, {"cpu-b", 16, 256, 256, 8}, {"cpu-c", 8, 256, 384, 6}};
const clockid_t kClock = getenv("WALL") ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID;
double now() { timespec ts; clock_gettime(kClock, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 21;
  for (const Shape& s : kShapes) {
    const size_t BT = (size_t)s.B * s.T;
    std::vector<float> qkv(BT * 3 * s.C), out(BT * s.C), lse((size_t)s.B * s.NH * s.T), dout(BT * s.C), dqkv(BT * 3 * s.C);
    std::vector<float> out2(out), lse2(lse), dqkv2(dqkv);
    std::mt19937 rng(1); std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& x : qkv) x = nd(rng);
    for (float& x : dout) x = nd(rng);
    ScratchArena a1, a2;
    std::vector<double> f[2], b[2];
    for (int r = 0; r < reps + 1; r++) {
      for (int vv = 0; vv < 2; vv++) {
        const int v = (vv + r) % 2;
        double t0 = now();
        if (v == 0) attention_forward_old(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH, threads, &a1);
        else attention_forward_cpu(out2.data(), lse2.data(), qkv.data(), s.B, s.T, s.C, s.NH, threads, &a2);
        double t1 = now();
        if (v == 0) attention_backward_old(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), s.B, s.T, s.C, s.NH, threads, &a1);
        else attention_backward_cpu(dqkv2.data(), dout.data(), qkv.data(), out2.data(), lse2.data(), s.B, s.T, s.C, s.NH, threads, &a2);
        double t2 = now();
        if (r > 0) { f[v].push_back(t1 - t0); b[v].push_back(t2 - t1); }
      }
    }
    for (int v = 0; v < 2; v++) { std::sort(f[v].begin(), f[v].end()); std::sort(b[v].begin(), b[v].end()); }
    const double pairs = (double)s.T * (s.T + 1) / 2, fl = 2.0 * pairs * s.C * s.B;
    const bool same = !memcmp(out.data(), out2.data(), out.size() * 4) && !memcmp(dqkv.data(), dqkv2.data(), dqkv.size() * 4) && !memcmp(lse.data(), lse2.data(), lse.size() * 4);
    printf("%-6s fwd %5.1f -> %5.1f (%.3fx)  bwd %5.1f -> %5.1f (%.3fx)  bits %s\n", s.name,
           2 * fl / f[0][reps / 2] / 1e9, 2 * fl / f[1][reps / 2] / 1e9, f[0][reps / 2] / f[1][reps / 2],
           5 * fl / b[0][reps / 2] / 1e9, 5 * fl / b[1][reps / 2] / 1e9, b[0][reps / 2] / b[1][reps / 2], same ? "same" : "DIFFER");
  }
}
