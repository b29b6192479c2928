// Fully connected layer (PyTorch Linear layout), all three products through one blocked GEMM.
// inp (N,C); weight (OC,C); bias (OC) nullable; out (N,OC) = inp @ weight^T + bias.
// Backward: dout (N,OC); dinp (N,C) += dout @ weight; dweight (OC,C) += dout^T @ inp;
// dbias (OC) += sum_n dout. dinp, dweight and dbias are nullable.
//
// The GEMM: C (M,N) = A (M,K) @ B (K,N), A and B read through strides so no operand is ever
// transposed as a whole; the three products of a Linear layer are three stride patterns of it.
// B is packed once per call into NR-wide strips (each element once), A is read in place (its rows
// or its columns are contiguous; only a ragged last group of rows is packed); C is split into
// (row block, column block) tasks, each owned by one thread (no races), handed out dynamically.
// The micro-kernel keeps an MR x NR tile of C in registers: per k, MR broadcasts of A times two
// vectors of B (FMA). Each element of C is summed in the same order for any thread count and task
// split, so the results do not depend on `threads`.
#include <omp.h>

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ops.h"
#include "simd.h"

namespace autoscale {

namespace {

using simd::MR;
using simd::vec;
using simd::W;
constexpr int NR = 2 * W;  // the register tile is MR rows x 2 vectors (simd.h)

// Blocking: B is packed once per GEMM call (each element exactly once) into KC-deep panels of
// NR-wide strips, shared by all threads; when B is large it is done in column chunks of at most
// B_CHUNK_FLOATS, and in the weight gradient (small C, large B) in passes over K of
// as many panels as fit half of L2 (kpass in gemm). (When B's rows are contiguous, N is a whole
// number of strips and B is small, the strips are read in place instead, with B's row stride: no
// packing at all.) Then the chunk's C is split into
// tasks of MC rows x NB columns, handed out dynamically: per KC panel, a task runs the
// micro-kernel over its strips and its rows of A, read in place (a strip, KC x NR, stays in L1;
// the task's rows of A in L2). Only two barriers per chunk (after packing, after the tasks): a
// thread that the OS deschedules on a busy machine delays the others little, it just takes fewer
// tasks.
//
// KC, MC and NB come from this machine's cache sizes (read once, at the first GEMM): a strip
// (KC x NR, streamed once per group of MR rows) is the size of L1d, a task's rows of A (MC x KC)
// and its panel of B (KC x NB) a quarter of L2 each. (Measured on a Zen 4 with 32 KB L1d, 1
// thread: KC 256 ran the cpu-c products at 0.97x OpenBLAS's geometric mean, KC 128 at 0.92x.) KC decides the order of the sums over k (panel by panel), so results can differ between
// machines with different caches, never between thread counts.
constexpr size_t B_CHUNK_FLOATS = 1 << 22;  // packed B per chunk: 16 MB

struct Blocking {
  int kc;      // depth of a panel
  int nb;      // columns of C per task (a multiple of NR)
  int max_mc;  // rows of C per task (a multiple of MR)
  size_t l1, l2;  // the cache sizes they came from, bytes
};

// A cache size in bytes from sysconf, else sysfs (cpu0's index<i>), else the fallback.
size_t cache_bytes(int sysconf_name, const char* sysfs, size_t fallback) {
  long n = -1;
#if defined(__linux__)
  n = sysconf(sysconf_name);
  if (n <= 0) {
    if (FILE* f = std::fopen(sysfs, "r")) {
      long k = 0;
      char unit = 0;
      if (std::fscanf(f, "%ld%c", &k, &unit) >= 1) n = unit == 'K' ? k * 1024 : unit == 'M' ? k * 1048576 : k;
      std::fclose(f);
    }
  }
#else
  (void)sysconf_name;
  (void)sysfs;
#endif
  return n > 0 ? (size_t)n : fallback;
}

int round_down(long x, int m, int lo, int hi) {
  const long r = x / m * m;
  return (int)std::max<long>(lo, std::min<long>(hi, r));
}

// AUTOSCALE_GEMM_CACHES="L1D_KB,L2_KB" (e.g. "48,2048") chooses the blocking as a machine with those caches would: for
// tests that run every blocking an x86 machine may choose on the one they have (results are checked, not speed), and for
// benchmarks that compare blockings. Malformed or out-of-range values (L1d 4 KB-1 MB, L2 64 KB-64 MB) are ignored.
void caches_from_env(size_t& l1, size_t& l2) {
  const char* env = std::getenv("AUTOSCALE_GEMM_CACHES");
  long a = 0, b = 0;
  char end = 0;
  if (!env || std::sscanf(env, "%ld,%ld%c", &a, &b, &end) != 2 || a < 4 || a > 1024 || b < 64 || b > 65536) return;
  l1 = (size_t)a * 1024;
  l2 = (size_t)b * 1024;
}

Blocking choose_blocking() {
  size_t l1 = cache_bytes(
#if defined(_SC_LEVEL1_DCACHE_SIZE)
      _SC_LEVEL1_DCACHE_SIZE,
#else
      -1,
#endif
      "/sys/devices/system/cpu/cpu0/cache/index0/size", 32 * 1024);
  size_t l2 = cache_bytes(
#if defined(_SC_LEVEL2_CACHE_SIZE)
      _SC_LEVEL2_CACHE_SIZE,
#else
      -1,
#endif
      "/sys/devices/system/cpu/cpu0/cache/index2/size", 512 * 1024);
  caches_from_env(l1, l2);
  Blocking b;
  b.l1 = l1;
  b.l2 = l2;
  b.kc = round_down((long)(l1 / (NR * sizeof(float))), 16, 64, 512);
  // AUTOSCALE_GEMM_KC overrides the depth, for benchmarks that compare blockings on one machine
  if (const char* env = std::getenv("AUTOSCALE_GEMM_KC")) {
    const long kc = std::atol(env);
    if (kc > 0) b.kc = round_down(kc, 16, 16, 4096);
  }
  b.max_mc = round_down((long)(l2 / 4 / (b.kc * sizeof(float))), MR, MR, 96);
  b.nb = round_down((long)(l2 / 4 / (b.kc * sizeof(float))), NR, NR, 512);
  return b;
}

// An on/off switch for benchmarks that compare two code paths on one machine: on unless the variable starts with 0.
bool env_switch_on(const char* name) {
  const char* env = std::getenv(name);
  return !(env && env[0] == '0');
}

// AUTOSCALE_GEMM_PACK_A=0 reads every A in place.
bool pack_a_enabled() {
  static const bool on = env_switch_on("AUTOSCALE_GEMM_PACK_A");
  return on;
}

// AUTOSCALE_GEMM_KPASS=0 packs all of B before any task (no passes over K).
bool k_passes_enabled() {
  static const bool on = env_switch_on("AUTOSCALE_GEMM_KPASS");
  return on;
}

// AUTOSCALE_GEMM_PREFETCH=0 leaves all loads to the hardware prefetchers (see micro_tile).
bool prefetch_enabled() {
  static const bool on = env_switch_on("AUTOSCALE_GEMM_PREFETCH");
  return on;
}

const Blocking& blocking() {
  static const Blocking b = choose_blocking();  // thread-safe initialisation (C++11)
  return b;
}

struct Strided {  // X(i, j) = p[i * rs + j * cs]
  const float* p;
  long rs, cs;
};

// C[0..rows, 0..nr) (+)= A (MR, kc) @ Bpanel (kc, NR), B packed k-major. A is read in place,
// A(i, k) = a[i * ars + k * acs]: ALayout says which stride is 1 (packed A: ars = 1, acs = MR), so
// the loads are plain base + offset addressing. `first` overwrites C with acc (+ bias[j] when
// bias is given) instead of accumulating.
//
// Software prefetches (prefetch_c, prefetch_a), measured on a Zen 4, 1 thread (bench/RESULTS.md):
// - C's tile at the start, for writing: its rows are MR distant lines that the hardware does not
//   fetch before the loads and stores at the end; with C larger than the caches each tile waited
//   on memory (cpu-a fcproj dinp, C = 4096 x 512 over K = 128: 0.73-0.82x OpenBLAS without,
//   0.88-0.96x with).
// - A's columns kPrefetchK steps ahead when A is read in place with its columns contiguous
//   (A = dout^T in the weight gradient, MR floats at OC's stride): at a stride of 2 KB a group's
//   kc lines fall in 2 of L1's sets and come from L2 again at every tile (cpu-a fc dweight
//   0.86-0.89x without, 0.95-1.03x with).
// They change no arithmetic.
constexpr int kPrefetchK = 16;
enum class ALayout { ColumnsContiguous, RowsContiguous };
// always_inline: a call per tile passed 13 arguments through the stack (demo: +3% train, +11% eval
// once inlined; the cpu-b products 0.95x -> 0.99x of OpenBLAS's geometric mean, 1 thread).
template <ALayout L>
[[gnu::always_inline]] inline void micro_tile(float* c, long ldc, const float* a, long ars, long acs, const float* bpanel, long ldb, int kc,
                       int rows, int nr, bool first, const float* bias, bool prefetch_c, bool prefetch_a) {
  // Zeroed element by element: `= {}` on the array made GCC memset 1 KB of stack per call before
  // moving it into registers (5% of a demo training step).
  vec acc[MR][2];
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vec{};
  if (prefetch_c)
    for (int i = 0; i < rows; i++) {
      __builtin_prefetch(c + i * ldc, 1);
      __builtin_prefetch(c + i * ldc + NR - 1, 1);
    }
  if constexpr (L == ALayout::ColumnsContiguous) {  // the MR values of one k are adjacent
    for (int k = 0; k < kc; k++) {
      const vec b0 = simd::load(bpanel + k * ldb);
      const vec b1 = simd::load(bpanel + k * ldb + W);
      const float* ak = a + (size_t)k * acs;
      if (prefetch_a) __builtin_prefetch(ak + (size_t)kPrefetchK * acs);
      for (int i = 0; i < MR; i++) {
        acc[i][0] += ak[i] * b0;
        acc[i][1] += ak[i] * b1;
      }
    }
  } else {  // rows of A contiguous: MR streams
    const float* ai[MR];
    for (int i = 0; i < MR; i++) ai[i] = a + i * ars;
    for (int k = 0; k < kc; k++) {
      const vec b0 = simd::load(bpanel + k * ldb);
      const vec b1 = simd::load(bpanel + k * ldb + W);
      for (int i = 0; i < MR; i++) {
        acc[i][0] += ai[i][k] * b0;
        acc[i][1] += ai[i][k] * b1;
      }
    }
  }
  if (rows == MR && nr == NR) {  // whole tile: vector loads and stores
    vec b0 = {}, b1 = {};
    if (first && bias) {
      b0 = simd::load(bias);
      b1 = simd::load(bias + W);
    }
    for (int i = 0; i < MR; i++) {
      float* ci = c + i * ldc;
      if (first) {
        simd::store(ci, acc[i][0] + b0);
        simd::store(ci + W, acc[i][1] + b1);
      } else {
        simd::store(ci, simd::load(ci) + acc[i][0]);
        simd::store(ci + W, simd::load(ci + W) + acc[i][1]);
      }
    }
    return;
  }
  float tile[MR][NR];
  for (int i = 0; i < MR; i++) {
    simd::store(tile[i], acc[i][0]);
    simd::store(tile[i] + W, acc[i][1]);
  }
  for (int i = 0; i < rows; i++) {
    float* ci = c + i * ldc;
    for (int j = 0; j < nr; j++) ci[j] = first ? tile[i][j] + (bias ? bias[j] : 0.0f) : ci[j] + tile[i][j];
  }
}

// Packs B[k0..k0+kc, j0..j0+NR) as one (kc, NR) strip, zero padded past column N.
void pack_b_strip(float* p, Strided B, int k0, int kc, int js, int N) {
  const int nr = std::min(NR, N - js);
  if (B.cs == 1) {  // rows of B contiguous
    for (int k = 0; k < kc; k++) {
      const float* src = B.p + (long)(k0 + k) * B.rs + js;
      float* dst = p + (size_t)k * NR;
      if (nr == NR) {
        simd::store(dst, simd::load(src));
        simd::store(dst + W, simd::load(src + W));
      } else {
        for (int jj = 0; jj < NR; jj++) dst[jj] = jj < nr ? src[jj] : 0.0f;
      }
    }
  } else {  // columns of B contiguous (B = weight^T): read each column as a stream
    for (int jj = 0; jj < NR; jj++) {
      if (jj >= nr) {
        for (int k = 0; k < kc; k++) p[(size_t)k * NR + jj] = 0.0f;
        continue;
      }
      const float* src = B.p + (long)k0 * B.rs + (long)(js + jj) * B.cs;
      for (int k = 0; k < kc; k++) p[(size_t)k * NR + jj] = src[(long)k * B.rs];
    }
  }
}

// Packs A[is..is+MR, k0..k0+kc) as one (kc, MR) group, zero padded past row M.
void pack_a_group(float* q, Strided A, int k0, int kc, int is, int M) {
  const int mr = std::min(MR, M - is);
  if (A.rs == 1) {  // columns of A contiguous (A = dout^T): MR rows are adjacent floats
    if (mr == MR) {
      for (int k = 0; k < kc; k++) std::memcpy(q + (size_t)k * MR, A.p + is + (long)(k0 + k) * A.cs, MR * sizeof(float));
      return;
    }
    for (int k = 0; k < kc; k++) {
      const float* src = A.p + is + (long)(k0 + k) * A.cs;
      for (int ii = 0; ii < MR; ii++) q[(size_t)k * MR + ii] = ii < mr ? src[ii] : 0.0f;
    }
  } else {
    for (int ii = 0; ii < MR; ii++) {
      if (ii >= mr) {
        for (int k = 0; k < kc; k++) q[(size_t)k * MR + ii] = 0.0f;
        continue;
      }
      const float* src = A.p + (long)(is + ii) * A.rs + (long)k0 * A.cs;
      for (int k = 0; k < kc; k++) q[(size_t)k * MR + ii] = src[(long)k * A.cs];
    }
  }
}

// C (M,N) row-major with leading dimension ldc. accumulate: C += A @ B; else C = A @ B + bias
// (bias (N) nullable). Each element of C is summed over k in the same order (panel by panel, an
// FMA chain within a panel) whatever the thread count and task split.
void gemm(float* c, long ldc, Strided A, Strided B, const float* bias, bool accumulate, int M, int N,
          int K, int threads, ScratchArena* arena, bool k_passes = false) {
  assert((A.rs == 1 || A.cs == 1) && "gemm reads A in place: its rows or its columns must be contiguous");
  const Blocking& blk = blocking();
  const int KC = blk.kc, NB = blk.nb;
  const bool prefetch = prefetch_enabled();
  // B read in place: rows contiguous, every strip whole (no zero padding needed), all of B within
  // a quarter of L2, and a strip's row at least 2 cache lines (512-bit vectors). (A larger B read
  // in place, strips of 2 cache lines per row at B's row stride, ran at 0.6-0.8x of the packed
  // speed at the cpu-b/c shapes. With 256-bit vectors a strip's row is one line, and in place the
  // AVX2 build on a Zen 4 ran cpu-a fcproj dinp at 0.82x OpenBLAS against 1.04-1.06x packed, the
  // demo's dweights at 0.86-0.94x against 0.99-1.09x; with AVX-512 in place is the faster: demo
  // dweights 1.14-1.21x against 1.10-1.12x.) Where B is read does not change the sums.
  const bool b_in_place = NR * sizeof(float) >= 128 && B.cs == 1 && N % NR == 0 &&
                          (size_t)K * (size_t)B.rs * sizeof(float) <= blk.l2 / 4;
  // columns per chunk (packed B holds all K rows of them): a multiple of NB so that tasks never
  // straddle chunks
  int chunk = b_in_place ? simd::round_up(N, NR)
                         : (int)std::max<size_t>(NB, B_CHUNK_FLOATS / std::max(1, K) / NB * NB);
  chunk = std::min(chunk, simd::round_up(N, NR));
  const int col_blocks_per_chunk = (chunk + NB - 1) / NB;
  // Rows per task: max_mc, shrunk (in multiples of MR) until each thread has a few tasks.
  int mc = blk.max_mc;
  while (mc > MR && (long)((M + mc - 1) / mc) * col_blocks_per_chunk < 4L * threads) mc -= MR;
  const int row_blocks = (M + mc - 1) / mc;
  // A with its columns contiguous and a column stride that is a multiple of 4 KB (A = dout^T in the
  // weight gradient at a power-of-two OC, e.g. cpu-c's LM head: 4096 floats) is packed per task and
  // panel, all its groups at once. Read in place, a group's kc lines all fall in the same L1 sets
  // (and alias in the store buffer): on the Intel machine of bench/RESULTS.md that product ran at
  // 0.36-0.42x OpenBLAS in place and 0.69-0.76x packed (1 thread). With 256-bit vectors (MR 6, a k
  // step of 6 cycles to hide the lines' latency instead of 16) a multiple of 2 KB is packed too:
  // those lines fall in 2 sets. Measured on a Zen 4, 1 thread: the AVX2 build's cpu-a fc dweight
  // (OC 512) 0.88-0.91x in place, 1.03-1.04x packed, cpu-c fc (OC 1536) 0.84x and 0.96-0.97x; with
  // AVX-512 the same rule cost cpu-c fc 6% (0.98x against 1.04x), so there it stays at 4 KB. The
  // sums run in the same order either way.
  const size_t pack_a_stride = W == 8 ? 2048 : 4096;  // bytes
  const bool pack_a =
      A.rs == 1 && A.cs != 1 && ((size_t)A.cs * sizeof(float)) % pack_a_stride == 0 && pack_a_enabled();
  // Rows of K packed per pass: all of them, or, in the weight gradient (`k_passes`: B is the layer's input over every
  // token, C a weight) when the chunk's packed B would not fit in half of L2 and its C in 8 L2s, whole panels that do.
  // Each pass packs its panels and then runs every task over them while they are still in L2; in one pass, each row
  // block streams all of packed B back from L3. Each pass reads and writes the chunk's C instead, hence the bound on C
  // (a GPT-2 LM head's gradient, 154 MB, stays in one pass). Measured on a Zen 4, 1 thread, interleaved repetitions
  // (bench/RESULTS.md): fcproj dweight 1.01-1.13x; the dweights with M (= OC) 512-1536 (cpu-a fc, cpu-b qkv and fc,
  // cpu-c qkv and fc) 1.00-1.15x, cpu-c's LM head (M 4096) 1.01-1.10x. Forward products stay in one pass: their C is
  // tokens x features, which every pass would stream again (cpu-c's attproj and fcproj: C of 3 MB against weights of
  // 0.6 and 2.4 MB; a trial with passes there read evaluation 2-4% slower, about this machine's noise). The panels and
  // their order are the same, so the results are bit-identical either way.
  const size_t packed_row = simd::round_up(chunk, NR);  // floats per k row of packed B
  int kpass = K;
  if (k_passes && !b_in_place && k_passes_enabled() && K * packed_row * sizeof(float) > blk.l2 / 2 &&
      (size_t)M * packed_row * sizeof(float) <= 8 * blk.l2)
    kpass = std::min(K, std::max(1, (int)(blk.l2 / 2 / (packed_row * sizeof(float)) / KC)) * KC);
  const size_t b_floats = b_in_place ? 0 : (size_t)kpass * packed_row,
               a_floats = (size_t)KC * (pack_a ? simd::round_up(mc, MR) : MR);
  ScratchArena local;
  float* const scratch = (arena ? *arena : local).floats(b_floats + a_floats * threads, "matmul");
  float* bpack = scratch;

#pragma omp parallel num_threads(threads)
  {
    float* apack = scratch + b_floats + a_floats * omp_get_thread_num();
    for (int j0 = 0; j0 < N; j0 += chunk) {
      const int nc = std::min(chunk, N - j0);
      const int ncp = simd::round_up(nc, NR), strips = ncp / NR;
      // the chunk's strips split evenly between its column blocks (384 columns: 2 x 192, not 320 + 64)
      const int col_blocks = (nc + NB - 1) / NB, block_strips = (strips + col_blocks - 1) / col_blocks;
      for (int kk0 = 0; kk0 < K; kk0 += kpass) {
        const int kk1 = std::min(K, kk0 + kpass);
        const int panels = (kk1 - kk0 + KC - 1) / KC;
        // this pass's panel p (k0 = kk0 + p * KC), strip s lives at bpack + p * KC * ncp + s * kc * NR
        if (!b_in_place) {
#pragma omp for schedule(dynamic) collapse(2)
          for (int p = 0; p < panels; p++)
            for (int s = 0; s < strips; s++) {
              const int k0 = kk0 + p * KC, kc = std::min(KC, kk1 - k0);
              pack_b_strip(bpack + (size_t)(k0 - kk0) * ncp + (size_t)s * kc * NR, B, k0, kc, j0 + s * NR, N);
            }
        }
#pragma omp for schedule(dynamic) collapse(2)
        for (int rb = 0; rb < row_blocks; rb++)
          for (int cb = 0; cb < col_blocks; cb++) {
            const int i0 = rb * mc, i1 = std::min(M, i0 + mc);
            const int groups = (i1 - i0 + MR - 1) / MR;
            const int s0 = cb * block_strips, s1 = std::min(strips, s0 + block_strips);
            for (int k0 = kk0; k0 < kk1; k0 += KC) {
              const int kc = std::min(KC, kk1 - k0);
              const bool first = !accumulate && k0 == 0;
              // Whole groups of MR rows are read in place (A's rows or columns are contiguous
              // streams); only the last, partial group is packed with zero padding (all groups when
              // pack_a).
              const int full = pack_a ? 0 : (i1 - i0) / MR;
              if (pack_a)
                for (int g = 0; g < groups; g++) pack_a_group(apack + (size_t)g * kc * MR, A, k0, kc, i0 + g * MR, M);
              else if (full < groups)
                pack_a_group(apack, A, k0, kc, i0 + full * MR, M);
              for (int s = s0; s < s1; s++) {
                const int j = j0 + s * NR, nr = std::min(NR, N - j);
                const float* bp = b_in_place ? B.p + (long)k0 * B.rs + j : bpack + (size_t)(k0 - kk0) * ncp + (size_t)s * kc * NR;
                const long ldb = b_in_place ? B.rs : NR;
                const float* bj = bias ? bias + j : nullptr;
                for (int gi = 0; gi < full; gi++) {
                  const int i = i0 + gi * MR;
                  const float* a = A.p + (long)i * A.rs + (long)k0 * A.cs;
                  if (A.cs == 1)
                    micro_tile<ALayout::RowsContiguous>(c + i * ldc + j, ldc, a, A.rs, 1, bp, ldb, kc, MR, nr, first,
                                                        bj, prefetch, false);
                  else
                    micro_tile<ALayout::ColumnsContiguous>(c + i * ldc + j, ldc, a, A.rs, A.cs, bp, ldb, kc, MR, nr,
                                                          first, bj, prefetch, prefetch);
                }
                for (int g = full; g < groups; g++) {
                  const int i = i0 + g * MR;
                  micro_tile<ALayout::ColumnsContiguous>(c + i * ldc + j, ldc, apack + (size_t)(g - full) * kc * MR, 1,
                                                        MR, bp, ldb, kc, std::min(MR, i1 - i), nr, first, bj, prefetch, false);
                }
              }
            }
          }
      }
    }
  }
}

constexpr int kBiasBlock = 64;  // output channels per task in the bias gradient

}  // namespace

int gemm_panel_depth() { return blocking().kc; }

std::string gemm_blocking_description() {
  const Blocking& b = blocking();
  return "L1d " + std::to_string(b.l1 / 1024) + " KB, L2 " + std::to_string(b.l2 / 1024) + " KB, " +
         std::to_string(W * 32) + "-bit vectors: MR " + std::to_string(MR) + ", NR " + std::to_string(NR) +
         ", KC " + std::to_string(b.kc) + ", MC <= " + std::to_string(b.max_mc) + ", NB " + std::to_string(b.nb);
}

void matmul_forward_cpu(float* out, const float* inp, const float* weight, const float* bias, int N,
                        int C, int OC, int threads, ScratchArena* scratch) {
  // A = inp (N,C); B = weight^T (C,OC): B(c, o) = weight[o*C + c]
  gemm(out, OC, Strided{inp, C, 1}, Strided{weight, 1, C}, bias, false, N, OC, C, threads, scratch);
}

void matmul_backward_cpu(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, int N, int C, int OC, int threads, ScratchArena* scratch,
                         bool overwrite_dinp) {
  // dinp (N,C) += (or =) dout (N,OC) @ weight (OC,C)
  if (dinp)
    gemm(dinp, C, Strided{dout, OC, 1}, Strided{weight, C, 1}, nullptr, !overwrite_dinp, N, C, OC, threads, scratch);
  // dweight (OC,C) += dout^T (OC,N) @ inp (N,C); A(o, n) = dout[n*OC + o]
  if (dweight)
    gemm(dweight, C, Strided{dout, 1, OC}, Strided{inp, C, 1}, nullptr, true, OC, C, N, threads, scratch, true);
  if (dbias) {
    const int blocks = (OC + kBiasBlock - 1) / kBiasBlock;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
      const int o0 = blk * kBiasBlock, o1 = std::min(OC, o0 + kBiasBlock);
      float acc[kBiasBlock] = {0};
      for (int n = 0; n < N; n++) {
        const float* d = dout + (size_t)n * OC;
        for (int o = o0; o < o1; o++) acc[o - o0] += d[o];
      }
      for (int o = o0; o < o1; o++) dbias[o] += acc[o - o0];
    }
  }
}

}  // namespace autoscale
