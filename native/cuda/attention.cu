// Causal multi-head self-attention on CUDA, flash style (fp32 SIMT; no T x T matrix anywhere).
//
// Fast kernels, templated on the head size HS (16, 32, 64, 128):
//  - A group of G = HS/D consecutive threads owns one row (D = min(HS,32) dims each, interleaved by
//    float4 so a group's shared-memory reads hit different banks); dot products finish with
//    G-lane shuffles. A block holds R = 64 rows; the other operand is staged in shared memory in
//    tiles of 32 rows.
//  - forward: one block per (b*h, query tile); online softmax over key tiles (running max m,
//    running sum l, output rescaled once per tile); writes out and lse = m + log l. Query tiles
//    are scheduled heaviest (latest) first.
//  - backward (FlashAttention-2 algebra, two kernels so no atomics are needed and the result is
//    deterministic): Delta_t = dout_t . out_t; P_ts = exp(q_t.k_s*scale - lse_t);
//    dS_ts = P_ts (dout_t . v_s - Delta_t);
//      dq kernel, one row per query:  dq_t += scale * sum_{s<=t} dS_ts k_s
//      dk/dv kernel, one row per key: dk_s += scale * sum_{t>=s} dS_ts q_t;  dv_s += sum_{t>=s} P_ts dout_t
// General kernels (head sizes without a fast kernel, unaligned pointers; and the reference):
// one thread per row, the same formulas as plain loops over global memory.
#include <cmath>

#include "attention.cuh"

namespace autoscale {
namespace cuda {

constexpr int kAttRows = 64;  // rows (queries, or keys in dk/dv) per block
constexpr int kAttTile = 32;  // staged rows of the other operand per tile

bool attention_fast_head_size(int hs) { return hs == 16 || hs == 32 || hs == 64 || hs == 128; }

template <int HS>
struct AttShape {
  static constexpr int D = HS < 32 ? HS : 32;  // dims per thread
  static constexpr int G = HS / D;             // threads per row
  static constexpr int D4 = D / 4;
  static constexpr int HS4 = HS / 4;
  static constexpr int THREADS = kAttRows * G;
  static_assert(HS % 4 == 0 && D % 4 == 0 && G * D == HS, "head size");
  // local float4 slot r of thread g holds dims [4 (g + G r), 4 (g + G r) + 4)
  static __device__ __forceinline__ int chunk(int g, int r) { return g + G * r; }
};

// Sum over the G lanes of a row group (G is 1, 2 or 4: consecutive lanes of one warp).
template <int G>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int off = G / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

template <int D4>
__device__ __forceinline__ void load_row(float (&dst)[D4 * 4], const float4* src, int g, int G) {
#pragma unroll
  for (int r = 0; r < D4; r++) {
    float4 v = src[g + G * r];
    dst[4 * r + 0] = v.x;
    dst[4 * r + 1] = v.y;
    dst[4 * r + 2] = v.z;
    dst[4 * r + 3] = v.w;
  }
}

template <int D4>
__device__ __forceinline__ float dot_chunks(const float (&x)[D4 * 4], const float4* row, int g, int G) {
  float acc = 0.0f;
#pragma unroll
  for (int r = 0; r < D4; r++) {
    float4 v = row[g + G * r];
    acc = fmaf(x[4 * r + 0], v.x, acc);
    acc = fmaf(x[4 * r + 1], v.y, acc);
    acc = fmaf(x[4 * r + 2], v.z, acc);
    acc = fmaf(x[4 * r + 3], v.w, acc);
  }
  return acc;
}

template <int D4>
__device__ __forceinline__ void axpy_chunks(float (&y)[D4 * 4], float a, const float4* row, int g, int G) {
#pragma unroll
  for (int r = 0; r < D4; r++) {
    float4 v = row[g + G * r];
    y[4 * r + 0] = fmaf(a, v.x, y[4 * r + 0]);
    y[4 * r + 1] = fmaf(a, v.y, y[4 * r + 1]);
    y[4 * r + 2] = fmaf(a, v.z, y[4 * r + 2]);
    y[4 * r + 3] = fmaf(a, v.w, y[4 * r + 3]);
  }
}

// Stages rows [t0, t0 + kAttTile) of two row-major sources (row t of source x at
// base_x + t * stride_x, HS floats) into shared memory. Rows at or past T are zeros.
template <int HS>
__device__ __forceinline__ void stage_rows(float4 (*s0)[HS / 4], float4 (*s1)[HS / 4], const float* base0,
                                           size_t stride0, const float* base1, size_t stride1, int t0, int T) {
  constexpr int HS4 = HS / 4;
  for (int idx = threadIdx.x; idx < kAttTile * HS4; idx += blockDim.x) {
    int r = idx / HS4, c4 = idx % HS4;
    int t = t0 + r;
    float4 a = make_float4(0.f, 0.f, 0.f, 0.f), b = a;
    if (t < T) {
      a = reinterpret_cast<const float4*>(base0 + (size_t)t * stride0)[c4];
      b = reinterpret_cast<const float4*>(base1 + (size_t)t * stride1)[c4];
    }
    s0[r][c4] = a;
    s1[r][c4] = b;
  }
}

// ---- forward ----
template <int HS>
__global__ void __launch_bounds__(AttShape<HS>::THREADS)
    attention_forward_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ qkv,
                             int T, int C, int NH, float scale) {
  using S = AttShape<HS>;
  constexpr int G = S::G, D4 = S::D4, D = S::D;
  __shared__ float4 Ks[kAttTile][S::HS4];
  __shared__ float4 Vs[kAttTile][S::HS4];
  const int bh = blockIdx.x, b = bh / NH, h = bh % NH;
  const int q0 = (gridDim.y - 1 - blockIdx.y) * kAttRows;  // heaviest query tiles first
  const int row = threadIdx.x / G, g = threadIdx.x % G;
  const int i = q0 + row, ic = min(i, T - 1);  // rows past T compute a copy of row T-1, unwritten
  const size_t C3 = 3 * (size_t)C;
  const float* head = qkv + (size_t)b * T * C3 + (size_t)h * HS;  // q of (b, t=0, h)

  float q[D];
  load_row<D4>(q, reinterpret_cast<const float4*>(head + (size_t)ic * C3), g, G);
  float o[D];
#pragma unroll
  for (int d = 0; d < D; d++) o[d] = 0.0f;
  float m = -INFINITY, l = 0.0f;

  const int kv_end = min(T, q0 + kAttRows);
  for (int k0 = 0; k0 < kv_end; k0 += kAttTile) {
    __syncthreads();  // the previous tile has been consumed
    stage_rows<HS>(Ks, Vs, head + C, C3, head + 2 * C, C3, k0, T);
    __syncthreads();
    float s[kAttTile];
    float tile_max = -INFINITY;
#pragma unroll
    for (int jj = 0; jj < kAttTile; jj++) {
      float dot = group_sum<G>(dot_chunks<D4>(q, Ks[jj], g, G));
      s[jj] = (k0 + jj <= ic) ? dot * scale : -INFINITY;
      tile_max = fmaxf(tile_max, s[jj]);
    }
    // Key 0 is in the first tile and unmasked for every row, so m is finite from then on.
    const float m_new = fmaxf(m, tile_max);
    const float corr = expf(m - m_new);
    l *= corr;
#pragma unroll
    for (int d = 0; d < D; d++) o[d] *= corr;
#pragma unroll
    for (int jj = 0; jj < kAttTile; jj++) {
      float p = expf(s[jj] - m_new);
      l += p;
      axpy_chunks<D4>(o, p, Vs[jj], g, G);
    }
    m = m_new;
  }
  if (i < T) {
    const float inv = 1.0f / l;
    float4* orow = reinterpret_cast<float4*>(out + ((size_t)b * T + i) * C + (size_t)h * HS);
#pragma unroll
    for (int r = 0; r < D4; r++)
      orow[S::chunk(g, r)] = make_float4(o[4 * r] * inv, o[4 * r + 1] * inv, o[4 * r + 2] * inv, o[4 * r + 3] * inv);
    if (lse && g == 0) lse[(size_t)bh * T + i] = m + logf(l);
  }
}

// ---- backward, fast ----
// dq: one row group per query t; key/value tiles s <= last query of the block.
template <int HS>
__global__ void __launch_bounds__(AttShape<HS>::THREADS)
    attention_backward_dq_kernel(float* __restrict__ dqkv, const float* __restrict__ dout,
                                 const float* __restrict__ qkv, const float* __restrict__ lse,
                                 const float* __restrict__ delta, int T, int C, int NH, float scale) {
  using S = AttShape<HS>;
  constexpr int G = S::G, D4 = S::D4, D = S::D;
  __shared__ float4 Ks[kAttTile][S::HS4];
  __shared__ float4 Vs[kAttTile][S::HS4];
  const int bh = blockIdx.x, b = bh / NH, h = bh % NH;
  const int q0 = (gridDim.y - 1 - blockIdx.y) * kAttRows;
  const int row = threadIdx.x / G, g = threadIdx.x % G;
  const int i = q0 + row, ic = min(i, T - 1);
  const size_t C3 = 3 * (size_t)C;
  const float* head = qkv + (size_t)b * T * C3 + (size_t)h * HS;

  float q[D], dO[D], dq[D];
  load_row<D4>(q, reinterpret_cast<const float4*>(head + (size_t)ic * C3), g, G);
  load_row<D4>(dO, reinterpret_cast<const float4*>(dout + ((size_t)b * T + ic) * C + (size_t)h * HS), g, G);
#pragma unroll
  for (int d = 0; d < D; d++) dq[d] = 0.0f;
  const float lse_i = lse[(size_t)bh * T + ic], delta_i = delta[(size_t)bh * T + ic];

  const int kv_end = min(T, q0 + kAttRows);
  for (int k0 = 0; k0 < kv_end; k0 += kAttTile) {
    __syncthreads();
    stage_rows<HS>(Ks, Vs, head + C, C3, head + 2 * C, C3, k0, T);
    __syncthreads();
#pragma unroll 4
    for (int jj = 0; jj < kAttTile; jj++) {
      float sdot = group_sum<G>(dot_chunks<D4>(q, Ks[jj], g, G));
      float pdot = group_sum<G>(dot_chunks<D4>(dO, Vs[jj], g, G));
      float p = (k0 + jj <= ic) ? expf(sdot * scale - lse_i) : 0.0f;
      float ds = p * (pdot - delta_i);
      axpy_chunks<D4>(dq, ds, Ks[jj], g, G);
    }
  }
  if (i < T) {
    float4* dqrow = reinterpret_cast<float4*>(dqkv + ((size_t)b * T + i) * C3 + (size_t)h * HS);
#pragma unroll
    for (int r = 0; r < D4; r++) {
      float4 v = dqrow[S::chunk(g, r)];
      v.x += dq[4 * r] * scale;
      v.y += dq[4 * r + 1] * scale;
      v.z += dq[4 * r + 2] * scale;
      v.w += dq[4 * r + 3] * scale;
      dqrow[S::chunk(g, r)] = v;
    }
  }
}

// dk, dv: one row group per key s; query tiles t >= first key of the block.
template <int HS>
__global__ void __launch_bounds__(AttShape<HS>::THREADS)
    attention_backward_dkdv_kernel(float* __restrict__ dqkv, const float* __restrict__ dout,
                                   const float* __restrict__ qkv, const float* __restrict__ lse,
                                   const float* __restrict__ delta, int T, int C, int NH, float scale) {
  using S = AttShape<HS>;
  constexpr int G = S::G, D4 = S::D4, D = S::D;
  __shared__ float4 Qs[kAttTile][S::HS4];
  __shared__ float4 dOs[kAttTile][S::HS4];
  __shared__ float lse_s[kAttTile], delta_s[kAttTile];
  const int bh = blockIdx.x, b = bh / NH, h = bh % NH;
  const int k0 = blockIdx.y * kAttRows;  // key tile 0 has the most work: it goes first
  const int row = threadIdx.x / G, g = threadIdx.x % G;
  const int j = k0 + row, jc = min(j, T - 1);
  const size_t C3 = 3 * (size_t)C;
  const float* head = qkv + (size_t)b * T * C3 + (size_t)h * HS;
  const float* dout_head = dout + (size_t)b * T * C + (size_t)h * HS;

  float k[D], v[D], dk[D], dv[D];
  load_row<D4>(k, reinterpret_cast<const float4*>(head + (size_t)jc * C3 + C), g, G);
  load_row<D4>(v, reinterpret_cast<const float4*>(head + (size_t)jc * C3 + 2 * C), g, G);
#pragma unroll
  for (int d = 0; d < D; d++) dk[d] = dv[d] = 0.0f;

  for (int t0 = k0; t0 < T; t0 += kAttTile) {
    __syncthreads();
    stage_rows<HS>(Qs, dOs, head, C3, dout_head, (size_t)C, t0, T);
    if (threadIdx.x < kAttTile) {
      int t = t0 + threadIdx.x;
      lse_s[threadIdx.x] = t < T ? lse[(size_t)bh * T + t] : 0.0f;
      delta_s[threadIdx.x] = t < T ? delta[(size_t)bh * T + t] : 0.0f;
    }
    __syncthreads();
#pragma unroll 4
    for (int ii = 0; ii < kAttTile; ii++) {
      const int t = t0 + ii;
      float sdot = group_sum<G>(dot_chunks<D4>(k, Qs[ii], g, G));
      float pdot = group_sum<G>(dot_chunks<D4>(v, dOs[ii], g, G));
      float p = (t >= jc && t < T) ? expf(sdot * scale - lse_s[ii]) : 0.0f;
      float ds = p * (pdot - delta_s[ii]);
      axpy_chunks<D4>(dv, p, dOs[ii], g, G);
      axpy_chunks<D4>(dk, ds, Qs[ii], g, G);
    }
  }
  if (j < T) {
    float4* dkrow = reinterpret_cast<float4*>(dqkv + ((size_t)b * T + j) * C3 + C + (size_t)h * HS);
    float4* dvrow = reinterpret_cast<float4*>(dqkv + ((size_t)b * T + j) * C3 + 2 * C + (size_t)h * HS);
#pragma unroll
    for (int r = 0; r < D4; r++) {
      float4 a = dkrow[S::chunk(g, r)];
      a.x += dk[4 * r] * scale;
      a.y += dk[4 * r + 1] * scale;
      a.z += dk[4 * r + 2] * scale;
      a.w += dk[4 * r + 3] * scale;
      dkrow[S::chunk(g, r)] = a;
      float4 c = dvrow[S::chunk(g, r)];
      c.x += dv[4 * r];
      c.y += dv[4 * r + 1];
      c.z += dv[4 * r + 2];
      c.w += dv[4 * r + 3];
      dvrow[S::chunk(g, r)] = c;
    }
  }
}

// ---- Delta_t = dout_t . out_t per (b, h, t), shared by the fast and the general kernels ----
__global__ void attention_delta_kernel(float* delta, const float* dout, const float* out, int B, int T, int C,
                                       int NH) {
  const int hs = C / NH;
  size_t total = (size_t)B * NH * T;
  for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    int t = (int)(idx % T);
    size_t bh = idx / T;
    int h = (int)(bh % NH), b = (int)(bh / NH);
    size_t off = ((size_t)b * T + t) * C + (size_t)h * hs;
    float acc = 0.0f;
    for (int d = 0; d < hs; d++) acc += dout[off + d] * out[off + d];
    delta[idx] = acc;
  }
}

// ---- general kernels: one thread per row, plain loops ----
__device__ float row_dot(const float* a, const float* b, int n) {
  float acc = 0.0f;
  for (int d = 0; d < n; d++) acc += a[d] * b[d];
  return acc;
}

__global__ void attention_forward_general_kernel(float* out, float* lse, const float* qkv, int B, int T, int C,
                                                   int NH, float scale) {
  const int hs = C / NH;
  const size_t C3 = 3 * (size_t)C;
  size_t total = (size_t)B * NH * T;
  for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    int t = (int)(idx % T);
    size_t bh = idx / T;
    int h = (int)(bh % NH), b = (int)(bh / NH);
    const float* head = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float* q = head + (size_t)t * C3;
    float mx = -INFINITY;
    for (int s = 0; s <= t; s++) mx = fmaxf(mx, row_dot(q, head + (size_t)s * C3 + C, hs) * scale);
    float sum = 0.0f;
    for (int s = 0; s <= t; s++) sum += expf(row_dot(q, head + (size_t)s * C3 + C, hs) * scale - mx);
    float* o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
    for (int d = 0; d < hs; d++) o[d] = 0.0f;
    for (int s = 0; s <= t; s++) {
      float p = expf(row_dot(q, head + (size_t)s * C3 + C, hs) * scale - mx) / sum;
      const float* v = head + (size_t)s * C3 + 2 * C;
      for (int d = 0; d < hs; d++) o[d] += p * v[d];
    }
    if (lse) lse[idx] = mx + logf(sum);
  }
}

__global__ void attention_backward_dq_general_kernel(float* dqkv, const float* dout, const float* qkv,
                                                       const float* lse, const float* delta, int B, int T, int C,
                                                       int NH, float scale) {
  const int hs = C / NH;
  const size_t C3 = 3 * (size_t)C;
  size_t total = (size_t)B * NH * T;
  for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    int t = (int)(idx % T);
    size_t bh = idx / T;
    int h = (int)(bh % NH), b = (int)(bh / NH);
    const float* head = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float* q = head + (size_t)t * C3;
    const float* dO = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
    float* dq = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
    for (int s = 0; s <= t; s++) {
      const float* k = head + (size_t)s * C3 + C;
      const float* v = head + (size_t)s * C3 + 2 * C;
      float p = expf(row_dot(q, k, hs) * scale - lse[idx]);
      float ds = p * (row_dot(dO, v, hs) - delta[idx]) * scale;
      for (int d = 0; d < hs; d++) dq[d] += ds * k[d];
    }
  }
}

__global__ void attention_backward_dkdv_general_kernel(float* dqkv, const float* dout, const float* qkv,
                                                         const float* lse, const float* delta, int B, int T,
                                                         int C, int NH, float scale) {
  const int hs = C / NH;
  const size_t C3 = 3 * (size_t)C;
  size_t total = (size_t)B * NH * T;
  for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    int s = (int)(idx % T);
    size_t bh = idx / T;
    int h = (int)(bh % NH), b = (int)(bh / NH);
    const float* head = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float* k = head + (size_t)s * C3 + C;
    const float* v = head + (size_t)s * C3 + 2 * C;
    float* dk = dqkv + ((size_t)b * T + s) * C3 + C + (size_t)h * hs;
    float* dv = dqkv + ((size_t)b * T + s) * C3 + 2 * C + (size_t)h * hs;
    for (int t = s; t < T; t++) {
      const float* q = head + (size_t)t * C3;
      const float* dO = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
      size_t row = bh * T + t;
      float p = expf(row_dot(q, k, hs) * scale - lse[row]);
      float ds = p * (row_dot(dO, v, hs) - delta[row]) * scale;
      for (int d = 0; d < hs; d++) {
        dv[d] += p * dO[d];
        dk[d] += ds * q[d];
      }
    }
  }
}

// ---- launchers ----
namespace {

bool use_fast(int C, int NH, const void* a, const void* b, const void* c = nullptr) {
  int hs = C / NH;
  return attention_fast_head_size(hs) && C % 4 == 0 && aligned16(a, b) && (c == nullptr || aligned16(c));
}

template <int HS>
void forward_fast(cudaStream_t s, float* out, float* lse, const float* qkv, int B, int T, int C, int NH,
                  float scale) {
  dim3 grid((unsigned)(B * NH), ceil_div(T, kAttRows));
  attention_forward_kernel<HS><<<grid, AttShape<HS>::THREADS, 0, s>>>(out, lse, qkv, T, C, NH, scale);
}

template <int HS>
void backward_fast(cudaStream_t s, float* dqkv, const float* dout, const float* qkv, const float* lse,
                   const float* delta, int B, int T, int C, int NH, float scale) {
  dim3 grid((unsigned)(B * NH), ceil_div(T, kAttRows));
  attention_backward_dq_kernel<HS><<<grid, AttShape<HS>::THREADS, 0, s>>>(dqkv, dout, qkv, lse, delta, T, C, NH,
                                                                         scale);
  CUDA_CHECK_LAUNCH("attention_backward_dq");
  attention_backward_dkdv_kernel<HS><<<grid, AttShape<HS>::THREADS, 0, s>>>(dqkv, dout, qkv, lse, delta, T, C,
                                                                           NH, scale);
  CUDA_CHECK_LAUNCH("attention_backward_dkdv");
}

// Delta (B*NH*T) in the workspace, for either backward.
float* attention_delta(cudaStream_t stream, Workspace& ws, const float* dout, const float* out, int B, int T,
                       int C, int NH) {
  const size_t rows = (size_t)B * NH * T;
  float* delta = (float*)ws.get(sizeof(float) * rows);
  const unsigned block = 128;
  attention_delta_kernel<<<grid_for(rows, block), block, 0, stream>>>(delta, dout, out, B, T, C, NH);
  CUDA_CHECK_LAUNCH("attention_delta");
  return delta;
}

}  // namespace

void attention_forward_general(cudaStream_t stream, float* out, float* lse, const float* qkv, int B, int T,
                               int C, int NH) {
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const unsigned block = 128;
  attention_forward_general_kernel<<<grid_for((size_t)B * NH * T, block), block, 0, stream>>>(
      out, lse, qkv, B, T, C, NH, scale);
  CUDA_CHECK_LAUNCH("attention_forward");
}

void attention_forward(cudaStream_t stream, float* out, float* lse, const float* qkv, int B, int T, int C,
                       int NH) {
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  if (use_fast(C, NH, out, qkv)) {
    switch (hs) {
      case 16: forward_fast<16>(stream, out, lse, qkv, B, T, C, NH, scale); break;
      case 32: forward_fast<32>(stream, out, lse, qkv, B, T, C, NH, scale); break;
      case 64: forward_fast<64>(stream, out, lse, qkv, B, T, C, NH, scale); break;
      default: forward_fast<128>(stream, out, lse, qkv, B, T, C, NH, scale); break;
    }
    CUDA_CHECK_LAUNCH("attention_forward");
  } else {
    attention_forward_general(stream, out, lse, qkv, B, T, C, NH);
  }
}

void attention_backward_general(cudaStream_t stream, Workspace& ws, float* dqkv, const float* dout,
                                const float* qkv, const float* out, const float* lse, int B, int T, int C,
                                int NH) {
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const size_t rows = (size_t)B * NH * T;
  const float* delta = attention_delta(stream, ws, dout, out, B, T, C, NH);
  const unsigned block = 128;
  attention_backward_dq_general_kernel<<<grid_for(rows, block), block, 0, stream>>>(dqkv, dout, qkv, lse,
                                                                                       delta, B, T, C, NH, scale);
  CUDA_CHECK_LAUNCH("attention_backward_dq_general");
  attention_backward_dkdv_general_kernel<<<grid_for(rows, block), block, 0, stream>>>(
      dqkv, dout, qkv, lse, delta, B, T, C, NH, scale);
  CUDA_CHECK_LAUNCH("attention_backward_dkdv_general");
}

void attention_backward(cudaStream_t stream, Workspace& ws, float* dqkv, const float* dout, const float* qkv,
                        const float* out, const float* lse, int B, int T, int C, int NH) {
  if (!use_fast(C, NH, dqkv, qkv, dout)) {
    attention_backward_general(stream, ws, dqkv, dout, qkv, out, lse, B, T, C, NH);
    return;
  }
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const float* delta = attention_delta(stream, ws, dout, out, B, T, C, NH);
  switch (hs) {
    case 16: backward_fast<16>(stream, dqkv, dout, qkv, lse, delta, B, T, C, NH, scale); break;
    case 32: backward_fast<32>(stream, dqkv, dout, qkv, lse, delta, B, T, C, NH, scale); break;
    case 64: backward_fast<64>(stream, dqkv, dout, qkv, lse, delta, B, T, C, NH, scale); break;
    default: backward_fast<128>(stream, dqkv, dout, qkv, lse, delta, B, T, C, NH, scale); break;
  }
}

}  // namespace cuda
}  // namespace autoscale
