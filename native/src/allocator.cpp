// A caching allocator for large CPU tensors. libtorch 1.13 allocates every CPU tensor with posix_memalign
// and frees it at once, and glibc serves blocks above 32 MiB with a fresh mmap: a training step that makes
// the same 420 MB gradient every time (deepliver2's first layer at the published widths) then pays for
// ~100 000 page faults per step, most of the step. Here freed blocks of at least 1 MiB are kept by size
// (rounded up to 2 MiB, with transparent huge pages requested) up to a cap and handed out again, as
// PyTorch's CUDA allocator does on the GPU; smaller blocks go to c10's own allocator as before.
// LIVERSTIFF_CPU_CACHE_MB sets the cap on kept bytes (default 2048; 0 turns the cache off).
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace lt {

namespace {

constexpr size_t kLargeBytes = size_t{1} << 20;
constexpr size_t kHugePageBytes = size_t{2} << 20;

size_t capFromEnvironment() {
  const char* v = std::getenv("LIVERSTIFF_CPU_CACHE_MB");
  if (v == nullptr || *v == '\0') return size_t{2048} << 20;
  char* end = nullptr;
  unsigned long long mb = std::strtoull(v, &end, 10);
  // A value that is not a whole number of MiB leaves the cache off rather than guessing.
  if (end == v || *end != '\0') return 0;
  return static_cast<size_t>(mb) << 20;
}

class CachingCpuAllocator final : public at::Allocator {
 public:
  explicit CachingCpuAllocator(size_t capBytes) : capBytes_(capBytes) {}

  at::DataPtr allocate(size_t nbytes) const override {
    if (capBytes_ == 0 || nbytes < kLargeBytes) {
      void* p = c10::alloc_cpu(nbytes);
      return {p, p, &c10::free_cpu, at::Device(at::DeviceType::CPU)};
    }
    const size_t bytes = (nbytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    void* p = takeCached(bytes);
    if (p == nullptr) p = fresh(bytes);
    return {p, p, &releaseLarge, at::Device(at::DeviceType::CPU)};
  }

  // raw_allocate()'s pointers come back here: large ones are known by address, the rest are c10's.
  at::DeleterFnPtr raw_deleter() const override { return &releaseAny; }

  Napi::Object stats(Napi::Env env) const {
    std::lock_guard<std::mutex> lock(mutex_);
    Napi::Object out = Napi::Object::New(env);
    out.Set("capBytes", Napi::Number::New(env, static_cast<double>(capBytes_)));
    out.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(cachedBytes_)));
    out.Set("liveLargeBytes", Napi::Number::New(env, static_cast<double>(liveBytes_)));
    out.Set("hits", Napi::Number::New(env, static_cast<double>(hits_)));
    out.Set("misses", Napi::Number::New(env, static_cast<double>(misses_)));
    return out;
  }

  void emptyCache() const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cachedBytes_ = 0;
  }

  static CachingCpuAllocator* instance;

 private:
  void* takeCached(size_t bytes) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) {
      misses_++;
      return nullptr;
    }
    void* p = it->second.back();
    it->second.pop_back();
    cachedBytes_ -= bytes;
    hits_++;
    live_[p] = bytes;
    liveBytes_ += bytes;
    return p;
  }

  void* fresh(size_t bytes) const {
    void* p = nullptr;
    if (posix_memalign(&p, kHugePageBytes, bytes) != 0) {
      // Memory held in the cache is given back before an allocation is refused.
      emptyCache();
      if (posix_memalign(&p, kHugePageBytes, bytes) != 0) p = nullptr;
    }
    TORCH_CHECK(p != nullptr, "CPU allocator: not enough memory: you tried to allocate ", bytes, " bytes.");
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: fewer page faults where the kernel allows huge pages
    std::lock_guard<std::mutex> lock(mutex_);
    live_[p] = bytes;
    liveBytes_ += bytes;
    return p;
  }

  // Returns true when p was a large block (kept or freed); false when it is not one of ours.
  bool release(void* p) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return false;
    const size_t bytes = it->second;
    live_.erase(it);
    liveBytes_ -= bytes;
    if (cachedBytes_ + bytes <= capBytes_) {
      free_[bytes].push_back(p);
      cachedBytes_ += bytes;
    } else {
      std::free(p);
    }
    return true;
  }

  static void releaseLarge(void* p) { instance->release(p); }

  static void releaseAny(void* p) {
    if (!instance->release(p)) c10::free_cpu(p);
  }

  const size_t capBytes_;
  mutable std::mutex mutex_;
  mutable std::map<size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, size_t> live_;
  mutable size_t cachedBytes_ = 0;
  mutable size_t liveBytes_ = 0;
  mutable size_t hits_ = 0;
  mutable size_t misses_ = 0;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

// Installed once per process, before the first tensor of this addon; never destroyed, so that tensors
// freed during exit still find it.
void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    CachingCpuAllocator::instance = new CachingCpuAllocator(capFromEnvironment());
    c10::SetCPUAllocator(CachingCpuAllocator::instance, /*priority=*/1);
  });
}

static Napi::Value CpuCacheStats(const Napi::CallbackInfo& info) {
  return CachingCpuAllocator::instance->stats(info.Env());
}

static Napi::Value EmptyCpuCache(const Napi::CallbackInfo& info) {
  CachingCpuAllocator::instance->emptyCache();
  return info.Env().Undefined();
}

}  // namespace

void initAllocator(Napi::Env env, Napi::Object exports) {
  install();
  exportBinding<CpuCacheStats>(env, exports, "cpuCacheStats");
  exportBinding<EmptyCpuCache>(env, exports, "emptyCpuCache");
}

}  // namespace lt
