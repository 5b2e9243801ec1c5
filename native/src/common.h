// Shared declarations of the liverstiff libtorch addon, whose C++ is split by concern (addon.cpp lists the
// files). Only jit.cpp includes TorchScript's headers, which are the slowest to compile.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace lt {

struct OpInfo;

// napi references to JS buffers that back zero-copy tensors. Their deleters may run on any thread, where
// napi must not be called, so references are queued here and released on the JS thread later.
struct PendingReleases {
  std::mutex mu;
  std::vector<napi_ref> refs;
  bool envAlive = true;
};

// Per-environment state (main thread and each worker thread have their own): the handle table that maps
// the numeric ids JS holds to tensors, the resolved operator table and TorchScript modules.
struct Instance {
  std::vector<at::Tensor> slots;
  std::vector<uint32_t> gens;
  std::vector<int64_t> slotBytes;
  std::vector<uint32_t> freeSlots;
  size_t live = 0;
  int64_t externalUnreported = 0;
  int64_t externalReported = 0;
  std::vector<std::unique_ptr<OpInfo>> ops;
  std::unordered_map<std::string, int> opIndex;
  std::vector<c10::IValue> stack;
  std::shared_ptr<PendingReleases> pending = std::make_shared<PendingReleases>();
  std::vector<std::shared_ptr<void>> modules;  // torch::jit::Module, opaque outside jit.cpp
  std::vector<std::unique_ptr<c10::InferenceMode>> inferenceGuards;  // a stack, one per open JS scope
  ~Instance();
};

Instance& instance(napi_env env);
// Registers a tensor in the handle table and returns its id (null for an undefined tensor).
napi_value wrapTensor(napi_env env, Instance& inst, at::Tensor t);
const at::Tensor& tensorArg(napi_env env, Instance& inst, napi_value v);
std::vector<at::Tensor> tensorListArg(napi_env env, Instance& inst, napi_value v);
napi_value ivalueToJs(napi_env env, Instance& inst, const c10::IValue& v);
std::string cleanMessage(const char* what);
[[noreturn]] void fail(napi_env env, const std::string& msg);
// Releases the JS buffers of zero-copy tensors whose storage has gone (queued from any thread).
void drainPending(napi_env env, Instance& inst);

// Each file's bindings, registered on the addon's exports (initHandles first: it creates the Instance).
void initHandles(Napi::Env env, Napi::Object exports);
void initOps(Napi::Env env, Napi::Object exports);
void initTensors(Napi::Env env, Napi::Object exports);
void initAutograd(Napi::Env env, Napi::Object exports);
void initOptimizers(Napi::Env env, Napi::Object exports);
void initAllocator(Napi::Env env, Napi::Object exports);
void initJit(Napi::Env env, Napi::Object exports);
void initDist(Napi::Env env, Napi::Object exports);

}  // namespace lt

namespace lt {
// Wraps every exported binding: whatever escapes it (a libtorch error in a metadata call included) becomes
// a JS Error carrying libtorch's message instead of std::terminate, and the process carries on.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), cleanMessage(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), cleanMessage(e.what()));
  } catch (...) {
    throw Napi::Error::New(info.Env(), "unknown native error");
  }
}
// Exports a binding under its JS name, wrapped by guarded<> (C++ errors become JS Errors).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
void exportBinding(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, guarded<Fn>, name));
}

// True for JS null and undefined (an optional argument left out).
inline bool isNullish(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

// The tensor whose id is argument i of a binding.
inline const at::Tensor& tensorAt(const Napi::CallbackInfo& info, size_t i) {
  napi_env env = info.Env();
  return tensorArg(env, instance(env), info[i]);
}

// The tensors whose ids argument i of a binding lists.
inline std::vector<at::Tensor> tensorListAt(const Napi::CallbackInfo& info, size_t i) {
  napi_env env = info.Env();
  return tensorListArg(env, instance(env), info[i]);
}

// An optional array of tensor ids: no tensors for null or undefined.
inline std::vector<at::Tensor> optionalTensorListArg(napi_env env, Instance& inst, const Napi::Value& v) {
  return isNullish(v) ? std::vector<at::Tensor>() : tensorListArg(env, inst, v);
}

// Registers each tensor in the handle table: a JS array of their ids (null for an undefined tensor).
inline Napi::Array wrapTensors(napi_env env, Instance& inst, const std::vector<at::Tensor>& tensors) {
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); i++)
    out.Set(static_cast<uint32_t>(i), Napi::Value(env, wrapTensor(env, inst, tensors[i])));
  return out;
}

// Tensor metadata as JS values (numbers for integers and dtypes, strings for devices).
inline Napi::Value toJs(Napi::Env env, bool v) { return Napi::Boolean::New(env, v); }
inline Napi::Value toJs(Napi::Env env, int64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }
inline Napi::Value toJs(Napi::Env env, at::ScalarType v) { return Napi::Number::New(env, static_cast<int>(v)); }
inline Napi::Value toJs(Napi::Env env, const c10::Device& v) { return Napi::String::New(env, v.str()); }
inline Napi::Value toJs(Napi::Env env, c10::IntArrayRef v) {
  Napi::Array out = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) out.Set(static_cast<uint32_t>(i), toJs(env, v[i]));
  return out;
}

// A binding that returns one property of the tensor it is given: Get is a const member of at::TensorBase
// (&at::TensorBase::dim) or a function of the tensor.
template <auto Get>
Napi::Value tensorProperty(const Napi::CallbackInfo& info) {
  return toJs(info.Env(), std::invoke(Get, tensorAt(info, 0)));
}
}  // namespace lt
