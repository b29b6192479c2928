// The GPT-2 proxy model, written once against the Backend interface (see model.h).
//
// Memory: parameters, gradients, AdamW m and v are one backend allocation each, laid out by the
// ParameterTensor table; the forward activations are one allocation (per-layer tensors are sized
// for batch_size windows, so a smaller batch uses a prefix of each layer's slice); the backward
// scratch (gradients of activations) is one allocation holding one layer's worth, reused across
// layers. Logits gradients overwrite the logits in place.
#include "model.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <string>

#include "status.h"

namespace autoscale {

namespace {

// How a parameter tensor is initialised (GPT-2): N(0, s), N(0, s / sqrt(2L)) for the projections into the
// residual stream, ones (LayerNorm weights), zeros (biases); s = ModelOptions::init_std (GPT-2: 0.02).
enum class Init { Normal, NormalResidual, Ones, Zeros };

// The parameter tensors, in layout order: the one table of the layout (as llm.c's
// ParameterTensors). X(id, name, weight decay, initialisation, shape...), the shape in terms of
// V (vocab), T (context), C (width) and L (layers). Every list of tensors below expands it.
#define AUTOSCALE_PARAMETERS(X)                        \
  X(WTE, "wte", true, Init::Normal, V, C)              \
  X(WPE, "wpe", true, Init::Normal, T, C)              \
  X(LN1W, "ln1w", false, Init::Ones, L, C)             \
  X(LN1B, "ln1b", false, Init::Zeros, L, C)            \
  X(QKVW, "qkvw", true, Init::Normal, L, 3 * C, C)     \
  X(QKVB, "qkvb", false, Init::Zeros, L, 3 * C)        \
  X(ATTPROJW, "attprojw", true, Init::NormalResidual, L, C, C) \
  X(ATTPROJB, "attprojb", false, Init::Zeros, L, C)    \
  X(LN2W, "ln2w", false, Init::Ones, L, C)             \
  X(LN2B, "ln2b", false, Init::Zeros, L, C)            \
  X(FCW, "fcw", true, Init::Normal, L, 4 * C, C)       \
  X(FCB, "fcb", false, Init::Zeros, L, 4 * C)          \
  X(FCPROJW, "fcprojw", true, Init::NormalResidual, L, C, 4 * C) \
  X(FCPROJB, "fcprojb", false, Init::Zeros, L, C)      \
  X(LNFW, "lnfw", false, Init::Ones, C)                \
  X(LNFB, "lnfb", false, Init::Zeros, C)

enum Param {
#define AUTOSCALE_PARAM_ID(id, name, decay, init, ...) id,
  AUTOSCALE_PARAMETERS(AUTOSCALE_PARAM_ID)
#undef AUTOSCALE_PARAM_ID
  NUM_PARAMS
};

// xoshiro256** seeded by splitmix64, normals by Box-Muller: the same numbers on every platform
// (std::normal_distribution differs between standard libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) {
      seed += 0x9E3779B97F4A7C15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      s = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // uniform in (0, 1): never 0, so log() below is finite
  double uniform() { return ((double)(next() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform())), a = 6.283185307179586 * uniform();
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

std::string str(double x) {
  std::string s = std::to_string(x);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// Six significant digits, exponent when needed (1e-07, 1e+10): for values of any magnitude.
std::string str_g(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

}  // namespace

struct Model::Impl {
  Backend& be;
  const int V, T, C, L, NH, Bmax;

  float* params = nullptr;
  float* grads = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  float* acts = nullptr;
  float* dacts = nullptr;
  int32_t* inputs = nullptr;   // (Bmax, T)
  int32_t* targets = nullptr;  // (Bmax, T)
  size_t bytes = 0;

  float* p[NUM_PARAMS] = {};  // parameter tensors
  float* g[NUM_PARAMS] = {};  // their gradients

  // activations; per-layer tensors are (L, Bmax, T, ...) and indexed with the layer strides below
  struct {
    float *encoded, *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *lse, *residual2, *ln2, *ln2_mean,
        *ln2_rstd, *fch, *fch_gelu, *residual3, *proj, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
  } a{};
  // gradients of activations, one layer's worth, reused for every layer
  struct {
    float *dres, *dln, *datty, *dqkv, *dfch, *dfch_gelu;
  } d{};

  std::vector<int32_t> host_inputs, host_targets;
  std::vector<float> host_losses;

  Impl(Backend& backend, const ModelConfig& cfg, int batch_size, const std::vector<ParameterTensor>& layout,
       size_t num_parameters)
      : be(backend), V(cfg.vocab_size), T(cfg.context_length), C(cfg.width), L(cfg.layers),
        NH(cfg.heads), Bmax(batch_size) {
    try {
      params = alloc(num_parameters);
      grads = alloc(num_parameters);
      m = alloc(num_parameters);
      v = alloc(num_parameters);
      for (int i = 0; i < NUM_PARAMS; i++) {
        p[i] = params + layout[i].offset;
        g[i] = grads + layout[i].offset;
      }
      be.zero(grads, num_parameters);
      be.zero(m, num_parameters);
      be.zero(v, num_parameters);

      const size_t BT = (size_t)Bmax * T, BTC = BT * C, LBTC = (size_t)L * BTC, LBT = (size_t)L * BT;
      float** act_ptrs[] = {&a.encoded, &a.ln1, &a.ln1_mean, &a.ln1_rstd, &a.qkv, &a.atty, &a.lse,
                            &a.residual2, &a.ln2, &a.ln2_mean, &a.ln2_rstd, &a.fch, &a.fch_gelu,
                            &a.residual3, &a.proj, &a.lnf, &a.lnf_mean, &a.lnf_rstd, &a.logits,
                            &a.losses};
      const size_t act_sizes[] = {BTC,      LBTC,     LBT,      LBT,      3 * LBTC, LBTC, (size_t)L * Bmax * NH * T,
                                  LBTC,     LBTC,     LBT,      LBT,      4 * LBTC, 4 * LBTC,
                                  LBTC,     BTC,      BTC,      BT,       BT,       BT * V, BT};
      acts = alloc_group(act_ptrs, act_sizes, sizeof(act_sizes) / sizeof(act_sizes[0]));
      float** dact_ptrs[] = {&d.dres, &d.dln, &d.datty, &d.dqkv, &d.dfch, &d.dfch_gelu};
      const size_t dact_sizes[] = {BTC, BTC, BTC, 3 * BTC, 4 * BTC, 4 * BTC};
      dacts = alloc_group(dact_ptrs, dact_sizes, sizeof(dact_sizes) / sizeof(dact_sizes[0]));

      inputs = be.alloc_ints(BT);
      bytes += BT * sizeof(int32_t);
      targets = be.alloc_ints(BT);
      bytes += BT * sizeof(int32_t);
      host_inputs.resize(BT);
      host_targets.resize(BT);
      host_losses.resize(BT);
    } catch (...) {
      release();
      throw;
    }
  }
  ~Impl() { release(); }

  float* alloc(size_t n) {
    float* ptr = be.alloc_floats(n);
    bytes += n * sizeof(float);
    return ptr;
  }
  // One allocation for several tensors. Each tensor starts on a 64-float (256-byte) boundary:
  // vector loads (AVX, CUDA float4) and cuBLASLt take their fast paths only on aligned pointers.
  static size_t aligned_size(size_t n) { return (n + 63) / 64 * 64; }
  float* alloc_group(float** ptrs[], const size_t sizes[], size_t count) {
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += aligned_size(sizes[i]);
    float* base = alloc(total);
    size_t offset = 0;
    for (size_t i = 0; i < count; i++) {
      *ptrs[i] = base + offset;
      offset += aligned_size(sizes[i]);
    }
    return base;
  }
  void release() {
    for (float** f : {&params, &grads, &m, &v, &acts, &dacts}) {
      if (*f) be.free_floats(*f);
      *f = nullptr;
    }
    for (int32_t** i : {&inputs, &targets}) {
      if (*i) be.free_ints(*i);
      *i = nullptr;
    }
  }

  // Strides of one layer's slice in the per-layer activations.
  size_t layer_btc() const { return (size_t)Bmax * T * C; }
  size_t layer_bt() const { return (size_t)Bmax * T; }

  // Forward pass over B windows already uploaded to inputs/targets; fills a.losses (B*T).
  // with_grad: the logits are overwritten with dloss/dlogits, dloss = 1/(B*T).
  void forward(int B, bool with_grad) {
    const int BT = B * T;
    const size_t BTC = (size_t)BT * C;
    be.encoder_forward(a.encoded, inputs, p[WTE], p[WPE], B, T, C);
    be.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, a.encoded, p[LN1W], p[LN1B], BT, C);
    for (int l = 0; l < L; l++) {
      const size_t lc = (size_t)l * layer_btc(), lt = (size_t)l * layer_bt();
      const float* res = l == 0 ? a.encoded : a.residual3 + lc - layer_btc();
      float *ln1 = a.ln1 + lc, *qkv = a.qkv + 3 * lc, *atty = a.atty + lc, *res2 = a.residual2 + lc;
      float *ln2 = a.ln2 + lc, *fch = a.fch + 4 * lc, *fch_gelu = a.fch_gelu + 4 * lc;
      // ln1 of this layer was computed with the residual that feeds it (above, or at the end of
      // the layer before)
      be.matmul_forward(qkv, ln1, p[QKVW] + (size_t)l * 3 * C * C, p[QKVB] + (size_t)l * 3 * C, BT, C,
                        3 * C);
      be.attention_forward(atty, a.lse + (size_t)l * Bmax * NH * T, qkv, B, T, C, NH);
      be.matmul_forward(a.proj, atty, p[ATTPROJW] + (size_t)l * C * C, p[ATTPROJB] + l * C, BT, C, C);
      be.residual_layernorm_forward(res2, ln2, a.ln2_mean + lt, a.ln2_rstd + lt, res, a.proj, p[LN2W] + l * C,
                                    p[LN2B] + l * C, BT, C);
      be.matmul_forward(fch, ln2, p[FCW] + (size_t)l * 4 * C * C, p[FCB] + (size_t)l * 4 * C, BT, C,
                        4 * C);
      be.gelu_forward(fch_gelu, fch, 4 * BTC);
      be.matmul_forward(a.proj, fch_gelu, p[FCPROJW] + (size_t)l * 4 * C * C, p[FCPROJB] + l * C, BT,
                        4 * C, C);
      // residual3 and the LayerNorm that reads it: the next layer's ln1, or the final lnf
      if (l + 1 < L)
        be.residual_layernorm_forward(a.residual3 + lc, a.ln1 + lc + layer_btc(), a.ln1_mean + lt + layer_bt(),
                                      a.ln1_rstd + lt + layer_bt(), res2, a.proj, p[LN1W] + (l + 1) * C,
                                      p[LN1B] + (l + 1) * C, BT, C);
      else
        be.residual_layernorm_forward(a.residual3 + lc, a.lnf, a.lnf_mean, a.lnf_rstd, res2, a.proj, p[LNFW],
                                      p[LNFB], BT, C);
    }
    be.matmul_forward(a.logits, a.lnf, p[WTE], nullptr, BT, C, V);  // LM head tied to wte
    be.softmax_cross_entropy(a.losses, with_grad ? a.logits : nullptr, a.logits, targets,
                             1.0f / (float)BT, BT, V);
  }

  // Backward pass after forward(B, true): gradients accumulate into the (zeroed) grads.
  void backward(int B) {
    const int BT = B * T;
    const size_t BTC = (size_t)BT * C;
    const float* dlogits = a.logits;
    // LM head: dwte gets the head's weight gradient here and the embedding's below.
    be.matmul_backward_overwrite(d.dln, g[WTE], nullptr, dlogits, a.lnf, p[WTE], BT, C, V);
    be.zero(d.dres, BTC);
    be.layernorm_backward(d.dres, g[LNFW], g[LNFB], d.dln, a.residual3 + (size_t)(L - 1) * layer_btc(),
                          p[LNFW], a.lnf_mean, a.lnf_rstd, BT, C);
    // d.dres is now dL/d(residual3[L-1]); residual connections pass it through unchanged and the
    // branches add their input gradients to it.
    for (int l = L - 1; l >= 0; l--) {
      const size_t lc = (size_t)l * layer_btc(), lt = (size_t)l * layer_bt();
      const float* res = l == 0 ? a.encoded : a.residual3 + lc - layer_btc();
      const float *ln1 = a.ln1 + lc, *qkv = a.qkv + 3 * lc, *atty = a.atty + lc, *res2 = a.residual2 + lc;
      const float *ln2 = a.ln2 + lc, *fch = a.fch + 4 * lc, *fch_gelu = a.fch_gelu + 4 * lc;
      // MLP branch: residual3 = residual2 + fcproj(gelu(fc(ln2(residual2))))
      be.matmul_backward_overwrite(d.dfch_gelu, g[FCPROJW] + (size_t)l * 4 * C * C, g[FCPROJB] + l * C, d.dres,
                                   fch_gelu, p[FCPROJW] + (size_t)l * 4 * C * C, BT, 4 * C, C);
      be.gelu_backward_overwrite(d.dfch, fch, d.dfch_gelu, 4 * BTC);
      be.matmul_backward_overwrite(d.dln, g[FCW] + (size_t)l * 4 * C * C, g[FCB] + (size_t)l * 4 * C, d.dfch, ln2,
                                   p[FCW] + (size_t)l * 4 * C * C, BT, C, 4 * C);
      be.layernorm_backward(d.dres, g[LN2W] + l * C, g[LN2B] + l * C, d.dln, res2, p[LN2W] + l * C,
                            a.ln2_mean + lt, a.ln2_rstd + lt, BT, C);
      // attention branch: residual2 = res + attproj(attention(qkv(ln1(res))))
      be.matmul_backward_overwrite(d.datty, g[ATTPROJW] + (size_t)l * C * C, g[ATTPROJB] + l * C, d.dres, atty,
                                   p[ATTPROJW] + (size_t)l * C * C, BT, C, C);
      be.zero(d.dqkv, 3 * BTC);
      be.attention_backward(d.dqkv, d.datty, qkv, atty, a.lse + (size_t)l * Bmax * NH * T, B, T, C, NH);
      be.matmul_backward_overwrite(d.dln, g[QKVW] + (size_t)l * 3 * C * C, g[QKVB] + (size_t)l * 3 * C, d.dqkv, ln1,
                                   p[QKVW] + (size_t)l * 3 * C * C, BT, C, 3 * C);
      be.layernorm_backward(d.dres, g[LN1W] + l * C, g[LN1B] + l * C, d.dln, res, p[LN1W] + l * C,
                            a.ln1_mean + lt, a.ln1_rstd + lt, BT, C);
    }
    be.encoder_backward(g[WTE], g[WPE], d.dres, inputs, B, T, C);
  }
};

namespace {

// Token id i of a caller's view, widened to int64 so that every type compares safely.
template <typename Id>
int64_t id_at(const TokenView& view, size_t i) {
  return (int64_t) static_cast<const Id*>(view.data)[i];
}
int64_t token_at(const TokenView& view, size_t i) {
  switch (view.type) {
    case TokenType::Int32: return id_at<int32_t>(view, i);
    case TokenType::Uint32: return id_at<uint32_t>(view, i);
    case TokenType::Uint16: return id_at<uint16_t>(view, i);
  }
  return -1;
}

// Checks the length (whole windows of T + 1 ids); returns the number of windows. The ids are
// checked by checked_token() as they are copied.
size_t check_windows(const char* fn, const TokenView& view, const ModelConfig& cfg) {
  const size_t window = (size_t)cfg.context_length + 1;
  if (view.length > 0 && !view.data)
    throw NativeError(ErrorCode::InvalidArgument,
                      std::string(fn) + ": the token array is null but its length is " +
                          std::to_string(view.length));
  if (view.length % window != 0)
    throw NativeError(ErrorCode::InvalidShape,
                      "tokens holds " + std::to_string(view.length) +
                          " ids, not a whole number of windows of context_length + 1 = " +
                          std::to_string(window) + " ids: pass n_windows * " + std::to_string(window) +
                          " ids");
  return view.length / window;
}

// Reads id i once and checks it. The ids live in caller (JS) memory that another thread may
// write while we run, so each id is checked as it is copied into our staging buffer: a check
// in a separate pass could pass and the copy then read a different, out-of-range value.
int32_t checked_token(const TokenView& view, size_t i, const ModelConfig& cfg) {
  const int64_t id = token_at(view, i);
  if (id < 0 || id >= cfg.vocab_size)
    throw NativeError(ErrorCode::InvalidArgument,
                      "token id " + std::to_string(id) + " at index " + std::to_string(i) +
                          " is out of range for vocab_size " + std::to_string(cfg.vocab_size));
  return (int32_t)id;
}

// Copies windows [first, first + nb) of `view` into host inputs (window[0..T)) and targets
// (window[1..T]), each nb * T ids, checking every id as it is read.
void stage_windows(const TokenView& view, size_t first, int nb, const ModelConfig& cfg,
                   std::vector<int32_t>& inputs, std::vector<int32_t>& targets) {
  const int T = cfg.context_length;
  for (int w = 0; w < nb; w++)
    for (int t = 0; t < T; t++) {
      const size_t base = (first + w) * (T + 1) + t;
      inputs[(size_t)w * T + t] = checked_token(view, base, cfg);
      targets[(size_t)w * T + t] = checked_token(view, base + 1, cfg);
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void Model::validate(const ModelConfig& c, const ModelOptions& o) {
  auto invalid = [](const std::string& msg) { return NativeError(ErrorCode::InvalidArgument, msg); };
  auto shape = [](const std::string& msg) { return NativeError(ErrorCode::InvalidShape, msg); };
  auto positive = [&](const char* field, int value) {
    if (value < 1) throw invalid(std::string(field) + " (" + std::to_string(value) + ") must be >= 1");
  };
  positive("vocab_size", c.vocab_size);
  positive("context_length", c.context_length);
  positive("width", c.width);
  positive("layers", c.layers);
  positive("heads", c.heads);
  positive("batch_size", o.batch_size);
  if (c.width % c.heads != 0) {
    std::string divisors;
    int shown = 0;
    for (int h = 1; h <= c.width && shown < 12; h++)
      if (c.width % h == 0) divisors += (shown++ ? "," : "") + std::to_string(h);
    throw shape("heads (" + std::to_string(c.heads) + ") must divide width (" + std::to_string(c.width) +
                "): choose heads in {" + divisors + (shown == 12 ? ",..." : "") + "}");
  }
  // The ops take int dimensions: B*T rows and 4C channels must fit.
  if (c.width > INT_MAX / 4)
    throw invalid("width (" + std::to_string(c.width) + ") must be at most " + std::to_string(INT_MAX / 4));
  if ((int64_t)o.batch_size * c.context_length > INT_MAX)
    throw invalid("batch_size * context_length (" + std::to_string((int64_t)o.batch_size * c.context_length) +
                  ") must be below 2^31: lower batch_size");
  if (o.backend != "cpu" && o.backend != "cuda")
    throw invalid("backend (\"" + o.backend + "\") must be \"cpu\" or \"cuda\"");
  if (o.backend_options.threads < 0)
    throw invalid("threads (" + std::to_string(o.backend_options.threads) +
                  ") must be >= 0: use 0 for all hardware threads");
  if (o.backend_options.device < 0)
    throw invalid("device (" + std::to_string(o.backend_options.device) + ") must be >= 0");
  const std::string& prec = o.backend_options.matmul_precision;
  if (prec != "fp32" && prec != "tf32" && prec != "bf16")
    throw invalid("matmul_precision (\"" + prec + "\") must be \"fp32\", \"tf32\" or \"bf16\"");
  // The optimizer's hyper-parameters touch no memory: their ranges (beta in [0, 1), eps > 0...) are
  // lib/native.ts's rules, and the addon passes only finite float32 values.
}

Model::Model(const ModelConfig& config, const ModelOptions& options) : config_(config), options_(options) {
  validate(config_, options_);
  backend_ = options_.backend == "cuda" ? make_cuda_backend(options_.backend_options)
                                        : make_cpu_backend(options_.backend_options);
  struct Spec {
    const char* name;
    std::vector<int> shape;
    bool decay;
    Init init;
  };
  const int V = config_.vocab_size, T = config_.context_length, C = config_.width, L = config_.layers;
  const Spec specs[NUM_PARAMS] = {
#define AUTOSCALE_PARAM_SPEC(id, name, decay, init, ...) {name, {__VA_ARGS__}, decay, init},
      AUTOSCALE_PARAMETERS(AUTOSCALE_PARAM_SPEC)
#undef AUTOSCALE_PARAM_SPEC
  };
  size_t offset = 0;
  for (const Spec& s : specs) {
    ParameterTensor t;
    t.name = s.name;
    t.shape = s.shape;
    t.offset = offset;
    t.size = 1;
    for (int d : s.shape) t.size *= (size_t)d;
    t.weight_decay = s.decay;
    offset += t.size;
    // adjacent tensors with the same decay setting share one span of the optimizer's pass
    if (!decay_spans_.empty() && decay_spans_.back().decay == s.decay)
      decay_spans_.back().size += t.size;
    else
      decay_spans_.push_back({t.offset, t.size, s.decay});
    layout_.push_back(t);
  }
  num_parameters_ = offset;
  impl_ = std::make_unique<Impl>(*backend_, config_, options_.batch_size, layout_, num_parameters_);

  // GPT-2's initialisation scheme with std init_std, drawn in layout order from one generator.
  std::vector<float> host(num_parameters_);
  Rng rng(options_.seed);
  const double std_w = options_.init_std, std_residual = std_w / std::sqrt(2.0 * config_.layers);
  for (int i = 0; i < NUM_PARAMS; i++) {
    const ParameterTensor& t = layout_[i];
    float* x = host.data() + t.offset;
    switch (specs[i].init) {
      case Init::Ones: std::fill(x, x + t.size, 1.0f); break;
      case Init::Zeros: std::fill(x, x + t.size, 0.0f); break;
      case Init::Normal:
      case Init::NormalResidual: {
        const double sd = specs[i].init == Init::NormalResidual ? std_residual : std_w;
        for (size_t j = 0; j < t.size; j++) x[j] = (float)(rng.normal() * sd);
        break;
      }
    }
  }
  backend_->upload_floats(impl_->params, host.data(), num_parameters_);
}

Model::~Model() = default;

size_t Model::memory_bytes() const { return impl_->bytes; }

double Model::compute_gradients(const TokenView& tokens) {
  const size_t n = check_windows("compute_gradients", tokens, config_);
  const int B = options_.batch_size;
  if (n < 1 || n > (size_t)B) {
    const size_t window = (size_t)config_.context_length + 1;
    throw NativeError(ErrorCode::InvalidShape,
                      "tokens holds " + std::to_string(n) + " windows; a training batch takes 1 to batch_size (" +
                          std::to_string(B) + ") windows of context_length + 1 = " + std::to_string(window) +
                          " ids: pass between " + std::to_string(window) + " and " +
                          std::to_string(window * B) + " ids" +
                          (n > (size_t)B ? " or raise batch_size" : ""));
  }
  Impl& im = *impl_;
  const int nb = (int)n, T = config_.context_length;
  stage_windows(tokens, 0, nb, config_, im.host_inputs, im.host_targets);
  const size_t BT = (size_t)nb * T;
  backend_->upload_ints(im.inputs, im.host_inputs.data(), BT);
  backend_->upload_ints(im.targets, im.host_targets.data(), BT);
  im.forward(nb, true);
  backend_->zero(im.grads, num_parameters_);
  im.backward(nb);
  backend_->download_floats(im.host_losses.data(), im.a.losses, BT);
  double sum = 0;
  for (size_t i = 0; i < BT; i++) sum += im.host_losses[i];
  return sum / (double)BT;
}

StepResult Model::train_step(const TokenView& tokens, float lr) {
  if (!std::isfinite(lr) || lr < 0)
    throw NativeError(ErrorCode::InvalidArgument, "lr (" + str(lr) + ") must be a finite number >= 0");
  Impl& im = *impl_;
  StepResult r;
  r.loss = compute_gradients(tokens);
  r.grad_norm = std::sqrt(backend_->sum_squares(im.grads, num_parameters_));
  const OptimizerConfig& opt = options_.optimizer;
  if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm))
    throw NativeError(ErrorCode::NonFinite,
                      "train_step " + std::to_string(step_ + 1) + ": the " +
                          (std::isfinite(r.loss) ? "gradient norm" : "loss") + " is " +
                          (std::isfinite(r.loss) ? str(r.grad_norm) : str(r.loss)) +
                          "; parameters and optimizer state were left unchanged: lower lr (" + str_g(lr) + ")" +
                          // The hint follows the config: clipping bounds the gradient's norm, not the
                          // size of AdamW's normalised step, so with clipping on only a lower lr helps.
                          (opt.grad_clip > 0 ? "; gradient clipping is already on (grad_clip = " + str_g(opt.grad_clip) +
                                                   "), and it does not bound the size of AdamW's steps"
                                             : " or enable grad_clip"));
  const float scale =
      opt.grad_clip > 0 && r.grad_norm > opt.grad_clip ? (float)(opt.grad_clip / r.grad_norm) : 1.0f;
  const int step = step_ + 1;
  backend_->adamw_update_spans(im.params, im.grads, im.m, im.v, decay_spans_, lr, opt.beta1, opt.beta2, opt.eps,
                               opt.weight_decay, step, scale);
  step_ = step;
  r.step = step_;
  return r;
}

void Model::eval_loss(const TokenView& windows, const float* mask, double* out_losses) {
  const size_t n = check_windows("eval_loss", windows, config_);
  if (n == 0) return;
  if (!out_losses) throw NativeError(ErrorCode::InvalidArgument, "eval_loss: out_losses is null");
  Impl& im = *impl_;
  const int T = config_.context_length, B = options_.batch_size;
  for (size_t w0 = 0; w0 < n; w0 += B) {
    const int nb = (int)std::min<size_t>(B, n - w0);
    stage_windows(windows, w0, nb, config_, im.host_inputs, im.host_targets);
    const size_t BT = (size_t)nb * T;
    backend_->upload_ints(im.inputs, im.host_inputs.data(), BT);
    backend_->upload_ints(im.targets, im.host_targets.data(), BT);
    im.forward(nb, false);
    backend_->download_floats(im.host_losses.data(), im.a.losses, BT);
    for (int w = 0; w < nb; w++) {
      const float* loss = im.host_losses.data() + (size_t)w * T;
      double sum = 0, weight = 0;
      if (mask) {
        const float* mk = mask + (w0 + w) * T;
        for (int t = 0; t < T; t++) {
          sum += (double)mk[t] * loss[t];
          weight += mk[t];
        }
      } else {
        for (int t = 0; t < T; t++) sum += loss[t];
        weight = T;
      }
      out_losses[w0 + w] = weight != 0 ? sum / weight : NAN;
    }
  }
}

void Model::get_parameters(float* out) const { backend_->download_floats(out, impl_->params, num_parameters_); }
void Model::set_parameters(const float* in) { backend_->upload_floats(impl_->params, in, num_parameters_); }
void Model::get_gradients(float* out) const { backend_->download_floats(out, impl_->grads, num_parameters_); }

void Model::get_optimizer_state(float* m, float* v) const {
  backend_->download_floats(m, impl_->m, num_parameters_);
  backend_->download_floats(v, impl_->v, num_parameters_);
}

void Model::set_optimizer_state(const float* m, const float* v, int step) {
  if (step < 0)
    throw NativeError(ErrorCode::InvalidArgument, "step (" + std::to_string(step) + ") must be >= 0");
  if (!m || !v) throw NativeError(ErrorCode::InvalidArgument, "set_optimizer_state: m and v are required");
  backend_->upload_floats(impl_->m, m, num_parameters_);
  backend_->upload_floats(impl_->v, v, num_parameters_);
  step_ = step;
}

}  // namespace autoscale
