// Data-parallel collectives through libtorch's own c10d: a TCPStore rendezvous and a ProcessGroupGloo
// (Gloo over TCP on CPUs), as torch.distributed uses them. Compiled when Gloo's headers are present
// (Debian: libgloo-dev); otherwise distAvailable() is false and the TypeScript side says so.
//
// Every call blocks the JS thread until the collective has finished on every rank: training steps are
// synchronous anyway, and a rank that never arrives ends in the group's timeout, not a hang.
#include "common.h"

#ifdef LIVERSTIFF_GLOO
#include <c10/core/GradMode.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#endif

namespace lt {

#ifdef LIVERSTIFF_GLOO
namespace {

// The process groups of this process, by the id JS holds (one per initProcessGroup call).
std::mutex groupsMu;
std::unordered_map<int, c10::intrusive_ptr<c10d::ProcessGroupGloo>> groups;
int nextGroup = 1;

c10::intrusive_ptr<c10d::ProcessGroupGloo> groupArg(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(groupsMu);
  auto it = groups.find(info[0].As<Napi::Number>().Int32Value());
  if (it == groups.end()) fail(info.Env(), "the process group is closed");
  return it->second;
}

// distInit(host, port, rank, worldSize, timeoutMs) -> id. Rank 0 serves the store; the call returns
// once every rank has joined.
Napi::Value DistInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string host = info[0].As<Napi::String>().Utf8Value();
  const int port = info[1].As<Napi::Number>().Int32Value();
  const int rank = info[2].As<Napi::Number>().Int32Value();
  const int worldSize = info[3].As<Napi::Number>().Int32Value();
  const auto timeout = std::chrono::milliseconds(info[4].As<Napi::Number>().Int64Value());
  c10d::TCPStoreOptions storeOptions;
  storeOptions.port = static_cast<std::uint16_t>(port);
  storeOptions.isServer = rank == 0;
  storeOptions.numWorkers = static_cast<std::size_t>(worldSize);
  storeOptions.waitWorkers = true;
  storeOptions.timeout = timeout;
  auto store = c10::make_intrusive<c10d::TCPStore>(host, storeOptions);
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  // As torch.distributed: GLOO_SOCKET_IFNAME names the interface; else this host's address (loopback
  // when the host name does not resolve).
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  options->devices.push_back(ifname && *ifname
                                 ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                 : c10d::ProcessGroupGloo::createDefaultDevice());
  auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, worldSize, options);
  std::lock_guard<std::mutex> lock(groupsMu);
  const int id = nextGroup++;
  groups.emplace(id, group);
  return Napi::Number::New(env, id);
}

// distAllReduce(id, tensors, bucketBytes): sums each tensor over the ranks, in place. Tensors are packed
// into flat buckets of at most bucketBytes (one collective per bucket), as DistributedDataParallel does.
Napi::Value DistAllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto group = groupArg(info);
  auto tensors = tensorListAt(info, 1);
  const int64_t bucketBytes = info[2].As<Napi::Number>().Int64Value();
  c10::AutoGradMode noGrad(false);
  size_t start = 0;
  while (start < tensors.size()) {
    size_t end = start;
    int64_t bytes = 0;
    const auto dtype = tensors[start].scalar_type();
    while (end < tensors.size() && tensors[end].scalar_type() == dtype &&
           (end == start || bytes + tensors[end].nbytes() <= static_cast<size_t>(bucketBytes))) {
      bytes += static_cast<int64_t>(tensors[end].nbytes());
      end++;
    }
    std::vector<at::Tensor> flat;
    for (size_t i = start; i < end; i++) flat.push_back(tensors[i].reshape({-1}));
    std::vector<at::Tensor> bucket{at::cat(flat)};
    group->allreduce(bucket)->wait();
    int64_t offset = 0;
    for (size_t i = start; i < end; i++) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(bucket[0].narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
    start = end;
  }
  return env.Undefined();
}

// distBroadcast(id, tensors, root): every rank's tensors become root's, in place.
Napi::Value DistBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto group = groupArg(info);
  auto tensors = tensorListAt(info, 1);
  c10d::BroadcastOptions options;
  options.rootRank = info[2].As<Napi::Number>().Int32Value();
  c10::AutoGradMode noGrad(false);
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    group->broadcast(one, options)->wait();
  }
  return env.Undefined();
}

Napi::Value DistBarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  groupArg(info)->barrier()->wait();
  return env.Undefined();
}

Napi::Value DistClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(groupsMu);
  groups.erase(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

}  // namespace
#endif

static Napi::Value DistAvailable(const Napi::CallbackInfo& info) {
#ifdef LIVERSTIFF_GLOO
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

void initDist(Napi::Env env, Napi::Object exports) {
  exportBinding<DistAvailable>(env, exports, "distAvailable");
#ifdef LIVERSTIFF_GLOO
  exportBinding<DistInit>(env, exports, "distInit");
  exportBinding<DistAllReduce>(env, exports, "distAllReduce");
  exportBinding<DistBroadcast>(env, exports, "distBroadcast");
  exportBinding<DistBarrier>(env, exports, "distBarrier");
  exportBinding<DistClose>(env, exports, "distClose");
#endif
}

}  // namespace lt
