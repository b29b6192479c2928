// Errors raised by the native core. Core code never exits or aborts on bad input:
// it throws NativeError with a stable code; the addon boundary (native/addon) turns
// it into a JS Error whose `code` property is the string returned by error_code_name().
#pragma once
#include <stdexcept>
#include <string>

namespace autoscale {

enum class ErrorCode {
  InvalidArgument,     // ERR_INVALID_ARGUMENT: a value out of range or of the wrong kind
  InvalidShape,        // ERR_INVALID_SHAPE: sizes that do not agree (array length, config)
  BackendUnavailable,  // ERR_BACKEND_UNAVAILABLE: backend not compiled in, or no device
  Cuda,                // ERR_CUDA: a CUDA runtime/kernel failure
  OutOfMemory,         // ERR_OUT_OF_MEMORY: host or device allocation failed
  Disposed,            // ERR_DISPOSED: model used after dispose()
  Busy,                // ERR_BUSY: an operation is already in flight on this model
  NonFinite,           // ERR_NON_FINITE: a NaN/Inf loss or gradient
  Resources,           // ERR_RESOURCES: the OS refused a thread (RLIMIT_NPROC, threads-max, pids.max)
  Internal,            // ERR_INTERNAL: a broken invariant (a bug in autoscale-lm)
};

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::InvalidArgument: return "ERR_INVALID_ARGUMENT";
    case ErrorCode::InvalidShape: return "ERR_INVALID_SHAPE";
    case ErrorCode::BackendUnavailable: return "ERR_BACKEND_UNAVAILABLE";
    case ErrorCode::Cuda: return "ERR_CUDA";
    case ErrorCode::OutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::Disposed: return "ERR_DISPOSED";
    case ErrorCode::Busy: return "ERR_BUSY";
    case ErrorCode::NonFinite: return "ERR_NON_FINITE";
    case ErrorCode::Resources: return "ERR_RESOURCES";
    case ErrorCode::Internal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

class NativeError : public std::runtime_error {
 public:
  NativeError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Internal invariant: a failure is a bug in autoscale-lm, reported as ERR_INTERNAL
// (never abort(): we live inside someone's Node process).
#define AUTOSCALE_CHECK(cond, msg)                                                              \
  do {                                                                                          \
    if (!(cond))                                                                                \
      throw ::autoscale::NativeError(::autoscale::ErrorCode::Internal,                          \
                                     std::string("internal check failed: ") + (msg) + " (" +   \
                                         __FILE__ + ":" + std::to_string(__LINE__) + ")");      \
  } while (0)

}  // namespace autoscale
