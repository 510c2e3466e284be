// The training loops on a CUDA device against the cpu with the same seeds: the row gathers and
// interpolates, the PPO minibatch objectives and the discriminator's loss and reward on whole
// networks, and a few iterations of `rl` (PpoTrainer) and `imitate` (ImitationTrainer). The
// random streams are shared (noise and positions are drawn on the host), so the device runs
// follow the cpu runs up to float rounding. Every test skips without a GPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "algos/imitate.h"
#include "algos/ppo.h"
#include "engine/device_ops.h"
#include "kernels/gather.h"
#include "tests/algos/imitate_test_util.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;
using testing::DeviceBuffer;
using testing::norm_rel_error;

#ifdef RELMIMIC_WITH_CUDA

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = uint8_t(rng.below(256));
  return v;
}

std::vector<float> random_floats(size_t n, uint64_t seed, double lo, double hi) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = float(rng.uniform(lo, hi));
  return v;
}

// |a - b| <= tol * max(1, |b|).
void expect_close(double a, double b, double tol, const char* what) {
  EXPECT_TRUE(std::isfinite(a)) << what;
  EXPECT_LE(std::fabs(a - b), tol * std::max(1.0, std::fabs(b)))
      << what << ": " << a << " vs " << b;
}

TEST(CudaGather, RowsAndInterpolatesMatchCpu) {
  RM_REQUIRE_GPU();
  // Row sizes that take the 16-byte, 4-byte and byte paths.
  for (long row : {64L, 12L, 7L}) {
    const long rows = 9, src_rows = 20;
    const std::vector<uint8_t> src = random_bytes(size_t(src_rows * row), 3);
    const std::vector<int32_t> idx = {19, 0, 4, 4, 7, 12, 1, 19, 3};
    std::vector<uint8_t> want(size_t(rows * row));
    kernels::gather_rows_cpu(rows, row, idx.data(), src.data(), want.data());
    DeviceBuffer<uint8_t> d_src(src), d_dst(rows * row);
    DeviceBuffer<int32_t> d_idx(idx);
    d_dst.poison();
    kernels::gather_rows_cuda(rows, row, d_idx.get(), d_src.get(), d_dst.get());
    EXPECT_EQ(d_dst.download(), want) << "row bytes " << row;
  }
  const int B = 5;
  const long per = 2 * 9 * 9;
  const std::vector<uint8_t> a = random_bytes(size_t(B * per), 4), e = random_bytes(a.size(), 5);
  const std::vector<float> eps = {0.f, 1.f, 0.25f, 0.5f, 0.9f};
  std::vector<float> want(a.size());
  kernels::interpolate_frames_cpu(B, per, eps.data(), a.data(), e.data(), want.data());
  DeviceBuffer<uint8_t> d_a(a), d_e(e);
  DeviceBuffer<float> d_eps(eps), d_x(long(a.size()));
  d_x.poison();
  kernels::interpolate_frames_cuda(B, per, d_eps.get(), d_a.get(), d_e.get(), d_x.get());
  EXPECT_LT(norm_rel_error(d_x.download(), want), 1e-7);
}

AgentConfig small_agent(Arch arch, int actions, Device dev) {
  AgentConfig c;
  c.arch = arch;
  c.frames = 2;
  c.height = c.width = 32;
  c.actions = actions;
  c.max_batch = 8;
  c.seed = 17;
  c.device = dev;
  return c;
}

Tensor upload(const std::vector<uint8_t>& host, const Shape& shape, Device dev) {
  Tensor t = Tensor::zeros(shape, DType::u8, dev);
  ops::copy_from_host(dev, t.raw(), host.data(), host.size());
  return t;
}

TEST(CudaTraining, PpoObjectivesMatchCpuOnImageNetworks) {
  RM_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const int B = 8, A = 3;
  const std::vector<uint8_t> obs = random_bytes(size_t(B) * 2 * 32 * 32, 7);
  const std::vector<float> act = random_floats(size_t(B) * A, 8, -1, 1);
  const std::vector<float> logp_old = random_floats(size_t(B), 9, -4, -2);
  const std::vector<float> adv = random_floats(size_t(B), 10, -1, 1);
  const std::vector<float> ret = random_floats(size_t(B), 11, -1, 1);
  const std::vector<float> v_old = random_floats(size_t(B), 12, -0.1, 0.1);
  for (Arch arch : {Arch::local, Arch::nonlocal}) {
    SCOPED_TRACE(arch_name(arch));
    AgentNet<float> pi_c(small_agent(arch, A, Device::cpu())), pi_g(small_agent(arch, A, gpu));
    AgentNet<float> vf_c(small_agent(arch, 0, Device::cpu())), vf_g(small_agent(arch, 0, gpu));
    const Tensor ob_c = Tensor::view(const_cast<uint8_t*>(obs.data()), {B, 2, 32, 32}, DType::u8);
    const Tensor ob_g = upload(obs, {B, 2, 32, 32}, gpu);
    DeviceBuffer<float> d_act(act), d_logp(logp_old), d_adv(adv), d_ret(ret), d_v(v_old);
    algos::LossScratch<float> sc, sg;

    pi_c.parameters().zero_grad();
    pi_g.parameters().zero_grad();
    const algos::PolicyObjective pc = algos::policy_objective(
        pi_c, ob_c, act.data(), logp_old.data(), adv.data(), 0.2, 0.01, true, sc);
    const algos::PolicyObjective pg = algos::policy_objective(pi_g, ob_g, d_act.get(), d_logp.get(),
                                                              d_adv.get(), 0.2, 0.01, true, sg);
    expect_close(pg.loss, pc.loss, 1e-4, "policy loss");
    expect_close(pg.entropy, pc.entropy, 1e-6, "entropy");
    expect_close(pg.stats.approx_kl, pc.stats.approx_kl, 1e-4, "approx kl");
    EXPECT_LT(norm_rel_error(pi_g.parameters().grads_to_host(), pi_c.parameters().grads_to_host()),
              1e-3);

    vf_c.parameters().zero_grad();
    vf_g.parameters().zero_grad();
    const kernels::ValueLossStats vc =
        algos::value_objective(vf_c, ob_c, ret.data(), v_old.data(), 0.2, 0.5, true, sc);
    const kernels::ValueLossStats vg =
        algos::value_objective(vf_g, ob_g, d_ret.get(), d_v.get(), 0.2, 0.5, true, sg);
    expect_close(vg.loss, vc.loss, 1e-4, "value loss");
    EXPECT_LT(norm_rel_error(vf_g.parameters().grads_to_host(), vf_c.parameters().grads_to_host()),
              1e-3);
  }
}

algos::DiscriminatorConfig small_disc(Device dev) {
  algos::DiscriminatorConfig c;
  c.frames = 2;
  c.height = c.width = 32;
  c.channels = {4, 8, 8, 8, 8};
  c.embed = {2, 2};
  c.max_batch = 4;  // batches of 6 run in two chunks
  c.seed = 21;
  c.device = dev;
  return c;
}

TEST(CudaTraining, DiscriminatorLossRewardAndUpdateMatchCpu) {
  RM_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const int B = 6;
  const std::vector<uint8_t> ex = random_bytes(size_t(B) * 2 * 32 * 32, 31);
  const std::vector<uint8_t> ag = random_bytes(ex.size(), 32);
  const std::vector<float> eps = random_floats(size_t(B), 33, 0, 1);
  algos::Discriminator<float> dc(small_disc(Device::cpu())), dg(small_disc(gpu));
  const Tensor ex_c = Tensor::view(const_cast<uint8_t*>(ex.data()), {B, 2, 32, 32}, DType::u8);
  const Tensor ag_c = Tensor::view(const_cast<uint8_t*>(ag.data()), {B, 2, 32, 32}, DType::u8);
  const Tensor ex_g = upload(ex, {B, 2, 32, 32}, gpu), ag_g = upload(ag, {B, 2, 32, 32}, gpu);

  const algos::UpdateStats lc = dc.compute_loss(ex_c, ag_c, eps.data(), true);
  const algos::UpdateStats lg = dg.compute_loss(ex_g, ag_g, eps.data(), true);
  expect_close(lg.expert_loss, lc.expert_loss, 1e-4, "expert loss");
  expect_close(lg.agent_loss, lc.agent_loss, 1e-4, "agent loss");
  expect_close(lg.penalty, lc.penalty, 1e-3, "gradient penalty");
  expect_close(lg.expert_d, lc.expert_d, 1e-4, "mean D(expert)");
  EXPECT_LT(norm_rel_error(dg.parameters().grads_to_host(), dc.parameters().grads_to_host()), 1e-3);

  // reward() writes on D's device: a device buffer for the cuda one.
  std::vector<float> rc(static_cast<size_t>(B)), rg(static_cast<size_t>(B));
  dc.reward(ag_c, rc.data());
  Tensor rg_dev = Tensor::zeros({B}, DType::f32, gpu);
  dg.reward(ag_g, rg_dev.data<float>());
  ops::copy_to_host(gpu, rg.data(), rg_dev.raw(), sizeof(float) * rg.size());
  EXPECT_LT(norm_rel_error(rg, rc), 1e-4);

  const algos::UpdateStats uc = dc.update(ex_c, ag_c), ug = dg.update(ex_g, ag_g);
  expect_close(ug.loss, uc.loss, 1e-3, "update loss");
  expect_close(ug.grad_norm, uc.grad_norm, 1e-3, "update gradient norm");
  EXPECT_LT(norm_rel_error(dg.parameters().values_to_host(), dc.parameters().values_to_host()),
            1e-4);
}

// 2 envs x 16 steps, 32x32 frames, k = 2, one epoch of two minibatches.
Config tiny_pixels(const std::string& device, const std::string& frames) {
  Config c;
  algos::declare_ppo(c, algos::PpoPreset::pixels);
  c.apply_overrides({"env.num_envs=2", "ppo.rollout_steps=16", "ppo.minibatch=16", "ppo.epochs=1",
                     "ppo.total_steps=96", "net.frames=2", "net.frame_size=32", "run.threads=1",
                     "seed=4", "run.device=" + device, "run.device_frames=" + frames});
  return c;
}

void expect_iterations_agree(const algos::IterationStats& g, const algos::IterationStats& c) {
  expect_close(g.policy_loss, c.policy_loss, 2e-3, "policy loss");
  expect_close(g.value_loss, c.value_loss, 2e-3, "value loss");
  expect_close(g.entropy, c.entropy, 1e-5, "entropy");
  expect_close(g.approx_kl, c.approx_kl, 2e-3, "approx kl");
  expect_close(g.policy_grad_norm, c.policy_grad_norm, 2e-3, "policy gradient norm");
  expect_close(g.value_grad_norm, c.value_grad_norm, 2e-3, "value gradient norm");
}

void expect_finite(const algos::IterationStats& s) {
  for (double v :
       {s.policy_loss, s.value_loss, s.entropy, s.approx_kl, s.policy_grad_norm, s.value_grad_norm})
    EXPECT_TRUE(std::isfinite(v)) << "iteration " << s.iteration;
}

void rl_on_cuda_follows_cpu(const std::string& frames) {
  algos::PpoTrainer cpu(tiny_pixels("cpu", frames)), gpu(tiny_pixels("cuda", frames));
  ASSERT_TRUE(gpu.device().is_cuda());
  ASSERT_TRUE(gpu.rollout().obs.device().is_cuda());
  const algos::IterationStats c = cpu.iterate(), g = gpu.iterate();
  expect_iterations_agree(g, c);
  EXPECT_EQ(g.episodes, c.episodes);
  while (!gpu.finished()) expect_finite(gpu.iterate());
}

TEST(CudaTraining, RlOnCudaWithUploadedFramesFollowsTheCpu) {
  RM_REQUIRE_GPU();
  rl_on_cuda_follows_cpu("upload");
}

TEST(CudaTraining, RlOnCudaWithInteropFramesFollowsTheCpu) {
  RM_REQUIRE_GPU();
  try {
    algos::PpoTrainer probe(tiny_pixels("cuda", "interop"));
  } catch (const Error& e) {
    GTEST_SKIP() << "no CUDA-GL interop frames here: " << e.what();
  }
  rl_on_cuda_follows_cpu("interop");
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  std::vector<uint8_t> h(t.nbytes());
  ops::copy_to_host(t.device(), h.data(), t.raw(), h.size());
  return h;
}

TEST(CudaTraining, ImitateOnCudaFollowsTheCpu) {
  RM_REQUIRE_GPU();
  const fs::path dir =
      fs::temp_directory_path() / ("relmimic_test_cuda_training_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string demos = (dir / "demos.h5").string();
  testing::write_random_demos(demos, 32, {20, 31, 12});
  auto config = [&](const std::string& device) {
    Config c = testing::tiny_imitation(demos, 3);
    // D's reward normalised by its return's std: the device run writes the same rewards.
    c.apply_overrides({"run.device=" + device, "run.device_frames=upload", "eval.every=2",
                       "imitate.reward_norm=return_std"});
    return c;
  };
  algos::ImitationTrainer cpu(config("cpu")), gpu(config("cuda"));
  ASSERT_TRUE(gpu.device().is_cuda());
  const algos::ImitationStats c = cpu.iterate(), g = gpu.iterate();
  expect_close(g.mean_reward, c.mean_reward, 1e-3, "mean D reward");
  expect_close(g.disc.loss, c.disc.loss, 2e-3, "D loss");
  expect_close(g.disc.penalty, c.disc.penalty, 5e-3, "gradient penalty");
  EXPECT_LT(norm_rel_error(gpu.rewards(), cpu.rewards()), 1e-3) << "normalised D rewards";
  expect_iterations_agree(g.ppo, c.ppo);
  // The s^k_{t+1} windows (final stacks on done steps) as the cpu stored them, up to pixels that
  // rounding moved, and the expert windows gathered on the device exactly as the cpu copies them.
  const std::vector<uint8_t> wc = bytes_of(cpu.next_windows()), wg = bytes_of(gpu.next_windows());
  ASSERT_EQ(wg.size(), wc.size());
  size_t same = 0;
  for (size_t i = 0; i < wc.size(); ++i) same += wc[i] == wg[i];
  EXPECT_GE(double(same), 0.99 * double(wc.size())) << "s^k_{t+1} windows differ";
  EXPECT_TRUE(bytes_of(gpu.expert_batch(5)) == bytes_of(cpu.expert_batch(5)))
      << "the expert windows gathered on the device differ from DemoSet::sample_windows'";
  while (!gpu.finished()) {
    const algos::ImitationStats s = gpu.iterate();
    expect_finite(s.ppo);
    EXPECT_TRUE(std::isfinite(s.disc.loss) && std::isfinite(s.mean_reward));
  }
  // The checkpoint of a device run loads into a cpu run.
  const std::string ckpt = (dir / "gpu.h5").string();
  gpu.save(ckpt);
  algos::ImitationTrainer back(config("cpu"));
  back.load(ckpt);
  EXPECT_LT(norm_rel_error(back.ppo().policy().parameters().values_to_host(),
                           gpu.ppo().policy().parameters().values_to_host()),
            1e-12);
  EXPECT_EQ(back.reward_normalizer()->running(), gpu.reward_normalizer()->running());
  fs::remove_all(dir);
}

#else

TEST(CudaTraining, NeedsTheCudaBackend) {
  GTEST_SKIP() << "relmimic was built without CUDA: the training loops run on the cpu only";
}

#endif

}  // namespace
}  // namespace relmimic
