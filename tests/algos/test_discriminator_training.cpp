// The discriminator in use: learning a toy expert/agent split, the gradient hook (a real
// two-learner all-reduce on threads), and exact resumption from a checkpoint.
#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <filesystem>
#include <thread>
#include <vector>

#include "engine/checkpoint.h"
#include "tests/algos/disc_test_util.h"
#include "tests/engine/layer_check.h"

namespace relmimic {
namespace {

using algos::Discriminator;
using algos::DiscriminatorConfig;
using algos::UpdateStats;

// Windows [B, 2, 16, 16] over a dim noisy background with a 4x4 square that moves one pixel
// right per frame. Expert: a bright square near the top-left corner. Agent: half the windows a
// dark square there, half a bright square shifted towards the bottom-right corner.
Tensor toy_windows(int batch, bool expert, Rng& rng) {
  constexpr int kSide = 4;
  Tensor t = Tensor::zeros({batch, 2, 16, 16}, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int b = 0; b < batch; ++b) {
    const bool shifted = !expert && b % 2 == 1;
    const bool dark = !expert && b % 2 == 0;
    const int r0 = int(rng.below(3)) + (shifted ? 9 : 1);
    const int c0 = int(rng.below(3)) + (shifted ? 8 : 1);
    for (int f = 0; f < 2; ++f)
      for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) {
          const bool in = y >= r0 && y < r0 + kSide && x >= c0 + f && x < c0 + f + kSide;
          const long v = in ? (dark ? 70 + rng.below(20) : 200 + rng.below(56)) : rng.below(30);
          p[((b * 2 + f) * 16 + y) * 16 + x] = uint8_t(v);
        }
  }
  return t;
}

class DiscTrainTest : public ::testing::TestWithParam<bool> {};

// 300 updates on minibatches of 16 (lr 1e-3 to keep the test short).
TEST_P(DiscTrainTest, SeparatesExpertFromAgentWindows) {
  testing::SerialScope serial;  // tiny shapes: threads cost more than they bring
  DiscriminatorConfig c = testing::tiny_disc(GetParam(), 32, 21);
  c.channels = {8, 16, 16, 16, 16};
  c.embed = {4, 4};
  c.lr = 1e-3;
  Discriminator<float> d(c);
  Rng rng(22);
  UpdateStats first, last;
  for (int i = 0; i < 300; ++i) {
    last = d.update(toy_windows(16, true, rng), toy_windows(16, false, rng));
    ASSERT_TRUE(std::isfinite(last.loss)) << i;
    if (i == 0) first = last;
  }
  EXPECT_LT(last.expert_loss + last.agent_loss, first.expert_loss + first.agent_loss - 0.5);
  // ||grad_x logit|| starts below 1 (spectral norm): the penalty falls.
  EXPECT_LT(last.penalty, 0.5 * first.penalty);

  // Fresh windows: both accuracies above 0.9, and the reward ranks expert-like windows higher.
  Tensor expert = toy_windows(64, true, rng), agent = toy_windows(64, false, rng);
  std::vector<float> eps(64, 0.5f);
  const UpdateStats held = d.compute_loss(expert, agent, eps.data(), false);
  EXPECT_GT(held.expert_accuracy, 0.9);
  EXPECT_GT(held.agent_accuracy, 0.9);
  std::vector<float> re(64), ra(64);
  d.reward(expert, re.data());
  d.reward(agent, ra.data());
  double mean_e = 0, mean_a = 0;
  for (int b = 0; b < 64; ++b) {
    mean_e += re[b] / 64.0;
    mean_a += ra[b] / 64.0;
  }
  EXPECT_GT(mean_e, mean_a + 0.5);
}

INSTANTIATE_TEST_SUITE_P(Relational, DiscTrainTest, ::testing::Bool());

// The hook sees the flat gradient of the loss (the twin computes it with the same u; identical
// expert and agent windows make x_hat independent of eps), once per update, before clipping.
TEST(DiscriminatorHook, ReceivesTheFlatGradientBeforeClipping) {
  testing::SerialScope serial;
  const DiscriminatorConfig c = testing::tiny_disc(true, 4);
  Discriminator<float> d(c), twin(c);
  Rng rng(23);
  Tensor s = testing::random_windows(4, c, rng);
  int calls = 0;
  std::vector<float> seen;
  auto hook = [&](float* g, long n) {
    ++calls;
    EXPECT_EQ(g, d.parameters().grads());
    EXPECT_EQ(n, d.parameters().size());
    seen.assign(g, g + n);
  };
  const UpdateStats st = d.update(s, s, hook);
  EXPECT_EQ(calls, 1);

  twin.net().set_training(true);
  twin.net().forward(s.slice(0, 1));
  twin.net().set_training(false);
  const std::vector<float> eps(4, 0.3f);
  twin.compute_loss(s, s, eps.data(), true);
  const std::vector<float> want = testing::grads_of(twin);
  ASSERT_EQ(seen.size(), want.size());
  double n2 = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(seen[i], want[i]) << i;
    n2 += double(seen[i]) * seen[i];
  }
  EXPECT_NEAR(st.grad_norm, std::sqrt(n2), 1e-6 * st.grad_norm);
}

// Two learners with the same seed see different data; their hook averages the gradients in
// place through shared memory (what MPI_Allreduce / NCCL do across processes). Their
// parameters stay identical, and differ from a learner that used only its own gradient.
TEST(DiscriminatorHook, AllReduceKeepsLearnersInStep) {
  testing::SerialScope serial;
  const DiscriminatorConfig c = testing::tiny_disc(true, 4);
  Discriminator<float> a(c), b(c), alone(c);
  Rng rng(24);
  std::vector<Tensor> data;
  for (int i = 0; i < 3 * 4; ++i) data.push_back(testing::random_windows(4, c, rng));

  const long n = a.parameters().size();
  std::vector<float> shared(size_t(2 * n));
  std::barrier sync(2);
  auto learner = [&](Discriminator<float>* d, int rank) {
    testing::SerialScope thread_serial;  // a new thread starts with the default team size
    auto allreduce = [&](float* g, long count) {
      std::copy_n(g, count, shared.data() + rank * n);
      sync.arrive_and_wait();
      for (long i = 0; i < count; ++i) g[i] = 0.5f * (shared[size_t(i)] + shared[size_t(n + i)]);
      sync.arrive_and_wait();  // both have read before the next update writes
    };
    for (int step = 0; step < 3; ++step)
      d->update(data[size_t(step * 4 + 2 * rank)], data[size_t(step * 4 + 2 * rank + 1)],
                allreduce);
  };
  std::thread t0(learner, &a, 0), t1(learner, &b, 1);
  t0.join();
  t1.join();
  for (int step = 0; step < 3; ++step)
    alone.update(data[size_t(step * 4)], data[size_t(step * 4 + 1)]);

  EXPECT_EQ(testing::values_of(a), testing::values_of(b));
  EXPECT_EQ(testing::buffers_of(a), testing::buffers_of(b));
  EXPECT_NE(testing::values_of(a), testing::values_of(alone));
}

// save -> load into a differently seeded learner -> the next updates are bit for bit the same
// (parameters, u, Adam moments and step, the interpolation stream).
TEST(DiscriminatorCheckpoint, ResumesTheNextUpdateExactly) {
  testing::SerialScope serial;
  const std::string path =
      (std::filesystem::temp_directory_path() / "relmimic_test_disc_ckpt.h5").string();
  const DiscriminatorConfig c = testing::tiny_disc(true, 4, 31);
  DiscriminatorConfig other = c;
  other.seed = 99;
  Discriminator<float> d(c), resumed(other);
  Rng rng(25);
  for (int i = 0; i < 3; ++i)
    d.update(testing::random_windows(4, c, rng), testing::random_windows(4, c, rng));
  {
    CheckpointWriter w(path);
    d.save(w, "disc");
    w.commit();
  }
  CheckpointReader r(path);
  resumed.load(r, "disc");
  EXPECT_EQ(resumed.updates(), 3);

  for (int i = 0; i < 2; ++i) {
    Tensor e = testing::random_windows(4, c, rng), a = testing::random_windows(4, c, rng);
    const UpdateStats s1 = d.update(e, a), s2 = resumed.update(e, a);
    EXPECT_EQ(s1.loss, s2.loss);
    EXPECT_EQ(s1.penalty, s2.penalty);
    EXPECT_EQ(s1.grad_norm, s2.grad_norm);
    EXPECT_EQ(testing::values_of(d), testing::values_of(resumed));
    EXPECT_EQ(testing::buffers_of(d), testing::buffers_of(resumed));
    EXPECT_EQ(d.optimizer().m(), resumed.optimizer().m());
    EXPECT_EQ(d.optimizer().v(), resumed.optimizer().v());
  }
  // A baseline network's checkpoint does not load into the relational one.
  DiscriminatorConfig base = c;
  base.relational = false;
  Discriminator<float> baseline(base);
  {
    CheckpointWriter w(path);
    baseline.save(w, "disc");
    w.commit();
  }
  CheckpointReader r2(path);
  EXPECT_THROW(resumed.load(r2, "disc"), Error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace relmimic
