// The discriminator probe: its window transformations (newest slot repeated, slots shuffled) on
// hand-made windows, its table from a hand-made scorer whose ordering is known, and the probe of
// a checkpoint whose small D was trained to prefer forward motion over still and reversed
// windows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "algos/imitate.h"
#include "algos/probe.h"
#include "tests/algos/imitate_test_util.h"
#include "tests/algos/probe_test_util.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;

// B windows of k slots of `slot` bytes; slot j of window b holds the value 10 (b % 20) + j.
std::vector<uint8_t> counting_windows(int B, int k, int slot) {
  std::vector<uint8_t> w(size_t(B) * k * slot);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < k; ++j)
      std::fill_n(w.begin() + (long(b) * k + j) * slot, slot, uint8_t(10 * (b % 20) + j));
  return w;
}

TEST(Probe, RepeatNewestCopiesTheLastSlotEverywhere) {
  std::vector<uint8_t> w = counting_windows(3, 4, 5);
  algos::repeat_newest_slot(w.data(), 3, 4, 5);
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 4 * 5; ++i) EXPECT_EQ(w[size_t(b * 20 + i)], 10 * (b % 20) + 3);
}

TEST(Probe, ShuffleNeverKeepsTheOriginalOrder) {
  const int B = 200, k = 3, slot = 2;
  std::vector<uint8_t> w = counting_windows(B, k, slot);
  Rng rng(5);
  algos::shuffle_slots(w.data(), B, k, slot, rng);
  std::vector<int> seen(6, 0);
  for (int b = 0; b < B; ++b) {
    std::vector<int> order;
    for (int j = 0; j < k; ++j) {
      const uint8_t* s = &w[size_t((b * k + j) * slot)];
      EXPECT_EQ(s[0], s[1]);  // slots move whole
      order.push_back(s[0] - 10 * (b % 20));
    }
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted, (std::vector<int>{0, 1, 2})) << "window " << b << " is not a permutation";
    EXPECT_NE(order, sorted) << "window " << b << " kept its order";
    int rank = 0;  // index of the permutation among the 6
    std::vector<int> p = {0, 1, 2};
    while (p != order && std::next_permutation(p.begin(), p.end())) ++rank;
    ++seen[size_t(rank)];
  }
  EXPECT_EQ(seen[0], 0);
  for (int r = 1; r < 6; ++r) EXPECT_GT(seen[size_t(r)], 20) << "permutation " << r;
  // One slot: nothing to shuffle.
  std::vector<uint8_t> one = counting_windows(2, 1, 3), before = one;
  algos::shuffle_slots(one.data(), 2, 1, 3, rng);
  EXPECT_EQ(one, before);
}

// A hand-made scorer that measures forward change: logit = (last slot - first slot) / 20. On
// windows brightening by 20 per slot it gives 2 as they are, 0 with the newest slot repeated
// and at most 1 in any other order.
TEST(Probe, TableFromAHandMadeScorer) {
  const int B = 50, k = 3, hw = 4;
  Tensor w = Tensor::zeros({B, k, 2, 2}, DType::u8);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < k; ++j)
      for (int i = 0; i < hw; ++i) w.data<uint8_t>()[(b * k + j) * hw + i] = uint8_t(b + 20 * j);
  int calls = 0;
  const algos::WindowScorer score = [&](const Tensor& t, double* out) {
    ++calls;
    ASSERT_EQ(t.shape(), w.shape());
    const uint8_t* p = t.data<uint8_t>();
    for (int b = 0; b < B; ++b)
      out[b] = (double(p[(b * k + k - 1) * hw]) - double(p[b * k * hw])) / 20.0;
  };
  const std::vector<algos::ProbeRow> rows = algos::probe_windows(w, score, 7);
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].name, "expert");
  EXPECT_EQ(rows[1].name, "newest");
  EXPECT_EQ(rows[2].name, "shuffled");
  for (const algos::ProbeRow& r : rows) EXPECT_EQ(r.windows, B);
  EXPECT_DOUBLE_EQ(rows[0].mean_logit, 2.0);
  EXPECT_DOUBLE_EQ(rows[0].std_logit, 0.0);
  EXPECT_NEAR(rows[0].mean_d, 1 / (1 + std::exp(-2.0)), 1e-12);
  EXPECT_DOUBLE_EQ(rows[1].mean_logit, 0.0);
  EXPECT_DOUBLE_EQ(rows[1].mean_d, 0.5);
  EXPECT_LE(rows[2].mean_logit, 1.0);
  EXPECT_GT(rows[2].std_logit, 0.0);  // several orders drawn
  // The input is left as it was; the seed decides the shuffles.
  for (int b = 0; b < B; ++b) ASSERT_EQ(w.data<uint8_t>()[(b * k + 2) * hw], b + 40);
  EXPECT_EQ(algos::probe_windows(w, score, 7)[2].mean_logit, rows[2].mean_logit);
  EXPECT_THROW(algos::probe_windows(Tensor(), score, 7), Error);
}

fs::path temp_dir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("relmimic_test_probe_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// A small D trained (light penalty, quick learning rate) on windows of a moving square (expert)
// against the same windows still and reversed scores, through the checkpoint, expert above both.
TEST(Probe, TrainedDiscriminatorPrefersForwardMotion) {
  const fs::path dir = temp_dir("trained");
  const std::string demos = (dir / "demos.h5").string();
  testing::write_moving_square_demos(demos, 32, {40, 40, 40});
  Config cfg = testing::tiny_imitation(demos, 1);
  cfg.apply_override("disc.lr=0.002");
  cfg.apply_override("disc.lambda=0.1");
  algos::DiscriminatorConfig dc = algos::discriminator_config(cfg, 9);
  algos::Discriminator<float> d(dc);
  const env::DemoSet set(demos, env::DemoExpect{});
  const int B = 32, k = dc.frames;
  const long slot = long(dc.height) * dc.width;
  Tensor expert = Tensor::zeros({B, k, dc.height, dc.width}, DType::u8);
  Tensor agent = Tensor::zeros(expert.shape(), DType::u8);
  Rng rng(3), shuffle(4);
  for (int u = 0; u < 150; ++u) {
    set.sample_windows(B, k, rng, expert.data<uint8_t>(), 1);
    agent.copy_from(expert);
    algos::repeat_newest_slot(agent.data<uint8_t>(), B / 2, k, slot);
    algos::shuffle_slots(agent.data<uint8_t>() + B / 2 * k * slot, B - B / 2, k, slot, shuffle);
    d.update(expert, agent);
  }
  const std::string ckpt = (dir / "d.h5").string();
  testing::write_disc_checkpoint(ckpt, cfg, d);

  algos::ProbeOptions o;
  o.checkpoint = ckpt;
  o.demos = demos;
  o.windows = 200;
  const std::vector<algos::ProbeRow> rows = algos::probe_checkpoint(o);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_GT(rows[0].mean_d, rows[1].mean_d + 0.1) << "expert vs newest";
  EXPECT_GT(rows[0].mean_d, rows[2].mean_d + 0.1) << "expert vs shuffled";
  EXPECT_GT(rows[0].mean_logit, rows[1].mean_logit);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace relmimic
