// Building blocks shared by the CPU ops: the vector type of the build's widest float vectors, a
// vectorisable exp, and a small register-blocked GEMM for operands that are already in cache
// (attention's per-head tiles). The large GEMM of the linear layers is in matmul.cpp.
//
// GCC/Clang vector extensions keep accumulators in registers whatever the instruction set (plain
// loops over an acc[R][NV*W] array compile to loads and stores of the array): W follows the widest
// vectors the build targets, AVX-512 16 floats, AVX 8, otherwise 4 (SSE2, NEON).
#pragma once
#include <cstdint>
#include <cstring>

namespace autoscale {
namespace simd {

#if defined(__AVX512F__)
constexpr int W = 16, MR = 8;  // 32 vector registers: an 8 x 2-vector accumulator tile
#elif defined(__AVX__)
constexpr int W = 8, MR = 6;   // 16 vector registers: a 6 x 2 tile, 2 for B, 1 broadcast
#else
constexpr int W = 4, MR = 4;
#endif
typedef float vec __attribute__((vector_size(W * sizeof(float)), aligned(sizeof(float))));

inline vec load(const float* p) { return *reinterpret_cast<const vec*>(p); }
inline void store(float* p, vec x) { *reinterpret_cast<vec*>(p) = x; }
inline int round_up(int n, int m) { return (n + m - 1) / m * m; }

// exp(x) for float x, within 2 ulp of the true value, written with arithmetic and bit operations
// only so that loops calling it under `#pragma omp simd` vectorise (libm's expf is a scalar call).
// Range reduction x = n ln2 + r, |r| <= ln2/2, then Cephes' degree-6 polynomial for exp(r) and
// 2^n built in the exponent bits. x is clamped to [-87.3, 88.3] so that 2^n stays a normal
// number: results below exp(-87.3) ~ 1e-38 are returned as about 1e-38 instead of smaller (no
// caller can tell the difference next to a sum of at least 1). NaN propagates.
#pragma omp declare simd notinbranch
inline float exp_approx(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float t = x * 1.44269504088896341f + magic;
  const float n = t - magic;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // ln2 split in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t tb, mb;
  std::memcpy(&tb, &t, 4);
  std::memcpy(&mb, &magic, 4);
  const uint32_t bits = (tb - mb + 127u) << 23;  // n + 127 in the exponent field
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// exp_approx on a whole vector, the same operations lane by lane: for loops that GCC does not
// vectorise by itself (a double-precision reduction next to the exp, a store to a buffer that may
// alias the input).
typedef int32_t ivec __attribute__((vector_size(W * sizeof(int32_t)), aligned(sizeof(int32_t))));
inline vec exp_approx(vec x) {
  const vec lo = vec{} - 87.3f, hi = vec{} + 88.3f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const vec magic = vec{} + 12582912.0f;
  const vec t = x * 1.44269504088896341f + magic;
  const vec n = t - magic;
  const vec r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  vec p = vec{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const ivec bits = ((ivec)t - (ivec)magic + 127) << 23;
  return p * (vec)bits;
}

// Transposes the W x W block x[0..W) in registers (x[r][j] <-> x[j][r]): log2(W) stages, the stage of distance D
// swapping the off-diagonal D x D blocks of every 2D x 2D block with two-vector shuffles of constant masks.
template <int D>
inline void transpose_stage(vec* x) {
  ivec lo, hi;  // row r takes lanes j & D from row r + D; row r + D takes the other lanes from row r
  for (int j = 0; j < W; j++) {
    lo[j] = (j & D) ? W + j - D : j;
    hi[j] = (j & D) ? W + j : j + D;
  }
  for (int r = 0; r < W; r++)
    if (!(r & D)) {
      const vec a = x[r], b = x[r + D];
      x[r] = __builtin_shuffle(a, b, lo);
      x[r + D] = __builtin_shuffle(a, b, hi);
    }
  if constexpr (D > 1) transpose_stage<D / 2>(x);
}
inline void transpose(vec* x) { transpose_stage<W / 2>(x); }

// A vector's lanes widened to double, in two halves (for sums that must not lose digits).
typedef float half_vec __attribute__((vector_size(W / 2 * sizeof(float)), aligned(sizeof(float))));
typedef double dvec __attribute__((vector_size(W / 2 * sizeof(double)), aligned(sizeof(double))));
inline void widen(vec x, dvec& lo, dvec& hi) {
  half_vec a, b;
  std::memcpy(&a, &x, sizeof a);
  std::memcpy(&b, reinterpret_cast<const char*>(&x) + sizeof a, sizeof b);
  lo = __builtin_convertvector(a, dvec);
  hi = __builtin_convertvector(b, dvec);
}

// One register tile of the small GEMM: C[0..R, 0..NV*W) (+)= A (R, K) @ B (K, NV*W), with
// A(i, k) = a[i * ars + k * acs] (any strides: each element is broadcast from memory) and B
// row-major with leading dimension ldb. K is summed in order, one FMA chain per element of C.
template <int R, int NV>
inline void small_tile(float* c, long ldc, const float* a, long ars, long acs, const float* b, long ldb,
                       int K, bool accumulate) {
  vec acc[R][NV];
  for (int i = 0; i < R; i++)
    for (int v = 0; v < NV; v++) acc[i][v] = accumulate ? load(c + i * ldc + v * W) : vec{};
  for (int k = 0; k < K; k++) {
    vec bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = load(b + k * ldb + v * W);
    for (int i = 0; i < R; i++) {
      const float x = a[i * ars + k * acs];
      for (int v = 0; v < NV; v++) acc[i][v] += x * bv[v];
    }
  }
  for (int i = 0; i < R; i++)
    for (int v = 0; v < NV; v++) store(c + i * ldc + v * W, acc[i][v]);
}

// Dispatches rows (1..MR, MR <= 8) to the tile instantiated for that many rows.
template <int NV>
inline void small_tile_rows(int rows, float* c, long ldc, const float* a, long ars, long acs, const float* b,
                            long ldb, int K, bool accumulate) {
  switch (rows) {
    case 1: small_tile<1, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
    case 2: small_tile<2, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
    case 3: small_tile<3, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
    case 4: small_tile<4, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
    case 5: small_tile<5, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
    case 6: small_tile<6, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
    case 7: small_tile<7, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
    default: small_tile<MR, NV>(c, ldc, a, ars, acs, b, ldb, K, accumulate); break;
  }
}

// C (M, N) (+)= A (M, K) @ B (K, N) for small operands in cache. N must be a multiple of W (pad
// B and C with zero columns); A(i, k) = a[i * ars + k * acs]; B and C row-major. Single-threaded;
// every element of C is one FMA chain over k in order, so results do not depend on blocking.
inline void small_gemm(float* c, long ldc, const float* a, long ars, long acs, const float* b, long ldb,
                       int M, int N, int K, bool accumulate) {
  for (int j = 0; j < N; j += 2 * W) {
    const bool two = j + 2 * W <= N;
    for (int i = 0; i < M; i += MR) {
      const int rows = M - i < MR ? M - i : MR;
      float* ci = c + (long)i * ldc + j;
      const float* ai = a + (long)i * ars;
      if (two)
        small_tile_rows<2>(rows, ci, ldc, ai, ars, acs, b + j, ldb, K, accumulate);
      else
        small_tile_rows<1>(rows, ci, ldc, ai, ars, acs, b + j, ldb, K, accumulate);
    }
  }
}

}  // namespace simd
}  // namespace autoscale
