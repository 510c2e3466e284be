// run.device on a machine without a usable GPU and the validation of run.device /
// run.device_frames: settings refused by name, trainers that fail at start saying why, and the
// CPU dispatch of the training ops (the path every CPU run takes).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "algos/imitate.h"
#include "algos/ppo.h"
#include "algos/ppo_run.h"
#include "algos/train_ops.h"
#include "kernels/device.h"
#include "tests/algos/imitate_test_util.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;

Config pixels(const std::vector<std::string>& overrides) {
  Config c;
  algos::declare_ppo(c, algos::PpoPreset::pixels);
  c.apply_overrides({"env.num_envs=2", "ppo.rollout_steps=8", "ppo.minibatch=8", "ppo.epochs=1",
                     "ppo.total_steps=16", "net.frames=2", "net.frame_size=32", "run.threads=1"});
  c.apply_overrides(overrides);
  return c;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(TrainDevice, RunDeviceIsParsedAndValidatedByName) {
  EXPECT_TRUE(algos::ppo_settings(pixels({})).device.is_cpu());
  const algos::PpoSettings s = algos::ppo_settings(pixels({"run.device=cuda:1"}));
  EXPECT_EQ(s.device, Device::cuda(1));
  EXPECT_FALSE(s.upload_frames);
  EXPECT_TRUE(algos::ppo_settings(pixels({"run.device_frames=upload"})).upload_frames);

  std::string e = error_of([] { algos::ppo_settings(pixels({"run.device=tpu"})); });
  EXPECT_TRUE(contains(e, "run.device") && contains(e, "'tpu'")) << e;
  e = error_of([] { algos::ppo_settings(pixels({"run.device=cuda:x"})); });
  EXPECT_TRUE(contains(e, "run.device")) << e;
  e = error_of([] { algos::ppo_settings(pixels({"run.device_frames=gl"})); });
  EXPECT_TRUE(contains(e, "run.device_frames") && contains(e, "'gl'")) << e;

  // State experts stay on the cpu.
  Config expert;
  algos::declare_ppo(expert, algos::PpoPreset::expert);
  expert.apply_override("run.device=cuda");
  e = error_of([&] { algos::ppo_settings(expert); });
  EXPECT_TRUE(contains(e, "run.device=cuda:0") && contains(e, "pixel")) << e;
}

// What a CUDA run says where there is no usable GPU: in a CPU build, that the build lacks the
// backend; in a CUDA build on a machine without a device, that there is none.
void expect_no_gpu_message(const std::string& e) {
  EXPECT_TRUE(contains(e, "config run.device")) << e;
  EXPECT_TRUE(contains(e, "cuda:0")) << e;
  EXPECT_TRUE(contains(e, "no usable CUDA device") || contains(e, "without the CUDA backend")) << e;
}

TEST(TrainDevice, RlOnCudaWithoutAGpuFailsAtStartSayingWhy) {
  if (kernels::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  for (const char* frames : {"interop", "upload"}) {
    const std::string e = error_of([&] {
      algos::PpoTrainer t(pixels({"run.device=cuda", std::string("run.device_frames=") + frames}));
    });
    expect_no_gpu_message(e);
  }
}

TEST(TrainDevice, RlRunOnCudaWithoutAGpuLeavesNoRunFolder) {
  if (kernels::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  const fs::path dir =
      fs::temp_directory_path() / ("relmimic_test_train_device_run_" + std::to_string(getpid()));
  fs::remove_all(dir);
  algos::RunOptions o;
  o.run_dir = dir.string();
  o.progress = false;
  expect_no_gpu_message(error_of([&] { algos::train_ppo(pixels({"run.device=cuda"}), o); }));
  EXPECT_FALSE(fs::exists(dir)) << "a failed start made " << dir;
}

TEST(TrainDevice, ImitateOnCudaWithoutAGpuFailsAtStartSayingWhy) {
  if (kernels::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  const fs::path dir =
      fs::temp_directory_path() / ("relmimic_test_train_device_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string demos = (dir / "demos.h5").string();
  testing::write_random_demos(demos, 32, {12, 9});
  Config c = testing::tiny_imitation(demos, 1);
  c.apply_override("run.device=cuda");
  const std::string e = error_of([&] { algos::ImitationTrainer t(c); });
  fs::remove_all(dir);
  expect_no_gpu_message(e);
}

TEST(TrainDevice, CpuDispatchIsTheCpuKernel) {
  const Device cpu = Device::cpu();
  // GAE over 2 steps x 1 env through train_ops equals kernels::gae_cpu.
  const std::vector<float> r = {1, 2}, v = {0.5f, 0.25f}, nv = {0.25f, 0.75f};
  const std::vector<uint8_t> term = {0, 1}, trunc = {0, 0};
  std::vector<float> a1(2), r1(2), a2(2), r2(2);
  algos::train_ops::gae(cpu, 2, 1, r.data(), v.data(), nv.data(), term.data(), trunc.data(), 0.9,
                        0.8, a1.data(), r1.data());
  kernels::gae_cpu(2, 1, r.data(), v.data(), nv.data(), term.data(), trunc.data(), 0.9, 0.8,
                   a2.data(), r2.data());
  EXPECT_EQ(a1, a2);
  EXPECT_EQ(r1, r2);
  const std::vector<int32_t> idx = {1, 0};
  std::vector<float> g(2);
  algos::train_ops::gather_rows(cpu, 2, 4, idx.data(), v.data(), g.data());
  EXPECT_EQ(g, (std::vector<float>{0.25f, 0.5f}));
  const std::vector<float> bad = {1.f, NAN};
  EXPECT_FALSE(algos::train_ops::all_finite(cpu, 2, bad.data()));
  EXPECT_TRUE(algos::train_ops::all_finite(cpu, 2, v.data()));
#ifndef RELMIMIC_WITH_CUDA
  const std::string e = error_of([&] {
    algos::train_ops::gather_rows(Device::cuda(0), 2, 4, idx.data(), v.data(), g.data());
  });
  EXPECT_TRUE(contains(e, "gather_rows") && contains(e, "without the CUDA backend")) << e;
#endif
}

}  // namespace
}  // namespace relmimic
