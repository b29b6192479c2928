// LayerNorm on CUDA.
// Forward: one warp per row; mean, then variance as the mean of squared deviations (two passes
// over the row, the second from L1/L2), as the CPU does.
// Backward: dinp by one warp per row (row-local, deterministic); dweight and dbias are column sums
// over N rows, computed in fixed order (partials per row chunk, then a fixed-order finish), so
// results do not depend on scheduling.
#include "layernorm.cuh"

namespace autoscale {
namespace cuda {

// ---- forward ----
__global__ void layernorm_forward_warp_kernel(float* __restrict__ out, float* __restrict__ mean,
                                              float* __restrict__ rstd, const float* __restrict__ inp,
                                              const float* __restrict__ weight,
                                              const float* __restrict__ bias, int N, int C) {
  int lane = threadIdx.x & 31;
  int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (n >= N) return;  // whole warps exit together
  const float* x = inp + (size_t)n * C;
  float sum = 0.0f;
  for (int c = lane; c < C; c += 32) sum += x[c];
  float m = warp_sum(sum) / C;
  float sq = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float d = x[c] - m;
    sq += d * d;
  }
  float s = rsqrtf(warp_sum(sq) / C + kLayerNormEps);
  float* o = out + (size_t)n * C;
  for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * s * weight[c] + bias[c];
  if (lane == 0) {
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = s;
  }
}

void layernorm_forward(cudaStream_t stream, float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, int N, int C) {
  const unsigned block = 256;  // 8 rows per block
  layernorm_forward_warp_kernel<<<ceil_div(N, block / 32), block, 0, stream>>>(out, mean, rstd, inp,
                                                                              weight, bias, N, C);
  CUDA_CHECK_LAUNCH("layernorm_forward");
}

// ---- backward: dinp ----
// norm = (x - mean) * rstd; dnorm = dout * w;
// dinp += rstd * (dnorm - mean_c(dnorm) - norm * mean_c(dnorm * norm))
__global__ void layernorm_backward_dinp_warp_kernel(float* __restrict__ dinp,
                                                    const float* __restrict__ dout,
                                                    const float* __restrict__ inp,
                                                    const float* __restrict__ weight,
                                                    const float* __restrict__ mean,
                                                    const float* __restrict__ rstd, int N, int C) {
  int lane = threadIdx.x & 31;
  int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (n >= N) return;
  const float* x = inp + (size_t)n * C;
  const float* dy = dout + (size_t)n * C;
  float m = mean[n], s = rstd[n];
  float a = 0.0f, b = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float dn = dy[c] * weight[c];
    a += dn;
    b += dn * (x[c] - m) * s;
  }
  a = warp_sum(a) / C;
  b = warp_sum(b) / C;
  float* dx = dinp + (size_t)n * C;
  for (int c = lane; c < C; c += 32) {
    float norm = (x[c] - m) * s;
    dx[c] += s * (dy[c] * weight[c] - a - norm * b);
  }
}

// ---- column sums (dweight, dbias) ----
// Block (32, 8): 32 consecutive columns (coalesced), 8 row lanes; blockIdx.y = row chunk.
constexpr int kColRows = 8;

__global__ void column_sums_partial_kernel(float* __restrict__ part_plain, float* __restrict__ part_normed,
                                           const float* __restrict__ x, const float* __restrict__ inp,
                                           const float* __restrict__ mean,
                                           const float* __restrict__ rstd, int N, int C,
                                           int rows_per_chunk) {
  __shared__ float s_plain[kColRows][33];
  __shared__ float s_normed[kColRows][33];
  int c = blockIdx.x * 32 + threadIdx.x;
  int r0 = blockIdx.y * rows_per_chunk;
  int r1 = min(N, r0 + rows_per_chunk);
  float acc_plain = 0.0f, acc_normed = 0.0f;
  if (c < C) {
    for (int n = r0 + threadIdx.y; n < r1; n += kColRows) {
      float v = x[(size_t)n * C + c];
      acc_plain += v;
      if (part_normed) acc_normed += v * (inp[(size_t)n * C + c] - mean[n]) * rstd[n];
    }
  }
  s_plain[threadIdx.y][threadIdx.x] = acc_plain;
  s_normed[threadIdx.y][threadIdx.x] = acc_normed;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float p = 0.0f, q = 0.0f;
    for (int i = 0; i < kColRows; i++) {
      p += s_plain[i][threadIdx.x];
      q += s_normed[i][threadIdx.x];
    }
    if (part_plain) part_plain[(size_t)blockIdx.y * C + c] = p;
    if (part_normed) part_normed[(size_t)blockIdx.y * C + c] = q;
  }
}

__global__ void column_sums_finish_kernel(float* dsum_plain, float* dsum_normed, const float* part_plain,
                                          const float* part_normed, int chunks, int C) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  if (dsum_plain) {
    float p = 0.0f;
    for (int i = 0; i < chunks; i++) p += part_plain[(size_t)i * C + c];
    dsum_plain[c] += p;
  }
  if (dsum_normed) {
    float q = 0.0f;
    for (int i = 0; i < chunks; i++) q += part_normed[(size_t)i * C + c];
    dsum_normed[c] += q;
  }
}

void column_sums(cudaStream_t stream, Workspace& ws, float* dsum_plain, float* dsum_normed,
                 const float* x, const float* inp, const float* mean, const float* rstd, int N, int C) {
  if (!dsum_plain && !dsum_normed) return;
  // Row chunks depend on N only (never on the device), so the summation order is fixed.
  int chunks = (int)ceil_div(N, 256);
  if (chunks > 64) chunks = 64;
  int rows_per_chunk = (int)ceil_div(N, chunks);
  chunks = (int)ceil_div(N, rows_per_chunk);
  float* part = (float*)ws.get(sizeof(float) * 2 * (size_t)chunks * C);
  float* part_plain = dsum_plain ? part : nullptr;
  float* part_normed = dsum_normed ? part + (size_t)chunks * C : nullptr;
  dim3 grid(ceil_div(C, 32), chunks);
  column_sums_partial_kernel<<<grid, dim3(32, kColRows), 0, stream>>>(part_plain, part_normed, x, inp,
                                                                      mean, rstd, N, C, rows_per_chunk);
  CUDA_CHECK_LAUNCH("column_sums_partial");
  column_sums_finish_kernel<<<ceil_div(C, 256), 256, 0, stream>>>(dsum_plain, dsum_normed, part_plain,
                                                                   part_normed, chunks, C);
  CUDA_CHECK_LAUNCH("column_sums_finish");
}

void layernorm_backward(cudaStream_t stream, Workspace& ws, float* dinp, float* dweight, float* dbias,
                        const float* dout, const float* inp, const float* weight, const float* mean,
                        const float* rstd, int N, int C) {
  const unsigned block = 256;
  layernorm_backward_dinp_warp_kernel<<<ceil_div(N, block / 32), block, 0, stream>>>(
      dinp, dout, inp, weight, mean, rstd, N, C);
  CUDA_CHECK_LAUNCH("layernorm_backward_dinp");
  column_sums(stream, ws, dbias, dweight, dout, inp, mean, rstd, N, C);
}

}  // namespace cuda
}  // namespace autoscale
