// AdamW with bias correction and decoupled weight decay.
// params, grads, m, v (n). g = grads * grad_scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// params -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * params), step >= 1.
#include <cmath>

#include "ops.h"

namespace autoscale {

namespace {

constexpr size_t kBlock = 16384;  // elements per task of the whole-block pass

struct AdamW {
  float lr, beta1, beta2, eps, c1, c2, grad_scale;
  AdamW(float lr_, float b1, float b2, float eps_, int step, float scale)
      : lr(lr_), beta1(b1), beta2(b2), eps(eps_), grad_scale(scale) {
    // bias corrections in double: beta^step underflows gracefully and 1 - beta^step keeps its digits
    c1 = (float)(1.0 / (1.0 - std::pow((double)b1, step)));
    c2 = (float)(1.0 / (1.0 - std::pow((double)b2, step)));
  }
  // elements [i0, i1), one weight decay
  void run(float* params, const float* grads, float* m, float* v, size_t i0, size_t i1, float weight_decay) const {
#pragma omp simd
    for (size_t i = i0; i < i1; i++) {
      const float g = grads[i] * grad_scale;
      const float mi = beta1 * m[i] + (1.0f - beta1) * g;
      const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      const float mhat = mi * c1, vhat = vi * c2;
      params[i] -= lr * (mhat / (std::sqrt(vhat) + eps) + weight_decay * params[i]);
    }
  }
};

}  // namespace

void adamw_update_cpu(float* params, const float* grads, float* m, float* v, size_t n, float lr,
                      float beta1, float beta2, float eps, float weight_decay, int step,
                      float grad_scale, int threads) {
  const AdamW opt(lr, beta1, beta2, eps, step, grad_scale);
  const size_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && blocks > 1)
  for (size_t b = 0; b < blocks; b++)
    opt.run(params, grads, m, v, b * kBlock, b * kBlock + kBlock < n ? b * kBlock + kBlock : n, weight_decay);
}

// One pass over the whole block: each task takes kBlock elements and the parts of the spans that
// fall in it (the same arithmetic per element as adamw_update_cpu).
void adamw_update_spans_cpu(float* params, const float* grads, float* m, float* v, const DecaySpan* spans,
                            size_t nspans, float lr, float beta1, float beta2, float eps, float weight_decay,
                            int step, float grad_scale, int threads) {
  if (nspans == 0) return;
  const size_t n = spans[nspans - 1].offset + spans[nspans - 1].size;
  const AdamW opt(lr, beta1, beta2, eps, step, grad_scale);
  const size_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && blocks > 1)
  for (size_t b = 0; b < blocks; b++) {
    const size_t i0 = b * kBlock, i1 = i0 + kBlock < n ? i0 + kBlock : n;
    size_t s = 0;
    while (spans[s].offset + spans[s].size <= i0) s++;  // the span holding i0 (spans cover [0, n))
    for (size_t i = i0; i < i1; s++) {
      const size_t end = spans[s].offset + spans[s].size < i1 ? spans[s].offset + spans[s].size : i1;
      opt.run(params, grads, m, v, i, end, spans[s].decay ? weight_decay : 0.0f);
      i = end;
    }
  }
}

}  // namespace autoscale
