// AdamW with bias correction and decoupled weight decay, on one tensor of n elements.
// params, grads, m, v (n). g = grads * grad_scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// params -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * params), step >= 1.
#include <cmath>

#include "ops.h"

namespace autoscale {

void adamw_update_cpu(float* params, const float* grads, float* m, float* v, size_t n, float lr,
                      float beta1, float beta2, float eps, float weight_decay, int step,
                      float grad_scale, int threads) {
  // bias corrections in double: beta^step underflows gracefully and 1 - beta^step keeps its digits
  const float c1 = (float)(1.0 / (1.0 - std::pow((double)beta1, step)));
  const float c2 = (float)(1.0 / (1.0 - std::pow((double)beta2, step)));
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; i++) {
    const float g = grads[i] * grad_scale;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float mhat = mi * c1, vhat = vi * c2;
    params[i] -= lr * (mhat / (std::sqrt(vhat) + eps) + weight_decay * params[i]);
  }
}

}  // namespace autoscale
