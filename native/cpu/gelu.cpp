// GELU, tanh approximation (GPT-2): gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// inp, out (N); backward: dinp (N) += gelu'(inp) * dout.
#include <cmath>

#include "ops.h"

namespace autoscale {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
}  // namespace

void gelu_forward_cpu(float* out, const float* inp, size_t N, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (size_t i = 0; i < N; i++) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + kCubic * x * x * x)));
  }
}

void gelu_backward_cpu(float* dinp, const float* inp, const float* dout, size_t N, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (size_t i = 0; i < N; i++) {
    const float x = inp[i];
    const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    const float th = std::tanh(u);
    const float sech2 = 1.0f - th * th;
    const float grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
    dinp[i] += grad * dout[i];
  }
}

}  // namespace autoscale
