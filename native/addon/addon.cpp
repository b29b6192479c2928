// The autoscale-lm native addon: module registration and backend discovery. The only folder
// that includes napi.h; everything below it (model, backends) knows nothing of Node.
//   Model          the GPT proxy trainer (model_object.cpp, model_workers.cpp)
//   backendInfo()  { cpu: {available, threads, gemm, gemmKc}, cuda: {compiled, available, devices, reason?} }
//   runOp, opTable, opTensorSizes   the backend op table, for the op tests (ops.cpp)
#include <napi.h>

#include <cstdio>

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#endif

#include "backend.h"
#include "cpu/ops.h"
#include "errors.h"
#include "model_object.h"
#include "ops.h"

namespace autoscale::addon {

namespace {

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("available", Napi::Boolean::New(env, true));
    cpu.Set("threads", Napi::Number::New(env, cpu_hardware_threads()));
    cpu.Set("gemm", gemm_blocking_description());
    cpu.Set("gemmKc", Napi::Number::New(env, gemm_panel_depth()));

    const std::vector<DeviceInfo> devices = cuda_devices();
    Napi::Array devices_js = Napi::Array::New(env, devices.size());
    for (size_t i = 0; i < devices.size(); i++) {
      const DeviceInfo& d = devices[i];
      Napi::Object device = Napi::Object::New(env);
      device.Set("index", Napi::Number::New(env, d.index));
      device.Set("name", d.name);
      device.Set("totalMemory", Napi::Number::New(env, static_cast<double>(d.total_memory)));
      char capability[32];
      std::snprintf(capability, sizeof capability, "%d.%d", d.compute_major, d.compute_minor);
      device.Set("computeCapability", capability);
      devices_js.Set(static_cast<uint32_t>(i), device);
    }
    Napi::Object cuda = Napi::Object::New(env);
    cuda.Set("compiled", Napi::Boolean::New(env, cuda_compiled()));
    cuda.Set("available", Napi::Boolean::New(env, !devices.empty()));
    cuda.Set("devices", devices_js);
    if (devices.empty()) {
      const std::string reason = cuda_unavailable_reason();
      cuda.Set("reason", reason.empty() ? std::string("no CUDA device") : reason);
    }

    Napi::Object backends = Napi::Object::New(env);
    backends.Set("cpu", cpu);
    backends.Set("cuda", cuda);
    return backends;
  });
}

// Node unloads (dlclose) an addon when the last worker thread that loaded it exits. The CPU
// backend's OpenMP runtime keeps idle pool threads inside libgomp, which the addon pulls in:
// unloading would unmap the code they sleep in and crash the process. So the addon pins itself
// (and its dependencies) for the life of the process with a RTLD_NODELETE reference.
void pin_in_memory() {
#if defined(__unix__) || defined(__APPLE__)
  static bool pinned = false;
  if (pinned) return;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&pin_in_memory), &info) != 0 && info.dli_fname != nullptr) {
    pinned = dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE) != nullptr;
  }
#endif
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  pin_in_memory();
  exports.Set("Model", ModelObject::define_class(env));
  exports.Set("backendInfo", Napi::Function::New(env, backend_info, "backendInfo"));
  register_ops(env, exports);
  return exports;
}

}  // namespace autoscale::addon

// NODE_API_MODULE pastes the function name into an identifier, so it needs an unqualified one.
static Napi::Object init_autoscale_addon(Napi::Env env, Napi::Object exports) {
  return autoscale::addon::init(env, exports);
}
NODE_API_MODULE(autoscale, init_autoscale_addon)
