// Fully connected layer (PyTorch Linear layout), all three products through one blocked GEMM.
// inp (N,C); weight (OC,C); bias (OC) nullable; out (N,OC) = inp @ weight^T + bias.
// Backward: dout (N,OC); dinp (N,C) += dout @ weight; dweight (OC,C) += dout^T @ inp;
// dbias (OC) += sum_n dout. dinp and dbias are nullable.
//
// The GEMM: C (M,N) = A (M,K) @ B (K,N), A and B read through strides so no operand is ever
// transposed as a whole. Work is split into (row block, column block) tasks, each owned by one
// thread (no races). Inside a task, for each block of KC rows of B, the KC x COLS panel of B is
// packed contiguously (NR columns at a time, zero padded), and so is the task's block of A (MR rows
// at a time); then each MR x NR register tile of C is accumulated over the panels: per k, one
// broadcast of A times two vectors of B per row (FMA). Each element of C is summed in the same order for
// any thread count, so the results do not depend on `threads`.
#include <omp.h>

#include <algorithm>
#include <memory>

#include "ops.h"

namespace autoscale {

namespace {

// The register tile is MR rows x NR = 2 vectors of W floats, with GCC/Clang vector extensions so
// that it stays in registers whatever the instruction set (plain loops over an acc[MR][NR] array
// compile to loads and stores of the array, ten times slower). W follows the widest vectors the
// build targets: AVX-512 16 floats, AVX 8, otherwise 4 (SSE2, NEON).
#if defined(__AVX512F__)
constexpr int W = 16, MR = 8;
#elif defined(__AVX__)
constexpr int W = 8, MR = 4;
#else
constexpr int W = 4, MR = 4;
#endif
constexpr int NR = 2 * W;
typedef float vec __attribute__((vector_size(W * sizeof(float)), aligned(sizeof(float))));

constexpr int KC = 256;  // rows of B per packed panel (the panel stays in L2)
constexpr int MAX_ROW_BLOCK = 64;   // rows of C per task (a multiple of MR)
constexpr int MAX_COL_BLOCK = 128;  // columns of C per task (a multiple of NR)

struct Strided {  // X(i, j) = p[i * rs + j * cs]
  const float* p;
  long rs, cs;
};

// C[0..rows, 0..nr) (+)= Apanel (MR, kc) @ Bpanel (kc, NR), both packed k-major; `first`
// overwrites C with acc (+ bias[j] when bias is given) instead of accumulating.
inline void micro_tile(float* c, long ldc, const float* apanel, const float* bpanel, int kc, int rows,
                       int nr, bool first, const float* bias) {
  vec acc[MR][2] = {};
  for (int k = 0; k < kc; k++) {
    const vec b0 = *reinterpret_cast<const vec*>(bpanel + (size_t)k * NR);
    const vec b1 = *reinterpret_cast<const vec*>(bpanel + (size_t)k * NR + W);
    const float* a = apanel + (size_t)k * MR;
    for (int i = 0; i < MR; i++) {
      acc[i][0] += a[i] * b0;
      acc[i][1] += a[i] * b1;
    }
  }
  for (int i = 0; i < rows; i++) {
    float* ci = c + i * ldc;
    for (int j = 0; j < nr; j++) {
      const float x = acc[i][j / W][j % W];
      ci[j] = first ? x + (bias ? bias[j] : 0.0f) : ci[j] + x;
    }
  }
}

// C (M,N) row-major with leading dimension ldc. accumulate: C += A @ B; else C = A @ B + bias
// (bias (N) nullable).
void gemm(float* c, long ldc, Strided A, Strided B, const float* bias, bool accumulate, int M, int N,
          int K, int threads) {
  // Shrink the task size until there are enough tasks to keep every thread busy.
  int row_block = MAX_ROW_BLOCK, col_block = MAX_COL_BLOCK;
  auto tasks = [&] {
    return (long)((M + row_block - 1) / row_block) * ((N + col_block - 1) / col_block);
  };
  while (tasks() < 4L * threads && (row_block > MR || col_block > NR)) {
    if (row_block > MR && (row_block >= col_block || col_block == NR))
      row_block /= 2;
    else
      col_block /= 2;
  }
  const int row_blocks = (M + row_block - 1) / row_block;
  const int col_blocks = (N + col_block - 1) / col_block;
  // per thread: the packed B panel (KC x col_block) then the packed A panel (row_block x KC)
  const size_t panel_floats = (size_t)KC * (col_block + row_block);
  std::unique_ptr<float[]> scratch = alloc_scratch_floats(panel_floats * threads, "matmul");

#pragma omp parallel for collapse(2) num_threads(threads) schedule(dynamic)
  for (int rb = 0; rb < row_blocks; rb++) {
    for (int cb = 0; cb < col_blocks; cb++) {
      float* panel = scratch.get() + panel_floats * omp_get_thread_num();
      float* apanel = panel + (size_t)KC * col_block;
      const int i0 = rb * row_block, i1 = std::min(M, i0 + row_block);
      const int j0 = cb * col_block, j1 = std::min(N, j0 + col_block);
      const int strips = (j1 - j0 + NR - 1) / NR;
      for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = std::min(KC, K - k0);
        // pack B[k0..k0+kc, j0..j1) as `strips` panels of (kc, NR), zero padded past j1;
        // the loop order follows B's contiguous axis so that the reads stream
        for (int s = 0; s < strips; s++) {
          float* p = panel + (size_t)s * kc * NR;
          const int js = j0 + s * NR, nr = std::min(NR, j1 - js);
          if (B.cs == 1) {
            for (int k = 0; k < kc; k++) {
              const float* src = B.p + (long)(k0 + k) * B.rs + js;
              for (int jj = 0; jj < NR; jj++) p[k * NR + jj] = jj < nr ? src[jj] : 0.0f;
            }
          } else {
            for (int jj = 0; jj < NR; jj++) {
              const float* src = B.p + (long)k0 * B.rs + (long)(js + jj) * B.cs;
              for (int k = 0; k < kc; k++) p[k * NR + jj] = jj < nr ? src[k * B.rs] : 0.0f;
            }
          }
        }
        // pack A[i0..i1, k0..k0+kc) as groups of MR rows, each (kc, MR), zero padded past i1
        // (A may be read with a large stride, e.g. dout^T: packing makes it one contiguous stream)
        const int groups = (i1 - i0 + MR - 1) / MR;
        for (int gi = 0; gi < groups; gi++) {
          float* q = apanel + (size_t)gi * kc * MR;
          const int is = i0 + gi * MR, mr = std::min(MR, i1 - is);
          if (A.rs == 1) {
            for (int k = 0; k < kc; k++) {
              const float* src = A.p + is + (long)(k0 + k) * A.cs;
              for (int ii = 0; ii < MR; ii++) q[k * MR + ii] = ii < mr ? src[ii] : 0.0f;
            }
          } else {
            for (int ii = 0; ii < MR; ii++) {
              const float* src = A.p + (long)(is + ii) * A.rs + (long)k0 * A.cs;
              for (int k = 0; k < kc; k++) q[k * MR + ii] = ii < mr ? src[k * A.cs] : 0.0f;
            }
          }
        }
        const bool first = !accumulate && k0 == 0;
        for (int s = 0; s < strips; s++) {
          const float* p = panel + (size_t)s * kc * NR;
          const int j = j0 + s * NR, nr = std::min(NR, j1 - j);
          const float* bj = bias ? bias + j : nullptr;
          for (int gi = 0; gi < groups; gi++) {
            const int i = i0 + gi * MR;
            micro_tile(c + i * ldc + j, ldc, apanel + (size_t)gi * kc * MR, p, kc, std::min(MR, i1 - i), nr,
                       first, bj);
          }
        }
      }
    }
  }
}

constexpr int kBiasBlock = 64;  // output channels per task in the bias gradient

}  // namespace

void matmul_forward_cpu(float* out, const float* inp, const float* weight, const float* bias, int N,
                        int C, int OC, int threads) {
  // A = inp (N,C); B = weight^T (C,OC): B(c, o) = weight[o*C + c]
  gemm(out, OC, Strided{inp, C, 1}, Strided{weight, 1, C}, bias, false, N, OC, C, threads);
}

void matmul_backward_cpu(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, int N, int C, int OC, int threads) {
  // dinp (N,C) += dout (N,OC) @ weight (OC,C)
  if (dinp) gemm(dinp, C, Strided{dout, OC, 1}, Strided{weight, C, 1}, nullptr, true, N, C, OC, threads);
  // dweight (OC,C) += dout^T (OC,N) @ inp (N,C); A(o, n) = dout[n*OC + o]
  gemm(dweight, C, Strided{dout, 1, OC}, Strided{inp, C, 1}, nullptr, true, OC, C, N, threads);
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
