// The tensor handle table: JS holds a tensor as a number, slot | (generation << 24). Freeing a slot
// bumps its generation, so a stale id is detected (use after dispose) instead of touching another tensor.
// Also the per-environment Instance, libtorch error messages and TorchScript values to JS.
#include <sstream>

#include "ops.h"

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

void cleanupInstance(napi_env, void* data, void*) { delete static_cast<Instance*>(data); }
}  // namespace

[[noreturn]] void fail(napi_env env, const std::string& msg) { throw Napi::Error::New(Napi::Env(env), msg); }

void drainPending(napi_env env, Instance& inst) {
  std::vector<napi_ref> refs;
  {
    std::lock_guard<std::mutex> lock(inst.pending->mu);
    if (inst.pending->refs.empty()) return;
    refs.swap(inst.pending->refs);
  }
  for (napi_ref r : refs) napi_delete_reference(env, r);
}

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

void initHandles(Napi::Env env, Napi::Object exports) {
  auto* inst = new Instance();
  napi_set_instance_data(env, inst, cleanupInstance, nullptr);
  exportBinding<Dispose>(env, exports, "dispose");
  exportBinding<DisposeMany>(env, exports, "disposeMany");
  exportBinding<IsAlive>(env, exports, "isAlive");
  exportBinding<Stats>(env, exports, "stats");
}

}  // namespace lt
