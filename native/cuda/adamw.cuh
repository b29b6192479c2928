// AdamW on CUDA.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// params, grads, m, v (n); see backend.h for the update. step >= 1.
void adamw_update(cudaStream_t stream, float* params, const float* grads, float* m, float* v, size_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int step, float grad_scale);

}  // namespace cuda
}  // namespace autoscale
