// The backend op interface: every computation of the GPT goes through these ops, so
// the model (native/model.cpp) is written once and runs on any backend (cpu/, cuda/).
// Conventions (as in llm.c):
//   - All tensors are row-major float32 in the backend's memory (host for CPU, device for CUDA);
//     token ids are int32. Shapes are written in the comment of each op.
//   - B = batch, T = sequence length, C = channels (width), NH = heads, V = vocab, N = rows.
//   - Forward ops overwrite their outputs.
//   - Backward ops ACCUMULATE (+=) into every gradient they write (dinp, dweight, dbias...),
//     so the caller zeroes gradient buffers once per step and residual branches simply add.
//   - Pointers documented "nullable" may be nullptr; all others must be valid.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace autoscale {

struct DeviceInfo {
  int index = 0;
  std::string name;
  size_t total_memory = 0;  // bytes
  int compute_major = 0, compute_minor = 0;
};

struct BackendOptions {
  int threads = 0;     // CPU: worker threads; 0 = all hardware threads
  int device = 0;      // CUDA: device index
  std::string matmul_precision = "fp32";  // CUDA: "fp32" | "tf32" | "bf16" (CPU: fp32 only)
};

// A run of parameters [offset, offset + size) of a flat block that shares one weight-decay setting.
struct DecaySpan {
  size_t offset = 0, size = 0;
  bool decay = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu" | "cuda"
  virtual int threads() const = 0;       // CPU worker threads (1 for CUDA host side)

  // ---- memory (sizes in elements; contents of alloc are unspecified) ----
  virtual float* alloc_floats(size_t n) = 0;
  virtual int32_t* alloc_ints(size_t n) = 0;
  virtual void free_floats(float* p) = 0;
  virtual void free_ints(int32_t* p) = 0;
  virtual void zero(float* p, size_t n) = 0;
  virtual void upload_floats(float* dst, const float* host_src, size_t n) = 0;
  virtual void download_floats(float* host_dst, const float* src, size_t n) = 0;
  virtual void upload_ints(int32_t* dst, const int32_t* host_src, size_t n) = 0;
  virtual void synchronize() = 0;

  // ---- ops ----
  // tokens (B,T) int32 in [0,V); wte (V,C); wpe (maxT,C) with T <= maxT; out (B,T,C)
  // out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]
  virtual void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                               int B, int T, int C) = 0;
  // dout (B,T,C); dwte (V,C) += scatter of dout by token; dwpe (maxT,C) += sum over b
  virtual void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                                int B, int T, int C) = 0;

  // inp (N,C); weight, bias (C); out (N,C); mean, rstd (N) saved for backward. eps = 1e-5.
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                 const float* weight, const float* bias, int N, int C) = 0;
  // a, b (N,C); res (N,C) = a + b, then out, mean, rstd as layernorm_forward of res: a residual
  // connection and the LayerNorm after it in one op (one pass on the CPU). The default runs
  // residual_forward, then layernorm_forward.
  virtual void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* a,
                                          const float* b, const float* weight, const float* bias, int N, int C) {
    residual_forward(res, a, b, (size_t)N * C);
    layernorm_forward(out, mean, rstd, res, weight, bias, N, C);
  }
  // dinp (N,C) +=, dweight (C) +=, dbias (C) +=
  virtual void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                  const float* inp, const float* weight, const float* mean,
                                  const float* rstd, int N, int C) = 0;

  // inp (N,C); weight (OC,C) (PyTorch Linear layout); bias (OC) nullable; out (N,OC)
  // out = inp @ weight^T + bias
  virtual void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                              int N, int C, int OC) = 0;
  // dout (N,OC). dinp (N,C) += dout @ weight; dweight (OC,C) += dout^T @ inp; dbias (OC) += sum_n dout.
  // dinp and dbias are nullable (skipped when null).
  virtual void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* weight, int N, int C, int OC) = 0;

  // As matmul_backward, but dinp (not nullable) is OVERWRITTEN with dout @ weight instead of
  // accumulated into, so the caller need not zero it first; dweight and dbias still accumulate.
  // The default zeroes dinp and calls matmul_backward.
  virtual void matmul_backward_overwrite(float* dinp, float* dweight, float* dbias, const float* dout,
                                         const float* inp, const float* weight, int N, int C, int OC) {
    zero(dinp, (size_t)N * C);
    matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  }

  // Causal multi-head self-attention, flash style: no (T,T) matrix is kept between forward and
  // backward, only the log-sum-exp of each score row.
  // qkv (B,T,3C): [q | k | v] along the last axis, head h uses channels [h*hs, (h+1)*hs), hs = C/NH.
  // out (B,T,C); lse (B,NH,T) = log sum_{s<=t} exp(q_t.k_s / sqrt(hs)).
  virtual void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C,
                                 int NH) = 0;
  // dqkv (B,T,3C) +=; needs the forward's qkv, out and lse.
  virtual void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                                  const float* lse, int B, int T, int C, int NH) = 0;

  // tanh-approximation GELU (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). inp, out (N)
  virtual void gelu_forward(float* out, const float* inp, size_t N) = 0;
  // dinp (N) += gelu'(inp) * dout
  virtual void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N) = 0;

  // dinp (N) = gelu'(inp) * dout: gelu_backward OVERWRITING dinp (no zeroing pass before it).
  // The default zeroes dinp and calls gelu_backward.
  virtual void gelu_backward_overwrite(float* dinp, const float* inp, const float* dout, size_t N) {
    zero(dinp, N);
    gelu_backward(dinp, inp, dout, N);
  }

  // out (N) = a + b (out may alias a or b)
  virtual void residual_forward(float* out, const float* a, const float* b, size_t N) = 0;

  // Fused softmax + cross-entropy over rows of logits (N,V) with targets (N) int32.
  // A target < 0 means "ignore": loss 0 and zero gradient.
  // losses (N) = -log softmax(logits)[target].
  // dlogits (N,V) nullable; when given it is OVERWRITTEN (not accumulated) with
  // (softmax(logits) - onehot(target)) * dloss, and may alias logits (in place).
  virtual void softmax_cross_entropy(float* losses, float* dlogits, const float* logits,
                                     const int32_t* targets, float dloss, int N, int V) = 0;

  // sum of squares of x (n), accumulated in double; result on the host.
  virtual double sum_squares(const float* x, size_t n) = 0;

  // AdamW with bias correction and decoupled weight decay, on one tensor of n elements.
  // g = grads * grad_scale (global-norm clipping is applied through grad_scale);
  // m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; mhat = m/(1-b1^step); vhat = v/(1-b2^step);
  // params -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * params). step starts at 1.
  virtual void adamw_update(float* params, const float* grads, float* m, float* v, size_t n,
                            float lr, float beta1, float beta2, float eps, float weight_decay,
                            int step, float grad_scale) = 0;
  // The same update on a whole block laid out in spans (DecaySpan): weight_decay applies to the
  // spans marked decay, 0 to the others. The default runs adamw_update once per span; the CPU
  // backend makes one pass over the block.
  virtual void adamw_update_spans(float* params, const float* grads, float* m, float* v,
                                  const std::vector<DecaySpan>& spans, float lr, float beta1, float beta2,
                                  float eps, float weight_decay, int step, float grad_scale);
};

// AdamW for a whole parameter block in one call: each span is a run of parameters that get
// weight decay (decay) or not; the spans are in order and cover [0, n) without gaps.
inline void Backend::adamw_update_spans(float* params, const float* grads, float* m, float* v,
                                        const std::vector<DecaySpan>& spans, float lr, float beta1,
                                        float beta2, float eps, float weight_decay, int step,
                                        float grad_scale) {
  for (const DecaySpan& s : spans)
    adamw_update(params + s.offset, grads + s.offset, m + s.offset, v + s.offset, s.size, lr, beta1, beta2, eps,
                 s.decay ? weight_decay : 0.0f, step, grad_scale);
}

// Factories. They throw NativeError(BackendUnavailable) with a message that says why
// (not compiled in, no device, bad device index).
std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options);
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options);

// Backend discovery for `autoscale info`.
int cpu_hardware_threads();
bool cuda_compiled();                   // true when the CUDA backend was built in
std::vector<DeviceInfo> cuda_devices(); // empty when not compiled, no driver or no device
std::string cuda_unavailable_reason();  // why cuda_devices() is empty ("" when it is not)

}  // namespace autoscale
