// The CUDA MaxPool3D kernels' per-thread work (kernels/pool3d_elem.h), run for every thread on
// the CPU (with or without a GPU) against pool3d_*_cpu: values, argmax and gradients must agree
// bit for bit, ties and NaNs included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/pool3d.h"
#include "kernels/pool3d_elem.h"
#include "tests/gpu/net_shapes.h"

namespace relmimic {
namespace {

using kernels::Pool3dDims;

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

// levels > 0: values from {0, .., levels-1} (many ties); nan_every > 0: every n-th value NaN.
void check_pool(const Pool3dDims& d, int levels, int nan_every, const std::string& name) {
  SCOPED_TRACE(name);
  Rng rng(uint64_t(d.c * 977 + d.h * 31 + d.kc * 7 + levels));
  const long in = d.batch * d.in_size(), out = d.batch * d.out_size();
  std::vector<float> x(static_cast<size_t>(in)), dy(static_cast<size_t>(out));
  for (long i = 0; i < in; ++i)
    x[size_t(i)] = levels > 0 ? float(rng.below(uint64_t(levels))) : float(rng.uniform(-1, 1));
  if (nan_every > 0)
    for (long i = 0; i < in; i += nan_every) x[size_t(i)] = std::nanf("");
  for (auto& v : dy) v = float(rng.uniform(-1, 1));

  std::vector<float> y_ref(static_cast<size_t>(out)), dx_ref(static_cast<size_t>(in));
  std::vector<int32_t> arg_ref(static_cast<size_t>(out));
  kernels::pool3d_forward_cpu(d, x.data(), y_ref.data(), arg_ref.data());
  kernels::pool3d_backward_cpu(d, dy.data(), arg_ref.data(), dx_ref.data());

  const kernels::pool::Geom g(d);
  std::vector<float> y(static_cast<size_t>(out), -7.f), dx(static_cast<size_t>(in), -7.f);
  std::vector<int32_t> arg(static_cast<size_t>(out), -1);
  for (long o = 0; o < out; ++o)
    kernels::pool::forward_at(g, int(o), x.data(), y.data(), arg.data());
  EXPECT_TRUE(same_bits(y, y_ref)) << "forward values";
  EXPECT_EQ(arg, arg_ref) << "argmax";
  for (long i = 0; i < in; ++i)
    kernels::pool::backward_at(g, int(i), dy.data(), arg_ref.data(), dx.data());
  EXPECT_TRUE(same_bits(dx, dx_ref)) << "backward";
}

TEST(CudaPoolIndex, NetworkShapesMatchReferenceBitForBit) {
  for (const auto& p : testing::net_pools()) {
    Pool3dDims d = p.d;
    d.batch = 3;
    check_pool(d, 0, 0, p.name);
    check_pool(d, 3, 0, std::string(p.name) + ", ties");
  }
}

TEST(CudaPoolIndex, PaddingTiesAndNansFollowTheReference) {
  // Padding on every axis (never wins, even over all-negative windows), overlapping windows
  // (a cell chosen by several outputs sums their gradients), strides larger than windows.
  const std::vector<Pool3dDims> shapes = {
      {2, 7, 9, 8, 3, 3, 2, 2, 2, 1, 1, 1, 1},
      {1, 5, 6, 7, 2, 2, 2, 1, 1, 1, 1, 1, 0},
      {2, 9, 5, 5, 2, 1, 1, 3, 2, 3, 0, 0, 0},
      {1, 4, 11, 3, 4, 5, 3, 3, 4, 1, 2, 2, 1},
  };
  for (const auto& d : shapes) {
    const std::string name = "c" + std::to_string(d.c) + " h" + std::to_string(d.h);
    check_pool(d, 0, 0, name);
    check_pool(d, 2, 0, name + ", ties");
    check_pool(d, 0, 5, name + ", NaNs");
    check_pool(d, 3, 4, name + ", ties and NaNs");
  }
}

}  // namespace
}  // namespace relmimic
