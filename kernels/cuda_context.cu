#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "kernels/cuda_check.h"
#include "kernels/cuda_context.h"

namespace relmimic::kernels {

namespace {

int current_device() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

// One thread's handles, one per device; destroyed with the thread. A failure at teardown is
// reported, not thrown (destructors must not throw, and the process is ending anyway).
struct ThreadHandles {
  std::map<int, cublasHandle_t> by_device;
  ~ThreadHandles() {
    for (auto& [device, h] : by_device) {
      if (cudaSetDevice(device) != cudaSuccess) continue;
      const cublasStatus_t s = cublasDestroy(h);
      if (s != CUBLAS_STATUS_SUCCESS)
        std::fprintf(stderr, "relmimic: cublasDestroy on device %d failed: %s\n", device,
                     cublasGetStatusString(s));
    }
  }
};

// Workspaces live for the whole process (freed by the driver at exit): freeing them from a
// static destructor could run after the CUDA runtime has shut down.
struct Workspace {
  void* ptr = nullptr;
  size_t bytes = 0;
};
std::mutex g_workspace_mutex;
std::map<std::tuple<int, Stream, WorkspaceUse>, Workspace> g_workspaces;

}  // namespace

cublasHandle_t cublas_handle(Stream stream) {
  thread_local ThreadHandles handles;
  const int device = current_device();
  auto it = handles.by_device.find(device);
  if (it == handles.by_device.end()) {
    cublasHandle_t h = nullptr;
    CUBLAS_CHECK(cublasCreate(&h));
    it = handles.by_device.emplace(device, h).first;
  }
  CUBLAS_CHECK(cublasSetStream(it->second, stream));
  return it->second;
}

int cuda_sm_count() {
  static std::mutex m;
  static std::map<int, int> counts;
  const int device = current_device();
  std::lock_guard<std::mutex> lock(m);
  auto it = counts.find(device);
  if (it == counts.end()) {
    int n = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    it = counts.emplace(device, n).first;
  }
  return it->second;
}

void* cuda_workspace(WorkspaceUse use, size_t bytes, Stream stream) {
  const int device = current_device();
  std::lock_guard<std::mutex> lock(g_workspace_mutex);
  Workspace& w = g_workspaces[{device, stream, use}];
  if (w.bytes < bytes) {
    // Grow geometrically so a slowly rising size does not reallocate every call.
    const size_t grown = std::max(bytes, w.bytes + w.bytes / 2);
    if (w.ptr) {
      // Kernels queued on the stream may still read the old buffer.
      CUDA_CHECK(cudaStreamSynchronize(stream));
      CUDA_CHECK(cudaFree(w.ptr));
      w = {};
    }
    CUDA_CHECK(cudaMalloc(&w.ptr, grown));
    w.bytes = grown;
  }
  return w.ptr;
}

}  // namespace relmimic::kernels
