// runOp(backend, name, tensors[], ints[], floats[], options?) runs one backend op synchronously
// on host typed arrays (Float32Array / Int32Array, null for an absent nullable tensor) through
// run_op_on_host; opTable() describes every op; opTensorSizes(name, ints) gives the element
// count each tensor must have. For tests and diagnostics: sizes are checked here and in the core.
#include "ops.h"

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "cpu/threads.h"
#include "errors.h"
#include "ops_table.h"

namespace autoscale::addon {

namespace {

const char* kind_name(OpArgKind kind) {
  switch (kind) {
    case OpArgKind::In: return "in";
    case OpArgKind::Out: return "out";
    case OpArgKind::InOut: return "inout";
  }
  return "in";
}

const char* type_name(OpArgType type) { return type == OpArgType::Float32 ? "float32" : "int32"; }

const OpSpec& read_op(Napi::Env env, const Napi::Value& value) {
  const std::string name = read_string(env, value, "op name");
  const OpSpec* spec = find_op(name);
  if (spec == nullptr) {
    throw_range_error(env, ErrorCode::InvalidArgument, "unknown op '" + name + "' (see opTable())");
  }
  return *spec;
}

std::vector<int64_t> read_ints(Napi::Env env, const OpSpec& spec, const Napi::Value& value) {
  Napi::Array array = read_array(env, value, spec.name + " ints");
  if (array.Length() != spec.ints.size()) {
    throw_range_error(env, ErrorCode::InvalidArgument,
                      spec.name + " takes " + std::to_string(spec.ints.size()) + " ints, got " +
                          std::to_string(array.Length()));
  }
  std::vector<int64_t> ints;
  for (uint32_t i = 0; i < array.Length(); i++) {
    // Ops take int dimensions: keep every value in int32 range so no narrowing can wrap.
    ints.push_back(read_integer(env, array.Get(i), spec.name + " int " + spec.ints[i],
                                std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
  }
  return ints;
}

std::vector<size_t> expected_sizes(Napi::Env env, const OpSpec& spec, const std::vector<int64_t>& ints) {
  std::vector<size_t> sizes = guard(env, [&] { return spec.sizes(ints); });
  if (sizes.size() != spec.tensors.size()) {
    throw_native(env, ErrorCode::Internal, spec.name + ": op table sizes() does not match its tensors");
  }
  return sizes;
}

std::unique_ptr<Backend> make_backend(Napi::Env env, const std::string& name, const Napi::Value& options_js) {
  BackendOptions options;
  if (!options_js.IsUndefined() && !options_js.IsNull()) {
    Napi::Object obj = read_object(env, options_js, "runOp options");
    if (obj.Has("threads") && !obj.Get("threads").IsUndefined()) {
      options.threads = static_cast<int>(read_integer(env, obj.Get("threads"), "options.threads", 0, 1 << 16));
    }
    if (obj.Has("device") && !obj.Get("device").IsUndefined()) {
      options.device = static_cast<int>(read_integer(env, obj.Get("device"), "options.device", 0, 1 << 16));
    }
    if (obj.Has("matmulPrecision") && !obj.Get("matmulPrecision").IsUndefined()) {
      options.matmul_precision = read_string(env, obj.Get("matmulPrecision"), "options.matmulPrecision");
      const std::string& p = options.matmul_precision;
      if (p != "fp32" && p != "tf32" && p != "bf16") {
        throw_range_error(env, ErrorCode::InvalidArgument,
                          "options.matmulPrecision must be 'fp32', 'tf32' or 'bf16', got '" + p + "'");
      }
    }
  }
  if (name == "cpu") return guard(env, [&] { return make_cpu_backend(options); });
  if (name == "cuda") return guard(env, [&] { return make_cuda_backend(options); });
  throw_range_error(env, ErrorCode::InvalidArgument, "backend must be 'cpu' or 'cuda', got '" + name + "'");
}

Napi::Value run_op(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string backend_name = read_string(env, info[0], "backend");
  const OpSpec& spec = read_op(env, info[1]);
  Napi::Array tensors_js = read_array(env, info[2], spec.name + " tensors");
  const std::vector<int64_t> ints = read_ints(env, spec, info[3]);
  Napi::Array floats_js = read_array(env, info[4], spec.name + " floats");
  if (tensors_js.Length() != spec.tensors.size()) {
    throw_range_error(env, ErrorCode::InvalidArgument,
                      spec.name + " takes " + std::to_string(spec.tensors.size()) + " tensors, got " +
                          std::to_string(tensors_js.Length()));
  }
  if (floats_js.Length() != spec.floats.size()) {
    throw_range_error(env, ErrorCode::InvalidArgument,
                      spec.name + " takes " + std::to_string(spec.floats.size()) + " floats, got " +
                          std::to_string(floats_js.Length()));
  }
  std::vector<double> floats;
  for (uint32_t i = 0; i < floats_js.Length(); i++) {
    floats.push_back(read_finite_number(env, floats_js.Get(i), spec.name + " float " + spec.floats[i]));
  }
  const std::vector<size_t> sizes = expected_sizes(env, spec, ints);

  // Collect the typed arrays first (element getters may run JS), then take their pointers.
  std::vector<Napi::Value> values;
  for (uint32_t i = 0; i < tensors_js.Length(); i++) values.push_back(tensors_js.Get(i));
  std::vector<HostTensor> host(spec.tensors.size());
  for (size_t i = 0; i < spec.tensors.size(); i++) {
    const OpTensorArg& arg = spec.tensors[i];
    const std::string what = spec.name + " tensor " + arg.name;
    const Napi::Value& v = values[i];
    if (v.IsNull() || v.IsUndefined()) {
      if (!arg.nullable) throw_type_error(env, what + " is required (it is not nullable)");
      continue;
    }
    const napi_typedarray_type wanted = arg.type == OpArgType::Float32 ? napi_float32_array : napi_int32_array;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != wanted) {
      throw_type_error(env, what + " must be " +
                                (arg.type == OpArgType::Float32 ? "a Float32Array" : "an Int32Array"));
    }
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok) {
      throw_type_error(env, what + " could not be read as a typed array");
    }
    if (data == nullptr) length = 0;  // detached
    if (length != sizes[i]) {
      throw_range_error(env, ErrorCode::InvalidShape,
                        what + " has " + std::to_string(length) + " elements; expected " + std::to_string(sizes[i]));
    }
    host[i] = HostTensor{data, length};
  }
  std::unique_ptr<Backend> backend = make_backend(env, backend_name, info[5]);
  const double result = guard(env, [&] {
    reserve_cpu_thread_team(backend->threads());  // a refused thread: ERR_RESOURCES (cpu/threads.h)
    return run_op_on_host(*backend, spec, host, ints, floats);
  });
  return Napi::Number::New(env, result);
}

Napi::Value op_table_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<OpSpec>& table = op_table();
  Napi::Array out = Napi::Array::New(env, table.size());
  for (size_t i = 0; i < table.size(); i++) {
    const OpSpec& spec = table[i];
    Napi::Object op = Napi::Object::New(env);
    op.Set("name", spec.name);
    Napi::Array tensors = Napi::Array::New(env, spec.tensors.size());
    for (size_t t = 0; t < spec.tensors.size(); t++) {
      Napi::Object arg = Napi::Object::New(env);
      arg.Set("name", spec.tensors[t].name);
      arg.Set("kind", kind_name(spec.tensors[t].kind));
      arg.Set("type", type_name(spec.tensors[t].type));
      arg.Set("nullable", Napi::Boolean::New(env, spec.tensors[t].nullable));
      tensors.Set(static_cast<uint32_t>(t), arg);
    }
    op.Set("tensors", tensors);
    Napi::Array ints = Napi::Array::New(env, spec.ints.size());
    for (size_t k = 0; k < spec.ints.size(); k++) ints.Set(static_cast<uint32_t>(k), spec.ints[k]);
    op.Set("ints", ints);
    Napi::Array floats = Napi::Array::New(env, spec.floats.size());
    for (size_t k = 0; k < spec.floats.size(); k++) floats.Set(static_cast<uint32_t>(k), spec.floats[k]);
    op.Set("floats", floats);
    out.Set(static_cast<uint32_t>(i), op);
  }
  return out;
}

Napi::Value op_tensor_sizes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const OpSpec& spec = read_op(env, info[0]);
  const std::vector<size_t> sizes = expected_sizes(env, spec, read_ints(env, spec, info[1]));
  Napi::Array out = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) out.Set(static_cast<uint32_t>(i), static_cast<double>(sizes[i]));
  return out;
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("runOp", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return guard(info.Env(), [&] { return run_op(info); });
              }, "runOp"));
  exports.Set("opTable", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return guard(info.Env(), [&] { return op_table_js(info); });
              }, "opTable"));
  exports.Set("opTensorSizes", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return guard(info.Env(), [&] { return op_tensor_sizes(info); });
              }, "opTensorSizes"));
}

}  // namespace autoscale::addon
