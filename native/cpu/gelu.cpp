// GELU, tanh approximation (GPT-2): gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// inp, out (N); backward: dinp (N) += gelu'(inp) * dout (or = with overwrite).
//
// 0.5 (1 + tanh(u)) is the logistic sigmoid of 2u, so gelu(x) = x s with s = 1 / (1 + exp(-2u)),
// and gelu'(x) = s + 2 x s (1 - s) u'. With the vectorisable exp of simd.h the loops vectorise
// (libm's tanhf is a scalar call and was most of the op's time); the sigmoid form is also
// accurate relative to the result for large negative x, where 1 + tanh(u) cancels.
#include "ops.h"
#include "simd.h"

namespace autoscale {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
}  // namespace

void gelu_forward_cpu(float* out, const float* inp, size_t N, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (size_t i = 0; i < N; i++) {
    const float x = inp[i];
    const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    out[i] = x / (1.0f + simd::exp_approx(-2.0f * u));
  }
}

// gelu'(x) * dout, the gradient both variants of gelu_backward_cpu store or add
#pragma omp declare simd notinbranch
inline float gelu_grad_times(float x, float dout) {
  const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
  const float e = simd::exp_approx(-2.0f * u);
  const float s = 1.0f / (1.0f + e);
  const float du = kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
  return (s + 2.0f * x * s * (e * s) * du) * dout;  // 1 - s = e s
}

void gelu_backward_cpu(float* dinp, const float* inp, const float* dout, size_t N, int threads, bool overwrite) {
  if (overwrite) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (size_t i = 0; i < N; i++) dinp[i] = gelu_grad_times(inp[i], dout[i]);
  } else {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (size_t i = 0; i < N; i++) dinp[i] += gelu_grad_times(inp[i], dout[i]);
  }
}

}  // namespace autoscale
