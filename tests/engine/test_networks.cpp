// The paper's networks: parameter and FLOP counts (SPEC.md Table 2), float vs double agreement,
// network backward vs finite differences on a sample of parameters, and input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/networks.h"
#include "kernels/conv2d.h"
#include "tests/cpu_conv_backends.h"
#include "tests/engine/layer_check.h"

namespace relmimic {
namespace {

using testing::rel_error;

AgentConfig value_cfg(Arch a, int max_batch = 1) {
  AgentConfig c;
  c.arch = a;
  c.max_batch = max_batch;
  return c;
}

Tensor random_frames(const Shape& s, Rng& rng) {
  Tensor t = Tensor::zeros(s, DType::u8);
  for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
  return t;
}

// Table 2's counts in value-network form (torso + 1-unit head).
TEST(Networks, ParameterCountsMatchThePaper) {
  struct Want {
    Arch arch;
    long params;
  };
  for (const Want& w :
       {Want{Arch::local, 457505}, Want{Arch::nonlocal, 457655}, Want{Arch::impala, 500177},
        // 32*4*64+32 + 64*32*16+64 + 64*64*9+64 + 3136*512+512 + LN 1024 + 513
        Want{Arch::nature, 1685665}}) {
    AgentNet<float> net(value_cfg(w.arch));
    EXPECT_EQ(net.params(), w.params) << arch_name(w.arch);
    EXPECT_EQ(net.parameters().size(), w.params) << arch_name(w.arch);
  }
}

TEST(Networks, FlopCounts) {
  // Local: conv 10,812,192 + standardize 28,224 + ResBlocks 2 x 754,992 + 2 x 194,040 +
  // FC 903,296 + head 257 + ReLUs 56,576 + LN 1,024 (hand count, 2 MAC + bias + adds; the ReLUs
  // of rows 2 and 6 run after their pools, on 16x21x21 and 8x21x21).
  AgentNet<float> local(value_cfg(Arch::local));
  EXPECT_EQ(local.flops(), 13699633);
  EXPECT_EQ(local.attention_flops(), 0);
  AgentNet<float> nonlocal(value_cfg(Arch::nonlocal));
  EXPECT_EQ(nonlocal.flops() - local.flops(), 129654);  // the relational block's 1x1 convs + add
  EXPECT_EQ(nonlocal.attention_flops(), 4L * 441 * 441 * 2 + 3L * 441 * 441);
  AgentNet<float> impala(value_cfg(Arch::impala));
  EXPECT_NEAR(double(impala.flops()), 84.5e6, 0.015 * 84.5e6);  // SPEC: ~84.5 MFLOPs
  EXPECT_EQ(local.conv_layers(), 13);
  EXPECT_EQ(nonlocal.conv_layers(), 17);
  EXPECT_EQ(impala.conv_layers(), 15);
}

TEST(Networks, RewardNetCounts) {
  RewardConfig c;
  c.max_batch = 1;
  RewardNet<float> rm(c);
  // 2080 + 32832 + 36928 + 2136 + 131200 + 8368 + 262272 + 3201
  EXPECT_EQ(rm.params(), 479017);
  EXPECT_EQ(rm.parameters().size(), 479017);
  EXPECT_EQ(rm.conv_layers(), 13);
  EXPECT_EQ(rm.buffers().count(), 5 + 8 + 1);  // one u per spectrally normalised weight
  c.relational = false;
  RewardNet<float> base(c);
  EXPECT_EQ(base.params(), 479017 - 2136 - 8368);
  EXPECT_EQ(base.attention_flops(), 0);
  EXPECT_GT(rm.attention_flops(), 0);
  EXPECT_EQ(rm.flops() - base.flops(),
            (3 * (2 * 8 * 64 + 8) + 2 * 64 * 8 + 64 + 64) * 441L +
                (3 * (2 * 16 * 128 + 16) + 2 * 128 * 16 + 128 + 128) * 100L);
}

TEST(Networks, PolicyHeadShapesAndInit) {
  AgentConfig c = value_cfg(Arch::local, 2);
  c.actions = 3;
  AgentNet<float> pi(c);
  EXPECT_EQ(pi.params(), 457505 - 129 + 128 * 3 + 3 + 3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(pi.log_std()[i], std::log(0.6), 1e-7);
  Rng rng(41);
  Tensor obs = random_frames({2, 4, 84, 84}, rng);
  Tensor mean = pi.forward(obs);
  EXPECT_EQ(mean.shape(), Shape({2, 3}));
  // Gain 0.01 on the mean head: initial means are small.
  for (long i = 0; i < mean.numel(); ++i) EXPECT_LT(std::abs(mean.data<float>()[i]), 0.1f);
}

TEST(Networks, FloatAndDoubleAgree) {
  Rng rng(42);
  Tensor obs = random_frames({2, 4, 84, 84}, rng);
  for (Arch a : {Arch::nature, Arch::impala, Arch::local, Arch::nonlocal}) {
    AgentConfig c = value_cfg(a, 2);
    c.actions = 2;
    c.seed = 5;
    AgentNet<float> f(c);
    AgentNet<double> d(c);
    // Give the mean head a real scale so the comparison is not dominated by its 0.01 gain.
    for (int s = 0; s < f.parameters().count(); ++s)
      if (f.parameters().entry(s).name == "policy.mean.weight")
        for (long i = 0; i < f.parameters().entry(s).size; ++i) {
          f.parameters().value(s)[i] *= 100;
          d.parameters().value(s)[i] *= 100;
        }
    const Tensor yf = f.forward(obs), yd = d.forward(obs);
    EXPECT_LE(rel_error(yf.data<float>(), yd.data<double>(), yf.numel()), 1e-4) << arch_name(a);
  }
  RewardConfig rc;
  rc.max_batch = 2;
  rc.seed = 6;
  RewardNet<float> rf(rc);
  RewardNet<double> rd(rc);
  const Tensor lf = rf.forward(obs), ld = rd.forward(obs);
  EXPECT_LE(rel_error(lf.data<float>(), ld.data<double>(), 2), 1e-4);
}

// RewardConfig::cpu_blocked: the float reward net on the CPU with oneDNN passes conv1 -> conv2 ->
// conv3 (and, in the baseline, conv3 -> conv4 -> conv5) in the blocked layout, and gives the same
// bits as with every activation NCHW: logits, the input gradient, parameter gradients, and the
// gradient penalty with its exact parameter gradient, at a batch below max_batch.
TEST(Networks, RewardNetBlockedLayoutGivesTheSameBits) {
  if (!kernels::cpu_conv_onednn_built())
    GTEST_SKIP() << "built without oneDNN: every activation is NCHW";
  testing::CpuConvScope scope;
  kernels::set_cpu_conv(kernels::CpuConv::OneDnn);
  if (kernels::cpu_conv_block() == 0)
    GTEST_SKIP() << "oneDNN uses no channel-blocked activation layout on this CPU";
  Rng rng(8);
  const Tensor frames = random_frames({3, 4, 48, 48}, rng);
  for (const bool relational : {false, true}) {
    SCOPED_TRACE(relational ? "relational" : "baseline");
    RewardConfig c;
    c.height = c.width = 48;
    c.relational = relational;
    c.max_batch = 5;
    c.seed = 4;
    c.penalty_on = PenaltyOn::prob;
    c.cpu_blocked = true;
    RewardNet<float> blocked(c);
    c.cpu_blocked = false;
    RewardNet<float> plain(c);
    EXPECT_EQ(blocked.blocked_links(), relational ? 2 : 4);
    EXPECT_EQ(plain.blocked_links(), 0);
    auto grads = [](RewardNet<float>& n) {
      const float* v = n.parameters().grads();
      return std::vector<float>(v, v + n.parameters().size());
    };
    auto run = [&](RewardNet<float>& n, std::vector<float>& out) {
      n.parameters().zero_grad();
      const Tensor logit = n.forward(frames);
      out.assign(logit.data<float>(), logit.data<float>() + logit.numel());
      Tensor dl = Tensor::zeros({3, 1}, DType::f32);
      for (int b = 0; b < 3; ++b) dl.data<float>()[b] = 0.5f - float(b);
      const Tensor dx = n.backward(dl);
      out.insert(out.end(), dx.data<float>(), dx.data<float>() + dx.numel());
      const auto g = grads(n);
      out.insert(out.end(), g.begin(), g.end());
      n.parameters().zero_grad();
      Tensor x_hat = Tensor::zeros({3, 4, 48, 48}, DType::f32);
      for (long i = 0; i < x_hat.numel(); ++i) x_hat.data<float>()[i] = float(i % 97) / 97.0f;
      out.push_back(float(n.gradient_penalty(x_hat, 10.0, true, nullptr)));
      const auto gp = grads(n);
      out.insert(out.end(), gp.begin(), gp.end());
    };
    std::vector<float> a, b;
    run(blocked, a);
    run(plain, b);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(a, b);
  }
}

TEST(Networks, SameSeedSameParameters) {
  AgentConfig c = value_cfg(Arch::nonlocal);
  c.seed = 9;
  AgentNet<float> a(c), b(c);
  c.seed = 10;
  AgentNet<float> other(c);
  const long n = a.parameters().size();
  EXPECT_TRUE(
      std::equal(a.parameters().values(), a.parameters().values() + n, b.parameters().values()));
  EXPECT_FALSE(std::equal(a.parameters().values(), a.parameters().values() + n,
                          other.parameters().values()));
}

// Backward of <r, out> (+ <q, log_std>) vs central differences on the first, middle and last
// entry of every parameter slot. Biases are randomised first: with zero biases a channel that
// ReLU zeroed everywhere gives exact zeros downstream, i.e. a kink at the test point.
void check_network_gradient(AgentNet<double>& net, const Tensor& obs, Rng& rng) {
  testing::SerialScope serial;
  for (const auto& e : net.parameters().entries())
    if (e.name.ends_with(".bias"))
      testing::fill_uniform(net.parameters().values() + e.offset, e.size, rng, -0.1, 0.1);
  const Tensor out0 = net.forward(obs);
  const std::vector<double> r = testing::random_vector<double>(out0.numel(), rng);
  const std::vector<double> q = testing::random_vector<double>(net.outputs(), rng);
  ParamSet<double>& ps = net.parameters();
  ps.zero_grad();
  net.backward(testing::from_vector(r, out0.shape()), net.is_policy() ? q.data() : nullptr);
  auto loss = [&] {
    double l = testing::dot(net.forward(obs), r);
    if (net.is_policy())
      for (int i = 0; i < net.outputs(); ++i) l += q[size_t(i)] * net.log_std()[i];
    return l;
  };
  std::vector<double> analytic, numeric;
  for (const auto& e : ps.entries())
    for (long i : {e.offset, e.offset + e.size / 2, e.offset + e.size - 1}) {
      analytic.push_back(ps.grads()[i]);
      numeric.push_back(testing::numeric_grad(loss, ps.values() + i, 1)[0]);
    }
  EXPECT_LE(rel_error(analytic, numeric), testing::kFdTol) << arch_name(net.config().arch);
}

TEST(Networks, BackwardMatchesFiniteDifferences) {
  Rng rng(43);
  for (Arch a : {Arch::nature, Arch::impala, Arch::local, Arch::nonlocal}) {
    AgentConfig c = value_cfg(a, 2);
    c.height = c.width = 36;
    c.frames = 2;
    c.actions = a == Arch::nonlocal ? 2 : 0;
    AgentNet<double> net(c);
    Tensor obs = random_frames({2, 2, 36, 36}, rng);
    check_network_gradient(net, obs, rng);
  }
  AgentConfig m;
  m.arch = Arch::mlp;
  m.obs_dim = 5;
  m.actions = 2;
  m.max_batch = 3;
  AgentNet<double> mlp(m);
  Tensor obs = testing::random_tensor({3, 5}, rng);
  check_network_gradient(mlp, obs, rng);
}

template <class F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Networks, BadInputsGiveClearErrors) {
  AgentNet<float> net(value_cfg(Arch::local, 2));
  expect_error(
      [&] {
        net.forward(Tensor::zeros({2, 4, 84, 84}, DType::f32));
      },
      "local network: observation has dtype float32, expected uint8");
  expect_error(
      [&] {
        net.forward(Tensor::zeros({2, 3, 84, 84}, DType::u8));
      },
      "expected shape [B, 4, 84, 84]");
  expect_error(
      [&] {
        net.forward(Tensor::zeros({3, 4, 84, 84}, DType::u8));
      },
      "exceeds max_batch 2");
  expect_error([&] { net.backward(Tensor::zeros({2, 1}, DType::f32)); }, "before forward");
  expect_error([] { parse_arch("resnet"); }, "unknown network 'resnet'");
  AgentConfig m;
  m.arch = Arch::mlp;
  expect_error([&] { AgentNet<float> bad(m); }, "obs_dim must be positive");
  RewardConfig rc;
  rc.max_batch = 1;
  RewardNet<float> rm(rc);
  expect_error(
      [&] {
        rm.forward(Tensor::zeros({1, 4, 84, 83}, DType::u8));
      },
      "reward network: frames expected shape");
}

}  // namespace
}  // namespace relmimic
