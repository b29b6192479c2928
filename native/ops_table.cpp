// The table of backend ops (test-backend-ops style) and the generic host-buffer runner.
#include "ops_table.h"

#include <climits>
#include <string>

#include "status.h"

namespace autoscale {

namespace {

using Ints = std::vector<int64_t>;
using Floats = std::vector<double>;
using Ptrs = std::vector<void*>;

OpTensorArg in_f(const char* name) { return {name, OpArgKind::In, OpArgType::Float32, false}; }
OpTensorArg in_i(const char* name) { return {name, OpArgKind::In, OpArgType::Int32, false}; }
OpTensorArg out_f(const char* name, bool nullable = false) {
  return {name, OpArgKind::Out, OpArgType::Float32, nullable};
}
OpTensorArg inout_f(const char* name, bool nullable = false) {
  return {name, OpArgKind::InOut, OpArgType::Float32, nullable};
}
OpTensorArg in_f_nullable(const char* name) { return {name, OpArgKind::In, OpArgType::Float32, true}; }

// An integer argument checked to lie in [lo, hi] (dimension sizes: [1, INT_MAX]).
int64_t arg(const std::string& op, const char* name, int64_t value, int64_t lo = 1,
            int64_t hi = INT_MAX) {
  if (value < lo || value > hi)
    throw NativeError(ErrorCode::InvalidArgument,
                      op + ": " + name + " = " + std::to_string(value) + " must be in [" +
                          std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return value;
}

// Element count a*b*... with an overflow check (sizes are also bounded by memory).
size_t count(const std::string& op, std::initializer_list<int64_t> dims) {
  size_t n = 1;
  for (int64_t d : dims) {
    if (d != 0 && n > (size_t)(INT64_MAX / 4) / (size_t)d)
      throw NativeError(ErrorCode::InvalidArgument, op + ": tensor sizes overflow");
    n *= (size_t)d;
  }
  return n;
}

void heads_divide(const std::string& op, int64_t C, int64_t NH) {
  if (C % NH != 0)
    throw NativeError(ErrorCode::InvalidArgument, op + ": NH = " + std::to_string(NH) +
                                                      " must divide C = " + std::to_string(C));
}

float* F(const Ptrs& p, size_t i) { return static_cast<float*>(p[i]); }
int32_t* I(const Ptrs& p, size_t i) { return static_cast<int32_t*>(p[i]); }

std::vector<OpSpec> build_table() {
  std::vector<OpSpec> t;

  {  // encoder: B, T, C, maxT (rows of wpe), V (rows of wte)
    auto sizes_of = [](const std::string& op) {
      return [op](const Ints& a) {
        const int64_t B = arg(op, "B", a[0]), T = arg(op, "T", a[1]), C = arg(op, "C", a[2]);
        const int64_t maxT = arg(op, "maxT", a[3]), V = arg(op, "V", a[4]);
        if (T > maxT)
          throw NativeError(ErrorCode::InvalidArgument, op + ": T = " + std::to_string(T) +
                                                            " must be <= maxT = " + std::to_string(maxT));
        // encoder_forward: out, tokens, wte, wpe; encoder_backward: dwte, dwpe, dout, tokens
        const size_t btc = count(op, {B, T, C}), bt = count(op, {B, T});
        const size_t vc = count(op, {V, C}), tc = count(op, {maxT, C});
        if (op == "encoder_forward") return std::vector<size_t>{btc, bt, vc, tc};
        return std::vector<size_t>{vc, tc, btc, bt};
      };
    };
    t.push_back({"encoder_forward",
                 {out_f("out"), in_i("tokens"), in_f("wte"), in_f("wpe")},
                 {"B", "T", "C", "maxT", "V"},
                 {},
                 sizes_of("encoder_forward"),
                 [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                   be.encoder_forward(F(p, 0), I(p, 1), F(p, 2), F(p, 3), (int)a[0], (int)a[1],
                                      (int)a[2]);
                   return 0.0;
                 }});
    t.push_back({"encoder_backward",
                 {inout_f("dwte"), inout_f("dwpe"), in_f("dout"), in_i("tokens")},
                 {"B", "T", "C", "maxT", "V"},
                 {},
                 sizes_of("encoder_backward"),
                 [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                   be.encoder_backward(F(p, 0), F(p, 1), F(p, 2), I(p, 3), (int)a[0], (int)a[1],
                                       (int)a[2]);
                   return 0.0;
                 }});
  }

  t.push_back({"layernorm_forward",
               {out_f("out"), out_f("mean"), out_f("rstd"), in_f("inp"), in_f("weight"), in_f("bias")},
               {"N", "C"},
               {},
               [](const Ints& a) {
                 const std::string op = "layernorm_forward";
                 const int64_t N = arg(op, "N", a[0]), C = arg(op, "C", a[1]);
                 const size_t nc = count(op, {N, C});
                 return std::vector<size_t>{nc, (size_t)N, (size_t)N, nc, (size_t)C, (size_t)C};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.layernorm_forward(F(p, 0), F(p, 1), F(p, 2), F(p, 3), F(p, 4), F(p, 5), (int)a[0],
                                      (int)a[1]);
                 return 0.0;
               }});
  t.push_back({"residual_layernorm_forward",
               {out_f("res"), out_f("out"), out_f("mean"), out_f("rstd"), in_f("a"), in_f("b"), in_f("weight"),
                in_f("bias")},
               {"N", "C"},
               {},
               [](const Ints& a) {
                 const std::string op = "residual_layernorm_forward";
                 const int64_t N = arg(op, "N", a[0]), C = arg(op, "C", a[1]);
                 const size_t nc = count(op, {N, C});
                 return std::vector<size_t>{nc, nc, (size_t)N, (size_t)N, nc, nc, (size_t)C, (size_t)C};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.residual_layernorm_forward(F(p, 0), F(p, 1), F(p, 2), F(p, 3), F(p, 4), F(p, 5), F(p, 6),
                                               F(p, 7), (int)a[0], (int)a[1]);
                 return 0.0;
               }});
  t.push_back({"layernorm_backward",
               {inout_f("dinp"), inout_f("dweight"), inout_f("dbias"), in_f("dout"), in_f("inp"),
                in_f("weight"), in_f("mean"), in_f("rstd")},
               {"N", "C"},
               {},
               [](const Ints& a) {
                 const std::string op = "layernorm_backward";
                 const int64_t N = arg(op, "N", a[0]), C = arg(op, "C", a[1]);
                 const size_t nc = count(op, {N, C});
                 return std::vector<size_t>{nc, (size_t)C, (size_t)C, nc, nc, (size_t)C, (size_t)N,
                                            (size_t)N};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.layernorm_backward(F(p, 0), F(p, 1), F(p, 2), F(p, 3), F(p, 4), F(p, 5), F(p, 6),
                                       F(p, 7), (int)a[0], (int)a[1]);
                 return 0.0;
               }});

  t.push_back({"matmul_forward",
               {out_f("out"), in_f("inp"), in_f("weight"), in_f_nullable("bias")},
               {"N", "C", "OC"},
               {},
               [](const Ints& a) {
                 const std::string op = "matmul_forward";
                 const int64_t N = arg(op, "N", a[0]), C = arg(op, "C", a[1]), OC = arg(op, "OC", a[2]);
                 return std::vector<size_t>{count(op, {N, OC}), count(op, {N, C}), count(op, {OC, C}),
                                            (size_t)OC};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.matmul_forward(F(p, 0), F(p, 1), F(p, 2), F(p, 3), (int)a[0], (int)a[1], (int)a[2]);
                 return 0.0;
               }});
  t.push_back({"matmul_backward",
               {inout_f("dinp", true), inout_f("dweight"), inout_f("dbias", true), in_f("dout"),
                in_f("inp"), in_f("weight")},
               {"N", "C", "OC"},
               {},
               [](const Ints& a) {
                 const std::string op = "matmul_backward";
                 const int64_t N = arg(op, "N", a[0]), C = arg(op, "C", a[1]), OC = arg(op, "OC", a[2]);
                 const size_t nc = count(op, {N, C}), oc_c = count(op, {OC, C});
                 return std::vector<size_t>{nc, oc_c, (size_t)OC, count(op, {N, OC}), nc, oc_c};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.matmul_backward(F(p, 0), F(p, 1), F(p, 2), F(p, 3), F(p, 4), F(p, 5), (int)a[0],
                                    (int)a[1], (int)a[2]);
                 return 0.0;
               }});

  t.push_back({"matmul_backward_overwrite",
               {out_f("dinp"), inout_f("dweight"), inout_f("dbias", true), in_f("dout"),
                in_f("inp"), in_f("weight")},
               {"N", "C", "OC"},
               {},
               [](const Ints& a) {
                 const std::string op = "matmul_backward_overwrite";
                 const int64_t N = arg(op, "N", a[0]), C = arg(op, "C", a[1]), OC = arg(op, "OC", a[2]);
                 const size_t nc = count(op, {N, C}), oc_c = count(op, {OC, C});
                 return std::vector<size_t>{nc, oc_c, (size_t)OC, count(op, {N, OC}), nc, oc_c};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.matmul_backward_overwrite(F(p, 0), F(p, 1), F(p, 2), F(p, 3), F(p, 4), F(p, 5), (int)a[0],
                                    (int)a[1], (int)a[2]);
                 return 0.0;
               }});


  {
    auto dims = [](const std::string& op, const Ints& a, int64_t& B, int64_t& T, int64_t& C,
                   int64_t& NH) {
      B = arg(op, "B", a[0]);
      T = arg(op, "T", a[1]);
      C = arg(op, "C", a[2]);
      NH = arg(op, "NH", a[3]);
      heads_divide(op, C, NH);
    };
    t.push_back({"attention_forward",
                 {out_f("out"), out_f("lse"), in_f("qkv")},
                 {"B", "T", "C", "NH"},
                 {},
                 [dims](const Ints& a) {
                   const std::string op = "attention_forward";
                   int64_t B, T, C, NH;
                   dims(op, a, B, T, C, NH);
                   return std::vector<size_t>{count(op, {B, T, C}), count(op, {B, NH, T}),
                                              count(op, {B, T, 3, C})};
                 },
                 [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                   be.attention_forward(F(p, 0), F(p, 1), F(p, 2), (int)a[0], (int)a[1], (int)a[2],
                                        (int)a[3]);
                   return 0.0;
                 }});
    t.push_back({"attention_backward",
                 {inout_f("dqkv"), in_f("dout"), in_f("qkv"), in_f("out"), in_f("lse")},
                 {"B", "T", "C", "NH"},
                 {},
                 [dims](const Ints& a) {
                   const std::string op = "attention_backward";
                   int64_t B, T, C, NH;
                   dims(op, a, B, T, C, NH);
                   const size_t btc = count(op, {B, T, C}), bt3c = count(op, {B, T, 3, C});
                   return std::vector<size_t>{bt3c, btc, bt3c, btc, count(op, {B, NH, T})};
                 },
                 [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                   be.attention_backward(F(p, 0), F(p, 1), F(p, 2), F(p, 3), F(p, 4), (int)a[0],
                                         (int)a[1], (int)a[2], (int)a[3]);
                   return 0.0;
                 }});
  }

  auto flat = [](const char* op_name, size_t tensors) {
    const std::string op = op_name;
    return [op, tensors](const Ints& a) {
      return std::vector<size_t>(tensors, (size_t)arg(op, "N", a[0], 1, INT64_MAX / 4));
    };
  };
  t.push_back({"gelu_forward", {out_f("out"), in_f("inp")}, {"N"}, {}, flat("gelu_forward", 2),
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.gelu_forward(F(p, 0), F(p, 1), (size_t)a[0]);
                 return 0.0;
               }});
  t.push_back({"gelu_backward", {inout_f("dinp"), in_f("inp"), in_f("dout")}, {"N"}, {},
               flat("gelu_backward", 3), [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.gelu_backward(F(p, 0), F(p, 1), F(p, 2), (size_t)a[0]);
                 return 0.0;
               }});
  t.push_back({"gelu_backward_overwrite", {out_f("dinp"), in_f("inp"), in_f("dout")}, {"N"}, {},
               flat("gelu_backward_overwrite", 3), [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.gelu_backward_overwrite(F(p, 0), F(p, 1), F(p, 2), (size_t)a[0]);
                 return 0.0;
               }});
  t.push_back({"residual_forward", {out_f("out"), in_f("a"), in_f("b")}, {"N"}, {},
               flat("residual_forward", 3),
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 be.residual_forward(F(p, 0), F(p, 1), F(p, 2), (size_t)a[0]);
                 return 0.0;
               }});

  t.push_back({"softmax_cross_entropy",
               {out_f("losses"), out_f("dlogits", true), in_f("logits"), in_i("targets")},
               {"N", "V"},
               {"dloss"},
               [](const Ints& a) {
                 const std::string op = "softmax_cross_entropy";
                 const int64_t N = arg(op, "N", a[0]), V = arg(op, "V", a[1]);
                 const size_t nv = count(op, {N, V});
                 return std::vector<size_t>{(size_t)N, nv, nv, (size_t)N};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats& f) {
                 be.softmax_cross_entropy(F(p, 0), F(p, 1), F(p, 2), I(p, 3), (float)f[0], (int)a[0],
                                          (int)a[1]);
                 return 0.0;
               }});

  t.push_back({"sum_squares", {in_f("x")}, {"n"}, {},
               [](const Ints& a) {
                 return std::vector<size_t>{(size_t)arg("sum_squares", "n", a[0], 1, INT64_MAX / 4)};
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats&) {
                 return be.sum_squares(F(p, 0), (size_t)a[0]);
               }});

  t.push_back({"adamw_update",
               {inout_f("params"), in_f("grads"), inout_f("m"), inout_f("v")},
               {"n", "step"},
               {"lr", "beta1", "beta2", "eps", "weight_decay", "grad_scale"},
               [](const Ints& a) {
                 const std::string op = "adamw_update";
                 const size_t n = (size_t)arg(op, "n", a[0], 1, INT64_MAX / 4);
                 arg(op, "step", a[1]);
                 return std::vector<size_t>(4, n);
               },
               [](Backend& be, const Ptrs& p, const Ints& a, const Floats& f) {
                 be.adamw_update(F(p, 0), F(p, 1), F(p, 2), F(p, 3), (size_t)a[0], (float)f[0],
                                 (float)f[1], (float)f[2], (float)f[3], (float)f[4], (int)a[1],
                                 (float)f[5]);
                 return 0.0;
               }});
  return t;
}

// Backend buffers of one op call, freed on every path out of run_op_on_host.
class BackendBuffers {
 public:
  explicit BackendBuffers(Backend& be) : be_(be) {}
  ~BackendBuffers() {
    for (auto& b : bufs_) {
      if (!b.p) continue;
      if (b.is_int)
        be_.free_ints(static_cast<int32_t*>(b.p));
      else
        be_.free_floats(static_cast<float*>(b.p));
    }
  }
  BackendBuffers(const BackendBuffers&) = delete;
  BackendBuffers& operator=(const BackendBuffers&) = delete;
  void* alloc(OpArgType type, size_t n) {
    bufs_.push_back({nullptr, type == OpArgType::Int32});
    void* p = type == OpArgType::Int32 ? static_cast<void*>(be_.alloc_ints(n))
                                       : static_cast<void*>(be_.alloc_floats(n));
    bufs_.back().p = p;
    return p;
  }

 private:
  struct Buf {
    void* p;
    bool is_int;
  };
  Backend& be_;
  std::vector<Buf> bufs_;
};

// Data checks that sizes cannot express: token ids in [0, V), targets below V.
void check_ids(const OpSpec& spec, const std::vector<HostTensor>& host, const Ints& ints) {
  int64_t V = -1;
  for (size_t i = 0; i < spec.ints.size(); i++)
    if (spec.ints[i] == "V") V = ints[i];
  if (V < 0) return;
  for (size_t i = 0; i < spec.tensors.size(); i++) {
    const OpTensorArg& a = spec.tensors[i];
    if (a.type != OpArgType::Int32 || !host[i].data) continue;
    const int32_t* ids = static_cast<const int32_t*>(host[i].data);
    const bool allow_negative = a.name == "targets";  // < 0 means "ignore this position"
    for (size_t j = 0; j < host[i].length; j++) {
      if (ids[j] >= V || (!allow_negative && ids[j] < 0))
        throw NativeError(ErrorCode::InvalidArgument,
                          spec.name + ": " + a.name + "[" + std::to_string(j) + "] = " +
                              std::to_string(ids[j]) + " is out of range: ids must be in " +
                              (allow_negative ? "(-inf" : "[0") + ", V = " + std::to_string(V) +
                              ")" + (allow_negative ? " (negative = ignored)" : ""));
    }
  }
}

}  // namespace

const std::vector<OpSpec>& op_table() {
  static const std::vector<OpSpec> table = build_table();
  return table;
}

const OpSpec* find_op(const std::string& name) {
  for (const OpSpec& op : op_table())
    if (op.name == name) return &op;
  return nullptr;
}

double run_op_on_host(Backend& backend, const OpSpec& spec, const std::vector<HostTensor>& host,
                      const std::vector<int64_t>& ints, const std::vector<double>& floats) {
  auto count_error = [&](const char* what, size_t expected, size_t actual) {
    return NativeError(ErrorCode::InvalidArgument,
                       spec.name + " takes " + std::to_string(expected) + " " + what + ", got " +
                           std::to_string(actual));
  };
  if (host.size() != spec.tensors.size()) throw count_error("tensors", spec.tensors.size(), host.size());
  if (ints.size() != spec.ints.size()) throw count_error("integer arguments", spec.ints.size(), ints.size());
  if (floats.size() != spec.floats.size())
    throw count_error("float arguments", spec.floats.size(), floats.size());

  const std::vector<size_t> sizes = spec.sizes(ints);
  AUTOSCALE_CHECK(sizes.size() == spec.tensors.size(), spec.name + ": sizes() does not match tensors");
  for (size_t i = 0; i < host.size(); i++) {
    const OpTensorArg& a = spec.tensors[i];
    if (!host[i].data) {
      if (a.nullable) continue;
      throw NativeError(ErrorCode::InvalidArgument,
                        spec.name + ": tensor " + a.name + " is required (it is not nullable)");
    }
    if (host[i].length != sizes[i])
      throw NativeError(ErrorCode::InvalidShape,
                        spec.name + ": tensor " + a.name + " must have " + std::to_string(sizes[i]) +
                            " elements, got " + std::to_string(host[i].length));
  }
  check_ids(spec, host, ints);

  BackendBuffers buffers(backend);
  std::vector<void*> ptrs(host.size(), nullptr);
  for (size_t i = 0; i < host.size(); i++) {
    if (!host[i].data) continue;
    const OpTensorArg& a = spec.tensors[i];
    ptrs[i] = buffers.alloc(a.type, sizes[i]);
    if (a.kind == OpArgKind::Out) continue;  // written by the op: nothing to upload
    if (a.type == OpArgType::Int32)
      backend.upload_ints(static_cast<int32_t*>(ptrs[i]), static_cast<const int32_t*>(host[i].data),
                          sizes[i]);
    else
      backend.upload_floats(static_cast<float*>(ptrs[i]), static_cast<const float*>(host[i].data),
                            sizes[i]);
  }
  const double result = spec.run(backend, ptrs, ints, floats);
  backend.synchronize();
  for (size_t i = 0; i < host.size(); i++) {
    const OpTensorArg& a = spec.tensors[i];
    if (!host[i].data || a.kind == OpArgKind::In) continue;
    AUTOSCALE_CHECK(a.type == OpArgType::Float32, spec.name + ": integer outputs are not supported");
    backend.download_floats(static_cast<float*>(host[i].data), static_cast<const float*>(ptrs[i]),
                            sizes[i]);
  }
  return result;
}

}  // namespace autoscale
