// Fused optimizer steps: one native call per step for all parameters, same arithmetic as PyTorch 1.13's
// single-tensor (foreach=False) implementations. Parameters without a gradient are skipped.
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common.h"

namespace lt {

// What every step binding reads: its arguments (info), with gradient recording off for the whole call,
// and the parameters (argument 0).
struct StepArgs {
  const Napi::CallbackInfo& info;
  Napi::Env env;
  Instance& inst;
  c10::AutoGradMode noGrad{false};
  std::vector<at::Tensor> params;

  explicit StepArgs(const Napi::CallbackInfo& info)
      : info(info), env(info.Env()), inst(instance(env)), params(tensors(0)) {}
  std::vector<at::Tensor> tensors(size_t i) { return tensorListArg(env, inst, info[i]); }
  // An optional list (optimizer state that only some variants keep): empty for null.
  std::vector<at::Tensor> optionalTensors(size_t i) { return optionalTensorListArg(env, inst, info[i]); }
  double number(size_t i) const { return info[i].As<Napi::Number>().DoubleValue(); }
  bool flag(size_t i) const { return info[i].ToBoolean().Value(); }

  // Calls update(i, param, grad) for each parameter that has a gradient, in order. grad is negated first
  // when maximize, then given weightDecay * param (the coupled L2 penalty) when weightDecay is not 0.
  template <typename Update>
  void forEachGrad(bool maximize, double weightDecay, Update update) {
    for (size_t i = 0; i < params.size(); i++) {
      at::Tensor& param = params[i];
      at::Tensor grad = param.grad();
      if (!grad.defined()) continue;
      if (maximize) grad = grad.neg();
      if (weightDecay != 0) grad = grad.add(param, weightDecay);
      update(i, param, grad);
    }
  }
};

// steps[i]: the step count of parameter i (bias corrections).
static double stepOf(const Napi::Array& steps, size_t i) {
  return steps.Get(static_cast<uint32_t>(i)).As<Napi::Number>().DoubleValue();
}

// adamStep(params, expAvgs, expAvgSqs, maxExpAvgSqs|null, steps[], lr, beta1, beta2, eps, weightDecay,
//          decoupled, maximize)
static Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  StepArgs args(info);
  auto expAvgs = args.tensors(1);
  auto expAvgSqs = args.tensors(2);
  bool amsgrad = !isNullish(info[3]);
  auto maxSqs = args.optionalTensors(3);
  Napi::Array steps = info[4].As<Napi::Array>();
  double lr = args.number(5), beta1 = args.number(6), beta2 = args.number(7), eps = args.number(8);
  double weightDecay = args.number(9);
  bool decoupled = args.flag(10);
  bool maximize = args.flag(11);
  // Decoupled weight decay (AdamW) scales the parameter instead of adding to the gradient.
  args.forEachGrad(maximize, decoupled ? 0 : weightDecay, [&](size_t i, at::Tensor& param, const at::Tensor& grad) {
    double step = stepOf(steps, i);
    if (decoupled) param.mul_(1 - lr * weightDecay);
    expAvgs[i].mul_(beta1).add_(grad, 1 - beta1);
    expAvgSqs[i].mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    double bias1 = 1 - std::pow(beta1, step);
    double bias2 = 1 - std::pow(beta2, step);
    double stepSize = lr / bias1;
    double bias2Sqrt = std::sqrt(bias2);
    if (amsgrad) at::maximum_out(maxSqs[i], maxSqs[i], expAvgSqs[i]);
    at::Tensor denom = ((amsgrad ? maxSqs[i] : expAvgSqs[i]).sqrt() / bias2Sqrt).add_(eps);
    param.addcdiv_(expAvgs[i], denom, -stepSize);
  });
  return info.Env().Undefined();
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

// One Adamax update of one tensor (fused where it can be, else PyTorch's formulation).
static void adamaxOne(at::Tensor param, at::Tensor grad, at::Tensor expAvg, at::Tensor expInf, double clr,
                      double beta1, double beta2, double eps, double weightDecay) {
  if (adamaxFusedCpu(param, grad, expAvg, expInf, clr, beta1, beta2, eps, weightDecay)) return;
  if (weightDecay != 0) grad = grad.add(param, weightDecay);
  expAvg.mul_(beta1).add_(grad, 1 - beta1);
  at::Tensor normBuf = at::cat({expInf.mul_(beta2).unsqueeze(0), grad.abs().add_(eps).unsqueeze_(0)}, 0);
  at::amax_out(expInf, normBuf, {0}, false);
  param.addcdiv_(expAvg, expInf, -clr);
}

// adamaxStep(params, expAvgs, expInfs, steps[], lr, beta1, beta2, eps, weightDecay, activeSlices|null)
// activeSlices: for parameters that stack independent models along dim 0, the slices to update; the others
// are left as they are (models that have stopped early). An active slice's arithmetic is unchanged.
static Napi::Value AdamaxStep(const Napi::CallbackInfo& info) {
  StepArgs args(info);
  auto expAvgs = args.tensors(1);
  auto expInfs = args.tensors(2);
  Napi::Array steps = info[3].As<Napi::Array>();
  double lr = args.number(4), beta1 = args.number(5), beta2 = args.number(6), eps = args.number(7);
  double weightDecay = args.number(8);
  std::vector<bool> active;
  if (info[9].IsArray()) {
    Napi::Array a = info[9].As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) active.push_back(a.Get(k).ToBoolean().Value());
  }
  // The weight decay is added per slice, inside adamaxOne.
  args.forEachGrad(false, 0, [&](size_t i, at::Tensor& param, const at::Tensor& grad) {
    double clr = lr / (1 - std::pow(beta1, stepOf(steps, i)));
    if (active.empty()) {
      adamaxOne(param, grad, expAvgs[i], expInfs[i], clr, beta1, beta2, eps, weightDecay);
      return;
    }
    if (param.dim() < 1 || param.size(0) != static_cast<int64_t>(active.size()))
      throw std::invalid_argument("adamaxStep: activeSlices has " + std::to_string(active.size()) +
                                  " entries but parameter " + std::to_string(i) + " has shape " +
                                  c10::str(param.sizes()));
    for (int64_t k = 0; k < param.size(0); k++)
      if (active[static_cast<size_t>(k)])
        adamaxOne(param.select(0, k), grad.select(0, k), expAvgs[i].select(0, k), expInfs[i].select(0, k), clr,
                  beta1, beta2, eps, weightDecay);
  });
  return info.Env().Undefined();
}

// sgdStep(params, momentumBuffers (id|null)[], lr, momentum, dampening, weightDecay, nesterov, maximize)
//   -> momentum buffers (a new id where one was created, else the id passed in)
static Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  StepArgs args(info);
  Napi::Env env = args.env;
  Napi::Array bufs = info[1].As<Napi::Array>();
  double lr = args.number(2), momentum = args.number(3), dampening = args.number(4), weightDecay = args.number(5);
  bool nesterov = args.flag(6);
  Napi::Array out = Napi::Array::New(env, args.params.size());
  for (size_t i = 0; i < args.params.size(); i++) out.Set(static_cast<uint32_t>(i), bufs.Get(static_cast<uint32_t>(i)));
  args.forEachGrad(args.flag(7), weightDecay, [&](size_t i, at::Tensor& param, at::Tensor grad) {
    if (momentum != 0) {
      Napi::Value bufId = bufs.Get(static_cast<uint32_t>(i));
      at::Tensor buf;
      if (isNullish(bufId)) {
        buf = grad.clone().detach();
        out.Set(static_cast<uint32_t>(i), Napi::Value(env, wrapTensor(env, args.inst, buf)));
      } else {
        buf = tensorArg(env, args.inst, bufId);
        buf.mul_(momentum).add_(grad, 1 - dampening);
      }
      grad = nesterov ? grad.add(buf, momentum) : buf;
    }
    param.add_(grad, -lr);
  });
  return out;
}

// rmspropStep(params, squareAvgs, gradAvgs|null, momentumBuffers|null, lr, alpha, eps, weightDecay, momentum)
static Napi::Value RmspropStep(const Napi::CallbackInfo& info) {
  StepArgs args(info);
  auto squareAvgs = args.tensors(1);
  bool centered = !isNullish(info[2]);
  bool withMomentum = !isNullish(info[3]);
  auto gradAvgs = args.optionalTensors(2);
  auto bufs = args.optionalTensors(3);
  double lr = args.number(4), alpha = args.number(5), eps = args.number(6), weightDecay = args.number(7);
  double momentum = args.number(8);
  args.forEachGrad(false, weightDecay, [&](size_t i, at::Tensor& param, const at::Tensor& grad) {
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
  });
  return info.Env().Undefined();
}

// clipGradNorm(params, maxNorm, normType) -> total norm before clipping (torch.nn.utils.clip_grad_norm_).
static Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  StepArgs args(info);
  Napi::Env env = args.env;
  auto& params = args.params;
  double maxNorm = args.number(1), normType = args.number(2);
  std::vector<at::Tensor> norms;
  for (auto& p : params)
    if (p.grad().defined()) norms.push_back(std::isinf(normType) ? p.grad().abs().max() : at::norm(p.grad(), normType));
  if (norms.empty()) return Napi::Number::New(env, 0);
  at::Tensor total = std::isinf(normType) ? at::stack(norms).max() : at::norm(at::stack(norms), normType);
  at::Tensor coef = at::clamp_max(maxNorm / (total + 1e-6), 1.0);
  for (auto& p : params)
    if (p.grad().defined()) p.mutable_grad().mul_(coef.to(p.grad().device()));
  return Napi::Number::New(env, total.item<double>());
}

void initOptimizers(Napi::Env env, Napi::Object exports) {
  exportBinding<AdamStep>(env, exports, "adamStep");
  exportBinding<AdamaxStep>(env, exports, "adamaxStep");
  exportBinding<SgdStep>(env, exports, "sgdStep");
  exportBinding<RmspropStep>(env, exports, "rmspropStep");
  exportBinding<ClipGradNorm>(env, exports, "clipGradNorm");
}

}  // namespace lt
