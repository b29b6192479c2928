// Fused softmax + cross-entropy over rows.
// logits (N,V); targets (N) int32, < 0 = ignored (loss 0, zero gradient row); losses (N).
// dlogits (N,V) nullable, OVERWRITTEN with (softmax(logits) - onehot(target)) * dloss; it may
// alias logits (each element is read before it is written).
//
// Vectorised: the max runs under `omp simd`, the exp (simd.h's, not libm's scalar call) and its
// double-precision sum on explicit vectors; each row is one thread's, in a fixed order. With a
// gradient, each logit's exponential is computed once, kept in dlogits and scaled by dloss / sum
// in a second, cheap pass.
#include <cmath>

#include "ops.h"
#include "simd.h"

namespace autoscale {

using simd::vec;
using simd::W;

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
    const float xt = x[target];
    // exp(x - mx) summed in double: per vector lane across the row, then the lanes in order
    // (vector code written out: GCC leaves this loop scalar when dlogits may alias logits)
    float* dx = dlogits ? dlogits + (size_t)n * V : nullptr;
    const int Vv = V / W * W;
    simd::dvec acc_lo = {}, acc_hi = {};
    for (int i = 0; i < Vv; i += W) {
      const vec e = simd::exp_approx(simd::load(x + i) - mx);
      if (dx) simd::store(dx + i, e);  // one exp per logit: kept and scaled below
      simd::dvec lo, hi;
      simd::widen(e, lo, hi);
      acc_lo += lo;
      acc_hi += hi;
    }
    acc_lo += acc_hi;
    double sum = 0;
    for (int l = 0; l < W / 2; l++) sum += acc_lo[l];
    for (int i = Vv; i < V; i++) {
      const float e = simd::exp_approx(x[i] - mx);
      if (dx) dx[i] = e;
      sum += (double)e;
    }
    if (dx) {
      const float s = (float)((double)dloss / sum);
      for (int i = 0; i < Vv; i += W) simd::store(dx + i, simd::load(dx + i) * s);
      for (int i = Vv; i < V; i++) dx[i] *= s;
      dx[target] -= dloss;
    }
    losses[n] = mx + (float)std::log(sum) - xt;
  }
}

}  // namespace autoscale
