// Fused softmax + cross-entropy over rows.
// logits (N,V); targets (N) int32, < 0 = ignored (loss 0, zero gradient row); losses (N).
// dlogits (N,V) nullable, OVERWRITTEN with (softmax(logits) - onehot(target)) * dloss; it may
// alias logits (each element is read before it is written).
//
// Vectorised: the max, the exp (simd.h's exp, not libm's scalar call) and the sum (double lanes)
// run under `omp simd`; each row is one thread's, in a fixed order.
#include <cmath>

#include "ops.h"
#include "simd.h"

namespace autoscale {

void softmax_cross_entropy_cpu(float* losses, float* dlogits, const float* logits,
                               const int32_t* targets, float dloss, int N, int V, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    const float* x = logits + (size_t)n * V;
    const int32_t target = targets[n];
    if (target < 0) {
      losses[n] = 0.0f;
      if (dlogits) {
        float* dx = dlogits + (size_t)n * V;
        for (int i = 0; i < V; i++) dx[i] = 0.0f;
      }
      continue;
    }
    // max ignoring NaN (fmax semantics); a NaN logit still makes the sum, hence the loss, NaN
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < V; i++) sum += (double)simd::exp_approx(x[i] - mx);
    const float lse = mx + (float)std::log(sum);
    const float xt = x[target];
    losses[n] = lse - xt;
    if (dlogits) {
      float* dx = dlogits + (size_t)n * V;
#pragma omp simd
      for (int i = 0; i < V; i++) dx[i] = simd::exp_approx(x[i] - lse) * dloss;
      dx[target] -= dloss;
    }
  }
}

}  // namespace autoscale
