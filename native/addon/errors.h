// How native failures become JS errors. Core code throws autoscale::NativeError (status.h);
// this boundary maps it to an Error whose `code` is error_code_name(code): InvalidShape and
// InvalidArgument become RangeError, wrong JS types TypeError, everything else Error.
// std::bad_alloc becomes ERR_OUT_OF_MEMORY. Async workers capture the failure on the worker
// thread as an ErrorRecord (plain C++ data) and build the JS error later on the main thread.
#pragma once
#include <napi.h>

#include <string>

#include "status.h"

namespace autoscale::addon {

enum class JsErrorClass { Error, RangeError, TypeError };

struct ErrorRecord {
  JsErrorClass js_class = JsErrorClass::Error;
  std::string code;     // "ERR_..."
  std::string message;
};

// Classifies the exception being handled; call only inside a catch block.
ErrorRecord record_current_exception();

ErrorRecord record_native(ErrorCode code, const std::string& message);

// Builds the JS error (with its `code` property) on the main thread.
Napi::Error make_js_error(Napi::Env env, const ErrorRecord& record);

// Throw JS errors from a method callback (C++ exceptions are enabled: NAPI_CPP_EXCEPTIONS).
[[noreturn]] void throw_type_error(Napi::Env env, const std::string& message);
[[noreturn]] void throw_range_error(Napi::Env env, ErrorCode code, const std::string& message);
[[noreturn]] void throw_native(Napi::Env env, ErrorCode code, const std::string& message);

// Runs a method body and turns any C++ exception other than Napi::Error into a JS error,
// so nothing escapes into node-addon-api as an unknown exception.
template <class F>
auto guard(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw make_js_error(env, record_current_exception());
  }
}

}  // namespace autoscale::addon
