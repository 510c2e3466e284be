// Whole networks on a CUDA device against the same networks on the cpu (same seed, so the same
// initial parameters): forward outputs, input gradients, parameter gradients, spectral-norm
// state, the reward net's gradient penalty with its second-order parameter gradient, Adam,
// gradient clipping and checkpoints of device networks. Skipped, with the reason, without a GPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/networks.h"
#include "engine/optim.h"
#include "kernels/activation.h"
#include "tests/gpu/close_check.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using testing::close;

// Whole-network tolerances (max-based relative error against the cpu): FP32 kernels through a
// dozen layers, and the deterministic-but-differently-ordered reductions of the gradients.
template <class T>
struct Tol {
  static constexpr double out = std::is_same_v<T, float> ? 2e-4 : 1e-11;
  static constexpr double grad = std::is_same_v<T, float> ? 2e-3 : 1e-10;
};

Tensor on(const Tensor& host, Device dev) {
  Tensor t = Tensor::zeros(host.shape(), host.dtype(), dev);
  t.copy_from(host);
  return t;
}

template <class T>
std::vector<T> to_host(const Tensor& t) {
  std::vector<T> h(static_cast<size_t>(t.numel()));
  Tensor::view(h.data(), t.shape(), t.dtype()).copy_from(t);
  return h;
}

Tensor random_frames(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::zeros(s, DType::u8);
  for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
  return t;
}

template <class T>
Tensor random_tensor(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  Rng rng(seed);
  Tensor t = Tensor::zeros(s, dtype_of<T>());
  testing::fill_uniform(t.data<T>(), t.numel(), rng, lo, hi);
  return t;
}

// Same seed, same parameters: construction initialises on the host, finalize copies them over.
template <class T>
void expect_same_values(const ParamSet<T>& cpu, const ParamSet<T>& gpu, const char* what) {
  EXPECT_EQ(gpu.values_to_host(), cpu.values_to_host()) << what;
}

template <class T>
void check_agent(AgentConfig c, const char* label) {
  SCOPED_TRACE(label);
  const int B = 3;
  c.max_batch = B;
  c.seed = 11;
  AgentNet<T> cpu(c);
  c.device = Device::cuda();
  AgentNet<T> gpu(c);
  EXPECT_TRUE(gpu.parameters().device().is_cuda());
  expect_same_values(cpu.parameters(), gpu.parameters(), "initial parameters");

  const Tensor obs = c.arch == Arch::mlp ? random_tensor<T>({B, c.obs_dim}, 3)
                                         : random_frames({B, c.frames, c.height, c.width}, 3);
  const Tensor obs_gpu = on(obs, c.device);
  const std::vector<T> y_cpu = to_host<T>(cpu.forward(obs));
  const std::vector<T> y_gpu = to_host<T>(gpu.forward(obs_gpu));
  EXPECT_TRUE(close(y_gpu, y_cpu, Tol<T>::out)) << "forward";

  const Tensor dout = random_tensor<T>({B, cpu.outputs()}, 5);
  std::vector<T> dls(static_cast<size_t>(cpu.outputs()), T(0.25));
  Tensor dls_gpu = Tensor::zeros({long(dls.size())}, dtype_of<T>(), c.device);
  dls_gpu.copy_from(Tensor::view(dls.data(), {long(dls.size())}, dtype_of<T>()));
  cpu.parameters().zero_grad();
  gpu.parameters().zero_grad();
  cpu.backward(dout, cpu.is_policy() ? dls.data() : nullptr);
  gpu.backward(on(dout, c.device), gpu.is_policy() ? dls_gpu.template data<T>() : nullptr);
  EXPECT_TRUE(
      close(gpu.parameters().grads_to_host(), cpu.parameters().grads_to_host(), Tol<T>::grad))
      << "parameter gradients";
  // The input must be on the network's device.
  EXPECT_THROW(gpu.forward(obs), Error);
}

TEST(CudaNetworks, AgentNetworksMatchCpu) {
  RM_REQUIRE_GPU();
  for (Arch a : {Arch::nature, Arch::impala, Arch::local, Arch::nonlocal}) {
    AgentConfig c;
    c.arch = a;
    check_agent<float>(c, (std::string(arch_name(a)) + " value").c_str());
    c.actions = 3;
    check_agent<float>(c, (std::string(arch_name(a)) + " policy").c_str());
  }
}

TEST(CudaNetworks, MlpMatchesCpuInFloatAndDouble) {
  RM_REQUIRE_GPU();
  AgentConfig c;
  c.arch = Arch::mlp;
  c.obs_dim = 11;
  c.actions = 3;
  check_agent<float>(c, "mlp float");
  check_agent<double>(c, "mlp double");
}

TEST(CudaNetworks, DoubleConvNetworksFailNamingTheLayer) {
  RM_REQUIRE_GPU();
  AgentConfig c;
  c.arch = Arch::nature;
  c.max_batch = 1;
  c.device = Device::cuda();
  try {
    AgentNet<double> net(c);
    FAIL() << "a double conv network was built on CUDA";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nature.conv1"), std::string::npos) << e.what();
  }
}

void check_reward(bool relational, PenaltyOn penalty_on) {
  SCOPED_TRACE(std::string(relational ? "relational" : "baseline") + ", penalty on " +
               penalty_on_name(penalty_on));
  const int B = 3;
  RewardConfig c;
  c.relational = relational;
  c.penalty_on = penalty_on;
  c.max_batch = B;
  c.seed = 21;
  RewardNet<float> cpu(c);
  c.device = Device::cuda();
  RewardNet<float> gpu(c);
  expect_same_values(cpu.parameters(), gpu.parameters(), "initial parameters");
  expect_same_values(cpu.buffers(), gpu.buffers(), "initial spectral-norm u");

  const Tensor frames = random_frames({B, c.frames, c.height, c.width}, 7);
  const Tensor dlogit = random_tensor<float>({B, 1}, 8);
  cpu.parameters().zero_grad();
  gpu.parameters().zero_grad();
  EXPECT_TRUE(close(to_host<float>(gpu.forward(on(frames, c.device))),
                    to_host<float>(cpu.forward(frames)), Tol<float>::out))
      << "logits";
  EXPECT_TRUE(close(gpu.buffers().values_to_host(), cpu.buffers().values_to_host(), 1e-5))
      << "spectral-norm u after one power iteration";
  EXPECT_TRUE(close(to_host<float>(gpu.backward(on(dlogit, c.device))),
                    to_host<float>(cpu.backward(dlogit)), Tol<float>::grad))
      << "input gradient";
  EXPECT_TRUE(
      close(gpu.parameters().grads_to_host(), cpu.parameters().grads_to_host(), Tol<float>::grad))
      << "parameter gradients";

  // Gradient penalty and its exact parameter gradient (jvp + backward_jvp).
  const Tensor x_hat = random_tensor<float>({B, c.frames, c.height, c.width}, 9, 0, 1);
  cpu.parameters().zero_grad();
  gpu.parameters().zero_grad();
  const double p_cpu = cpu.gradient_penalty(x_hat, 10.0, true);
  const double p_gpu = gpu.gradient_penalty(on(x_hat, c.device), 10.0, true);
  EXPECT_NEAR(p_gpu, p_cpu, 1e-3 * std::max(1.0, std::abs(p_cpu))) << "penalty";
  EXPECT_TRUE(close(gpu.parameters().grads_to_host(), cpu.parameters().grads_to_host(), 5e-3))
      << "penalty parameter gradient";
}

TEST(CudaNetworks, RewardNetsMatchCpuIncludingTheGradientPenalty) {
  RM_REQUIRE_GPU();
  // The penalty's device path is the same for both targets (only its per-sample host factors
  // differ): each network type takes one.
  check_reward(true, PenaltyOn::logit);
  check_reward(false, PenaltyOn::prob);
}

TEST(CudaNetworks, AdamAndClippingMatchCpu) {
  RM_REQUIRE_GPU();
  for (bool dbl : {false, true}) {
    SCOPED_TRACE(dbl ? "double" : "float");
    auto run = [&](auto tag) {
      using T = decltype(tag);
      AgentConfig c;
      c.arch = Arch::mlp;
      c.obs_dim = 7;
      c.actions = 2;
      c.seed = 4;
      AgentNet<T> cpu(c);
      c.device = Device::cuda();
      AgentNet<T> gpu(c);
      Rng rng(12);
      const auto g = testing::random_vector<T>(cpu.parameters().size(), rng);
      cpu.parameters().set_grads_from_host(g.data());
      gpu.parameters().set_grads_from_host(g.data());
      const double n_cpu = clip_grad_norm(cpu.parameters(), 0.5);
      const double n_gpu = clip_grad_norm(gpu.parameters(), 0.5);
      EXPECT_NEAR(n_gpu, n_cpu, 1e-6 * n_cpu) << "gradient norm";
      EXPECT_TRUE(close(gpu.parameters().grads_to_host(), cpu.parameters().grads_to_host(), 1e-6))
          << "clipped gradients";
      Adam<T> a_cpu(cpu.parameters(), {.lr = 1e-2});
      Adam<T> a_gpu(gpu.parameters(), {.lr = 1e-2});
      a_cpu.step();
      a_gpu.step();
      EXPECT_TRUE(close(gpu.parameters().values_to_host(), cpu.parameters().values_to_host(), 1e-6))
          << "parameters after one Adam step";
      EXPECT_TRUE(close(a_gpu.m_to_host(), a_cpu.m(), 1e-6)) << "first moment";
      EXPECT_TRUE(close(a_gpu.v_to_host(), a_cpu.v(), 1e-6)) << "second moment";
      EXPECT_THROW(a_gpu.m(), Error);  // host access to device moments is explicit
    };
    if (dbl)
      run(double{});
    else
      run(float{});
  }
}

// The second-order term of Activation::backward_jvp on the device (the reward net's LeakyReLU
// takes the no-op branch; Tanh and Sigmoid run the kernel). The kernel exists only in builds
// with the CUDA backend.
#ifdef RELMIMIC_WITH_CUDA
TEST(CudaNetworks, ActivationSecondOrderMatchesCpu) {
  RM_REQUIRE_GPU();
  const long n = 1000;
  Rng rng(3);
  const auto x = testing::random_vector<float>(n, rng, -3, 3);
  const auto t = testing::random_vector<float>(n, rng);
  const auto d = testing::random_vector<float>(n, rng);
  for (kernels::Act a : {kernels::Act::Tanh, kernels::Act::Sigmoid, kernels::Act::LeakyReLU}) {
    SCOPED_TRACE(kernels::act_name(a));
    std::vector<float> y(static_cast<size_t>(n)), dx = d;
    kernels::activation_forward_cpu(a, n, x.data(), y.data(), 0.1f);
    testing::DeviceBuffer<float> xg(x), yg(y), tg(t), dg(d), dxg(d);
    kernels::activation_second_order_cpu(a, n, x.data(), y.data(), t.data(), d.data(), dx.data(),
                                         0.1f);
    kernels::activation_second_order_cuda(a, n, xg.get(), yg.get(), tg.get(), dg.get(), dxg.get(),
                                          0.1f);
    EXPECT_TRUE(close(dxg.download(), dx, 1e-6));
  }
}
#else
TEST(CudaNetworks, ActivationSecondOrderMatchesCpu) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

// A first-order relational block on the fused CUDA path keeps no [B, N, N] matrix in its arena
// (800 MB at B = 1024, N = 441); attention() still gives A, made from the log-sum-exp, equal to
// the cpu block's.
TEST(CudaNetworks, FusedFirstOrderBlockKeepsNoAttentionMatrix) {
  RM_REQUIRE_GPU();
  const int mb = 4, C = 16, H = 21, W = 21, N = H * W;
  const RelationalBlock<float>::Options o{C, H, W, 2};
  auto arena_bytes = [&](Device dev, bool second_order) {
    ParamSet<float> ps, bufs;
    Arena arena(dev);
    Build<float> b{ps, bufs, arena, mb, second_order};
    Rng rng(3);
    RelationalBlock<float> rb(b, "rel", o, rng);
    if (dev.is_cuda()) EXPECT_EQ(rb.attention_path(), kernels::AttentionPath::Fused);
    return arena.used_bytes();
  };
  // The cpu block holds A; the fused one holds the log-sum-exp [B, N] instead (plus alignment).
  const Device gpu = Device::cuda(0);
  const size_t matrix = size_t(mb) * N * N * sizeof(float), lse = size_t(mb) * N * sizeof(float);
  EXPECT_LE(arena_bytes(gpu, false) + matrix, arena_bytes(Device::cpu(), false) + lse + 4096);

  ParamSet<float> ps_c, bufs_c, ps_g, bufs_g;
  Arena arena_c(Device::cpu()), arena_g(gpu);
  Build<float> bc{ps_c, bufs_c, arena_c, mb, false}, bg{ps_g, bufs_g, arena_g, mb, false};
  Rng rc(5), rg(5);
  RelationalBlock<float> cpu(bc, "rel", o, rc), dev(bg, "rel", o, rg);
  // The same seed gave the same host values; finalize moves them to each device.
  ps_c.finalize(Device::cpu()), bufs_c.finalize(Device::cpu());
  ps_g.finalize(gpu), bufs_g.finalize(gpu);
  const Tensor x = random_tensor<float>({3, C, H, W}, 9);
  cpu.forward(x);
  dev.forward(on(x, gpu));
  EXPECT_TRUE(close(to_host<float>(dev.attention()), to_host<float>(cpu.attention()), 1e-5));
}

TEST(CudaNetworks, CheckpointsOfDeviceNetworksLoadOnEitherDevice) {
  RM_REQUIRE_GPU();
  RewardConfig c;
  c.max_batch = 1;
  c.seed = 5;
  c.device = Device::cuda();
  RewardNet<float> gpu(c);
  Adam<float> adam(gpu.parameters());
  Rng rng(2);
  const auto g = testing::random_vector<float>(gpu.parameters().size(), rng);
  gpu.parameters().set_grads_from_host(g.data());
  adam.step();
  const std::string path = "/tmp/relmimic_cuda_net_" + std::to_string(getpid()) + ".h5";
  {
    CheckpointWriter w(path);
    w.add_params("disc", gpu.parameters(), &gpu.buffers());
    w.add_adam("disc", adam);
    w.commit();
  }
  RewardConfig cc = c;
  cc.device = Device::cpu();
  cc.seed = 99;  // different initial values, overwritten by the load
  RewardNet<float> cpu(cc);
  Adam<float> adam_cpu(cpu.parameters());
  CheckpointReader r(path);
  r.load_params("disc", cpu.parameters(), &cpu.buffers());
  r.load_adam("disc", adam_cpu);
  EXPECT_EQ(cpu.parameters().values_to_host(), gpu.parameters().values_to_host());
  EXPECT_EQ(cpu.buffers().values_to_host(), gpu.buffers().values_to_host());
  EXPECT_EQ(adam_cpu.m(), adam.m_to_host());
  EXPECT_EQ(adam_cpu.steps(), 1);

  c.seed = 77;
  RewardNet<float> gpu2(c);
  Adam<float> adam2(gpu2.parameters());
  r.load_params("disc", gpu2.parameters(), &gpu2.buffers());
  r.load_adam("disc", adam2);
  EXPECT_EQ(gpu2.parameters().values_to_host(), gpu.parameters().values_to_host());
  EXPECT_EQ(adam2.v_to_host(), adam.v_to_host());
  std::remove(path.c_str());

  // Parameters follow between devices without a file, too.
  RewardNet<float> cpu2(cc);
  cpu2.parameters().copy_values_from(gpu.parameters());
  EXPECT_EQ(cpu2.parameters().values_to_host(), gpu.parameters().values_to_host());
}

}  // namespace
}  // namespace relmimic
