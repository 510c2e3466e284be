// Helpers of the CUDA parity tests: device buffers, NaN poisoning, error measures and the
// tolerance per precision.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "kernels/cuda_types.h"
#include "kernels/device.h"
#include "tests/grad_check.h"

namespace relmimic::testing {

// Skips the test, saying why, on a machine without a CUDA device.
#define RM_REQUIRE_GPU()                                                                         \
  do {                                                                                           \
    if (::relmimic::kernels::cuda_device_count() == 0)                                           \
      GTEST_SKIP() << "no CUDA device here (" << ::relmimic::kernels::cuda_device_description(0) \
                   << "): CUDA-vs-CPU parity runs only on a GPU machine";                        \
  } while (0)

// RELMIMIC_GPU_TEST_QUICK=1 (tools/gpu_validate sets it under compute-sanitizer, which runs
// kernels 10-100x slower): batch 1 and every third network shape.
inline bool quick_mode() {
  const char* q = std::getenv("RELMIMIC_GPU_TEST_QUICK");
  return q && *q && *q != '0';
}

// An owning device buffer of n elements (device 0).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(long n) : n_(n) {
    p_ = static_cast<T*>(kernels::cuda_malloc(0, sizeof(T) * size_t(n > 0 ? n : 1)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(long(host.size())) {
    upload(host);
  }
  ~DeviceBuffer() { kernels::cuda_free(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return p_; }
  long size() const { return n_; }
  void upload(const std::vector<T>& host) {
    EXPECT_EQ(long(host.size()), n_);
    kernels::cuda_memcpy(p_, host.data(), sizeof(T) * host.size(), kernels::CopyKind::HostToDevice);
  }
  std::vector<T> download() const {
    std::vector<T> host(static_cast<size_t>(n_));
    kernels::cuda_memcpy(host.data(), p_, sizeof(T) * host.size(), kernels::CopyKind::DeviceToHost);
    return host;
  }
  // Fills with NaN (float types) or -1: an element the kernel fails to write stays visible.
  void poison() {
    T v;
    if constexpr (std::numeric_limits<T>::has_quiet_NaN)
      v = std::numeric_limits<T>::quiet_NaN();
    else
      v = T(-1);
    upload(std::vector<T>(static_cast<size_t>(n_), v));
  }

 private:
  T* p_ = nullptr;
  long n_ = 0;
};

// ||a - b||_2 / ||b||_2; NaN anywhere gives infinity.
template <class A, class B>
double norm_rel_error(const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 1e-300;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    if (std::isnan(d)) return INFINITY;
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / den);
}

// Max-based error (rel_error) with NaN counted as a failure.
template <class A, class B>
double max_rel_error(const std::vector<A>& a, const std::vector<B>& b) {
  for (const auto& v : a)
    if (std::isnan(double(v))) return INFINITY;
  return rel_error(a, b);
}

// Tolerances against a double reference: FP32 arithmetic lands near 1e-6; TF32 rounds both
// operands to 10 mantissa bits (~3e-4 in the 2-norm, ~1e-3 on the largest elements).
struct Tolerance {
  double max_rel, norm_rel;
};
inline Tolerance tolerance(kernels::CudaMath m) {
  return m == kernels::CudaMath::TF32 ? Tolerance{1e-2, 3e-3} : Tolerance{1e-5, 1e-5};
}

// Expects `got` (device result) to match `ref` within tolerance t (default: that of `math`).
template <class A, class B>
void expect_close(const std::vector<A>& got, const std::vector<B>& ref, kernels::CudaMath math,
                  const char* what, Tolerance t = {0, 0}) {
  if (t.max_rel == 0) t = tolerance(math);
  EXPECT_LT(max_rel_error(got, ref), t.max_rel) << what << " (" << cuda_math_name(math) << ")";
  EXPECT_LT(norm_rel_error(got, ref), t.norm_rel) << what << " (" << cuda_math_name(math) << ")";
}

template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace relmimic::testing
