// TorchScript modules (torch::jit::load): forward, parameters and buffers as tensors that alias the
// module's own (so training them trains the module), train/eval, save. Wrapped by src/nn/ in TypeScript.
#include <torch/script.h>

#include "common.h"

namespace lt {

namespace {

using ModulePtr = std::shared_ptr<torch::jit::Module>;

torch::jit::Module& moduleArg(Napi::Env env, Instance& inst, const Napi::Value& v) {
  double id = v.As<Napi::Number>().DoubleValue();
  if (!(id >= 0) || id >= static_cast<double>(inst.modules.size()) || !inst.modules[static_cast<size_t>(id)])
    throw Napi::Error::New(env, "TorchScript module used after it was disposed");
  return *static_cast<torch::jit::Module*>(inst.modules[static_cast<size_t>(id)].get());
}

Napi::Value ModuleLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  std::string path = info[0].As<Napi::String>();
  c10::optional<c10::Device> device;
  if (info.Length() > 1 && info[1].IsString()) device = c10::Device(info[1].As<Napi::String>().Utf8Value());
  auto module = std::make_shared<torch::jit::Module>(torch::jit::load(path, device));
  inst.modules.push_back(std::static_pointer_cast<void>(module));
  return Napi::Number::New(env, static_cast<double>(inst.modules.size() - 1));
}

// moduleCall(id, method, inputs[]): inputs are tensor ids, numbers or booleans.
Napi::Value ModuleCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  torch::jit::Module& module = moduleArg(env, inst, info[0]);
  std::string method = info[1].As<Napi::String>();
  Napi::Array args = info[2].As<Napi::Array>();
  std::vector<c10::IValue> inputs;
  for (uint32_t i = 0; i < args.Length(); i++) {
    Napi::Value a = args.Get(i);
    if (a.IsBoolean())
      inputs.emplace_back(a.As<Napi::Boolean>().Value());
    else if (a.IsArray())
      inputs.emplace_back(c10::List<at::Tensor>(tensorListArg(env, inst, a)));
    else if (isNullish(a))
      inputs.emplace_back();
    else
      inputs.emplace_back(tensorArg(env, inst, a));
  }
  c10::IValue out = module.get_method(method)(std::move(inputs));
  return Napi::Value(env, ivalueToJs(env, inst, out));
}

Napi::Value ModuleNamed(const Napi::CallbackInfo& info, bool parameters) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  torch::jit::Module& module = moduleArg(env, inst, info[0]);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, name));
    pair.Set(1u, Napi::Value(env, wrapTensor(env, inst, t)));
    out.Set(i++, pair);
  };
  if (parameters)
    for (const auto& p : module.named_parameters(true)) add(p.name, p.value);
  else
    for (const auto& b : module.named_buffers(true)) add(b.name, b.value);
  return out;
}

Napi::Value ModuleParameters(const Napi::CallbackInfo& info) { return ModuleNamed(info, true); }
Napi::Value ModuleBuffers(const Napi::CallbackInfo& info) { return ModuleNamed(info, false); }

Napi::Value ModuleTrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  moduleArg(env, instance(env), info[0]).train(info[1].ToBoolean().Value());
  return env.Undefined();
}

Napi::Value ModuleIsTraining(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, moduleArg(env, instance(env), info[0]).is_training());
}

Napi::Value ModuleTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  moduleArg(env, instance(env), info[0]).to(c10::Device(info[1].As<Napi::String>().Utf8Value()));
  return env.Undefined();
}

Napi::Value ModuleSave(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  moduleArg(env, instance(env), info[0]).save(info[1].As<Napi::String>().Utf8Value());
  return env.Undefined();
}

Napi::Value ModuleDispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  double id = info[0].As<Napi::Number>().DoubleValue();
  if (id >= 0 && id < static_cast<double>(inst.modules.size())) inst.modules[static_cast<size_t>(id)].reset();
  return env.Undefined();
}

}  // namespace

void initJit(Napi::Env env, Napi::Object exports) {
  exportBinding<ModuleLoad>(env, exports, "moduleLoad");
  exportBinding<ModuleCall>(env, exports, "moduleCall");
  exportBinding<ModuleParameters>(env, exports, "moduleParameters");
  exportBinding<ModuleBuffers>(env, exports, "moduleBuffers");
  exportBinding<ModuleTrain>(env, exports, "moduleTrain");
  exportBinding<ModuleIsTraining>(env, exports, "moduleIsTraining");
  exportBinding<ModuleTo>(env, exports, "moduleTo");
  exportBinding<ModuleSave>(env, exports, "moduleSave");
  exportBinding<ModuleDispose>(env, exports, "moduleDispose");
}

}  // namespace lt
