// Generic operator calls: JS resolves "aten::name.overload" once to an index, then calls it with
// positional arguments converted according to the schema (undefined = the schema's default).
#include <ATen/ScalarOps.h>

#include "ops.h"

namespace lt {

static Kind kindOf(const c10::TypePtr& type) {
  using c10::TypeKind;
  // The schema's types that the binding converts (ScalarType, Layout and MemoryFormat are integers in JS).
  static const std::unordered_map<TypeKind, Kind> kinds = {
      {TypeKind::TensorType, Kind::Tensor},     {TypeKind::IntType, Kind::Int},
      {TypeKind::SymIntType, Kind::Int},        {TypeKind::ScalarTypeType, Kind::Int},
      {TypeKind::LayoutType, Kind::Int},        {TypeKind::MemoryFormatType, Kind::Int},
      {TypeKind::FloatType, Kind::Float},       {TypeKind::BoolType, Kind::Bool},
      {TypeKind::StringType, Kind::Str},        {TypeKind::NumberType, Kind::Scalar},
      {TypeKind::DeviceObjType, Kind::Device},  {TypeKind::GeneratorType, Kind::Generator}};
  // The lists of them that it converts (and Tensor?[], below).
  static const std::unordered_map<Kind, Kind> lists = {
      {Kind::Tensor, Kind::TensorList}, {Kind::Int, Kind::IntList},
      {Kind::Float, Kind::FloatList},   {Kind::Bool, Kind::BoolList}};
  if (type->kind() == TypeKind::ListType) {
    auto elem = type->expectRef<c10::ListType>().getElementType();
    if (elem->kind() == TypeKind::OptionalType) {
      auto inner = elem->expectRef<c10::OptionalType>().getElementType();
      return inner->kind() == TypeKind::TensorType ? Kind::OptTensorList : Kind::Unsupported;
    }
    auto list = lists.find(kindOf(elem));
    return list == lists.end() ? Kind::Unsupported : list->second;
  }
  auto kind = kinds.find(type->kind());
  return kind == kinds.end() ? Kind::Unsupported : kind->second;
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

static bool boolArg(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

// A string argument; mustBe names what it must be in the error ("a string").
static std::string stringArg(napi_env env, napi_value v, const ArgSpec& a, const char* mustBe) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
    fail(env, "argument '" + a.name + "' must be " + mustBe);
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

// A JS number or boolean as a Scalar. Integral JS numbers become integer scalars so that int tensors keep
// their dtype (as in Python).
static at::Scalar scalarArg(napi_env env, napi_value v, napi_valuetype t, const ArgSpec& a) {
  if (t == napi_boolean) return at::Scalar(boolArg(env, v));
  double d = numberArg(env, v, a);
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0)
    return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

// The length of an array argument. Where the value is not an array it fails with "must be <mustBe>", or
// counts as empty when mustBe is null.
static uint32_t arrayLength(napi_env env, napi_value v, const ArgSpec& a, const char* mustBe) {
  uint32_t n = 0;
  if (napi_get_array_length(env, v, &n) != napi_ok && mustBe) fail(env, "argument '" + a.name + "' must be " + mustBe);
  return n;
}

static napi_value elementAt(napi_env env, napi_value array, uint32_t i) {
  napi_value e;
  napi_get_element(env, array, i, &e);
  return e;
}

static std::vector<int64_t> intListArg(napi_env env, napi_value v, const ArgSpec& a) {
  std::vector<int64_t> out;
  if (typeOf(env, v) == napi_number) {
    out.assign(a.fixedLength > 0 ? a.fixedLength : 1, static_cast<int64_t>(numberArg(env, v, a)));
    return out;
  }
  out.resize(arrayLength(env, v, a, "an array of integers"));
  for (uint32_t i = 0; i < out.size(); i++) out[i] = static_cast<int64_t>(numberArg(env, elementAt(env, v, i), a));
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
      uint32_t n = arrayLength(env, v, a, nullptr);
      c10::List<c10::optional<at::Tensor>> list;
      list.reserve(n);
      for (uint32_t i = 0; i < n; i++) {
        napi_value e = elementAt(env, v, i);
        napi_valuetype et = typeOf(env, e);
        if (et == napi_null || et == napi_undefined)
          list.push_back(c10::nullopt);
        else
          list.push_back(tensorArg(env, inst, e));
      }
      return list;
    }
    case Kind::Int:
      if (t == napi_boolean) return static_cast<int64_t>(boolArg(env, v));
      return static_cast<int64_t>(numberArg(env, v, a));
    case Kind::IntList:
      return intListArg(env, v, a);
    case Kind::Float:
      return numberArg(env, v, a);
    case Kind::FloatList: {
      std::vector<double> out(arrayLength(env, v, a, "an array"));
      for (uint32_t i = 0; i < out.size(); i++) out[i] = numberArg(env, elementAt(env, v, i), a);
      return out;
    }
    case Kind::Bool: {
      bool b;
      if (napi_get_value_bool(env, v, &b) != napi_ok) fail(env, "argument '" + a.name + "' must be a boolean");
      return b;
    }
    case Kind::BoolList: {
      uint32_t n = arrayLength(env, v, a, nullptr);
      c10::List<bool> out;
      for (uint32_t i = 0; i < n; i++) out.push_back(boolArg(env, elementAt(env, v, i)));
      return out;
    }
    case Kind::Str:
      return stringArg(env, v, a, "a string");
    case Kind::Scalar:
      return scalarArg(env, v, t, a);
    case Kind::WrappedScalar: {
      // A JS number in a Tensor position: a 0-d "wrapped number" tensor, exactly what Python's argument
      // parser makes of `x.mul(2)` (one dispatch, scalar type promotion) instead of the slower .Scalar
      // overloads.
      at::Tensor wrapped = c10::scalar_to_tensor(scalarArg(env, v, t, a));
      wrapped.unsafeGetTensorImpl()->set_wrapped_number(true);
      return wrapped;
    }
    case Kind::Device:
      return c10::Device(stringArg(env, v, a, "a device string"));
    case Kind::Generator:
      fail(env, "argument '" + a.name + "': generators are not supported (use manualSeed)");
    case Kind::Unsupported:
      break;
  }
  fail(env, "argument '" + a.name + "' has a type the binding does not support");
}

static Napi::Value OpId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
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
}

// The resolved operator whose index is argument 0.
static const OpInfo& opAt(const Napi::CallbackInfo& info) {
  Instance& inst = instance(info.Env());
  uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  if (index >= inst.ops.size()) throw Napi::Error::New(info.Env(), "unknown operator index");
  return *inst.ops[index];
}

static Napi::Value OpReturnTypes(const Napi::CallbackInfo& info) {
  const auto& types = opAt(info).returnTypes;
  Napi::Array out = Napi::Array::New(info.Env(), types.size());
  for (size_t i = 0; i < types.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::String::New(info.Env(), types[i]));
  return out;
}

static Napi::Value OpSchema(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), opAt(info).label); }

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

static void addRaw(napi_env env, Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  exports.Set(name, Napi::Value(env, fn));
}

void initOps(Napi::Env env, Napi::Object exports) {
  exportBinding<OpId>(env, exports, "opId");
  exportBinding<OpSchema>(env, exports, "opSchema");
  exportBinding<OpReturnTypes>(env, exports, "opReturnTypes");
  addRaw(env, exports, "call", Call);
  addRaw(env, exports, "callVoid", CallVoid);
}

}  // namespace lt
