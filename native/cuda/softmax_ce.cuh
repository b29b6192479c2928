// Fused softmax + cross-entropy on CUDA.
#pragma once
#include "common.cuh"

namespace autoscale {
namespace cuda {

// logits (N,V); targets (N), < 0 = ignored (loss 0, zero gradient row); losses (N).
// dlogits (N,V) nullable, OVERWRITTEN with (softmax - onehot) * dloss; may alias logits.
void softmax_cross_entropy(cudaStream_t stream, float* losses, float* dlogits, const float* logits,
                           const int32_t* targets, float dloss, int N, int V);

}  // namespace cuda
}  // namespace autoscale
