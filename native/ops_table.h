// A table of every backend op with its argument signature, so one generic entry point can run
// any op on any backend with host buffers (test-backend-ops style): the op-level tests compare
// each op against a float64 reference, and CUDA against CPU, through this table.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend.h"

namespace autoscale {

enum class OpArgKind { In, Out, InOut };  // Out buffers are written (forward) , InOut accumulated
enum class OpArgType { Float32, Int32 };

struct OpTensorArg {
  std::string name;
  OpArgKind kind;
  OpArgType type;
  bool nullable = false;
};

struct OpSpec {
  std::string name;                     // e.g. "matmul_forward"
  std::vector<OpTensorArg> tensors;     // in call order
  std::vector<std::string> ints;        // integer arguments, e.g. {"N", "C", "OC"}
  std::vector<std::string> floats;      // float arguments, e.g. {"dloss"}
  // Expected element count of each tensor given the integer arguments; throws NativeError
  // (InvalidArgument) for dimensions out of range (<= 0, heads not dividing C...).
  std::function<std::vector<size_t>(const std::vector<int64_t>& ints)> sizes;
  // Runs the op on the backend with backend pointers (nullptr for an absent nullable tensor).
  // Returns the op's host-side scalar result (sum_squares), 0 for the others.
  std::function<double(Backend&, const std::vector<void*>& ptrs, const std::vector<int64_t>& ints,
                     const std::vector<double>& floats)>
      run;
};

const std::vector<OpSpec>& op_table();
const OpSpec* find_op(const std::string& name);

// Runs one op on a backend with host buffers: checks every size against spec.sizes (throws
// NativeError(InvalidShape) naming the tensor, expected and actual length), copies inputs to the
// backend, runs, copies Out/InOut tensors back into the host buffers. host[i] may be nullptr only
// for nullable tensors. Returns the host-side result of ops that have one (sum_squares), else 0.
struct HostTensor {
  void* data = nullptr;
  size_t length = 0;  // elements
};
double run_op_on_host(Backend& backend, const OpSpec& spec, const std::vector<HostTensor>& host,
                      const std::vector<int64_t>& ints, const std::vector<double>& floats);

}  // namespace autoscale
