// Argument checks for every value that crosses from JS into native code: type, length, range,
// finiteness. The TypeScript layer (lib/native.ts) validates first with friendlier messages;
// these checks exist so that no JS value, however wrong, can crash the process.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "model.h"

namespace autoscale::addon {

// A zero-copy view of a Uint16Array, Uint32Array or Int32Array (byteOffset included);
// any other value throws TypeError.
TokenView read_tokens(Napi::Env env, const Napi::Value& value, const std::string& what);

// Throws RangeError (ERR_INVALID_ARGUMENT) naming the first id outside [0, vocab_size).
void check_token_range(Napi::Env env, const TokenView& tokens, int vocab_size, const std::string& what);

// A Float32Array (TypeError otherwise) of exactly `length` elements (RangeError ERR_INVALID_SHAPE
// otherwise), unless length is kAnyLength.
constexpr size_t kAnyLength = SIZE_MAX;
Napi::Float32Array read_float32_array(Napi::Env env, const Napi::Value& value, const std::string& what,
                                      size_t length = kAnyLength);

// Every element finite (RangeError ERR_INVALID_ARGUMENT naming the first bad index otherwise).
void check_all_finite(Napi::Env env, const float* data, size_t n, const std::string& what);

// A finite number (TypeError when not a number, RangeError when NaN/Infinity).
double read_finite_number(Napi::Env env, const Napi::Value& value, const std::string& what);

// An integer number in [min, max] (TypeError when not a number, RangeError otherwise).
int64_t read_integer(Napi::Env env, const Napi::Value& value, const std::string& what, int64_t min,
                     int64_t max);

std::string read_string(Napi::Env env, const Napi::Value& value, const std::string& what);

// A plain object (TypeError otherwise).
Napi::Object read_object(Napi::Env env, const Napi::Value& value, const std::string& what);

// An array (TypeError otherwise).
Napi::Array read_array(Napi::Env env, const Napi::Value& value, const std::string& what);

}  // namespace autoscale::addon
