// The comparison of the attention, image, loss, reduction and spectral-norm parity tests: a
// max-based relative error with a floor, failing on any non-finite element (a poisoned output
// that a kernel did not write). Device buffers and the skip macro: tests/gpu/cuda_test_util.h.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/grad_check.h"

namespace relmimic::testing {

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
