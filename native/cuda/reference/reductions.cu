// Reference sum of squares on CUDA: one thread adds everything in order, in double.
#include "cuda/reference/reference.cuh"

namespace autoscale {
namespace cuda {
namespace reference {

__global__ void sum_squares_reference_kernel(double* result, const float* x, size_t n) {
  double acc = 0.0;
  for (size_t i = 0; i < n; i++) acc += (double)x[i] * x[i];
  *result = acc;
}

void sum_squares(cudaStream_t stream, double* result_device, const float* x, size_t n) {
  sum_squares_reference_kernel<<<1, 1, 0, stream>>>(result_device, x, n);
  CUDA_CHECK_LAUNCH("sum_squares_reference");
}

}  // namespace reference
}  // namespace cuda
}  // namespace autoscale
