// Activations: known values, backward against finite differences of forward, the second-order
// term against finite differences of the first-order one, in-place use and float vs double.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/common.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using kernels::Act;
using testing::numeric_grad;
using testing::random_vector;
using testing::rel_error;

const Act kAll[] = {Act::Identity, Act::ReLU, Act::LeakyReLU, Act::Tanh, Act::Sigmoid};
constexpr double kSlope = 0.1;

// Inputs kept away from ReLU's kink so finite differences never straddle it.
std::vector<double> inputs(long n, Rng& rng) {
  auto x = random_vector<double>(n, rng, 0.1, 2.5);
  for (long i = 0; i < n; i += 2) x[size_t(i)] = -x[size_t(i)];
  return x;
}

TEST(Activation, Names) {
  EXPECT_EQ(std::string(kernels::act_name(Act::Identity)), "identity");
  EXPECT_EQ(std::string(kernels::act_name(Act::ReLU)), "relu");
  EXPECT_EQ(std::string(kernels::act_name(Act::LeakyReLU)), "leaky_relu");
  EXPECT_EQ(std::string(kernels::act_name(Act::Tanh)), "tanh");
  EXPECT_EQ(std::string(kernels::act_name(Act::Sigmoid)), "sigmoid");
}

TEST(Activation, ForwardKnownValues) {
  const std::vector<double> x = {-2.0, 0.0, 3.0};
  std::vector<double> y(3);
  auto f = [&](Act a) {
    kernels::activation_forward_cpu(a, 3, x.data(), y.data(), kSlope);
    return y;
  };
  EXPECT_EQ(f(Act::Identity), x);
  EXPECT_EQ(f(Act::ReLU), (std::vector<double>{0.0, 0.0, 3.0}));
  EXPECT_EQ(f(Act::LeakyReLU), (std::vector<double>{-0.2, 0.0, 3.0}));
  EXPECT_EQ(f(Act::Tanh), (std::vector<double>{std::tanh(-2.0), 0.0, std::tanh(3.0)}));
  const auto s = f(Act::Sigmoid);
  EXPECT_DOUBLE_EQ(s[0], 1 / (1 + std::exp(2.0)));
  EXPECT_DOUBLE_EQ(s[1], 0.5);
  EXPECT_DOUBLE_EQ(s[2], 1 / (1 + std::exp(-3.0)));
  // Saturated sigmoid stays finite in float.
  const std::vector<float> big = {-1000.f, 1000.f};
  std::vector<float> sb(2);
  kernels::activation_forward_cpu(Act::Sigmoid, 2, big.data(), sb.data(), 0.f);
  EXPECT_EQ(sb, (std::vector<float>{0.f, 1.f}));
}

class ActivationEach : public ::testing::TestWithParam<Act> {};

TEST_P(ActivationEach, BackwardMatchesFiniteDifferences) {
  const Act a = GetParam();
  const long n = 12;
  Rng rng(21);
  auto x = inputs(n, rng), r = random_vector<double>(n, rng);
  std::vector<double> y(static_cast<size_t>(n)), dx(static_cast<size_t>(n));
  auto loss = [&] {
    kernels::activation_forward_cpu(a, n, x.data(), y.data(), kSlope);
    double l = 0;
    for (long i = 0; i < n; ++i) l += y[size_t(i)] * r[size_t(i)];
    return l;
  };
  loss();
  kernels::activation_backward_cpu(a, n, x.data(), y.data(), r.data(), dx.data(), kSlope);
  EXPECT_LT(rel_error(dx, numeric_grad(loss, x.data(), n)), 1e-6) << kernels::act_name(a);
}

// h(x) = <dt_y, f'(x) t_x>; its gradient is f''(x) t_x dt_y, which second_order adds to dx.
TEST_P(ActivationEach, SecondOrderMatchesFiniteDifferencesOfFirstOrder) {
  const Act a = GetParam();
  const long n = 12;
  Rng rng(22);
  auto x = inputs(n, rng), t_x = random_vector<double>(n, rng),
       dt_y = random_vector<double>(n, rng);
  std::vector<double> y(static_cast<size_t>(n)), t_y(static_cast<size_t>(n));
  auto h = [&] {
    kernels::activation_forward_cpu(a, n, x.data(), y.data(), kSlope);
    kernels::activation_backward_cpu(a, n, x.data(), y.data(), t_x.data(), t_y.data(), kSlope);
    double l = 0;
    for (long i = 0; i < n; ++i) l += t_y[size_t(i)] * dt_y[size_t(i)];
    return l;
  };
  h();
  const auto base = random_vector<double>(n, rng);
  std::vector<double> dx(base);
  kernels::activation_second_order_cpu(a, n, x.data(), y.data(), t_x.data(), dt_y.data(), dx.data(),
                                       kSlope);
  for (long i = 0; i < n; ++i) dx[size_t(i)] -= base[size_t(i)];  // accumulated
  const auto num = numeric_grad(h, x.data(), n);
  if (a == Act::Tanh || a == Act::Sigmoid) {
    EXPECT_LT(rel_error(dx, num), 1e-6) << kernels::act_name(a);
  } else {
    for (long i = 0; i < n; ++i) {
      EXPECT_EQ(dx[size_t(i)], 0.0);
      EXPECT_NEAR(num[size_t(i)], 0.0, 1e-9);
    }
  }
}

TEST_P(ActivationEach, InPlaceAndFloatAgreeWithDouble) {
  const Act a = GetParam();
  const long n = 1 << 19;  // large enough to run on every thread
  Rng rng(23);
  auto xd = random_vector<double>(n, rng, -4, 4), dyd = random_vector<double>(n, rng);
  std::vector<float> xf(xd.begin(), xd.end()), dyf(dyd.begin(), dyd.end());
  std::vector<double> yd(static_cast<size_t>(n)), dxd(static_cast<size_t>(n));
  kernels::activation_forward_cpu(a, n, xd.data(), yd.data(), kSlope);
  kernels::activation_backward_cpu(a, n, xd.data(), yd.data(), dyd.data(), dxd.data(), kSlope);
  // Float, in place: y over x's copy, dx over dy.
  std::vector<float> yf(xf);
  kernels::activation_forward_cpu(a, n, yf.data(), yf.data(), float(kSlope));
  kernels::activation_backward_cpu(a, n, xf.data(), yf.data(), dyf.data(), dyf.data(),
                                   float(kSlope));
  EXPECT_LT(rel_error(yf, yd), 1e-6) << kernels::act_name(a);
  EXPECT_LT(rel_error(dyf, dxd), 1e-6) << kernels::act_name(a);
}

INSTANTIATE_TEST_SUITE_P(All, ActivationEach, ::testing::ValuesIn(kAll), [](const auto& info) {
  return std::string(kernels::act_name(info.param));
});

TEST(Activation, MissingSavedTensorIsAnError) {
  std::vector<float> buf(4);
  EXPECT_THROW(kernels::activation_backward_cpu<float>(Act::ReLU, 4, nullptr, buf.data(),
                                                       buf.data(), buf.data(), 0.f),
               Error);
  EXPECT_THROW(kernels::activation_backward_cpu<float>(Act::Tanh, 4, buf.data(), nullptr,
                                                       buf.data(), buf.data(), 0.f),
               Error);
}

}  // namespace
}  // namespace relmimic
