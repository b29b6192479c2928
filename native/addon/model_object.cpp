// The JS `Model` class: construction from a checked config, synchronous methods, lifetime
// (dispose, finalizer, env cleanup hook, external memory accounting). See model_object.h.
#include "model_object.h"

#include <cmath>
#include <limits>

#include "args.h"
#include "errors.h"

namespace autoscale::addon {

namespace {

constexpr int64_t kMinInt = std::numeric_limits<int32_t>::min();
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;
// Largest model accepted before allocation (bytes, rough estimate): far above any machine, low
// enough that no size computation in the core can overflow.
constexpr double kMaxModelBytes = 1ull << 48;

// obj[key] when present (not undefined), else nothing.
bool has_field(const Napi::Object& obj, const char* key) {
  return obj.Has(key) && !obj.Get(key).IsUndefined();
}

int read_int_field(Napi::Env env, const Napi::Object& obj, const char* key, const std::string& where,
                   int64_t min, int64_t max, int fallback, bool required) {
  if (!has_field(obj, key)) {
    if (required) throw_type_error(env, where + "." + key + " is required (an integer)");
    return fallback;
  }
  return static_cast<int>(read_integer(env, obj.Get(key), where + "." + key, min, max));
}

// A float32 number: finite and within float's range (converting a larger double is undefined behaviour).
float read_float_field(Napi::Env env, const Napi::Object& obj, const char* key, const std::string& where,
                       float fallback) {
  if (!has_field(obj, key)) return fallback;
  const double x = read_finite_number(env, obj.Get(key), where + "." + key);
  if (std::fabs(x) > std::numeric_limits<float>::max()) {
    throw_range_error(env, ErrorCode::InvalidArgument, where + "." + key + " is beyond the float32 range");
  }
  return static_cast<float>(x);
}

// The sizes as int32 values: their rules (the smallest vocabulary, heads dividing width...) are lib/native.ts's, which
// names them; Model::validate keeps what memory safety needs (positive sizes, no int overflow).
ModelConfig read_config(Napi::Env env, const Napi::Value& value) {
  Napi::Object obj = read_object(env, value, "config");
  ModelConfig c;
  c.vocab_size = read_int_field(env, obj, "vocabSize", "config", kMinInt, kMaxInt, 0, true);
  c.context_length = read_int_field(env, obj, "contextLength", "config", kMinInt, kMaxInt, 0, true);
  c.width = read_int_field(env, obj, "width", "config", kMinInt, kMaxInt, 0, true);
  c.layers = read_int_field(env, obj, "layers", "config", kMinInt, kMaxInt, 0, true);
  c.heads = read_int_field(env, obj, "heads", "config", kMinInt, kMaxInt, 0, true);
  return c;
}

// The options' types. lib/native.ts owns their rules and messages and resolves backend 'auto' (resolveBackend);
// Model::validate rejects a backend or precision it does not know. The bounds on threads and device stay here:
// they keep a wrong value from costing the process a thread per unit or an index past the devices.
ModelOptions read_options(Napi::Env env, const Napi::Value& value) {
  ModelOptions o;
  if (value.IsUndefined() || value.IsNull()) return o;
  Napi::Object obj = read_object(env, value, "options");
  if (has_field(obj, "backend")) o.backend = read_string(env, obj.Get("backend"), "options.backend");
  o.backend_options.device = read_int_field(env, obj, "device", "options", 0, 1 << 16, 0, false);
  o.backend_options.threads = read_int_field(env, obj, "threads", "options", 0, 1 << 16, 0, false);
  if (has_field(obj, "matmulPrecision")) {
    o.backend_options.matmul_precision = read_string(env, obj.Get("matmulPrecision"), "options.matmulPrecision");
  }
  o.batch_size = read_int_field(env, obj, "batchSize", "options", kMinInt, kMaxInt, o.batch_size, false);
  if (has_field(obj, "seed")) {
    o.seed = static_cast<uint64_t>(read_integer(env, obj.Get("seed"), "options.seed", 0, kMaxSafeInteger));
  }
  if (has_field(obj, "initStd")) o.init_std = read_finite_number(env, obj.Get("initStd"), "options.initStd");
  if (has_field(obj, "optimizer")) {
    Napi::Object opt = read_object(env, obj.Get("optimizer"), "options.optimizer");
    const std::string w = "options.optimizer";
    OptimizerConfig& oc = o.optimizer;
    oc.beta1 = read_float_field(env, opt, "beta1", w, oc.beta1);
    oc.beta2 = read_float_field(env, opt, "beta2", w, oc.beta2);
    oc.eps = read_float_field(env, opt, "eps", w, oc.eps);
    oc.weight_decay = read_float_field(env, opt, "weightDecay", w, oc.weight_decay);
    oc.grad_clip = read_float_field(env, opt, "gradClip", w, oc.grad_clip);
  }
  return o;
}

// Rough size of the model's allocations in bytes (parameters, gradients, AdamW m and v,
// activations for batch_size windows), in double so that nothing overflows.
double estimated_bytes(const ModelConfig& c, const ModelOptions& o) {
  const double V = c.vocab_size, T = c.context_length, C = c.width, L = c.layers, NH = c.heads;
  const double B = o.batch_size;
  const double params = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
  const double activations = B * T * (L * (16 * C + 3 * NH) + 2 * C + V) + B * (T + 1);
  return 4.0 * (4 * params + activations);
}

}  // namespace

Napi::Function ModelObject::define_class(Napi::Env env) {
  return DefineClass(env, "Model",
                     {
                         InstanceMethod<&ModelObject::train_step>("trainStep"),
                         InstanceMethod<&ModelObject::eval_loss>("evalLoss"),
                         InstanceMethod<&ModelObject::compute_gradients>("computeGradients"),
                         InstanceMethod<&ModelObject::get_parameters>("getParameters"),
                         InstanceMethod<&ModelObject::set_parameters>("setParameters"),
                         InstanceMethod<&ModelObject::get_gradients>("getGradients"),
                         InstanceMethod<&ModelObject::get_optimizer_state>("getOptimizerState"),
                         InstanceMethod<&ModelObject::set_optimizer_state>("setOptimizerState"),
                         InstanceMethod<&ModelObject::dispose>("dispose"),
                         InstanceAccessor<&ModelObject::parameter_layout>("parameterLayout"),
                         InstanceAccessor<&ModelObject::num_parameters>("numParameters"),
                         InstanceAccessor<&ModelObject::memory_bytes>("memoryBytes"),
                         InstanceAccessor<&ModelObject::step>("step"),
                         InstanceAccessor<&ModelObject::backend_name>("backend"),
                         InstanceAccessor<&ModelObject::disposed>("disposed"),
                     });
}

ModelObject::ModelObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelObject>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  if (!info.IsConstructCall()) throw_type_error(env, "Model must be called with new");
  const ModelConfig config = read_config(env, info[0]);
  const ModelOptions options = read_options(env, info[1]);
  // Before Model::validate (which checks that the sizes are positive and heads divides width): the estimate is
  // in doubles, so any sizes are safe here.
  if (estimated_bytes(config, options) > kMaxModelBytes) {
    throw_native(env, ErrorCode::OutOfMemory,
                 "this model would need about " + std::to_string(estimated_bytes(config, options) / 1e12) +
                     " TB: reduce vocabSize, contextLength, width, layers or batchSize");
  }
  guard(env, [&] {
    Model::validate(config, options);
    model_ = std::make_unique<Model>(config, options);
  });
  num_parameters_ = model_->num_parameters();
  layout_ = model_->parameter_layout();
  context_length_ = config.context_length;
  vocab_size_ = config.vocab_size;
  batch_size_ = options.batch_size;
  backend_name_ = model_->backend().name();
  step_ = model_->step();
  external_bytes_ = static_cast<int64_t>(model_->memory_bytes());
  Napi::MemoryManagement::AdjustExternalMemory(env, external_bytes_);
  if (napi_add_env_cleanup_hook(env, &ModelObject::cleanup_hook, this) == napi_ok) {
    cleanup_hook_registered_ = true;
  }
}

ModelObject::~ModelObject() {
  if (cleanup_hook_registered_) {
    napi_remove_env_cleanup_hook(env_, &ModelObject::cleanup_hook, this);
    cleanup_hook_registered_ = false;
  }
  free_native(true);
}

void ModelObject::cleanup_hook(void* arg) {
  auto* self = static_cast<ModelObject*>(arg);
  self->cleanup_hook_registered_ = false;  // Node drops the hook once it has run
  self->free_native(false);
}

std::shared_ptr<ExecutorQueue> ModelObject::executor_queue(Napi::Env env) {
  if (!executor_) guard(env, [&] { executor_ = std::make_unique<Executor>(); });
  return executor_->queue();
}

void ModelObject::free_native(bool adjust_memory) {
  if (busy_) {
    // Only during environment teardown (a running worker holds a strong reference otherwise):
    // its thread may still be using the model, so leak it rather than free it under the thread,
    // and let the model's thread finish that job and exit by itself instead of joining it.
    (void)model_.release();
    if (executor_) {
      executor_->detach();
      executor_.reset();
    }
    return;
  }
  executor_.reset();  // idle: stops and joins the model's thread
  if (!model_) return;
  model_.reset();
  if (adjust_memory && external_bytes_ != 0) {
    int64_t ignored = 0;
    napi_adjust_external_memory(env_, -external_bytes_, &ignored);  // status ignored: best effort
  }
  external_bytes_ = 0;
}

void ModelObject::require_idle(Napi::Env env, const char* method) const {
  if (!model_) {
    throw_native(env, ErrorCode::Disposed,
                 std::string("Model.") + method + "(): the model has been disposed; create a new Model");
  }
  if (busy_) {
    throw_native(env, ErrorCode::Busy,
                 std::string("Model.") + method +
                     "(): another operation is in flight on this model; await it first (one at a time)");
  }
}

TokenView ModelObject::read_windows(Napi::Env env, const Napi::Value& value, const std::string& what,
                                    bool limit_to_batch) const {
  const TokenView view = read_tokens(env, value, what);
  const size_t window = static_cast<size_t>(context_length_) + 1;
  if (view.length == 0 || view.length % window != 0) {
    throw_range_error(env, ErrorCode::InvalidShape,
                      what + " has " + std::to_string(view.length) +
                          " ids; expected a positive multiple of contextLength + 1 = " + std::to_string(window));
  }
  const size_t windows = view.length / window;
  if (limit_to_batch && windows > static_cast<size_t>(batch_size_)) {
    throw_range_error(env, ErrorCode::InvalidShape,
                      what + " holds " + std::to_string(windows) + " windows; at most batchSize = " +
                          std::to_string(batch_size_) + " per call");
  }
  check_token_range(env, view, vocab_size_, what);
  return view;
}

Napi::Value ModelObject::train_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "trainStep");
  const TokenView tokens = read_windows(env, info[0], "trainStep(tokens)", true);
  const double lr = read_finite_number(env, info[1], "lr");
  if (lr < 0 || !std::isfinite(static_cast<float>(lr))) {
    throw_range_error(env, ErrorCode::InvalidArgument, "lr must be a finite number >= 0 (float32 range)");
  }
  return queue_train_step(env, *this, Value(), info[0], tokens, static_cast<float>(lr));
}

Napi::Value ModelObject::eval_loss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "evalLoss");
  const TokenView windows = read_windows(env, info[0], "evalLoss(windows)", false);
  const float* mask = nullptr;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    const size_t n = windows.length / (static_cast<size_t>(context_length_) + 1) * context_length_;
    Napi::Float32Array array = read_float32_array(env, info[1], "mask", n);
    mask = array.Data();
    for (size_t i = 0; i < n; i++) {
      if (!(std::isfinite(mask[i]) && mask[i] >= 0)) {
        throw_range_error(env, ErrorCode::InvalidArgument,
                          "mask[" + std::to_string(i) + "] must be a finite weight >= 0");
      }
    }
  }
  return queue_eval_loss(env, *this, Value(), info[0], windows, info[1], mask);
}

Napi::Value ModelObject::compute_gradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "computeGradients");
  const TokenView tokens = read_windows(env, info[0], "computeGradients(tokens)", true);
  return queue_compute_gradients(env, *this, Value(), info[0], tokens);
}

Napi::Value ModelObject::get_parameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "getParameters");
  Napi::Float32Array out = Napi::Float32Array::New(env, num_parameters_);
  guard(env, [&] { model_->get_parameters(out.Data()); });
  return out;
}

Napi::Value ModelObject::set_parameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "setParameters");
  Napi::Float32Array in = read_float32_array(env, info[0], "parameters", num_parameters_);
  check_all_finite(env, in.Data(), num_parameters_, "parameters");
  guard(env, [&] { model_->set_parameters(in.Data()); });
  return env.Undefined();
}

Napi::Value ModelObject::get_gradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "getGradients");
  Napi::Float32Array out = Napi::Float32Array::New(env, num_parameters_);
  guard(env, [&] { model_->get_gradients(out.Data()); });
  return out;
}

Napi::Value ModelObject::get_optimizer_state(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "getOptimizerState");
  Napi::Float32Array m = Napi::Float32Array::New(env, num_parameters_);
  Napi::Float32Array v = Napi::Float32Array::New(env, num_parameters_);
  guard(env, [&] { model_->get_optimizer_state(m.Data(), v.Data()); });
  Napi::Object state = Napi::Object::New(env);
  state.Set("m", m);
  state.Set("v", v);
  state.Set("step", Napi::Number::New(env, step_));
  return state;
}

Napi::Value ModelObject::set_optimizer_state(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_idle(env, "setOptimizerState");
  Napi::Float32Array m = read_float32_array(env, info[0], "m", num_parameters_);
  Napi::Float32Array v = read_float32_array(env, info[1], "v", num_parameters_);
  const int step = static_cast<int>(read_integer(env, info[2], "step", 0, kMaxInt));
  check_all_finite(env, m.Data(), num_parameters_, "m");
  check_all_finite(env, v.Data(), num_parameters_, "v");
  for (size_t i = 0; i < num_parameters_; i++) {
    if (v.Data()[i] < 0) {
      throw_range_error(env, ErrorCode::InvalidArgument,
                        "v[" + std::to_string(i) + "] is negative; the second moment is >= 0");
    }
  }
  guard(env, [&] { model_->set_optimizer_state(m.Data(), v.Data(), step); });
  step_ = model_->step();
  return env.Undefined();
}

Napi::Value ModelObject::dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!model_) return env.Undefined();  // idempotent
  if (busy_) {
    throw_native(env, ErrorCode::Busy,
                 "Model.dispose(): an operation is in flight on this model; await it, then dispose");
  }
  if (cleanup_hook_registered_) {
    napi_remove_env_cleanup_hook(env_, &ModelObject::cleanup_hook, this);
    cleanup_hook_registered_ = false;
  }
  free_native(true);
  return env.Undefined();
}

Napi::Value ModelObject::parameter_layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, layout_.size());
  for (size_t i = 0; i < layout_.size(); i++) {
    const ParameterTensor& p = layout_[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", p.name);
    Napi::Array shape = Napi::Array::New(env, p.shape.size());
    for (size_t d = 0; d < p.shape.size(); d++) shape.Set(static_cast<uint32_t>(d), p.shape[d]);
    entry.Set("shape", shape);
    entry.Set("offset", Napi::Number::New(env, static_cast<double>(p.offset)));
    entry.Set("size", Napi::Number::New(env, static_cast<double>(p.size)));
    entry.Set("weightDecay", Napi::Boolean::New(env, p.weight_decay));
    out.Set(static_cast<uint32_t>(i), entry);
  }
  return out;
}

Napi::Value ModelObject::num_parameters(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(num_parameters_));
}

Napi::Value ModelObject::memory_bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(model_ ? external_bytes_ : 0));
}

Napi::Value ModelObject::step(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), step_); }

Napi::Value ModelObject::backend_name(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), backend_name_);
}

Napi::Value ModelObject::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !model_);
}

}  // namespace autoscale::addon
