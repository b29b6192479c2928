// Matrix multiplication on CUDA.
//
// One GEMM, D(m,n) [+]= sum_k A(m,k) B(k,n) (+ bias[n]), serves the three products of a Linear
// layer through the operand layouts (see GemmArgs):
//   forward  out(N,OC)   = inp(N,C) @ W(OC,C)^T   A k-contiguous, B k-contiguous
//   dinp     dinp(N,C)  += dout(N,OC) @ W(OC,C)   A k-contiguous, B n-contiguous
//   dweight  dW(OC,C)   += dout^T @ inp(N,C)      A m-contiguous, B n-contiguous
// dbias is a deterministic column sum (layernorm.cu's column_sums).
//
// Kernels:
//  - gemm_general_kernel: one thread per output, fp32, the obvious loop (the slow version):
//    K = 0 runs it, and the reference (reference/matmul.cu) runs it for every GEMM.
//  - gemm_simt_kernel: fp32, 64x64 tile per block of 256 threads, 4x4 outputs per thread,
//    k-tiles of 16 through shared memory.
//  - gemm_wmma_kernel: TF32 (m16n16k8) or BF16 (m16n16k16) tensor cores via WMMA with fp32
//    accumulation; 128x128 tile per block of 8 warps (each 64x32), k-tiles of 16 (TF32) or 32
//    (BF16) double-buffered in shared memory with register prefetch of the next tile; fp32 inputs
//    are converted while they are staged into shared memory.
//  - split-K when the output has too few tiles to fill the GPU (the dweight products): partial
//    products go to the workspace and a fixed-order reduction adds them (deterministic).
//  - cuBLASLt (AUTOSCALE_WITH_CUBLASLT): same GEMM through cublasLtMatmul with compute type
//    32F / 32F_FAST_TF32 / 32F_FAST_16BF on the fp32 operands, bias through its epilogue.
#include <mma.h>
#include <cuda_bf16.h>

#include <map>
#include <tuple>
#include <type_traits>

#include "layernorm.cuh"
#include "matmul.cuh"

#ifdef AUTOSCALE_WITH_CUBLASLT
#include <cublasLt.h>
#endif

namespace autoscale {
namespace cuda {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "tf32") return Precision::Tf32;
  if (name == "bf16") return Precision::Bf16;
  throw NativeError(ErrorCode::InvalidArgument,
                    "matmul_precision must be \"fp32\", \"tf32\" or \"bf16\", got \"" + name + "\"");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Fp32: return "fp32";
    case Precision::Tf32: return "tf32";
    case Precision::Bf16: return "bf16";
  }
  return "fp32";
}

bool cublaslt_compiled() {
#ifdef AUTOSCALE_WITH_CUBLASLT
  return true;
#else
  return false;
#endif
}

// ---------------------------------------------------------------------------------------------
// General: one thread per output element.
// ---------------------------------------------------------------------------------------------
__device__ __forceinline__ float load_a(const GemmArgs& g, int m, int k) {
  return g.a_kcontig ? g.A[(size_t)m * g.lda + k] : g.A[(size_t)k * g.lda + m];
}
__device__ __forceinline__ float load_b(const GemmArgs& g, int k, int n) {
  return g.b_kcontig ? g.B[(size_t)n * g.ldb + k] : g.B[(size_t)k * g.ldb + n];
}

__global__ void gemm_general_kernel(GemmArgs g) {
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  int m = blockIdx.y * blockDim.y + threadIdx.y;
  if (m >= g.M || n >= g.N) return;
  float acc = 0.0f;
  for (int k = 0; k < g.K; k++) acc += load_a(g, m, k) * load_b(g, k, n);
  if (g.bias) acc += g.bias[n];
  float* d = g.D + (size_t)m * g.ldd + n;
  *d = g.accumulate ? *d + acc : acc;
}

void gemm_general(cudaStream_t stream, const GemmArgs& g) {
  if (g.M <= 0 || g.N <= 0) return;
  dim3 block(16, 16);
  dim3 grid(ceil_div(g.N, 16), ceil_div(g.M, 16));
  gemm_general_kernel<<<grid, block, 0, stream>>>(g);
  CUDA_CHECK_LAUNCH("gemm_general");
}

// ---------------------------------------------------------------------------------------------
// Epilogue shared by the fast kernels: with split-K (gridDim.z > 1) each split writes its partial
// product to ws[z] (M x N, overwrite) and splitk_reduce_kernel finishes; otherwise write D.
// ---------------------------------------------------------------------------------------------
struct Epilogue {
  float* D;
  int ldd;
  const float* bias;
  bool accumulate;
  float* partials;  // non-null with split-K
  int M, N;
  __device__ __forceinline__ void store(int m, int n, float v) const {
    if (m >= M || n >= N) return;
    if (partials) {
      partials[((size_t)blockIdx.z * M + m) * N + n] = v;
      return;
    }
    if (bias) v += bias[n];
    float* d = D + (size_t)m * ldd + n;
    *d = accumulate ? *d + v : v;
  }
};

__global__ void splitk_reduce_kernel(Epilogue e, int splits) {
  size_t total = (size_t)e.M * e.N;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    float v = 0.0f;
    for (int z = 0; z < splits; z++) v += e.partials[(size_t)z * total + i];
    int m = (int)(i / e.N), n = (int)(i % e.N);
    if (e.bias) v += e.bias[n];
    float* d = e.D + (size_t)m * e.ldd + n;
    *d = e.accumulate ? *d + v : v;
  }
}

// ---------------------------------------------------------------------------------------------
// Loading a tile from global memory. The tile is ROWS x COLS in the operand's own memory order
// (COLS along the contiguous dimension): element (r, c) is src[(row0 + r) * ld + col0 + c], zero
// outside [0,row_lim) x [0,col_lim). THREADS threads each hold ROWS*COLS/THREADS values.
// ---------------------------------------------------------------------------------------------
template <int ROWS, int COLS, int THREADS, bool VEC>
struct TileLoader {
  static constexpr int PER_THREAD = ROWS * COLS / THREADS;
  static_assert(ROWS * COLS % (THREADS * 4) == 0, "tile must split evenly into float4 per thread");
  float r[PER_THREAD];

  __device__ __forceinline__ void load(const float* __restrict__ src, int ld, int row0, int col0, int row_lim,
                                       int col_lim) {
    const int tid = threadIdx.x;
    if constexpr (VEC) {
      constexpr int C4 = COLS / 4;
#pragma unroll
      for (int i = 0; i < PER_THREAD / 4; i++) {
        int idx = tid + i * THREADS;
        int rr = idx / C4, cc = (idx % C4) * 4;
        int grow = row0 + rr, gcol = col0 + cc;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (grow < row_lim) {
          const float* p = src + (size_t)grow * ld + gcol;
          if (gcol + 3 < col_lim) {
            v = *reinterpret_cast<const float4*>(p);
          } else {
            if (gcol + 0 < col_lim) v.x = p[0];
            if (gcol + 1 < col_lim) v.y = p[1];
            if (gcol + 2 < col_lim) v.z = p[2];
          }
        }
        r[4 * i + 0] = v.x;
        r[4 * i + 1] = v.y;
        r[4 * i + 2] = v.z;
        r[4 * i + 3] = v.w;
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER_THREAD; i++) {
        int idx = tid + i * THREADS;
        int rr = idx / COLS, cc = idx % COLS;
        int grow = row0 + rr, gcol = col0 + cc;
        r[i] = (grow < row_lim && gcol < col_lim) ? src[(size_t)grow * ld + gcol] : 0.0f;
      }
    }
  }

  // Writes the values to a shared tile dst[r * LD + c], converted by Convert.
  template <int LD, typename T, typename Convert>
  __device__ __forceinline__ void store(T* dst, Convert convert) const {
    const int tid = threadIdx.x;
    if constexpr (VEC) {
      constexpr int C4 = COLS / 4;
#pragma unroll
      for (int i = 0; i < PER_THREAD / 4; i++) {
        int idx = tid + i * THREADS;
        int rr = idx / C4, cc = (idx % C4) * 4;
#pragma unroll
        for (int e = 0; e < 4; e++) dst[rr * LD + cc + e] = convert(r[4 * i + e]);
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER_THREAD; i++) {
        int idx = tid + i * THREADS;
        int rr = idx / COLS, cc = idx % COLS;
        dst[rr * LD + cc] = convert(r[i]);
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// fp32 SIMT kernel: 64x64 outputs per block, 256 threads in 16x16, each 4x4 outputs strided by
// 16 (rows ty + 16i, cols tx + 16j) so shared-memory reads are broadcasts or consecutive.
// ---------------------------------------------------------------------------------------------
constexpr int kSimtBM = 64, kSimtBN = 64, kSimtBK = 16, kSimtThreads = 256;

template <bool A_K, bool B_K>
__global__ void __launch_bounds__(kSimtThreads) gemm_simt_kernel(GemmArgs g, Epilogue e, int k_chunk) {
  constexpr int BM = kSimtBM, BN = kSimtBN, BK = kSimtBK;
  // Shared tiles are k-major: As[k][m], Bs[k][n] (+1 padding against bank conflicts on stores).
  __shared__ float As[BK][BM + 1];
  __shared__ float Bs[BK][BN + 1];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int k_begin = blockIdx.z * k_chunk;
  const int k_end = min(g.K, k_begin + k_chunk);
  float acc[4][4] = {};
  for (int k0 = k_begin; k0 < k_end; k0 += BK) {
    // Load A: coalesced along the operand's contiguous dimension.
#pragma unroll
    for (int i = 0; i < BM * BK / kSimtThreads; i++) {
      int idx = tid + i * kSimtThreads;
      int m, k;
      if (A_K) { m = idx / BK; k = idx % BK; } else { k = idx / BM; m = idx % BM; }
      int gm = m0 + m, gk = k0 + k;
      float v = 0.0f;
      if (gm < g.M && gk < k_end) v = A_K ? g.A[(size_t)gm * g.lda + gk] : g.A[(size_t)gk * g.lda + gm];
      As[k][m] = v;
    }
#pragma unroll
    for (int i = 0; i < BN * BK / kSimtThreads; i++) {
      int idx = tid + i * kSimtThreads;
      int n, k;
      if (B_K) { n = idx / BK; k = idx % BK; } else { k = idx / BN; n = idx % BN; }
      int gn = n0 + n, gk = k0 + k;
      float v = 0.0f;
      if (gn < g.N && gk < k_end) v = B_K ? g.B[(size_t)gn * g.ldb + gk] : g.B[(size_t)gk * g.ldb + gn];
      Bs[k][n] = v;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; k++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = As[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) e.store(m0 + ty + 16 * i, n0 + tx + 16 * j, acc[i][j]);
}

// ---------------------------------------------------------------------------------------------
// WMMA tensor-core kernel (sm_80+).
// ---------------------------------------------------------------------------------------------
namespace wmma = nvcuda::wmma;

struct Bf16Traits {
  using smem_t = __nv_bfloat16;
  static constexpr int BK = 32, WK = 16, PAD = 8;  // ldm multiple of 8 elements (16 bytes)
  using frag_elem = __nv_bfloat16;
  static __device__ __forceinline__ smem_t convert(float x) { return __float2bfloat16(x); }
  template <typename Frag>
  static __device__ __forceinline__ void fix(Frag&) {}
};

struct Tf32Traits {
  using smem_t = float;
  static constexpr int BK = 16, WK = 8, PAD = 4;  // ldm multiple of 4 elements (16 bytes)
  using frag_elem = wmma::precision::tf32;
  static __device__ __forceinline__ smem_t convert(float x) { return x; }
  template <typename Frag>
  static __device__ __forceinline__ void fix(Frag& f) {
#pragma unroll
    for (int t = 0; t < f.num_elements; t++) f.x[t] = wmma::__float_to_tf32(f.x[t]);
  }
};

constexpr int kWmmaBM = 128, kWmmaBN = 128, kWmmaThreads = 256;

template <class P, bool A_K, bool B_K, bool VEC>
__global__ void __launch_bounds__(kWmmaThreads) gemm_wmma_kernel(GemmArgs g, Epilogue e, int k_chunk) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  constexpr int BM = kWmmaBM, BN = kWmmaBN, BK = P::BK, WK = P::WK, PAD = P::PAD;
  using T = typename P::smem_t;
  // Shared tiles in each operand's memory order (contiguous dimension innermost).
  constexpr int A_ROWS = A_K ? BM : BK, A_COLS = A_K ? BK : BM;
  constexpr int B_ROWS = B_K ? BN : BK, B_COLS = B_K ? BK : BN;
  constexpr int A_LD = A_COLS + PAD, B_LD = B_COLS + PAD;
  constexpr int A_ELEMS = A_ROWS * A_LD, B_ELEMS = B_ROWS * B_LD;
  constexpr int SMEM_BYTES = 2 * (A_ELEMS + B_ELEMS) * (int)sizeof(T);
  // WMMA needs 256-bit aligned fragment pointers: every stage and row-of-16 offset keeps that.
  static_assert((A_ELEMS * sizeof(T)) % 32 == 0 && (B_ELEMS * sizeof(T)) % 32 == 0, "stage alignment");
  static_assert((16 * A_LD * sizeof(T)) % 32 == 0 && (16 * B_LD * sizeof(T)) % 32 == 0, "row alignment");
  static_assert((WK * A_LD * sizeof(T)) % 32 == 0 && (WK * B_LD * sizeof(T)) % 32 == 0, "k-step alignment");
  static_assert(SMEM_BYTES <= 48 * 1024, "static shared memory limit");
  static_assert(SMEM_BYTES >= 8 * 256 * (int)sizeof(float), "epilogue staging reuses the tiles");
  __shared__ __align__(128) unsigned char smem[SMEM_BYTES];
  T* const As = reinterpret_cast<T*>(smem);
  T* const Bs = As + 2 * A_ELEMS;

  using LayoutA = std::conditional_t<A_K, wmma::row_major, wmma::col_major>;
  using LayoutB = std::conditional_t<B_K, wmma::col_major, wmma::row_major>;
  using FragA = wmma::fragment<wmma::matrix_a, 16, 16, WK, typename P::frag_elem, LayoutA>;
  using FragB = wmma::fragment<wmma::matrix_b, 16, 16, WK, typename P::frag_elem, LayoutB>;
  using FragC = wmma::fragment<wmma::accumulator, 16, 16, WK, float>;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;  // 2 x 4 warps, 64 x 32 each
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int k_begin = blockIdx.z * k_chunk;
  const int k_end = min(g.K, k_begin + k_chunk);

  FragC acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

  TileLoader<A_ROWS, A_COLS, kWmmaThreads, VEC> la;
  TileLoader<B_ROWS, B_COLS, kWmmaThreads, VEC> lb;
  auto load = [&](int k0) {
    if (A_K) la.load(g.A, g.lda, m0, k0, g.M, k_end);
    else la.load(g.A, g.lda, k0, m0, k_end, g.M);
    if (B_K) lb.load(g.B, g.ldb, n0, k0, g.N, k_end);
    else lb.load(g.B, g.ldb, k0, n0, k_end, g.N);
  };
  auto convert = [](float x) { return P::convert(x); };
  auto store = [&](int stage) {
    la.template store<A_LD>(As + stage * A_ELEMS, convert);
    lb.template store<B_LD>(Bs + stage * B_ELEMS, convert);
  };

  const int num_k_tiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
  if (num_k_tiles > 0) {
    load(k_begin);
    store(0);
  }
  __syncthreads();
  for (int kt = 0; kt < num_k_tiles; kt++) {
    const bool has_next = kt + 1 < num_k_tiles;
    if (has_next) load(k_begin + (kt + 1) * BK);  // global loads in flight during the MMAs
    const T* a_tile = As + (kt & 1) * A_ELEMS;
    const T* b_tile = Bs + (kt & 1) * B_ELEMS;
#pragma unroll
    for (int kk = 0; kk < BK; kk += WK) {
      FragA a[4];
      FragB b[2];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const T* p = A_K ? a_tile + (wm + 16 * i) * A_LD + kk : a_tile + kk * A_LD + (wm + 16 * i);
        wmma::load_matrix_sync(a[i], p, A_LD);
        P::fix(a[i]);
      }
#pragma unroll
      for (int j = 0; j < 2; j++) {
        const T* p = B_K ? b_tile + (wn + 16 * j) * B_LD + kk : b_tile + kk * B_LD + (wn + 16 * j);
        wmma::load_matrix_sync(b[j], p, B_LD);
        P::fix(b[j]);
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    if (has_next) store((kt + 1) & 1);  // the other stage: nobody reads it this iteration
    __syncthreads();
  }

  // Epilogue: each warp stages one 16x16 fragment at a time in shared memory (the tiles are no
  // longer read: the loop ended with a barrier), then writes it with bounds checks.
  float* stage = reinterpret_cast<float*>(smem) + warp * 256;
#pragma unroll
  for (int i = 0; i < 4; i++) {
#pragma unroll
    for (int j = 0; j < 2; j++) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
#pragma unroll
      for (int t = 0; t < 8; t++) {
        int idx = lane + 32 * t;
        e.store(m0 + wm + 16 * i + idx / 16, n0 + wn + 16 * j + idx % 16, stage[idx]);
      }
      __syncwarp();
    }
  }
#endif
}

// ---------------------------------------------------------------------------------------------
// cuBLASLt
// ---------------------------------------------------------------------------------------------
#ifdef AUTOSCALE_WITH_CUBLASLT
#define CUBLASLT_CHECK(call)                                                                    \
  do {                                                                                          \
    cublasStatus_t autoscale_lt_status_ = (call);                                               \
    if (autoscale_lt_status_ != CUBLAS_STATUS_SUCCESS)                                          \
      throw NativeError(ErrorCode::Cuda, std::string(#call) + " failed: cuBLAS status " +       \
                                             std::to_string((int)autoscale_lt_status_) + " at " + \
                                             __FILE__ + ":" + std::to_string(__LINE__));        \
  } while (0)

// D(m,n) += bias[n], for a bias cuBLASLt's epilogue cannot take (not 16-byte aligned).
__global__ void add_bias_kernel(float* D, int ldd, const float* bias, int M, int N) {
  size_t total = (size_t)M * N;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
    D[(i / N) * ldd + i % N] += bias[i % N];
}

namespace {
// Descriptors are created per call (host-only, cheap); the chosen algorithm is cached per shape.
struct LtDescriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t x = nullptr, y = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescriptors() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (y) cublasLtMatrixLayoutDestroy(y);
    if (x) cublasLtMatrixLayoutDestroy(x);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};
}  // namespace
#endif

class GemmEngineImpl : public GemmEngine {
 public:
  GemmImpl impl_ = GemmImpl::Own;
  int num_sms = 80;
  int compute_major = 8;
#ifdef AUTOSCALE_WITH_CUBLASLT
  cublasLtHandle_t lt = nullptr;
  void* lt_workspace = nullptr;
  size_t lt_workspace_bytes = 32u << 20;
  // shape, layouts, bias, accumulate, precision, pointer alignments (A, B, D)
  using Key = std::tuple<int, int, int, int, int, int, bool, bool, bool, bool, int, uint32_t, uint32_t, uint32_t>;
  std::map<Key, cublasLtMatmulAlgo_t> algos;
#endif
  GemmImpl impl() const override { return impl_; }
  const char* impl_name() const override { return impl_ == GemmImpl::CublasLt ? "cublaslt" : "own"; }
  ~GemmEngineImpl() override {
#ifdef AUTOSCALE_WITH_CUBLASLT
    if (lt_workspace) cudaFree(lt_workspace);
    if (lt) cublasLtDestroy(lt);
#endif
  }

#ifdef AUTOSCALE_WITH_CUBLASLT
  // Row-major D(M,N) = A B is column-major D^T(N,M) = B^T A^T: cuBLASLt's first operand is B.
  void lt_gemm(cudaStream_t stream, Precision precision, const GemmArgs& g) {
    cublasComputeType_t compute = precision == Precision::Fp32   ? CUBLAS_COMPUTE_32F
                                  : precision == Precision::Tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                 : CUBLAS_COMPUTE_32F_FAST_16BF;
    cublasOperation_t op_x = g.b_kcontig ? CUBLAS_OP_T : CUBLAS_OP_N;  // B stored K x N or N x K
    cublasOperation_t op_y = g.a_kcontig ? CUBLAS_OP_N : CUBLAS_OP_T;  // A stored K x M or M x K
    LtDescriptors desc;
    CUBLASLT_CHECK(cublasLtMatmulDescCreate(&desc.op, compute, CUDA_R_32F));
    CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_x, sizeof(op_x)));
    CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_y, sizeof(op_y)));
    const bool bias_epilogue = g.bias && aligned16(g.bias);  // else added by add_bias_kernel below
    if (bias_epilogue) {
      cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      CUBLASLT_CHECK(
          cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
      const void* bias = g.bias;
      CUBLASLT_CHECK(
          cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    }
    const bool xt = op_x == CUBLAS_OP_T, yn = op_y == CUBLAS_OP_N;
    CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&desc.x, CUDA_R_32F, xt ? g.K : g.N, xt ? g.N : g.K, g.ldb));
    CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&desc.y, CUDA_R_32F, yn ? g.K : g.M, yn ? g.M : g.K, g.lda));
    CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&desc.d, CUDA_R_32F, g.N, g.M, g.ldd));
    // cuBLASLt assumes 256-byte aligned operands unless told otherwise; ours may point into the
    // middle of a larger allocation.
    auto alignment = [](const void* p) {
      uint32_t a = 256;
      while (a > 4 && ((uintptr_t)p % a) != 0) a /= 2;
      return a;
    };
    uint32_t align_a = alignment(g.A), align_b = alignment(g.B), align_d = alignment(g.D);
    Key key{g.M, g.N, g.K, g.lda, g.ldb, g.ldd, g.a_kcontig, g.b_kcontig, bias_epilogue, g.accumulate,
            (int)precision, align_a, align_b, align_d};
    auto it = algos.find(key);
    if (it == algos.end()) {
      CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&desc.pref));
      CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(desc.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                          &lt_workspace_bytes, sizeof(lt_workspace_bytes)));
      // cuBLASLt's A is our B, its B our A; C and D are our D.
      CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                          &align_b, sizeof(align_b)));
      CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                          &align_a, sizeof(align_a)));
      CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                          &align_d, sizeof(align_d)));
      CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                          &align_d, sizeof(align_d)));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      CUBLASLT_CHECK(cublasLtMatmulAlgoGetHeuristic(lt, desc.op, desc.x, desc.y, desc.d, desc.d, desc.pref, 1,
                                                    &result, &found));
      if (found == 0)
        throw NativeError(ErrorCode::Cuda, "cuBLASLt found no algorithm for a " + std::to_string(g.M) + "x" +
                                               std::to_string(g.N) + "x" + std::to_string(g.K) + " GEMM");
      it = algos.emplace(key, result.algo).first;
    }
    const float alpha = 1.0f, beta = g.accumulate ? 1.0f : 0.0f;
    CUBLASLT_CHECK(cublasLtMatmul(lt, desc.op, &alpha, g.B, desc.x, g.A, desc.y, &beta, g.D, desc.d, g.D,
                                  desc.d, &it->second, lt_workspace, lt_workspace_bytes, stream));
    if (g.bias && !bias_epilogue) {
      const unsigned block = 256;
      add_bias_kernel<<<grid_for((size_t)g.M * g.N, block), block, 0, stream>>>(g.D, g.ldd, g.bias, g.M, g.N);
      CUDA_CHECK_LAUNCH("add_bias");
    }
  }
#endif
};

std::unique_ptr<GemmEngine> make_gemm_engine(const std::string& impl_request) {
  auto engine = std::make_unique<GemmEngineImpl>();
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&engine->num_sms, cudaDevAttrMultiProcessorCount, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&engine->compute_major, cudaDevAttrComputeCapabilityMajor, device));
  bool want_lt = cublaslt_compiled();
  if (impl_request == "own") want_lt = false;
  else if (impl_request == "cublaslt") {
    if (!cublaslt_compiled())
      throw NativeError(ErrorCode::BackendUnavailable,
                        "GEMM implementation \"cublaslt\" requested, but cuBLASLt was not found when "
                        "autoscale-lm was built (the CUDA toolkit has no cublasLt): use \"own\"");
  } else if (!impl_request.empty()) {
    throw NativeError(ErrorCode::InvalidArgument,
                      "GEMM implementation must be \"own\" or \"cublaslt\", got \"" + impl_request + "\"");
  }
#ifdef AUTOSCALE_WITH_CUBLASLT
  if (want_lt) {
    cublasStatus_t st = cublasLtCreate(&engine->lt);
    if (st != CUBLAS_STATUS_SUCCESS)
      throw NativeError(ErrorCode::Cuda, "cublasLtCreate failed: cuBLAS status " + std::to_string((int)st));
    cudaError_t err = cudaMalloc(&engine->lt_workspace, engine->lt_workspace_bytes);
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc(cuBLASLt workspace)", __FILE__, __LINE__);
    engine->impl_ = GemmImpl::CublasLt;
  }
#else
  (void)want_lt;
#endif
  return engine;
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------
namespace {

// Splits the K dimension when the output tiles alone cannot fill the GPU.
int choose_splits(const GemmArgs& g, int tile_m, int tile_n, int bk, int num_sms) {
  long tiles = (long)ceil_div(g.M, tile_m) * ceil_div(g.N, tile_n);
  long target = 2L * num_sms;
  if (tiles >= target) return 1;
  long splits = (target + tiles - 1) / tiles;
  long max_by_k = g.K / (8L * bk);  // at least 8 k-tiles per split
  if (splits > max_by_k) splits = max_by_k;
  if (splits > 16) splits = 16;
  return splits < 1 ? 1 : (int)splits;
}

template <class P, bool A_K, bool B_K>
void launch_wmma(cudaStream_t s, bool vec, dim3 grid, const GemmArgs& g, const Epilogue& e, int k_chunk) {
  if (vec) gemm_wmma_kernel<P, A_K, B_K, true><<<grid, kWmmaThreads, 0, s>>>(g, e, k_chunk);
  else gemm_wmma_kernel<P, A_K, B_K, false><<<grid, kWmmaThreads, 0, s>>>(g, e, k_chunk);
}

template <class P>
void launch_wmma_layout(cudaStream_t s, bool vec, dim3 grid, const GemmArgs& g, const Epilogue& e, int k_chunk) {
  // The three layouts of a Linear layer (a fourth, A m-contiguous with B k-contiguous, is unused).
  if (g.a_kcontig && g.b_kcontig) launch_wmma<P, true, true>(s, vec, grid, g, e, k_chunk);
  else if (g.a_kcontig) launch_wmma<P, true, false>(s, vec, grid, g, e, k_chunk);
  else if (!g.b_kcontig) launch_wmma<P, false, false>(s, vec, grid, g, e, k_chunk);
  else AUTOSCALE_CHECK(false, "unsupported GEMM layout (A m-contiguous, B k-contiguous)");
}

void launch_simt(cudaStream_t s, dim3 grid, const GemmArgs& g, const Epilogue& e, int k_chunk) {
  if (g.a_kcontig && g.b_kcontig) gemm_simt_kernel<true, true><<<grid, kSimtThreads, 0, s>>>(g, e, k_chunk);
  else if (g.a_kcontig) gemm_simt_kernel<true, false><<<grid, kSimtThreads, 0, s>>>(g, e, k_chunk);
  else if (!g.b_kcontig) gemm_simt_kernel<false, false><<<grid, kSimtThreads, 0, s>>>(g, e, k_chunk);
  else AUTOSCALE_CHECK(false, "unsupported GEMM layout (A m-contiguous, B k-contiguous)");
}

}  // namespace

void gemm(cudaStream_t stream, GemmEngine& engine_base, Workspace& ws, Precision precision, const GemmArgs& g) {
  auto& engine = static_cast<GemmEngineImpl&>(engine_base);
  if (g.M <= 0 || g.N <= 0) return;
  if (g.K <= 0) {  // D = bias (or D + bias): the tiled kernels and split-K assume K > 0
    gemm_general(stream, g);
    return;
  }
#ifdef AUTOSCALE_WITH_CUBLASLT
  if (engine.impl_ == GemmImpl::CublasLt) {
    engine.lt_gemm(stream, precision, g);
    return;
  }
#endif
  const bool tensor_cores = precision != Precision::Fp32 && engine.compute_major >= 8;
  const int tile_m = tensor_cores ? kWmmaBM : kSimtBM, tile_n = tensor_cores ? kWmmaBN : kSimtBN;
  const int bk = !tensor_cores ? kSimtBK : precision == Precision::Bf16 ? Bf16Traits::BK : Tf32Traits::BK;
  int splits = choose_splits(g, tile_m, tile_n, bk, engine.num_sms);
  int k_chunk = (int)ceil_div(ceil_div(g.K, splits), bk) * bk;
  splits = (int)ceil_div(g.K, k_chunk);
  Epilogue e{g.D, g.ldd, g.bias, g.accumulate, nullptr, g.M, g.N};
  if (splits > 1) e.partials = (float*)ws.get(sizeof(float) * (size_t)splits * g.M * g.N);
  dim3 grid(ceil_div(g.N, tile_n), ceil_div(g.M, tile_m), splits);
  if (tensor_cores) {
    // float4 loads need 16-byte aligned rows: pointer and leading dimension.
    const bool vec = aligned16(g.A, g.B) && g.lda % 4 == 0 && g.ldb % 4 == 0;
    if (precision == Precision::Bf16) launch_wmma_layout<Bf16Traits>(stream, vec, grid, g, e, k_chunk);
    else launch_wmma_layout<Tf32Traits>(stream, vec, grid, g, e, k_chunk);
  } else {
    launch_simt(stream, grid, g, e, k_chunk);
  }
  CUDA_CHECK_LAUNCH("gemm");
  if (splits > 1) {
    const unsigned block = 256;
    splitk_reduce_kernel<<<grid_for((size_t)g.M * g.N, block), block, 0, stream>>>(e, splits);
    CUDA_CHECK_LAUNCH("splitk_reduce");
  }
}

GemmArgs matmul_forward_gemm(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                             int OC) {
  GemmArgs g;
  g.A = inp, g.lda = C, g.a_kcontig = true;
  g.B = weight, g.ldb = C, g.b_kcontig = true;
  g.D = out, g.ldd = OC, g.bias = bias, g.accumulate = false;
  g.M = N, g.N = OC, g.K = C;
  return g;
}

// dinp (N,C) += dout (N,OC) @ weight (OC,C)
GemmArgs matmul_dinp_gemm(float* dinp, const float* dout, const float* weight, int N, int C, int OC) {
  GemmArgs g;
  g.A = dout, g.lda = OC, g.a_kcontig = true;
  g.B = weight, g.ldb = C, g.b_kcontig = false;
  g.D = dinp, g.ldd = C, g.accumulate = true;
  g.M = N, g.N = C, g.K = OC;
  return g;
}

// dweight (OC,C) += dout^T (OC,N) @ inp (N,C)
GemmArgs matmul_dweight_gemm(float* dweight, const float* dout, const float* inp, int N, int C, int OC) {
  GemmArgs g;
  g.A = dout, g.lda = OC, g.a_kcontig = false;
  g.B = inp, g.ldb = C, g.b_kcontig = false;
  g.D = dweight, g.ldd = C, g.accumulate = true;
  g.M = OC, g.N = C, g.K = N;
  return g;
}

void matmul_forward(cudaStream_t stream, GemmEngine& engine, Workspace& ws, Precision precision, float* out,
                    const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
  gemm(stream, engine, ws, precision, matmul_forward_gemm(out, inp, weight, bias, N, C, OC));
}

void matmul_backward(cudaStream_t stream, GemmEngine& engine, Workspace& ws, Precision precision, float* dinp,
                     float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                     int N, int C, int OC) {
  if (dinp) gemm(stream, engine, ws, precision, matmul_dinp_gemm(dinp, dout, weight, N, C, OC));
  gemm(stream, engine, ws, precision, matmul_dweight_gemm(dweight, dout, inp, N, C, OC));
  // dbias (OC) += sum_n dout: a fixed-order column sum (the reference uses it too).
  if (dbias) column_sums(stream, ws, dbias, nullptr, dout, nullptr, nullptr, nullptr, N, OC);
}

}  // namespace cuda
}  // namespace autoscale
