// Helpers of the CUDA-vs-CPU parity tests: device buffers that can be poisoned, the skip macro
// for machines without a GPU, and a comparison that fails on any non-finite element.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "kernels/device.h"
#include "tests/grad_check.h"

namespace relmimic::testing {

#define REQUIRE_CUDA_DEVICE()                                                                    \
  do {                                                                                           \
    if (::relmimic::kernels::cuda_device_count() == 0)                                           \
      GTEST_SKIP() << "no CUDA device here (" << ::relmimic::kernels::cuda_device_description(0) \
                   << "): CUDA-vs-CPU parity runs only on a GPU machine";                        \
  } while (0)

// n elements of T on device 0. Freed on destruction; not copyable.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(long n)
      : n_(n), p_(static_cast<T*>(kernels::cuda_malloc(0, bytes() > 0 ? bytes() : 1))) {}
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(long(v.size())) { upload(v); }
  ~DeviceBuffer() {
    try {
      kernels::cuda_free(p_);
    } catch (...) {  // a failed free must not terminate the test program
    }
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return p_; }
  const T* data() const { return p_; }
  long size() const { return n_; }
  size_t bytes() const { return size_t(n_) * sizeof(T); }

  void upload(const std::vector<T>& v) {
    ASSERT_EQ(long(v.size()), n_) << "upload of the wrong size";
    if (n_ > 0) kernels::cuda_memcpy(p_, v.data(), bytes(), kernels::CopyKind::HostToDevice);
  }
  std::vector<T> download() const {
    std::vector<T> v(static_cast<size_t>(n_));
    if (n_ > 0) kernels::cuda_memcpy(v.data(), p_, bytes(), kernels::CopyKind::DeviceToHost);
    return v;
  }
  // Fills with NaN (floating point) or the byte `pattern` (integers): an element the kernel
  // fails to write shows up in the comparison.
  void poison(uint8_t pattern = 0xA5) {
    if constexpr (std::is_floating_point_v<T>)
      upload(std::vector<T>(size_t(n_), std::numeric_limits<T>::quiet_NaN()));
    else
      upload(std::vector<T>(size_t(n_), T(pattern)));
  }

 private:
  long n_;
  T* p_;
};

// max |got - want| / max(max |got|, max |want|, floor) (rel_error with a floor, so that outputs
// that are exactly zero in the reference compare absolutely), after checking that every element
// is finite: NaN (a poisoned, unwritten element) fails.
template <class A, class B>
::testing::AssertionResult close(const std::vector<A>& got, const std::vector<B>& want, double tol,
                                 double floor = 1e-3) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure()
           << "size " << got.size() << " != reference size " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!std::isfinite(double(got[i])))
      return ::testing::AssertionFailure()
             << "element " << i << " is " << double(got[i]) << " (not written, or not finite)";
  double diff = 0, scale = floor;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::abs(double(got[i]) - double(want[i])));
    scale = std::max({scale, std::abs(double(got[i])), std::abs(double(want[i]))});
  }
  const double e = diff / scale;
  if (e < tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative error " << e << " >= " << tol;
}

template <class To, class From>
std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

}  // namespace relmimic::testing
