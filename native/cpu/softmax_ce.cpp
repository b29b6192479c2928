// Fused softmax + cross-entropy over rows.
// logits (N,V); targets (N) int32, < 0 = ignored (loss 0, zero gradient row); losses (N).
// dlogits (N,V) nullable, OVERWRITTEN with (softmax(logits) - onehot(target)) * dloss; it may
// alias logits (each element is read before it is written).
#include <cmath>

#include "ops.h"

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
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = std::fmax(mx, x[i]);
    double sum = 0;
    for (int i = 0; i < V; i++) sum += std::exp(x[i] - mx);
    const float lse = mx + (float)std::log(sum);
    losses[n] = lse - x[target];
    if (dlogits) {
      float* dx = dlogits + (size_t)n * V;
      for (int i = 0; i < V; i++) dx[i] = std::exp(x[i] - lse) * dloss;
      dx[target] -= dloss;
    }
  }
}

}  // namespace autoscale
