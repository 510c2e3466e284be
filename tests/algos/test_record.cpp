// `relmimic record` (algos::record_demos) with observations: row j of obs / qpos / qvel is the
// state frame j shows (setting the env to row j's qpos / qvel renders frame j and observes obs
// row j), the terminal row included; recording without frames gives the same rows and no frames.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "algos/record.h"
#include "engine/h5.h"
#include "env/demos.h"
#include "env/locomotion.h"
#include "env/renderer.h"
#include "kernels/common.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;

std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() /
          ("relmimic_test_record_" + std::to_string(getpid()) + "_" + name))
      .string();
}

algos::RecordResult record(const std::string& out, bool frames) {
  algos::RecordOptions o;
  o.expert = std::string(RELMIMIC_SOURCE_DIR) + "/experts/hopper.h5";
  o.out = out;
  o.episodes = 2;
  o.seed = 5;
  o.frame_size = 32;
  o.frames = frames;
  return algos::record_demos(o);  // stochastic: episodes of different lengths
}

TEST(Record, ObservationsQposAndQvelDescribeTheStateOfEachFrame) {
  const std::string path = tmp("frames.h5");
  const algos::RecordResult r = record(path, true);
  EXPECT_EQ(r.obs_dim, 11);
  env::DemoSet d(path, {.env = "hopper", .need_obs = true, .obs_dim = 11});
  ASSERT_EQ(d.num_episodes(), 2);
  EXPECT_EQ(d.format_version(), 2);
  EXPECT_EQ(d.meta().nq, 6);
  EXPECT_EQ(d.meta().nv, 6);

  env::LocomotionEnv e(env::Task::Hopper);
  env::RenderConfig rc;
  rc.width = rc.height = 32;
  env::Renderer renderer(e.model(), rc);
  std::vector<uint8_t> frame(32 * 32);
  std::vector<double> obs(11);
  for (int ep = 0; ep < 2; ++ep) {
    const int L = d.length(ep);
    EXPECT_EQ(L, r.lengths[size_t(ep)]);
    for (int j : {0, 1, 2, L / 2, L - 1, L}) {
      env::LocomotionEnv::State s = e.state();
      s.qpos.assign(d.qpos(ep) + j * 6, d.qpos(ep) + (j + 1) * 6);
      s.qvel.assign(d.qvel(ep) + j * 6, d.qvel(ep) + (j + 1) * 6);
      e.set_state(s);
      e.observation(obs.data());
      for (int i = 0; i < 11; ++i)
        ASSERT_EQ(float(obs[size_t(i)]), d.obs(ep)[j * 11 + i])
            << "episode " << ep << " row " << j << " value " << i;
      renderer.render_gray(e.data(), frame.data());
      EXPECT_EQ(std::memcmp(frame.data(), d.frames(ep) + j * 32 * 32, frame.size()), 0)
          << "episode " << ep << ": the frame of row " << j << " shows another state";
    }
    // The terminal row is the finished episode's last state, not the next episode's reset.
    EXPECT_NE(std::memcmp(d.obs(ep) + L * 11, d.obs(ep), 11 * sizeof(float)), 0);
  }

  // Without frames: nothing rendered, the same rows.
  const std::string bare = tmp("bare.h5");
  record(bare, false);
  env::DemoSet b(bare, {.env = "hopper", .need_frames = false, .need_obs = true});
  EXPECT_FALSE(b.meta().has_frames);
  ASSERT_EQ(b.num_episodes(), 2);
  for (int ep = 0; ep < 2; ++ep) {
    ASSERT_EQ(b.length(ep), d.length(ep));
    const size_t rows = size_t(d.num_frames(ep));
    EXPECT_EQ(std::memcmp(b.obs(ep), d.obs(ep), rows * 11 * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(b.qpos(ep), d.qpos(ep), rows * 6 * sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(b.qvel(ep), d.qvel(ep), rows * 6 * sizeof(double)), 0);
  }
  EXPECT_FALSE(h5::File::open(bare).exists("episodes/0/frames"));
  fs::remove(path);
  fs::remove(bare);
}

}  // namespace
}  // namespace relmimic
