// runOp / opTable / opTensorSizes: the backend op table (ops_table.h) exposed to JS so the op
// tests can run any op on any backend with typed arrays, driven by the table itself.
#pragma once
#include <napi.h>

namespace autoscale::addon {

void register_ops(Napi::Env env, Napi::Object exports);

}  // namespace autoscale::addon
