// The GPT-2 style proxy model: parameters, gradients, optimizer state and activations, each in
// one contiguous backend allocation with a table of named tensors into it (llm.c's layout);
// forward, backward, global-norm clipping and AdamW, written once against the Backend interface.
//
// Windows: every training batch or evaluation set is a sequence of windows of (T + 1) token ids,
// T = context_length: inputs are window[0..T), targets window[1..T].
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace autoscale {

struct ModelConfig {
  int vocab_size = 256;
  int context_length = 64;  // T: tokens per window (a window holds T + 1 ids)
  int width = 64;           // C
  int layers = 2;           // L
  int heads = 4;            // NH; must divide width
};

struct OptimizerConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // applied to matrices (wte, wpe, qkvw, attprojw, fcw, fcprojw) only
  float grad_clip = 1.0f;     // max global L2 norm of the gradient; <= 0 disables clipping
};

struct ModelOptions {
  std::string backend = "cpu";  // "cpu" | "cuda"
  BackendOptions backend_options;
  int batch_size = 8;           // max windows per forward/backward pass (activations are sized for it)
  uint64_t seed = 1337;         // deterministic initialisation
  // SD of the normal initialisation of the weight matrices (GPT-2: 0.02, tuned for width 768; narrow
  // proxies learn faster and more reproducibly with a width-scaled one, e.g. sqrt(2 / (5 width))).
  double init_std = 0.02;
  OptimizerConfig optimizer;
};

// Token ids as they come from the caller (zero-copy views of JS typed arrays).
enum class TokenType { Int32, Uint32, Uint16 };
struct TokenView {
  const void* data = nullptr;
  TokenType type = TokenType::Int32;
  size_t length = 0;  // number of ids
};

struct ParameterTensor {
  std::string name;          // "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
                             // "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"
  std::vector<int> shape;    // e.g. qkvw: {L, 3C, C}
  size_t offset = 0;         // in floats from the start of the parameter block
  size_t size = 0;           // product of shape
  bool weight_decay = false; // decoupled weight decay applies (matrices only)
};

struct StepResult {
  double loss = 0;       // mean cross-entropy over all B*T target positions, before the update
  double grad_norm = 0;  // global L2 norm of the gradient before clipping
  int step = 0;          // optimizer step count after this step (1 after the first)
};

class Model {
 public:
  // Validates config and options (throws NativeError: InvalidShape for heads not dividing width,
  // InvalidArgument for non-positive sizes...), creates the backend, allocates and initialises
  // parameters from `seed` (GPT-2 scheme: weights N(0, s), residual projections attprojw and
  // fcprojw N(0, s/sqrt(2L)), biases 0, LayerNorm weights 1; s = options.init_std, 0.02 by default).
  Model(const ModelConfig& config, const ModelOptions& options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // The checks memory safety needs (positive sizes, heads dividing width, no int overflow, a backend and a
  // matmul precision it knows, threads and device >= 0); throws NativeError naming the field. The rules a
  // user meets (the smallest vocabulary, MIN_VOCAB_SIZE; the optimizer ranges) and their messages are lib/native.ts's.
  static void validate(const ModelConfig& config, const ModelOptions& options);

  const ModelConfig& config() const { return config_; }
  const ModelOptions& options() const { return options_; }
  Backend& backend() { return *backend_; }
  const std::vector<ParameterTensor>& parameter_layout() const { return layout_; }
  size_t num_parameters() const { return num_parameters_; }
  size_t memory_bytes() const;  // all backend allocations of this model
  int step() const { return step_; }

  // One optimizer step on n_windows windows (1 <= n_windows <= batch_size), tokens holds
  // n_windows * (T + 1) ids < vocab_size. Throws NativeError(NonFinite) and leaves the
  // parameters untouched when the loss or gradient is not finite.
  StepResult train_step(const TokenView& tokens, float lr);

  // Forward + backward without an update: returns the mean loss and leaves the gradient of
  // that loss (unclipped) readable with get_gradients(). For tests and diagnostics.
  double compute_gradients(const TokenView& tokens);

  // Per-window mean loss for any number of windows (processed batch_size at a time).
  // mask (nullable): n_windows * T weights for the target positions; a window's loss is
  // sum(mask * loss) / sum(mask) (NaN when its mask sums to 0). out_losses has n_windows entries.
  void eval_loss(const TokenView& windows, const float* mask, double* out_losses);

  // Host copies in and out; each buffer holds num_parameters() floats.
  void get_parameters(float* out) const;
  void set_parameters(const float* in);
  void get_gradients(float* out) const;
  void get_optimizer_state(float* m, float* v) const;
  void set_optimizer_state(const float* m, const float* v, int step);

 private:
  struct Impl;
  ModelConfig config_;
  ModelOptions options_;
  std::unique_ptr<Backend> backend_;
  std::vector<ParameterTensor> layout_;
  std::vector<DecaySpan> decay_spans_;  // the layout as runs of decayed / not decayed parameters
  size_t num_parameters_ = 0;
  int step_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace autoscale
