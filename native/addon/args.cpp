// Argument checks at the N-API boundary (see args.h).
#include "args.h"

#include <cmath>

#include "errors.h"

namespace autoscale::addon {

TokenView read_tokens(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsTypedArray()) {
    throw_type_error(env, what + " must be a Uint16Array, Uint32Array or Int32Array of token ids");
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;  // already adjusted by the view's byteOffset
  napi_status status = napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr);
  if (status != napi_ok) throw_type_error(env, what + " could not be read as a typed array");
  TokenView view;
  switch (type) {
    case napi_uint16_array: view.type = TokenType::Uint16; break;
    case napi_uint32_array: view.type = TokenType::Uint32; break;
    case napi_int32_array: view.type = TokenType::Int32; break;
    default:
      throw_type_error(env, what + " must be a Uint16Array, Uint32Array or Int32Array of token ids");
  }
  view.data = data;
  view.length = data == nullptr ? 0 : length;  // a detached buffer reads as empty
  return view;
}

namespace {
template <class T>
void check_range_of(Napi::Env env, const T* ids, size_t n, int vocab_size, const std::string& what) {
  for (size_t i = 0; i < n; i++) {
    const int64_t id = static_cast<int64_t>(ids[i]);
    if (id < 0 || id >= vocab_size) {
      throw_range_error(env, ErrorCode::InvalidArgument,
                        what + "[" + std::to_string(i) + "] = " + std::to_string(id) +
                            " is not a token id in [0, vocabSize = " + std::to_string(vocab_size) + ")");
    }
  }
}
}  // namespace

void check_token_range(Napi::Env env, const TokenView& tokens, int vocab_size, const std::string& what) {
  switch (tokens.type) {
    case TokenType::Uint16:
      check_range_of(env, static_cast<const uint16_t*>(tokens.data), tokens.length, vocab_size, what);
      break;
    case TokenType::Uint32:
      check_range_of(env, static_cast<const uint32_t*>(tokens.data), tokens.length, vocab_size, what);
      break;
    case TokenType::Int32:
      check_range_of(env, static_cast<const int32_t*>(tokens.data), tokens.length, vocab_size, what);
      break;
  }
}

Napi::Float32Array read_float32_array(Napi::Env env, const Napi::Value& value, const std::string& what,
                                      size_t length) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_type_error(env, what + " must be a Float32Array");
  }
  Napi::Float32Array array = value.As<Napi::Float32Array>();
  if (length != kAnyLength && (array.ElementLength() != length || (length > 0 && array.Data() == nullptr))) {
    throw_range_error(env, ErrorCode::InvalidShape,
                      what + " has " + std::to_string(array.ElementLength()) + " elements; expected " +
                          std::to_string(length));
  }
  return array;
}

void check_all_finite(Napi::Env env, const float* data, size_t n, const std::string& what) {
  for (size_t i = 0; i < n; i++) {
    if (!std::isfinite(data[i])) {
      throw_range_error(env, ErrorCode::InvalidArgument,
                        what + "[" + std::to_string(i) + "] is not a finite number");
    }
  }
}

double read_finite_number(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsNumber()) throw_type_error(env, what + " must be a number");
  const double x = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x)) throw_range_error(env, ErrorCode::InvalidArgument, what + " must be finite");
  return x;
}

int64_t read_integer(Napi::Env env, const Napi::Value& value, const std::string& what, int64_t min,
                     int64_t max) {
  const double x = read_finite_number(env, value, what);
  if (x != std::floor(x) || x < static_cast<double>(min) || x > static_cast<double>(max)) {
    throw_range_error(env, ErrorCode::InvalidArgument,
                      what + " must be an integer in [" + std::to_string(min) + ", " +
                          std::to_string(max) + "]");
  }
  return static_cast<int64_t>(x);
}

std::string read_string(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsString()) throw_type_error(env, what + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

Napi::Object read_object(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsObject() || value.IsArray() || value.IsFunction()) {
    throw_type_error(env, what + " must be an object");
  }
  return value.As<Napi::Object>();
}

Napi::Array read_array(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) throw_type_error(env, what + " must be an array");
  return value.As<Napi::Array>();
}

}  // namespace autoscale::addon
