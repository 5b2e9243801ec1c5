// liverstiff libtorch addon: tensor handle table, generic ATen operator calls through the dispatcher,
// typed-array transfer, autograd, fused optimizer steps. All ergonomics live in src/torch/ (TypeScript).
//
// JS holds a tensor as a number: slot | (generation << 24). Freeing a slot bumps its generation, so a
// stale id is detected (use after dispose) instead of touching another tensor.
#include <ATen/Parallel.h>
#include <ATen/ScalarOps.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/api/include/torch/cuda.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "common.h"

namespace lt {

namespace {
constexpr double kSlotSpan = 16777216.0;  // 2^24 slots
constexpr uint32_t kGenMask = (1u << 28) - 1;
constexpr int64_t kReportBytes = 1 << 20;  // report external memory to V8 in 1 MiB steps

void reportExternal(napi_env env, Instance& inst, int64_t delta) {
  inst.externalUnreported += delta;
  if (inst.externalUnreported >= kReportBytes || inst.externalUnreported <= -kReportBytes) {
    int64_t result = 0;
    napi_adjust_external_memory(env, inst.externalUnreported, &result);
    inst.externalReported += inst.externalUnreported;
    inst.externalUnreported = 0;
  }
}

void drainPending(napi_env env, Instance& inst) {
  std::vector<napi_ref> refs;
  {
    std::lock_guard<std::mutex> lock(inst.pending->mu);
    if (inst.pending->refs.empty()) return;
    refs.swap(inst.pending->refs);
  }
  for (napi_ref r : refs) napi_delete_reference(env, r);
}

[[noreturn]] void fail(napi_env env, const std::string& msg) { throw Napi::Error::New(Napi::Env(env), msg); }

void cleanupInstance(napi_env, void* data, void*) { delete static_cast<Instance*>(data); }
}  // namespace

Instance::~Instance() {
  {
    std::lock_guard<std::mutex> lock(pending->mu);
    pending->envAlive = false;
    pending->refs.clear();
  }
  while (!inferenceGuards.empty()) inferenceGuards.pop_back();
  slots.clear();
  modules.clear();
}

Instance& instance(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return *static_cast<Instance*>(data);
}

std::string cleanMessage(const char* what) {
  // libtorch messages may carry C++ source locations and long traces; keep the first lines.
  std::string s(what ? what : "unknown libtorch error");
  // TorchScript errors lead with the serialized-code traceback; the cause is the trailing "XError: ...".
  if (s.rfind("The following operation failed in the TorchScript interpreter", 0) == 0) {
    size_t pos = s.rfind("Error: ");
    size_t lineStart = pos == std::string::npos ? pos : s.rfind('\n', pos);
    if (lineStart != std::string::npos) s = s.substr(lineStart + 1) + "\n(raised inside the TorchScript module)";
  }
  std::istringstream in(s);
  std::string line, out;
  int kept = 0;
  while (std::getline(in, line) && kept < 8) {
    if (line.rfind("Exception raised from", 0) == 0) break;
    if (line.empty()) continue;
    if (!out.empty()) out += "\n";
    out += line;
    kept++;
  }
  return out.empty() ? s : out;
}

napi_value wrapTensor(napi_env env, Instance& inst, at::Tensor t) {
  napi_value result;
  if (!t.defined()) {
    napi_get_null(env, &result);
    return result;
  }
  uint32_t slot;
  if (!inst.freeSlots.empty()) {
    slot = inst.freeSlots.back();
    inst.freeSlots.pop_back();
  } else {
    slot = static_cast<uint32_t>(inst.slots.size());
    if (slot >= static_cast<uint32_t>(kSlotSpan)) fail(env, "too many live tensors (16M): dispose tensors or use scopes");
    inst.slots.emplace_back();
    inst.gens.push_back(0);
    inst.slotBytes.push_back(0);
  }
  int64_t bytes = 0;
  // Count a storage once: only when this tensor is its sole owner (a fresh result, not a view).
  if (t.has_storage() && t.storage().use_count() == 1) bytes = static_cast<int64_t>(t.storage().nbytes());
  inst.slots[slot] = std::move(t);
  inst.slotBytes[slot] = bytes;
  inst.live++;
  if (bytes) reportExternal(env, inst, bytes);
  napi_create_double(env, static_cast<double>(inst.gens[slot]) * kSlotSpan + slot, &result);
  return result;
}

static bool decodeId(Instance& inst, double id, uint32_t& slot) {
  if (!(id >= 0 && id < 9007199254740992.0)) return false;
  uint64_t bits = static_cast<uint64_t>(id);
  if (static_cast<double>(bits) != id) return false;
  slot = static_cast<uint32_t>(bits & 0xFFFFFFu);
  return slot < inst.slots.size() && inst.gens[slot] == static_cast<uint32_t>(bits >> 24) && inst.slots[slot].defined();
}

const at::Tensor& tensorArg(napi_env env, Instance& inst, napi_value v) {
  double id = -1;
  if (napi_get_value_double(env, v, &id) != napi_ok) fail(env, "expected a Tensor");
  uint32_t slot;
  if (!decodeId(inst, id, slot)) fail(env, "Tensor used after it was disposed (or it belongs to another thread)");
  return inst.slots[slot];
}

std::vector<at::Tensor> tensorListArg(napi_env env, Instance& inst, napi_value v) {
  uint32_t n = 0;
  if (napi_get_array_length(env, v, &n) != napi_ok) fail(env, "expected an array of Tensors");
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out.push_back(tensorArg(env, inst, e));
  }
  return out;
}

static void freeSlot(napi_env env, Instance& inst, uint32_t slot) {
  int64_t bytes = inst.slotBytes[slot];
  inst.slots[slot].reset();
  inst.gens[slot] = (inst.gens[slot] + 1) & kGenMask;
  inst.slotBytes[slot] = 0;
  inst.freeSlots.push_back(slot);
  inst.live--;
  if (bytes) reportExternal(env, inst, -bytes);
}

napi_value ivalueToJs(napi_env env, Instance& inst, const c10::IValue& v) {
  napi_value r;
  if (v.isTensor()) return wrapTensor(env, inst, v.toTensor());
  if (v.isNone()) {
    napi_get_null(env, &r);
    return r;
  }
  if (v.isDouble()) {
    napi_create_double(env, v.toDouble(), &r);
    return r;
  }
  if (v.isInt()) {
    napi_create_double(env, static_cast<double>(v.toInt()), &r);
    return r;
  }
  if (v.isBool()) {
    napi_get_boolean(env, v.toBool(), &r);
    return r;
  }
  if (v.isString()) {
    const std::string& s = v.toStringRef();
    napi_create_string_utf8(env, s.data(), s.size(), &r);
    return r;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    napi_create_array_with_length(env, elems.size(), &r);
    for (size_t i = 0; i < elems.size(); i++) napi_set_element(env, r, i, ivalueToJs(env, inst, elems[i]));
    return r;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    napi_create_array_with_length(env, list.size(), &r);
    for (size_t i = 0; i < list.size(); i++) napi_set_element(env, r, i, ivalueToJs(env, inst, list[i]));
    return r;
  }
  if (v.isGenericDict()) {
    napi_create_object(env, &r);
    for (const auto& kv : v.toGenericDict()) {
      std::string key = kv.key().isString() ? kv.key().toStringRef() : std::to_string(kv.key().toInt());
      napi_set_named_property(env, r, key.c_str(), ivalueToJs(env, inst, kv.value()));
    }
    return r;
  }
  fail(env, std::string("cannot convert a TorchScript value of type ") + v.tagKind() + " to JavaScript");
}

// ---------------------------------------------------------------------------------------------------
// Generic operator calls: JS resolves "aten::name.overload" once to an index, then calls it with
// positional arguments converted according to the schema (undefined = the schema's default).

enum class Kind : uint8_t {
  Tensor,
  TensorList,
  OptTensorList,
  Int,
  IntList,
  Float,
  FloatList,
  Bool,
  BoolList,
  Str,
  Scalar,
  WrappedScalar,
  Device,
  Generator,
  Unsupported
};

struct ArgSpec {
  std::string name;
  Kind kind;
  bool optional;
  int fixedLength;
  bool hasDefault;
  c10::IValue defaultValue;
};

struct OpInfo {
  c10::OperatorHandle handle;
  std::vector<ArgSpec> args;
  size_t returns;
  std::vector<std::string> returnTypes;
  std::string label;
  explicit OpInfo(c10::OperatorHandle h) : handle(std::move(h)) {}
};

static Kind kindOf(const c10::TypePtr& type) {
  using c10::TypeKind;
  switch (type->kind()) {
    case TypeKind::TensorType:
      return Kind::Tensor;
    case TypeKind::IntType:
    case TypeKind::SymIntType:
    case TypeKind::ScalarTypeType:
    case TypeKind::LayoutType:
    case TypeKind::MemoryFormatType:
      return Kind::Int;
    case TypeKind::FloatType:
      return Kind::Float;
    case TypeKind::BoolType:
      return Kind::Bool;
    case TypeKind::StringType:
      return Kind::Str;
    case TypeKind::NumberType:
      return Kind::Scalar;
    case TypeKind::DeviceObjType:
      return Kind::Device;
    case TypeKind::GeneratorType:
      return Kind::Generator;
    case TypeKind::ListType: {
      auto elem = type->expectRef<c10::ListType>().getElementType();
      if (elem->kind() == TypeKind::OptionalType) {
        auto inner = elem->expectRef<c10::OptionalType>().getElementType();
        return inner->kind() == TypeKind::TensorType ? Kind::OptTensorList : Kind::Unsupported;
      }
      switch (kindOf(elem)) {
        case Kind::Tensor:
          return Kind::TensorList;
        case Kind::Int:
          return Kind::IntList;
        case Kind::Float:
          return Kind::FloatList;
        case Kind::Bool:
          return Kind::BoolList;
        default:
          return Kind::Unsupported;
      }
    }
    default:
      return Kind::Unsupported;
  }
}

static napi_valuetype typeOf(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t;
}

static double numberArg(napi_env env, napi_value v, const ArgSpec& a) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) fail(env, "argument '" + a.name + "' must be a number");
  return d;
}

static std::vector<int64_t> intListArg(napi_env env, napi_value v, const ArgSpec& a) {
  std::vector<int64_t> out;
  if (typeOf(env, v) == napi_number) {
    out.assign(a.fixedLength > 0 ? a.fixedLength : 1, static_cast<int64_t>(numberArg(env, v, a)));
    return out;
  }
  uint32_t n = 0;
  if (napi_get_array_length(env, v, &n) != napi_ok) fail(env, "argument '" + a.name + "' must be an array of integers");
  out.resize(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out[i] = static_cast<int64_t>(numberArg(env, e, a));
  }
  return out;
}

static c10::IValue toIValue(napi_env env, Instance& inst, const ArgSpec& a, napi_value v) {
  napi_valuetype t = typeOf(env, v);
  if (t == napi_undefined) {
    if (a.hasDefault) return a.defaultValue;
    if (a.optional) return c10::IValue();
    fail(env, "argument '" + a.name + "' is required");
  }
  if (t == napi_null) {
    if (a.optional) return c10::IValue();
    fail(env, "argument '" + a.name + "' may not be null");
  }
  switch (a.kind) {
    case Kind::Tensor:
      return tensorArg(env, inst, v);
    case Kind::TensorList:
      return c10::List<at::Tensor>(tensorListArg(env, inst, v));
    case Kind::OptTensorList: {
      uint32_t n = 0;
      napi_get_array_length(env, v, &n);
      c10::List<c10::optional<at::Tensor>> list;
      list.reserve(n);
      for (uint32_t i = 0; i < n; i++) {
        napi_value e;
        napi_get_element(env, v, i, &e);
        napi_valuetype et = typeOf(env, e);
        if (et == napi_null || et == napi_undefined)
          list.push_back(c10::nullopt);
        else
          list.push_back(tensorArg(env, inst, e));
      }
      return list;
    }
    case Kind::Int:
      if (t == napi_boolean) {
        bool b;
        napi_get_value_bool(env, v, &b);
        return static_cast<int64_t>(b);
      }
      return static_cast<int64_t>(numberArg(env, v, a));
    case Kind::IntList:
      return intListArg(env, v, a);
    case Kind::Float:
      return numberArg(env, v, a);
    case Kind::FloatList: {
      uint32_t n = 0;
      if (napi_get_array_length(env, v, &n) != napi_ok) fail(env, "argument '" + a.name + "' must be an array");
      std::vector<double> out(n);
      for (uint32_t i = 0; i < n; i++) {
        napi_value e;
        napi_get_element(env, v, i, &e);
        out[i] = numberArg(env, e, a);
      }
      return out;
    }
    case Kind::Bool: {
      bool b;
      if (napi_get_value_bool(env, v, &b) != napi_ok) fail(env, "argument '" + a.name + "' must be a boolean");
      return b;
    }
    case Kind::BoolList: {
      uint32_t n = 0;
      napi_get_array_length(env, v, &n);
      c10::List<bool> out;
      for (uint32_t i = 0; i < n; i++) {
        napi_value e;
        bool b = false;
        napi_get_element(env, v, i, &e);
        napi_get_value_bool(env, e, &b);
        out.push_back(b);
      }
      return out;
    }
    case Kind::Str: {
      size_t len = 0;
      if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
        fail(env, "argument '" + a.name + "' must be a string");
      std::string s(len, '\0');
      napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
      return s;
    }
    case Kind::Scalar: {
      if (t == napi_boolean) {
        bool b;
        napi_get_value_bool(env, v, &b);
        return at::Scalar(b);
      }
      double d = numberArg(env, v, a);
      // Integral JS numbers become integer scalars so that int tensors keep their dtype (as in Python).
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0)
        return at::Scalar(static_cast<int64_t>(d));
      return at::Scalar(d);
    }
    case Kind::WrappedScalar: {
      // A JS number in a Tensor position: a 0-d "wrapped number" tensor, exactly what Python's argument
      // parser makes of `x.mul(2)` (one dispatch, scalar type promotion) instead of the slower .Scalar
      // overloads.
      at::Scalar scalar;
      if (t == napi_boolean) {
        bool b;
        napi_get_value_bool(env, v, &b);
        scalar = b;
      } else {
        double d = numberArg(env, v, a);
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0)
          scalar = static_cast<int64_t>(d);
        else
          scalar = d;
      }
      at::Tensor wrapped = c10::scalar_to_tensor(scalar);
      wrapped.unsafeGetTensorImpl()->set_wrapped_number(true);
      return wrapped;
    }
    case Kind::Device: {
      size_t len = 0;
      if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
        fail(env, "argument '" + a.name + "' must be a device string");
      std::string s(len, '\0');
      napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
      return c10::Device(s);
    }
    case Kind::Generator:
      fail(env, "argument '" + a.name + "': generators are not supported (use manualSeed)");
    case Kind::Unsupported:
      break;
  }
  fail(env, "argument '" + a.name + "' has a type the binding does not support");
}

static Napi::Value OpId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  std::string name = info[0].As<Napi::String>();
  std::string overload = info.Length() > 1 ? info[1].As<Napi::String>().Utf8Value() : std::string();
  // Bit i set: argument i is a Tensor that JS passes as a number (a wrapped scalar).
  uint32_t wrapMask = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
  std::string key = name + "." + overload + "#" + std::to_string(wrapMask);
  auto found = inst.opIndex.find(key);
  if (found != inst.opIndex.end()) return Napi::Number::New(env, found->second);
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw Napi::Error::New(env, "libtorch has no operator " + name + (overload.empty() ? "" : "." + overload));
  auto op = std::make_unique<OpInfo>(*handle);
  const auto& schema = handle->schema();
  for (const auto& arg : schema.arguments()) {
    ArgSpec a;
    a.name = arg.name();
    c10::TypePtr type = arg.type();
    a.optional = type->kind() == c10::TypeKind::OptionalType;
    if (a.optional) type = type->expectRef<c10::OptionalType>().getElementType();
    a.kind = kindOf(type);
    if (wrapMask & (1u << op->args.size())) {
      if (a.kind != Kind::Tensor) throw Napi::Error::New(env, name + ": argument " + a.name + " is not a Tensor");
      a.kind = Kind::WrappedScalar;
    }
    a.fixedLength = arg.N() ? *arg.N() : 0;
    a.hasDefault = arg.default_value().has_value();
    if (a.hasDefault) a.defaultValue = *arg.default_value();
    op->args.push_back(std::move(a));
  }
  op->returns = schema.returns().size();
  for (const auto& ret : schema.returns()) op->returnTypes.push_back(ret.type()->str());
  std::ostringstream label;
  label << schema;
  op->label = label.str();
  int index = static_cast<int>(inst.ops.size());
  inst.ops.push_back(std::move(op));
  inst.opIndex.emplace(key, index);
  return Napi::Number::New(env, index);
  LT_CATCH(env)
}

static Napi::Value OpReturnTypes(const Napi::CallbackInfo& info) {
  Instance& inst = instance(info.Env());
  uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  if (index >= inst.ops.size()) throw Napi::Error::New(info.Env(), "unknown operator index");
  const auto& types = inst.ops[index]->returnTypes;
  Napi::Array out = Napi::Array::New(info.Env(), types.size());
  for (size_t i = 0; i < types.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::String::New(info.Env(), types[i]));
  return out;
}

static Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  Instance& inst = instance(info.Env());
  uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  if (index >= inst.ops.size()) throw Napi::Error::New(info.Env(), "unknown operator index");
  return Napi::String::New(info.Env(), inst.ops[index]->label);
}

// Raw napi callback: the hot path, with no per-call heap allocation for up to 16 arguments.
static napi_value callOp(napi_env env, napi_callback_info cbinfo, bool keepResult) {
  constexpr size_t kMaxArgs = 24;
  size_t argc = kMaxArgs;
  napi_value argv[kMaxArgs];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  Instance& inst = instance(env);
  std::string error;
  try {
    uint32_t index = 0;
    if (argc < 1 || napi_get_value_uint32(env, argv[0], &index) != napi_ok || index >= inst.ops.size())
      fail(env, "unknown operator index");
    OpInfo& op = *inst.ops[index];
    size_t given = argc - 1;
    if (given > op.args.size())
      fail(env, op.label + ": " + std::to_string(given) + " arguments given, at most " +
                    std::to_string(op.args.size()) + " expected");
    napi_value undef;
    napi_get_undefined(env, &undef);
    auto& stack = inst.stack;
    stack.clear();
    for (size_t i = 0; i < op.args.size(); i++) stack.push_back(toIValue(env, inst, op.args[i], i < given ? argv[i + 1] : undef));
    op.handle.callBoxed(&stack);
    napi_value result;
    if (!keepResult || stack.empty()) {
      stack.clear();
      napi_get_undefined(env, &result);
      return result;
    }
    if (stack.size() == 1) {
      result = ivalueToJs(env, inst, stack[0]);
    } else {
      napi_create_array_with_length(env, stack.size(), &result);
      for (size_t i = 0; i < stack.size(); i++) napi_set_element(env, result, i, ivalueToJs(env, inst, stack[i]));
    }
    stack.clear();
    return result;
  } catch (const Napi::Error& e) {
    inst.stack.clear();
    e.ThrowAsJavaScriptException();
    return nullptr;
  } catch (const c10::Error& e) {
    error = cleanMessage(e.what_without_backtrace());
  } catch (const std::exception& e) {
    error = cleanMessage(e.what());
  } catch (...) {
    error = "unknown native error";
  }
  inst.stack.clear();
  napi_throw_error(env, nullptr, error.c_str());
  return nullptr;
}

static napi_value Call(napi_env env, napi_callback_info cbinfo) { return callOp(env, cbinfo, true); }
static napi_value CallVoid(napi_env env, napi_callback_info cbinfo) { return callOp(env, cbinfo, false); }

// ---------------------------------------------------------------------------------------------------
// Typed arrays <-> tensors.

static at::ScalarType dtypeArg(const Napi::Value& v) { return static_cast<at::ScalarType>(v.As<Napi::Number>().Int32Value()); }

static std::vector<int64_t> shapeArg(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

// fromTypedArray(view, shape, dtype, zeroCopy): copies by default; zeroCopy keeps the JS buffer alive for
// as long as the tensor's storage lives (views and autograd included).
static Napi::Value FromTypedArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  drainPending(env, inst);
  Napi::TypedArray view = info[0].As<Napi::TypedArray>();
  auto shape = shapeArg(info[1]);
  at::ScalarType dtype = dtypeArg(info[2]);
  bool zeroCopy = info.Length() > 3 && info[3].ToBoolean().Value();
  Napi::ArrayBuffer buffer = view.ArrayBuffer();
  uint8_t* data = static_cast<uint8_t*>(buffer.Data()) + view.ByteOffset();
  size_t bytes = view.ByteLength();
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  size_t want = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (want != bytes)
    throw Napi::Error::New(env, "typed array has " + std::to_string(bytes) + " bytes, shape needs " + std::to_string(want));
  auto options = at::TensorOptions().dtype(dtype);
  at::Tensor t;
  if (zeroCopy && bytes > 0) {
    napi_ref ref;
    napi_create_reference(env, buffer, 1, &ref);
    std::shared_ptr<PendingReleases> pending = inst.pending;
    t = at::from_blob(
        data, shape,
        [pending, ref](void*) {
          std::lock_guard<std::mutex> lock(pending->mu);
          if (pending->envAlive) pending->refs.push_back(ref);
        },
        options);
  } else {
    t = at::empty(shape, options);
    if (bytes) std::memcpy(t.data_ptr(), data, bytes);
  }
  return Napi::Value(env, wrapTensor(env, inst, std::move(t)));
  LT_CATCH(env)
}

// Copies a tensor's elements (any device, any layout) into a new ArrayBuffer, in row-major order.
static Napi::Value ToArrayBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  at::Tensor t = tensorArg(env, inst, info[0]).detach();
  if (!t.device().is_cpu()) t = t.to(at::kCPU);
  t = t.contiguous();
  size_t bytes = t.nbytes();
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, bytes);
  if (bytes) std::memcpy(out.Data(), t.data_ptr(), bytes);
  return out;
  LT_CATCH(env)
}

static Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  const at::Tensor& t = tensorArg(env, inst, info[0]);
  at::Scalar s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
  return Napi::Number::New(env, s.toDouble());
  LT_CATCH(env)
}

// ---------------------------------------------------------------------------------------------------
// Metadata, lifetime, autograd.

static Napi::Value Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensorArg(env, instance(env), info[0]);
  auto sizes = t.sizes();
  Napi::Array out = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(sizes[i])));
  return out;
}

static Napi::Value Strides(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensorArg(env, instance(env), info[0]);
  auto strides = t.strides();
  Napi::Array out = Napi::Array::New(env, strides.size());
  for (size_t i = 0; i < strides.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(strides[i])));
  return out;
}

static Napi::Value Dtype(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, static_cast<int>(tensorArg(env, instance(env), info[0]).scalar_type()));
}

static Napi::Value DeviceOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::String::New(env, tensorArg(env, instance(env), info[0]).device().str());
}

static Napi::Value Numel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, static_cast<double>(tensorArg(env, instance(env), info[0]).numel()));
}

static Napi::Value Dim(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, static_cast<double>(tensorArg(env, instance(env), info[0]).dim()));
}

static Napi::Value IsContiguous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, tensorArg(env, instance(env), info[0]).is_contiguous());
}

static Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, tensorArg(env, instance(env), info[0]).requires_grad());
}

static Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  at::Tensor t = tensorArg(env, instance(env), info[0]);
  t.set_requires_grad(info[1].ToBoolean().Value());
  return env.Undefined();
  LT_CATCH(env)
}

static Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, tensorArg(env, instance(env), info[0]).is_leaf());
}

// grad(id): a new handle on the accumulated gradient (sharing its storage), or null.
static Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  const at::Tensor& t = tensorArg(env, inst, info[0]);
  return Napi::Value(env, wrapTensor(env, inst, t.grad()));
  LT_CATCH(env)
}

static Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  at::Tensor t = tensorArg(env, inst, info[0]);
  if (info[1].IsNull() || info[1].IsUndefined())
    t.mutable_grad().reset();
  else {
    const at::Tensor& g = tensorArg(env, inst, info[1]);
    // The checks PyTorch's .grad setter makes: a mismatched gradient would be broadcast silently later.
    TORCH_CHECK(g.sizes() == t.sizes(), "assigned grad has data of a different size (", g.sizes(), " vs ", t.sizes(), ")");
    TORCH_CHECK(g.scalar_type() == t.scalar_type(), "assigned grad has data of a different type");
    TORCH_CHECK(g.device() == t.device(), "assigned grad has data located on a different device");
    t.mutable_grad() = g;
  }
  return env.Undefined();
  LT_CATCH(env)
}

static Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  double id = info[0].As<Napi::Number>().DoubleValue();
  uint32_t slot;
  bool freed = decodeId(inst, id, slot);
  if (freed) freeSlot(env, inst, slot);
  drainPending(env, inst);
  return Napi::Boolean::New(env, freed);
}

// disposeMany(ids): frees several tensors in one call (scopes closing); stale ids are skipped.
static Napi::Value DisposeMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  Napi::Array ids = info[0].As<Napi::Array>();
  uint32_t n = ids.Length();
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    double id = -1;
    napi_get_element(env, ids, i, &e);
    napi_get_value_double(env, e, &id);
    uint32_t slot;
    if (decodeId(inst, id, slot)) freeSlot(env, inst, slot);
  }
  drainPending(env, inst);
  return env.Undefined();
}

static Napi::Value IsAlive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slot;
  return Napi::Boolean::New(env, decodeId(instance(env), info[0].As<Napi::Number>().DoubleValue(), slot));
}

static Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("liveTensors", Napi::Number::New(env, static_cast<double>(inst.live)));
  out.Set("externalBytes", Napi::Number::New(env, static_cast<double>(inst.externalReported + inst.externalUnreported)));
  out.Set("slots", Napi::Number::New(env, static_cast<double>(inst.slots.size())));
  return out;
}

static Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  const at::Tensor& t = tensorArg(env, inst, info[0]);
  at::Tensor gradient;
  if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) gradient = tensorArg(env, inst, info[1]);
  bool retain = info.Length() > 2 && info[2].ToBoolean().Value();
  bool create = info.Length() > 3 && info[3].ToBoolean().Value();
  t.backward(gradient, retain, create);
  return env.Undefined();
  LT_CATCH(env)
}

// autogradGrad(outputs, inputs, gradOutputs|null, retainGraph, createGraph, allowUnused) -> (id|null)[]
static Napi::Value AutogradGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  auto outputs = tensorListArg(env, inst, info[0]);
  auto inputs = tensorListArg(env, inst, info[1]);
  std::vector<at::Tensor> gradOutputs;
  if (!info[2].IsNull() && !info[2].IsUndefined()) gradOutputs = tensorListArg(env, inst, info[2]);
  bool create = info[4].ToBoolean().Value();
  c10::optional<bool> retain;
  if (!info[3].IsUndefined()) retain = info[3].ToBoolean().Value();
  auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, create, info[5].ToBoolean().Value());
  Napi::Array out = Napi::Array::New(env, grads.size());
  for (size_t i = 0; i < grads.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Value(env, wrapTensor(env, inst, grads[i])));
  return out;
  LT_CATCH(env)
}

static Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return Napi::Boolean::New(info.Env(), previous);
}

static Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

// Inference mode (faster than no-grad: no version counters or view tracking). Guards nest like the JS
// scopes that open them; tensors made inside cannot be used in autograd later.
static Napi::Value PushInferenceMode(const Napi::CallbackInfo& info) {
  Instance& inst = instance(info.Env());
  inst.inferenceGuards.push_back(std::make_unique<c10::InferenceMode>(info[0].ToBoolean().Value()));
  return info.Env().Undefined();
}

static Napi::Value PopInferenceMode(const Napi::CallbackInfo& info) {
  Instance& inst = instance(info.Env());
  if (!inst.inferenceGuards.empty()) inst.inferenceGuards.pop_back();
  return info.Env().Undefined();
}

static Napi::Value IsInferenceMode(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::InferenceMode::is_enabled());
}

static Napi::Value IsInference(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, tensorArg(env, instance(env), info[0]).is_inference());
}

static Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  at::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return env.Undefined();
  LT_CATCH(env)
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  at::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
  LT_CATCH(env)
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

// torch::cuda (the C++ frontend's API) is stable across libtorch versions, unlike ATen's CUDA hooks.
static Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::cuda::is_available());
}

static Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}

// ---------------------------------------------------------------------------------------------------
// Fused optimizer steps: one native call per step for all parameters, same arithmetic as PyTorch 1.13's
// single-tensor (foreach=False) implementations. Parameters without a gradient are skipped.

struct NoGrad {
  c10::AutoGradMode guard{false};
};

static double numArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }

// adamStep(params, expAvgs, expAvgSqs, maxExpAvgSqs|null, steps[], lr, beta1, beta2, eps, weightDecay,
//          decoupled, maximize)
static Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  NoGrad noGrad;
  auto params = tensorListArg(env, inst, info[0]);
  auto expAvgs = tensorListArg(env, inst, info[1]);
  auto expAvgSqs = tensorListArg(env, inst, info[2]);
  bool amsgrad = !info[3].IsNull() && !info[3].IsUndefined();
  std::vector<at::Tensor> maxSqs;
  if (amsgrad) maxSqs = tensorListArg(env, inst, info[3]);
  Napi::Array steps = info[4].As<Napi::Array>();
  double lr = numArg(info, 5), beta1 = numArg(info, 6), beta2 = numArg(info, 7), eps = numArg(info, 8);
  double weightDecay = numArg(info, 9);
  bool decoupled = info[10].ToBoolean().Value();
  bool maximize = info.Length() > 11 && info[11].ToBoolean().Value();
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& param = params[i];
    at::Tensor grad = param.grad();
    if (!grad.defined()) continue;
    if (maximize) grad = grad.neg();
    double step = steps.Get(static_cast<uint32_t>(i)).As<Napi::Number>().DoubleValue();
    if (decoupled)
      param.mul_(1 - lr * weightDecay);
    else if (weightDecay != 0)
      grad = grad.add(param, weightDecay);
    expAvgs[i].mul_(beta1).add_(grad, 1 - beta1);
    expAvgSqs[i].mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    double bias1 = 1 - std::pow(beta1, step);
    double bias2 = 1 - std::pow(beta2, step);
    double stepSize = lr / bias1;
    double bias2Sqrt = std::sqrt(bias2);
    at::Tensor denom;
    if (amsgrad) {
      at::maximum_out(maxSqs[i], maxSqs[i], expAvgSqs[i]);
      denom = (maxSqs[i].sqrt() / bias2Sqrt).add_(eps);
    } else {
      denom = (expAvgSqs[i].sqrt() / bias2Sqrt).add_(eps);
    }
    param.addcdiv_(expAvgs[i], denom, -stepSize);
  }
  return env.Undefined();
  LT_CATCH(env)
}

// One pass over contiguous float32 CPU tensors for Adamax: PyTorch's formulation (cat + amax + addcdiv)
// makes ~8 passes and two temporaries, and for a large dense head the optimizer then dominates the step.
// Same arithmetic, element by element, in float32.
static bool adamaxFusedCpu(at::Tensor& param, const at::Tensor& grad, at::Tensor& expAvg, at::Tensor& expInf,
                           double clr, double beta1, double beta2, double eps, double weightDecay) {
  auto ok = [&](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous() &&
           t.numel() == param.numel();
  };
  if (!ok(param) || !ok(grad) || !ok(expAvg) || !ok(expInf)) return false;
  float* p = param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  float* m = expAvg.data_ptr<float>();
  float* u = expInf.data_ptr<float>();
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2), e = static_cast<float>(eps);
  const float wd = static_cast<float>(weightDecay), oneMinusB1 = static_cast<float>(1 - beta1);
  const float step = static_cast<float>(-clr);
  at::parallel_for(0, param.numel(), 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      const float gi = wd != 0 ? g[i] + wd * p[i] : g[i];
      const float mi = m[i] * b1 + oneMinusB1 * gi;
      const float ui = std::max(u[i] * b2, std::abs(gi) + e);
      m[i] = mi;
      u[i] = ui;
      p[i] += step * (mi / ui);
    }
  });
  return true;
}

// adamaxStep(params, expAvgs, expInfs, steps[], lr, beta1, beta2, eps, weightDecay)
static Napi::Value AdamaxStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  NoGrad noGrad;
  auto params = tensorListArg(env, inst, info[0]);
  auto expAvgs = tensorListArg(env, inst, info[1]);
  auto expInfs = tensorListArg(env, inst, info[2]);
  Napi::Array steps = info[3].As<Napi::Array>();
  double lr = numArg(info, 4), beta1 = numArg(info, 5), beta2 = numArg(info, 6), eps = numArg(info, 7);
  double weightDecay = numArg(info, 8);
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& param = params[i];
    at::Tensor grad = param.grad();
    if (!grad.defined()) continue;
    double step = steps.Get(static_cast<uint32_t>(i)).As<Napi::Number>().DoubleValue();
    double clr = lr / (1 - std::pow(beta1, step));
    if (adamaxFusedCpu(param, grad, expAvgs[i], expInfs[i], clr, beta1, beta2, eps, weightDecay)) continue;
    if (weightDecay != 0) grad = grad.add(param, weightDecay);
    expAvgs[i].mul_(beta1).add_(grad, 1 - beta1);
    at::Tensor normBuf = at::cat({expInfs[i].mul_(beta2).unsqueeze(0), grad.abs().add_(eps).unsqueeze_(0)}, 0);
    at::amax_out(expInfs[i], normBuf, {0}, false);
    param.addcdiv_(expAvgs[i], expInfs[i], -clr);
  }
  return env.Undefined();
  LT_CATCH(env)
}

// sgdStep(params, momentumBuffers (id|null)[], lr, momentum, dampening, weightDecay, nesterov, maximize)
//   -> momentum buffers (a new id where one was created, else the id passed in)
static Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  NoGrad noGrad;
  auto params = tensorListArg(env, inst, info[0]);
  Napi::Array bufs = info[1].As<Napi::Array>();
  double lr = numArg(info, 2), momentum = numArg(info, 3), dampening = numArg(info, 4), weightDecay = numArg(info, 5);
  bool nesterov = info[6].ToBoolean().Value();
  bool maximize = info.Length() > 7 && info[7].ToBoolean().Value();
  Napi::Array out = Napi::Array::New(env, params.size());
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& param = params[i];
    Napi::Value bufId = bufs.Get(static_cast<uint32_t>(i));
    out.Set(static_cast<uint32_t>(i), bufId);
    at::Tensor grad = param.grad();
    if (!grad.defined()) continue;
    if (maximize) grad = grad.neg();
    if (weightDecay != 0) grad = grad.add(param, weightDecay);
    if (momentum != 0) {
      at::Tensor buf;
      if (bufId.IsNull() || bufId.IsUndefined()) {
        buf = grad.clone().detach();
        out.Set(static_cast<uint32_t>(i), Napi::Value(env, wrapTensor(env, inst, buf)));
      } else {
        buf = tensorArg(env, inst, bufId);
        buf.mul_(momentum).add_(grad, 1 - dampening);
      }
      grad = nesterov ? grad.add(buf, momentum) : buf;
    }
    param.add_(grad, -lr);
  }
  return out;
  LT_CATCH(env)
}

// rmspropStep(params, squareAvgs, gradAvgs|null, momentumBuffers|null, lr, alpha, eps, weightDecay, momentum)
static Napi::Value RmspropStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  NoGrad noGrad;
  auto params = tensorListArg(env, inst, info[0]);
  auto squareAvgs = tensorListArg(env, inst, info[1]);
  bool centered = !info[2].IsNull() && !info[2].IsUndefined();
  bool withMomentum = !info[3].IsNull() && !info[3].IsUndefined();
  std::vector<at::Tensor> gradAvgs, bufs;
  if (centered) gradAvgs = tensorListArg(env, inst, info[2]);
  if (withMomentum) bufs = tensorListArg(env, inst, info[3]);
  double lr = numArg(info, 4), alpha = numArg(info, 5), eps = numArg(info, 6), weightDecay = numArg(info, 7);
  double momentum = numArg(info, 8);
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& param = params[i];
    at::Tensor grad = param.grad();
    if (!grad.defined()) continue;
    if (weightDecay != 0) grad = grad.add(param, weightDecay);
    squareAvgs[i].mul_(alpha).addcmul_(grad, grad, 1 - alpha);
    at::Tensor avg;
    if (centered) {
      gradAvgs[i].mul_(alpha).add_(grad, 1 - alpha);
      avg = squareAvgs[i].addcmul(gradAvgs[i], gradAvgs[i], -1).sqrt_();
    } else {
      avg = squareAvgs[i].sqrt();
    }
    avg = avg.add_(eps);
    if (withMomentum && momentum > 0) {
      bufs[i].mul_(momentum).addcdiv_(grad, avg);
      param.add_(bufs[i], -lr);
    } else {
      param.addcdiv_(grad, avg, -lr);
    }
  }
  return env.Undefined();
  LT_CATCH(env)
}

// clipGradNorm(params, maxNorm, normType) -> total norm before clipping (torch.nn.utils.clip_grad_norm_).
static Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LT_TRY
  Instance& inst = instance(env);
  NoGrad noGrad;
  auto params = tensorListArg(env, inst, info[0]);
  double maxNorm = numArg(info, 1), normType = numArg(info, 2);
  std::vector<at::Tensor> norms;
  for (auto& p : params)
    if (p.grad().defined()) norms.push_back(std::isinf(normType) ? p.grad().abs().max() : at::norm(p.grad(), normType));
  if (norms.empty()) return Napi::Number::New(env, 0);
  at::Tensor total = std::isinf(normType) ? at::stack(norms).max() : at::norm(at::stack(norms), normType);
  at::Tensor coef = at::clamp_max(maxNorm / (total + 1e-6), 1.0);
  for (auto& p : params)
    if (p.grad().defined()) p.mutable_grad().mul_(coef.to(p.grad().device()));
  return Napi::Number::New(env, total.item<double>());
  LT_CATCH(env)
}

static Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("parallelInfo", Napi::String::New(env, at::get_parallel_info()));
  out.Set("cuda", Napi::Boolean::New(env, at::hasCUDA()));
  out.Set("mkldnn", Napi::Boolean::New(env, at::hasMKLDNN()));
  return out;
}

static void addRaw(napi_env env, Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  exports.Set(name, Napi::Value(env, fn));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* inst = new Instance();
  napi_set_instance_data(env, inst, cleanupInstance, nullptr);
#define LT_EXPORT(name, fn) exports.Set(name, Napi::Function::New(env, guarded<fn>, name))
  LT_EXPORT("opId", OpId);
  LT_EXPORT("opSchema", OpSchema);
  LT_EXPORT("opReturnTypes", OpReturnTypes);
  addRaw(env, exports, "call", Call);
  addRaw(env, exports, "callVoid", CallVoid);
  LT_EXPORT("fromTypedArray", FromTypedArray);
  LT_EXPORT("toArrayBuffer", ToArrayBuffer);
  LT_EXPORT("item", Item);
  LT_EXPORT("shape", Shape);
  LT_EXPORT("strides", Strides);
  LT_EXPORT("dtype", Dtype);
  LT_EXPORT("device", DeviceOf);
  LT_EXPORT("numel", Numel);
  LT_EXPORT("dim", Dim);
  LT_EXPORT("isContiguous", IsContiguous);
  LT_EXPORT("requiresGrad", RequiresGrad);
  LT_EXPORT("setRequiresGrad", SetRequiresGrad);
  LT_EXPORT("isLeaf", IsLeaf);
  LT_EXPORT("grad", Grad);
  LT_EXPORT("setGrad", SetGrad);
  LT_EXPORT("dispose", Dispose);
  LT_EXPORT("disposeMany", DisposeMany);
  LT_EXPORT("isAlive", IsAlive);
  LT_EXPORT("stats", Stats);
  LT_EXPORT("backward", Backward);
  LT_EXPORT("autogradGrad", AutogradGrad);
  LT_EXPORT("setGradEnabled", SetGradEnabled);
  LT_EXPORT("isGradEnabled", IsGradEnabled);
  LT_EXPORT("manualSeed", ManualSeed);
  LT_EXPORT("pushInferenceMode", PushInferenceMode);
  LT_EXPORT("popInferenceMode", PopInferenceMode);
  LT_EXPORT("isInferenceMode", IsInferenceMode);
  LT_EXPORT("isInference", IsInference);
  LT_EXPORT("setNumThreads", SetNumThreads);
  LT_EXPORT("getNumThreads", GetNumThreads);
  LT_EXPORT("cudaAvailable", CudaAvailable);
  LT_EXPORT("cudaDeviceCount", CudaDeviceCount);
  LT_EXPORT("adamStep", AdamStep);
  LT_EXPORT("adamaxStep", AdamaxStep);
  LT_EXPORT("sgdStep", SgdStep);
  LT_EXPORT("rmspropStep", RmspropStep);
  LT_EXPORT("clipGradNorm", ClipGradNorm);
  LT_EXPORT("version", Version);
#undef LT_EXPORT
  initJit(env, exports);
  return exports;
}

}  // namespace lt

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return lt::Init(env, exports); }
NODE_API_MODULE(liverstiff_torch, InitModule)
