// Relational Mimic with two learners (mpirun -np 2): rank 0's parameters reach both learners,
// each learner collects its own rollouts (its own seed), the averaged gradients of the policy,
// the value and the discriminator keep every parameter, Adam moment and spectral-norm vector
// bit-identical across learners, and a checkpoint written by rank 0 resumes both learners
// exactly (each continues its own envs and random streams).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "algos/imitate.h"
#include "engine/comm.h"
#include "kernels/device.h"
#include "tests/algos/imitate_test_util.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;

bool all_ranks(bool ok) {
  int32_t bad = ok ? 0 : 1;
  Comm::world().allreduce_sum(&bad, 1);
  return bad == 0;
}

// Every value the learners must share: parameters, buffers and Adam moments of the three nets.
std::vector<float> shared_state(algos::ImitationTrainer& t) {
  std::vector<float> v;
  auto add = [&](const float* p, long n) { v.insert(v.end(), p, p + n); };
  for (ParamSet<float>* ps :
       {&t.ppo().policy().parameters(), &t.ppo().policy().buffers(), &t.ppo().value().parameters(),
        &t.ppo().value().buffers(), &t.disc().parameters(), &t.disc().net().buffers()})
    add(ps->values(), ps->size());
  add(t.disc().optimizer().m().data(), long(t.disc().optimizer().m().size()));
  add(t.disc().optimizer().v().data(), long(t.disc().optimizer().v().size()));
  return v;
}

// True on every rank when this rank's vector equals rank 0's bit for bit.
bool same_as_root(std::vector<float> v) {
  std::vector<float> root = v;
  Comm::world().broadcast(root.data(), long(root.size()));
  return all_ranks(std::memcmp(root.data(), v.data(), v.size() * sizeof(float)) == 0);
}

TEST(MpiImitation, LearnersStayIdenticalAndResumeExactly) {
  Comm& c = Comm::world();
  ASSERT_EQ(c.size(), 2) << "run under mpirun -np 2";
  int64_t id = getpid();
  c.broadcast(&id, 1);
  const fs::path dir = fs::temp_directory_path() / ("relmimic_mpi_imitate_" + std::to_string(id));
  const std::string demos = (dir / "demos.h5").string();
  if (c.is_root()) {
    fs::create_directories(dir);
    testing::write_random_demos(demos, 32, {20, 30});
  }
  c.barrier();
  const Config cfg = testing::tiny_imitation(demos, 3);

  algos::ImitationTrainer a(cfg);
  EXPECT_TRUE(same_as_root(shared_state(a))) << "rank " << c.rank() << ": start differs";
  std::vector<algos::ImitationStats> stats;
  for (int i = 0; i < 3; ++i) stats.push_back(a.iterate());
  EXPECT_TRUE(same_as_root(shared_state(a))) << "rank " << c.rank() << ": learners diverged";
  EXPECT_GT(a.disc().updates(), 0);
  // Different seeds, different rollouts: the learners' rewards differ.
  EXPECT_FALSE(same_as_root(a.rewards())) << "both learners collected the same rollout";
  // Logged statistics are learner means, identical on both ranks; evaluation runs on rank 0.
  std::vector<float> logged = {
      float(stats[2].disc.loss),       float(stats[2].mean_reward),
      float(stats[2].ppo.policy_loss), float(stats[2].reward_std),
      float(stats[2].train_velocity),  float(stats[2].disc.logit_grad_norm)};
  EXPECT_TRUE(same_as_root(logged));
  // Rank 0 evaluates; every learner knows the best evaluation so far (best.h5 is collective).
  for (const algos::ImitationStats& st : stats)
    EXPECT_TRUE(same_as_root({float(st.best_eval_return), float(st.new_best)}));
  EXPECT_TRUE(stats[0].new_best && std::isfinite(stats[2].best_eval_return));
  EXPECT_TRUE(all_ranks(c.is_root() == std::isfinite(stats[2].eval_return)));
  EXPECT_EQ(stats[2].episodes >= 0, true);

  // Resume: one iteration, a checkpoint, two more iterations in fresh trainers.
  const std::string ckpt = (dir / "latest.h5").string();
  {
    algos::ImitationTrainer b(cfg);
    b.iterate();
    b.save(ckpt);
  }
  EXPECT_TRUE(all_ranks(fs::exists(ckpt)));
  algos::ImitationTrainer r(cfg);
  r.load(ckpt);
  EXPECT_EQ(r.iteration(), 1);
  r.iterate();
  r.iterate();
  EXPECT_TRUE(all_ranks(shared_state(r) == shared_state(a)))
      << "rank " << c.rank() << ": resumed parameters differ from the uninterrupted run's";
  EXPECT_TRUE(all_ranks(r.rewards() == a.rewards()))
      << "rank " << c.rank() << ": the resumed learner collected another rollout";
  EXPECT_TRUE(all_ranks(r.best_eval_return() == a.best_eval_return()))
      << "rank " << c.rank() << ": the resumed learner lost the best evaluation";
  c.barrier();
  if (c.is_root()) fs::remove_all(dir);
}

// imitate.reward_norm = return_std: each learner normalises its own rewards, and the checkpoint
// gives every learner its own normaliser back (rank 0's in the file, the others' embedded).
TEST(MpiImitation, EachLearnerResumesItsOwnRewardNormaliser) {
  Comm& c = Comm::world();
  ASSERT_EQ(c.size(), 2) << "run under mpirun -np 2";
  int64_t id = getpid();
  c.broadcast(&id, 1);
  const fs::path dir =
      fs::temp_directory_path() / ("relmimic_mpi_reward_norm_" + std::to_string(id));
  const std::string demos = (dir / "demos.h5").string();
  if (c.is_root()) {
    fs::create_directories(dir);
    testing::write_random_demos(demos, 32, {20, 30});
  }
  c.barrier();
  Config cfg = testing::tiny_imitation(demos, 1);
  cfg.apply_override("imitate.reward_norm=return_std");
  auto state = [](const algos::ImitationTrainer& t) {
    const algos::ReturnNormalizer* n = t.reward_normalizer();
    std::vector<float> v;
    for (double x : n->running()) v.push_back(float(x));
    v.push_back(float(n->stats().mean()[0]));
    v.push_back(float(n->stats().var()[0]));
    v.push_back(float(n->stats().count()));
    return v;
  };
  const std::string ckpt = (dir / "latest.h5").string();
  std::vector<float> saved;
  {
    algos::ImitationTrainer a(cfg);
    a.iterate();
    saved = state(a);
    a.save(ckpt);
  }
  EXPECT_FALSE(same_as_root(saved)) << "both learners normalised the same rewards";
  algos::ImitationTrainer r(cfg);
  r.load(ckpt);
  EXPECT_TRUE(all_ranks(state(r) == saved))
      << "rank " << c.rank() << ": the resumed learner lost its reward normaliser";
  c.barrier();
  if (c.is_root()) fs::remove_all(dir);
}

// The same shared state of learners training on GPUs, copied to the host.
std::vector<float> shared_device_state(algos::ImitationTrainer& t) {
  std::vector<float> v;
  auto add = [&](const std::vector<float>& h) { v.insert(v.end(), h.begin(), h.end()); };
  for (ParamSet<float>* ps :
       {&t.ppo().policy().parameters(), &t.ppo().policy().buffers(), &t.ppo().value().parameters(),
        &t.ppo().value().buffers(), &t.disc().parameters(), &t.disc().net().buffers()})
    add(ps->values_to_host());
  add(t.disc().optimizer().m_to_host());
  add(t.disc().optimizer().v_to_host());
  return v;
}

// run.device=cuda with two learners: each on its local GPU, gradients averaged over NCCL.
TEST(MpiImitation, LearnersOnGpusStayIdentical) {
  Comm& world = Comm::world();
  ASSERT_EQ(world.size(), 2) << "run under mpirun -np 2";
  if (!nccl_available()) GTEST_SKIP() << "no NCCL (" << nccl_missing_reason() << ")";
  const int gpus = kernels::cuda_device_count();
  if (gpus < world.size())
    GTEST_SKIP() << "two learners on GPUs need a GPU per rank; this machine has " << gpus << " ("
                 << kernels::cuda_device_description(0) << ")";
  int64_t id = getpid();
  world.broadcast(&id, 1);
  const fs::path dir = fs::temp_directory_path() / ("relmimic_mpi_gpu_" + std::to_string(id));
  const std::string demos = (dir / "demos.h5").string();
  if (world.is_root()) {
    fs::create_directories(dir);
    testing::write_random_demos(demos, 32, {20, 30});
  }
  world.barrier();
  Config cfg = testing::tiny_imitation(demos, 2);
  cfg.apply_overrides({"run.device=cuda", "run.device_frames=upload"});
  // A communicator of its own: the trainer installs its NCCL backend there.
  Comm comm(make_mpi_backend());
  algos::ImitationTrainer a(cfg, comm);
  EXPECT_TRUE(a.device().is_cuda());
  EXPECT_TRUE(same_as_root(shared_device_state(a))) << "rank " << comm.rank() << ": start differs";
  a.iterate();
  a.iterate();
  EXPECT_TRUE(same_as_root(shared_device_state(a)))
      << "rank " << comm.rank() << ": learners on GPUs diverged";
  EXPECT_FALSE(same_as_root(a.rewards())) << "both learners collected the same rollout";
  world.barrier();
  if (world.is_root()) fs::remove_all(dir);
}

}  // namespace
}  // namespace relmimic
