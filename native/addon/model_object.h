// The JS `Model` class (exported by the addon, wrapped by lib/native.ts): owns one
// autoscale::Model and guards its lifetime.
//   - One operation in flight per model: trainStep / evalLoss / computeGradients run in an
//     AsyncWorker (model_workers.cpp) and return a Promise; while one runs every other call
//     throws ERR_BUSY. The worker holds references to the model object and to its input typed
//     arrays until it completes, so neither can be collected under it.
//   - dispose() frees the native memory (idempotent); later calls throw ERR_DISPOSED. The
//     finalizer and an env cleanup hook free whatever dispose() did not. A model whose operation
//     is still running when the environment goes away is leaked on purpose: its worker thread
//     may still be reading it.
//   - The native work of every operation runs on the model's own thread (executor.h), started
//     by the first operation; dispose(), the finalizer and the cleanup hook stop and join it,
//     except at teardown with an operation in flight, where it is detached (it then finishes
//     the job and exits by itself; the addon stays mapped, see pin_in_memory in addon.cpp).
//   - The engine is told about the native memory (AdjustExternalMemory) so GC pressure is right.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "executor.h"
#include "model.h"

namespace autoscale::addon {

class ModelObject : public Napi::ObjectWrap<ModelObject> {
 public:
  static Napi::Function define_class(Napi::Env env);

  explicit ModelObject(const Napi::CallbackInfo& info);
  ~ModelObject() override;

  // For the workers (main thread only).
  Model* model() { return model_.get(); }
  void set_busy(bool busy) { busy_ = busy; }
  void set_step(int step) { step_ = step; }
  // The queue of the model's own thread, started on first use (throws a JS error if it cannot).
  std::shared_ptr<ExecutorQueue> executor_queue(Napi::Env env);

 private:
  // JS methods
  Napi::Value train_step(const Napi::CallbackInfo& info);
  Napi::Value eval_loss(const Napi::CallbackInfo& info);
  Napi::Value compute_gradients(const Napi::CallbackInfo& info);
  Napi::Value get_parameters(const Napi::CallbackInfo& info);
  Napi::Value set_parameters(const Napi::CallbackInfo& info);
  Napi::Value get_gradients(const Napi::CallbackInfo& info);
  Napi::Value get_optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value set_optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  // JS getters
  Napi::Value parameter_layout(const Napi::CallbackInfo& info);
  Napi::Value num_parameters(const Napi::CallbackInfo& info);
  Napi::Value memory_bytes(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value backend_name(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  // Throws ERR_DISPOSED / ERR_BUSY unless the model can take a new operation.
  void require_idle(Napi::Env env, const char* method) const;
  // Checks a window array for an operation: type, whole windows, count, ids in range.
  TokenView read_windows(Napi::Env env, const Napi::Value& value, const std::string& what,
                         bool limit_to_batch) const;
  // Frees the native model; adjust_memory is false during environment teardown.
  void free_native(bool adjust_memory);
  static void cleanup_hook(void* self);

  std::unique_ptr<Model> model_;
  std::unique_ptr<Executor> executor_;  // the model's thread, once an operation has run
  napi_env env_ = nullptr;
  bool busy_ = false;
  bool cleanup_hook_registered_ = false;
  int64_t external_bytes_ = 0;  // reported to the engine
  int step_ = 0;                // mirrors model_->step(), readable while an op runs
  size_t num_parameters_ = 0;
  int context_length_ = 0;
  int vocab_size_ = 0;
  int batch_size_ = 0;
  std::string backend_name_;
  std::vector<ParameterTensor> layout_;  // kept so parameterLayout reads after dispose()
};

// Queue the asynchronous operations (model_workers.cpp). Each returns the Promise.
Napi::Value queue_train_step(Napi::Env env, ModelObject& self, Napi::Object self_js,
                             Napi::Value tokens_js, const TokenView& tokens, float lr);
Napi::Value queue_eval_loss(Napi::Env env, ModelObject& self, Napi::Object self_js,
                            Napi::Value windows_js, const TokenView& windows, Napi::Value mask_js,
                            const float* mask);
Napi::Value queue_compute_gradients(Napi::Env env, ModelObject& self, Napi::Object self_js,
                                    Napi::Value tokens_js, const TokenView& tokens);

}  // namespace autoscale::addon
