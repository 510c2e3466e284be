#include <cstdio>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/device.h"

namespace relmimic::kernels {

int cuda_device_count() {
  int n = 0;
  // No driver or no device is a normal answer here, not an error.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

const char* cuda_device_description(int device) {
  static thread_local std::string s;
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    cudaGetLastError();
    s = "no CUDA device " + std::to_string(device);
    return s.c_str();
  }
  int driver = 0;
  cudaDriverGetVersion(&driver);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s, sm_%d%d, %.1f GiB, driver %d.%d", p.name, p.major, p.minor,
                double(p.totalGlobalMem) / double(1u << 30), driver / 1000, (driver % 1000) / 10);
  s = buf;
  return s.c_str();
}

void* cuda_malloc(int device, size_t bytes) {
  CUDA_CHECK(cudaSetDevice(device));
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes));
  CUDA_CHECK(cudaMemset(p, 0, bytes));
  return p;
}

void cuda_free(void* p) {
  if (p) CUDA_CHECK(cudaFree(p));
}

void cuda_memcpy(void* dst, const void* src, size_t bytes, CopyKind kind) {
  const cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                            : cudaMemcpyDeviceToDevice;
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
}

void cuda_memset_zero(void* p, size_t bytes) {
  CUDA_CHECK(cudaMemset(p, 0, bytes));
}

void cuda_synchronize() {
  CUDA_CHECK(cudaDeviceSynchronize());
}

Stream cuda_stream_create(bool non_blocking) {
  cudaStream_t s = nullptr;
  CUDA_CHECK(
      cudaStreamCreateWithFlags(&s, non_blocking ? cudaStreamNonBlocking : cudaStreamDefault));
  return s;
}

void cuda_stream_destroy(Stream s) {
  if (s) CUDA_CHECK(cudaStreamDestroy(s));
}

void cuda_stream_synchronize(Stream s) {
  CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace relmimic::kernels
