// Tensors and typed arrays: copies (or zero-copy views) in both directions, scalars, and metadata.
#include <cstring>

#include "common.h"

namespace lt {

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
}

// Copies a tensor's elements (any device, any layout) into a new ArrayBuffer, in row-major order.
static Napi::Value ToArrayBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = tensorAt(info, 0).detach();
  if (!t.device().is_cpu()) t = t.to(at::kCPU);
  t = t.contiguous();
  size_t bytes = t.nbytes();
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, bytes);
  if (bytes) std::memcpy(out.Data(), t.data_ptr(), bytes);
  return out;
}

static Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Scalar s = tensorAt(info, 0).item();
  if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
  return Napi::Number::New(env, s.toDouble());
}

// Metadata (tensorProperty bindings).
static bool isContiguous(const at::Tensor& t) { return t.is_contiguous(); }

void initTensors(Napi::Env env, Napi::Object exports) {
  exportBinding<FromTypedArray>(env, exports, "fromTypedArray");
  exportBinding<ToArrayBuffer>(env, exports, "toArrayBuffer");
  exportBinding<Item>(env, exports, "item");
  exportBinding<tensorProperty<&at::TensorBase::sizes>>(env, exports, "shape");
  exportBinding<tensorProperty<&at::TensorBase::strides>>(env, exports, "strides");
  exportBinding<tensorProperty<&at::TensorBase::scalar_type>>(env, exports, "dtype");
  exportBinding<tensorProperty<&at::TensorBase::device>>(env, exports, "device");
  exportBinding<tensorProperty<&at::TensorBase::numel>>(env, exports, "numel");
  exportBinding<tensorProperty<&at::TensorBase::dim>>(env, exports, "dim");
  exportBinding<tensorProperty<isContiguous>>(env, exports, "isContiguous");
}

}  // namespace lt
