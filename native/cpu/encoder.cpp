// Token + position embedding.
// tokens (B,T) int32 in [0,V); wte (V,C); wpe (maxT,C), T <= maxT; out (B,T,C).
#include <omp.h>

#include "ops.h"

namespace autoscale {

// out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]
void encoder_forward_cpu(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                         int T, int C, int threads) {
  const long BT = (long)B * T;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (long bt = 0; bt < BT; bt++) {
    const int t = (int)(bt % T);
    float* o = out + bt * C;
    const float* we = wte + (size_t)tokens[bt] * C;
    const float* pe = wpe + (size_t)t * C;
    for (int c = 0; c < C; c++) o[c] = we[c] + pe[c];
  }
}

// dout (B,T,C); dwte (V,C) += dout scattered by token; dwpe (maxT,C) += sum over b of dout.
void encoder_backward_cpu(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                          int T, int C, int threads) {
  const long BT = (long)B * T;
  // Several positions may hold the same token: each thread owns the vocabulary rows
  // id % nthreads == its id, and visits positions in order, so there is no race and the
  // summation order does not depend on the number of threads.
#pragma omp parallel num_threads(threads)
  {
    const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
    for (long bt = 0; bt < BT; bt++) {
      const int32_t id = tokens[bt];
      if (id % nth != tid) continue;
      float* dw = dwte + (size_t)id * C;
      const float* d = dout + bt * C;
      for (int c = 0; c < C; c++) dw[c] += d[c];
    }
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < T; t++) {
    float* dp = dwpe + (size_t)t * C;
    for (int b = 0; b < B; b++) {
      const float* d = dout + ((size_t)b * T + t) * C;
      for (int c = 0; c < C; c++) dp[c] += d[c];
    }
  }
}

}  // namespace autoscale
