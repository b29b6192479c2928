// Reductions on CUDA: the sum of squares behind global-norm gradient clipping.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// Writes sum(x^2) over x (n), accumulated in double, to *result_device (one double in device
// memory). Deterministic: partials per fixed chunk of the input, then a fixed-order sum.
void sum_squares(cudaStream_t stream, Workspace& ws, double* result_device, const float* x, size_t n);

}  // namespace cuda
}  // namespace autoscale
