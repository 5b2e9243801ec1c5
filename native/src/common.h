// Shared declarations of the liverstiff libtorch addon, whose C++ is split by concern (addon.cpp lists the
// files). Only jit.cpp includes TorchScript's headers, which are the slowest to compile.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <napi.h>

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

// Every binding body runs inside LT_TRY/LT_CATCH so that libtorch errors reach JS as Errors with
// libtorch's message and never abort the process.
namespace lt {
// Wraps every exported binding: whatever escapes it (a libtorch error in a metadata call included) becomes
// a JS Error instead of std::terminate.
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
}  // namespace lt

#define LT_TRY try {
#define LT_CATCH(env)                                                        \
  }                                                                          \
  catch (const Napi::Error&) {                                               \
    throw;                                                                   \
  }                                                                          \
  catch (const c10::Error& e) {                                              \
    throw Napi::Error::New(env, lt::cleanMessage(e.what_without_backtrace())); \
  }                                                                          \
  catch (const std::exception& e) {                                          \
    throw Napi::Error::New(env, lt::cleanMessage(e.what()));                 \
  }
