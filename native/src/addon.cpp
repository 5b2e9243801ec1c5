// liverstiff libtorch addon: the module's entry point, and the runtime settings (seed, threads, CUDA,
// build information). Each concern has its own file and registers its bindings: handles.cpp (the tensor
// handle table), ops.cpp (ATen operators through the dispatcher), tensors.cpp (typed arrays, metadata),
// autograd.cpp, optim.cpp (fused optimizer steps), allocator.cpp (the caching CPU allocator), jit.cpp (TorchScript modules) and dist.cpp (c10d collectives). All ergonomics live
// in src/torch/ (TypeScript).
#include <ATen/Parallel.h>
#include <torch/csrc/api/include/torch/cuda.h>

#include "common.h"

namespace lt {

namespace {

static Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return env.Undefined();
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

// torch::cuda (the C++ frontend's API) is stable across libtorch versions, unlike ATen's CUDA hooks.
static Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::cuda::is_available());
}

static Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}

static Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("parallelInfo", Napi::String::New(env, at::get_parallel_info()));
  out.Set("cuda", Napi::Boolean::New(env, at::hasCUDA()));
  out.Set("mkldnn", Napi::Boolean::New(env, at::hasMKLDNN()));
  return out;
}

}  // namespace

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  initAllocator(env, exports);  // before any tensor: the caching CPU allocator (allocator.cpp)
  initHandles(env, exports);
  initOps(env, exports);
  initTensors(env, exports);
  initAutograd(env, exports);
  exportBinding<ManualSeed>(env, exports, "manualSeed");
  exportBinding<SetNumThreads>(env, exports, "setNumThreads");
  exportBinding<GetNumThreads>(env, exports, "getNumThreads");
  exportBinding<CudaAvailable>(env, exports, "cudaAvailable");
  exportBinding<CudaDeviceCount>(env, exports, "cudaDeviceCount");
  initOptimizers(env, exports);
  exportBinding<Version>(env, exports, "version");
  initJit(env, exports);
  initDist(env, exports);
  return exports;
}

}  // namespace lt

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return lt::Init(env, exports); }
NODE_API_MODULE(liverstiff_torch, InitModule)
