// NativeError / std exceptions -> JS Error objects with a stable `code` (see errors.h).
#include "errors.h"

#include <new>

namespace autoscale::addon {

ErrorRecord record_native(ErrorCode code, const std::string& message) {
  ErrorRecord record;
  record.code = error_code_name(code);
  record.message = message;
  record.js_class = (code == ErrorCode::InvalidShape || code == ErrorCode::InvalidArgument)
                        ? JsErrorClass::RangeError
                        : JsErrorClass::Error;
  return record;
}

ErrorRecord record_current_exception() {
  try {
    throw;
  } catch (const NativeError& e) {
    return record_native(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return record_native(ErrorCode::OutOfMemory,
                         "out of host memory: a native allocation failed (use a smaller model, "
                         "batchSize or number of windows)");
  } catch (const std::exception& e) {
    return record_native(ErrorCode::Internal, std::string("unexpected native exception: ") + e.what());
  } catch (...) {
    return record_native(ErrorCode::Internal, "unexpected native exception of unknown type");
  }
}

Napi::Error make_js_error(Napi::Env env, const ErrorRecord& record) {
  Napi::Error error;
  switch (record.js_class) {
    case JsErrorClass::RangeError: error = Napi::RangeError::New(env, record.message); break;
    case JsErrorClass::TypeError: error = Napi::TypeError::New(env, record.message); break;
    case JsErrorClass::Error: error = Napi::Error::New(env, record.message); break;
  }
  error.Set("code", Napi::String::New(env, record.code));
  return error;
}

void throw_type_error(Napi::Env env, const std::string& message) {
  ErrorRecord record{JsErrorClass::TypeError, error_code_name(ErrorCode::InvalidArgument), message};
  throw make_js_error(env, record);
}

void throw_range_error(Napi::Env env, ErrorCode code, const std::string& message) {
  ErrorRecord record{JsErrorClass::RangeError, error_code_name(code), message};
  throw make_js_error(env, record);
}

void throw_native(Napi::Env env, ErrorCode code, const std::string& message) {
  throw make_js_error(env, record_native(code, message));
}

}  // namespace autoscale::addon
