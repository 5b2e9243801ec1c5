// Autograd: requires-grad flags and gradients, backward and torch.autograd.grad, grad mode and
// inference mode.
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include "common.h"

namespace lt {

static Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = tensorAt(info, 0);
  t.set_requires_grad(info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

// grad(id): a new handle on the accumulated gradient (sharing its storage), or null.
static Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Value(env, wrapTensor(env, instance(env), tensorAt(info, 0).grad()));
}

static Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  at::Tensor t = tensorArg(env, inst, info[0]);
  if (isNullish(info[1]))
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
}

static Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  const at::Tensor& t = tensorArg(env, inst, info[0]);
  at::Tensor gradient;
  if (!isNullish(info[1])) gradient = tensorArg(env, inst, info[1]);
  bool retain = info.Length() > 2 && info[2].ToBoolean().Value();
  bool create = info.Length() > 3 && info[3].ToBoolean().Value();
  t.backward(gradient, retain, create);
  return env.Undefined();
}

// autogradGrad(outputs, inputs, gradOutputs|null, retainGraph, createGraph, allowUnused) -> (id|null)[]
static Napi::Value AutogradGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = instance(env);
  auto outputs = tensorListArg(env, inst, info[0]);
  auto inputs = tensorListArg(env, inst, info[1]);
  auto gradOutputs = optionalTensorListArg(env, inst, info[2]);
  bool create = info[4].ToBoolean().Value();
  c10::optional<bool> retain;
  if (!info[3].IsUndefined()) retain = info[3].ToBoolean().Value();
  auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, create, info[5].ToBoolean().Value());
  return wrapTensors(env, inst, grads);
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

void initAutograd(Napi::Env env, Napi::Object exports) {
  exportBinding<tensorProperty<&at::TensorBase::requires_grad>>(env, exports, "requiresGrad");
  exportBinding<SetRequiresGrad>(env, exports, "setRequiresGrad");
  exportBinding<tensorProperty<&at::TensorBase::is_leaf>>(env, exports, "isLeaf");
  exportBinding<Grad>(env, exports, "grad");
  exportBinding<SetGrad>(env, exports, "setGrad");
  exportBinding<Backward>(env, exports, "backward");
  exportBinding<AutogradGrad>(env, exports, "autogradGrad");
  exportBinding<SetGradEnabled>(env, exports, "setGradEnabled");
  exportBinding<IsGradEnabled>(env, exports, "isGradEnabled");
  exportBinding<PushInferenceMode>(env, exports, "pushInferenceMode");
  exportBinding<PopInferenceMode>(env, exports, "popInferenceMode");
  exportBinding<IsInferenceMode>(env, exports, "isInferenceMode");
  exportBinding<tensorProperty<&at::TensorBase::is_inference>>(env, exports, "isInference");
}

}  // namespace lt
