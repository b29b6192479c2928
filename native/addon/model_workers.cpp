// The asynchronous Model operations (trainStep, evalLoss, computeGradients): each runs in a
// Napi::AsyncWorker on the libuv thread pool and settles a Promise on the main thread. The
// native work itself runs on the model's own thread (executor.h); Execute() waits for it.
// A worker keeps its model object and input typed arrays referenced until it completes, marks
// the model busy while it runs, and carries a native failure across threads as an ErrorRecord.
#include <memory>
#include <vector>

#include "cpu/threads.h"
#include "errors.h"
#include "model_object.h"

namespace autoscale::addon {

namespace {

class ModelWorker : public Napi::AsyncWorker {
 public:
  ModelWorker(Napi::Env env, const char* name, ModelObject& self, Napi::Object self_js)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        self_(self),
        model_(self.model()),
        queue_(self.executor_queue(env)),
        self_ref_(Napi::Persistent(self_js)) {}

  // Keeps a JS input (typed array) alive until the worker completes.
  void hold(const Napi::Value& value) {
    if (value.IsObject()) inputs_.push_back(Napi::Persistent(value.As<Napi::Object>()));
  }

  // Marks the model busy and queues the work; returns the Promise.
  Napi::Value start() {
    self_.set_busy(true);
    try {
      Queue();
    } catch (...) {
      self_.set_busy(false);
      throw;
    }
    return deferred_.Promise();
  }

 protected:
  virtual void run(Model& model) = 0;                // worker thread
  virtual Napi::Value result(Napi::Env env) = 0;     // main thread, after success

  void Execute() override {
    queue_->run([this] {
      try {
        // Before the first OpenMP region on this thread: a refused thread is ERR_RESOURCES, not
        // libgomp ending the process (the CUDA backend's host side has 1 thread: nothing to do).
        reserve_cpu_thread_team(model_->backend().threads());
        run(*model_);
      } catch (...) {
        failure_ = record_current_exception();
        failed_ = true;
      }
    });
  }

  // Never lets an exception escape: node-addon-api would rethrow it into JS, and while a worker
  // thread is being terminated JS cannot run, so that rethrow ends in std::terminate.
  void OnOK() override {
    self_.set_busy(false);
    self_.set_step(model_->step());
    try {
      settle(Env());
    } catch (...) {
      // The environment is shutting down: the promise can no longer be settled.
    }
  }

  void OnError(const Napi::Error& error) override {  // only if Execute called SetError (it does not)
    self_.set_busy(false);
    try {
      deferred_.Reject(error.Value());
    } catch (...) {
    }
  }

 private:
  void settle(Napi::Env env) {
    if (failed_) {
      deferred_.Reject(make_js_error(env, failure_).Value());
      return;
    }
    Napi::Value value;
    try {
      value = result(env);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
      return;
    } catch (...) {
      deferred_.Reject(make_js_error(env, record_current_exception()).Value());
      return;
    }
    deferred_.Resolve(value);
  }

  Napi::Promise::Deferred deferred_;
  ModelObject& self_;
  Model* model_;
  std::shared_ptr<ExecutorQueue> queue_;  // kept alive even if the model's executor is detached
  Napi::ObjectReference self_ref_;
  std::vector<Napi::ObjectReference> inputs_;
  bool failed_ = false;
  ErrorRecord failure_;
};

class TrainStepWorker final : public ModelWorker {
 public:
  TrainStepWorker(Napi::Env env, ModelObject& self, Napi::Object self_js, const TokenView& tokens, float lr)
      : ModelWorker(env, "autoscale:trainStep", self, self_js), tokens_(tokens), lr_(lr) {}

 protected:
  void run(Model& model) override { result_ = model.train_step(tokens_, lr_); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("loss", Napi::Number::New(env, result_.loss));
    out.Set("gradNorm", Napi::Number::New(env, result_.grad_norm));
    out.Set("step", Napi::Number::New(env, result_.step));
    return out;
  }

 private:
  TokenView tokens_;
  float lr_;
  StepResult result_;
};

class EvalLossWorker final : public ModelWorker {
 public:
  EvalLossWorker(Napi::Env env, ModelObject& self, Napi::Object self_js, const TokenView& windows,
                 const float* mask, size_t n_windows)
      : ModelWorker(env, "autoscale:evalLoss", self, self_js), windows_(windows), mask_(mask), n_windows_(n_windows) {}

 protected:
  void run(Model& model) override {
    losses_.assign(n_windows_, 0.0);
    model.eval_loss(windows_, mask_, losses_.data());
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Float64Array out = Napi::Float64Array::New(env, losses_.size());
    std::copy(losses_.begin(), losses_.end(), out.Data());
    return out;
  }

 private:
  TokenView windows_;
  const float* mask_;
  size_t n_windows_;
  std::vector<double> losses_;
};

class ComputeGradientsWorker final : public ModelWorker {
 public:
  ComputeGradientsWorker(Napi::Env env, ModelObject& self, Napi::Object self_js, const TokenView& tokens)
      : ModelWorker(env, "autoscale:computeGradients", self, self_js), tokens_(tokens) {}

 protected:
  void run(Model& model) override {
    loss_ = model.compute_gradients(tokens_);
    gradients_.resize(model.num_parameters());
    model.get_gradients(gradients_.data());
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Float32Array grads = Napi::Float32Array::New(env, gradients_.size());
    std::copy(gradients_.begin(), gradients_.end(), grads.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("loss", Napi::Number::New(env, loss_));
    out.Set("gradients", grads);
    return out;
  }

 private:
  TokenView tokens_;
  double loss_ = 0;
  std::vector<float> gradients_;
};

}  // namespace

Napi::Value queue_train_step(Napi::Env env, ModelObject& self, Napi::Object self_js, Napi::Value tokens_js,
                             const TokenView& tokens, float lr) {
  auto* worker = new TrainStepWorker(env, self, self_js, tokens, lr);
  worker->hold(tokens_js);
  return worker->start();
}

Napi::Value queue_eval_loss(Napi::Env env, ModelObject& self, Napi::Object self_js, Napi::Value windows_js,
                            const TokenView& windows, Napi::Value mask_js, const float* mask) {
  const size_t n_windows = windows.length / (static_cast<size_t>(self.model()->config().context_length) + 1);
  auto* worker = new EvalLossWorker(env, self, self_js, windows, mask, n_windows);
  worker->hold(windows_js);
  if (mask != nullptr) worker->hold(mask_js);
  return worker->start();
}

Napi::Value queue_compute_gradients(Napi::Env env, ModelObject& self, Napi::Object self_js,
                                    Napi::Value tokens_js, const TokenView& tokens) {
  auto* worker = new ComputeGradientsWorker(env, self, self_js, tokens);
  worker->hold(tokens_js);
  return worker->start();
}

}  // namespace autoscale::addon
