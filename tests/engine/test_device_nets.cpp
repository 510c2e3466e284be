// The device side of networks that runs without a GPU: building on a CUDA device where there is
// none fails naming the network, inputs on another device fail naming the layer, and the
// explicit host copies of parameters and optimizer state (the CUDA parity itself:
// tests/gpu/test_cuda_networks.cpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/device_ops.h"
#include "engine/networks.h"
#include "engine/optim.h"
#include "kernels/device.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

// Runs f, expects an Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message lacks '" << p << "': " << e.what();
  }
}

#define SKIP_WITH_GPU()                                                                 \
  do {                                                                                  \
    if (kernels::cuda_device_count() > 0)                                               \
      GTEST_SKIP() << "this machine has a CUDA device: building there is not an error"; \
  } while (0)

TEST(DeviceNets, BuildingOnCudaWithoutADeviceFailsNamingTheNetwork) {
  SKIP_WITH_GPU();
  AgentConfig a;
  a.arch = Arch::local;
  a.max_batch = 1;
  a.device = Device::cuda();
  expect_error([&] { AgentNet<float> net(a); }, {"local network", "cannot build on cuda"});
  a.arch = Arch::mlp;
  a.obs_dim = 4;
  expect_error([&] { AgentNet<double> net(a); }, {"mlp network", "cannot build on cuda"});
  RewardConfig r;
  r.max_batch = 1;
  r.device = Device::cuda(1);
  expect_error([&] { RewardNet<float> net(r); }, {"reward network", "cannot build on cuda:1"});
#ifndef RELMIMIC_WITH_CUDA
  expect_error([&] { ops::check_device(Device::cuda(), "x"); }, {"without the CUDA backend"});
  // An op reached on a CUDA device names itself, like the trainers' ops (RM_CUDA).
  float x1[1] = {1.f}, y1[1] = {0.f};
  expect_error([&] { ops::axpy(Device::cuda(), 1, 1.f, x1, y1); },
               {"axpy on a CUDA device", "without the CUDA backend"});
  expect_error([&] { ops::sum_squares(Device::cuda(), 1, x1); },
               {"sum_squares on a CUDA device", "without the CUDA backend"});
#else
  expect_error([&] { ops::check_device(Device::cuda(), "x"); }, {"no usable CUDA device"});
#endif
  EXPECT_NO_THROW(ops::check_device(Device::cpu(), "x"));

  ParamSet<float> ps;
  ps.add("w", {3});
  expect_error([&] { ps.finalize(Device::cuda()); }, {"parameter set", "cannot build on cuda"});
}

TEST(DeviceNets, InputOnAnotherDeviceFailsNamingTheLayer) {
  // A view labelled cuda (never dereferenced: the device check comes first).
  float never_read[16] = {};
  uint8_t never_read_u8[16] = {};
  AgentConfig a;
  a.arch = Arch::mlp;
  a.obs_dim = 4;
  a.max_batch = 2;
  AgentNet<float> mlp(a);
  const Tensor x = Tensor::view(never_read, {2, 4}, DType::f32, Device::cuda());
  expect_error([&] { mlp.forward(x); },
               {"mlp network", "observation is on cuda:0 but this layer runs on cpu"});

  ParamSet<float> ps, buf;
  Arena arena;
  Build<float> b{ps, buf, arena, 2};
  Rng rng(1);
  Linear<float> fc(b, "probe", {.in = 4, .out = 2}, rng);
  expect_error([&] { fc.forward(x); }, {"linear 'probe'", "input is on cuda"});
  fc.forward(Tensor::view(never_read, {2, 4}, DType::f32));
  expect_error(
      [&] {
        fc.backward(Tensor::view(never_read, {2, 2}, DType::f32, Device::cuda(0)));
      },
      {"linear 'probe'", "backward: dy is on cuda"});

  const Tensor frames = Tensor::view(never_read_u8, {1, 1, 4, 4}, DType::u8, Device::cuda());
  Standardize<float> s(b, 16);
  expect_error([&] { s.forward(frames); }, {"standardize", "input is on cuda"});
}

TEST(DeviceNets, ParameterHostCopiesAndCrossNetworkCopies) {
  AgentConfig a;
  a.arch = Arch::mlp;
  a.obs_dim = 5;
  a.actions = 2;
  a.max_batch = 2;
  a.seed = 1;
  AgentNet<float> n1(a);
  a.seed = 2;
  AgentNet<float> n2(a);
  ParamSet<float>& p1 = n1.parameters();
  ParamSet<float>& p2 = n2.parameters();
  EXPECT_EQ(p1.device(), Device::cpu());
  EXPECT_NE(p1.values_to_host(), p2.values_to_host());
  p2.copy_values_from(p1);
  EXPECT_EQ(p1.values_to_host(), p2.values_to_host());
  EXPECT_EQ(p1.values_tensor().numel(), p1.size());
  EXPECT_EQ(p1.values_tensor().data<float>(), p1.values());

  std::vector<float> g(static_cast<size_t>(p1.size()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = float(i) * 0.5f;
  p1.set_grads_from_host(g.data());
  EXPECT_EQ(p1.grads_to_host(), g);
  EXPECT_EQ(p1.grads()[3], 1.5f);
  g[0] = 7;
  p1.set_values_from_host(g.data());
  EXPECT_EQ(p1.values()[0], 7.0f);

  // A set of another layout is refused, naming the first slot that differs.
  a.mlp_hidden = 8;
  AgentNet<float> other(a);
  expect_error([&] { other.parameters().copy_values_from(p1); }, {"copy_values_from"});
}

TEST(DeviceNets, AdamHostCopiesOnTheCpu) {
  ParamSet<double> ps;
  ps.add("w", {4});
  ps.finalize();
  Adam<double> adam(ps);
  EXPECT_EQ(adam.size(), 4);
  const std::vector<double> m = {1, 2, 3, 4}, v = {5, 6, 7, 8};
  adam.set_moments_from_host(m.data(), v.data());
  EXPECT_EQ(adam.m(), m);
  EXPECT_EQ(adam.v_to_host(), v);
  EXPECT_EQ(adam.m_to_host(), m);
  EXPECT_EQ(adam.device(), Device::cpu());
}

// The dispatch helpers on the cpu are the CPU kernels: add aliasing either operand, add4.
TEST(DeviceNets, CpuDispatchOfTheElementwiseHelpers) {
  const Device cpu = Device::cpu();
  std::vector<float> a = {1, 2, 3}, b = {10, 20, 30}, y(3);
  ops::add(cpu, 3, a.data(), b.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{11, 22, 33}));
  ops::add(cpu, 3, a.data(), b.data(), b.data());
  EXPECT_EQ(b, (std::vector<float>{11, 22, 33}));
  ops::add4(cpu, 3, a.data(), a.data(), b.data(), b.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{24, 48, 72}));
  ops::copy(cpu, 3, a.data(), y.data());
  EXPECT_EQ(y, a);
  EXPECT_DOUBLE_EQ(ops::sum_squares(cpu, 3, a.data()), 14.0);
  EXPECT_TRUE(ops::conv2d_supported<double>(cpu));
  EXPECT_FALSE(ops::conv2d_supported<double>(Device::cuda()));
  EXPECT_TRUE(ops::conv2d_supported<float>(Device::cuda()));
}

}  // namespace
}  // namespace relmimic
