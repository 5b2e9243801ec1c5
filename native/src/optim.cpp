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
  std::vector<bool> active;
  if (info.Length() > 9 && info[9].IsArray()) {
    Napi::Array a = info[9].As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) active.push_back(a.Get(k).ToBoolean().Value());
  }
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& param = params[i];
    at::Tensor grad = param.grad();
    if (!grad.defined()) continue;
    double step = steps.Get(static_cast<uint32_t>(i)).As<Napi::Number>().DoubleValue();
    double clr = lr / (1 - std::pow(beta1, step));
    if (active.empty()) {
      adamaxOne(param, grad, expAvgs[i], expInfs[i], clr, beta1, beta2, eps, weightDecay);
      continue;
    }
    if (param.dim() < 1 || param.size(0) != static_cast<int64_t>(active.size()))
      throw std::invalid_argument("adamaxStep: activeSlices has " + std::to_string(active.size()) +
                                  " entries but parameter " + std::to_string(i) + " has shape " +
                                  c10::str(param.sizes()));
    for (int64_t k = 0; k < param.size(0); k++)
      if (active[static_cast<size_t>(k)])
        adamaxOne(param.select(0, k), grad.select(0, k), expAvgs[i].select(0, k), expInfs[i].select(0, k), clr,
                  beta1, beta2, eps, weightDecay);
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

void initOptimizers(Napi::Env env, Napi::Object exports) {
  exportBinding<AdamStep>(env, exports, "adamStep");
  exportBinding<AdamaxStep>(env, exports, "adamaxStep");
  exportBinding<SgdStep>(env, exports, "sgdStep");
  exportBinding<RmspropStep>(env, exports, "rmspropStep");
  exportBinding<ClipGradNorm>(env, exports, "clipGradNorm");
}

}  // namespace lt
