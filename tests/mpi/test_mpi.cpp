// Two learners, run by ctest through `mpirun -np 2` (label mpi): the MPI collectives, and data
// parallel training as Relational Mimic does it — parameters broadcast from rank 0, each rank a
// different batch, gradients averaged by one all-reduce, Adam on every rank. The learners must
// stay bit-identical and match one process training on the union of the batches.
//
// Every rank runs every test; checks that involve both ranks are made collective (all_ranks) so
// a failure on one rank is reported on both instead of leaving the other waiting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/comm.h"
#include "engine/networks.h"
#include "engine/optim.h"

namespace relmimic {
namespace {

// True when `ok` holds on every rank.
bool all_ranks(bool ok) {
  int32_t bad = ok ? 0 : 1;
  Comm::world().allreduce_sum(&bad, 1);
  return bad == 0;
}

TEST(Mpi, WorldHasTwoRanks) {
  Comm& c = Comm::world();
  ASSERT_EQ(c.size(), 2) << "run under mpirun -np 2";
  EXPECT_STREQ(c.backend_name(), "mpi");
  EXPECT_TRUE(Comm::world_is_parallel());
  EXPECT_EQ(c.is_root(), c.rank() == 0);
}

TEST(Mpi, Collectives) {
  Comm& c = Comm::world();
  ASSERT_EQ(c.size(), 2);
  const int r = c.rank();
  std::vector<float> f(5);
  std::vector<double> d(5);
  for (int i = 0; i < 5; ++i) f[i] = float(r + 1 + i), d[i] = 0.25 * (r + 1) - i;
  c.allreduce_mean(f.data(), 5);  // ((1 + i) + (2 + i)) / 2
  c.allreduce_sum(d.data(), 5);   // 0.25 + 0.5 - 2i
  bool ok = true;
  for (int i = 0; i < 5; ++i) ok = ok && f[i] == 1.5f + float(i) && d[i] == 0.75 - 2.0 * i;
  EXPECT_TRUE(all_ranks(ok)) << "rank " << r << ": mean/sum wrong";

  std::vector<int64_t> big = {(int64_t(1) << 40) * (r + 1), -r};
  c.allreduce_sum(big.data(), 2);
  EXPECT_TRUE(all_ranks(big[0] == 3 * (int64_t(1) << 40) && big[1] == -1));

  // Broadcast from rank 1 of bytes and doubles.
  std::vector<uint8_t> u = {uint8_t(r), uint8_t(10 + r), 255};
  std::vector<double> bd = {double(r) / 3.0};
  c.broadcast(u.data(), 3, 1);
  c.broadcast(bd.data(), 1, 1);
  EXPECT_TRUE(all_ranks(u == std::vector<uint8_t>{1, 11, 255} && bd[0] == 1.0 / 3.0));

  // Gather two values per rank to root 0, then to root 1.
  const double mine[2] = {double(r), 100.0 + r};
  for (int root : {0, 1}) {
    const std::vector<double> g = c.gather(mine, 2, root);
    const bool good = r == root ? g == std::vector<double>{0, 100, 1, 101} : g.empty();
    EXPECT_TRUE(all_ranks(good)) << "gather to root " << root;
  }
  c.barrier();
}

constexpr int kObs = 6, kBatch = 8, kSteps = 6;

// Rank `rank`'s batch at step `step`: observations [kBatch, kObs], targets [kBatch]. Every rank
// can make every rank's batch, so each also runs the single-process reference.
void make_batch(int step, int rank, float* obs, float* target) {
  Rng rng(Rng::derive(2024, uint64_t(step * 16 + rank)));
  for (int b = 0; b < kBatch; ++b) {
    double s = 0;
    for (int j = 0; j < kObs; ++j) {
      obs[b * kObs + j] = float(rng.normal());
      s += std::sin(double(obs[b * kObs + j]) * (j + 1));
    }
    target[b] = float(s + (rank ? 1.0 : -1.0));  // different data per rank
  }
}

// One gradient of L = 1/(2B) sum_b (v_b - y_b)^2 into net's ParamSet (zeroed first).
void value_gradient(AgentNet<float>& net, const float* obs, const float* target, int batch) {
  net.parameters().zero_grad();
  Tensor x = Tensor::view(const_cast<float*>(obs), {batch, kObs}, DType::f32);
  Tensor v = net.forward(x);  // [B, 1]
  Tensor dv = Tensor::zeros({batch, 1}, DType::f32);
  for (int b = 0; b < batch; ++b)
    dv.data<float>()[b] = (v.data<float>()[b] - target[b]) / float(batch);
  net.backward(dv);
}

AgentConfig mlp_value(uint64_t seed) {
  AgentConfig c;
  c.arch = Arch::mlp;
  c.obs_dim = kObs;
  c.max_batch = 2 * kBatch;
  c.seed = seed;
  return c;
}

double max_abs_diff(const float* a, const float* b, long n) {
  double m = 0;
  for (long i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

TEST(Mpi, AveragedGradientsKeepLearnersIdenticalAndMatchTheUnionBatch) {
  Comm& c = Comm::world();
  ASSERT_EQ(c.size(), 2);
  const int r = c.rank();
  AgentNet<float> net(mlp_value(learner_seed(5, r)));  // each learner initialises differently
  ParamSet<float>& ps = net.parameters();
  const long n = ps.size();

  // Before the broadcast the learners differ; after it they hold rank 0's parameters.
  std::vector<float> root_copy(ps.values(), ps.values() + n);
  c.broadcast(root_copy.data(), n);
  EXPECT_TRUE(all_ranks(r == 0 || std::memcmp(root_copy.data(), ps.values(), n * 4) != 0));
  c.broadcast(ps.values(), n);
  AgentNet<float> ref(mlp_value(learner_seed(5, 0)));  // one process, rank 0's initialisation
  EXPECT_TRUE(all_ranks(std::memcmp(ref.parameters().values(), ps.values(), n * 4) == 0));
  const std::vector<float> start(ps.values(), ps.values() + n);

  kernels::AdamParams hp;
  hp.lr = 1e-3;
  Adam<float> adam(ps, hp), ref_adam(ref.parameters(), hp);
  std::vector<float> union_obs(2 * kBatch * kObs), union_target(2 * kBatch);
  double grad_diff = 0, param_diff = 0, grad_scale = 0;
  for (int step = 0; step < kSteps; ++step) {
    for (int k = 0; k < 2; ++k)
      make_batch(step, k, union_obs.data() + k * kBatch * kObs, union_target.data() + k * kBatch);
    // Learner: own batch, mean gradient over the learners, Adam.
    value_gradient(net, union_obs.data() + r * kBatch * kObs, union_target.data() + r * kBatch,
                   kBatch);
    c.allreduce_mean(ps.grads(), n);
    // Reference: the union batch (equal batch sizes: the mean of the per-rank mean gradients is
    // the gradient of the mean loss over the union).
    value_gradient(ref, union_obs.data(), union_target.data(), 2 * kBatch);
    const float* g = ref.parameters().grads();
    for (long i = 0; i < n; ++i) grad_scale = std::max(grad_scale, std::fabs(double(g[i])));
    grad_diff = std::max(grad_diff, max_abs_diff(ps.grads(), g, n));
    adam.step();
    ref_adam.step();
    param_diff = std::max(param_diff, max_abs_diff(ps.values(), ref.parameters().values(), n));
  }

  // (a) bit-identical learners: compare with rank 0's parameters.
  std::vector<float> root_params(ps.values(), ps.values() + n);
  c.broadcast(root_params.data(), n);
  EXPECT_TRUE(all_ranks(std::memcmp(root_params.data(), ps.values(), n * 4) == 0))
      << "rank " << r << ": parameters differ from rank 0's";
  // (b) the union-batch run, up to float rounding of the different summation orders. Adam's
  // first steps move each parameter by ~lr, so the training moved them far beyond the tolerance.
  EXPECT_LT(grad_diff, 1e-6 * grad_scale) << "rank " << r;
  EXPECT_LT(param_diff, 1e-6) << "rank " << r;
  EXPECT_GT(max_abs_diff(ps.values(), start.data(), n), 1000 * 1e-6);
  // Every rank's verdict, gathered to root for the log.
  const double mine[2] = {grad_diff / grad_scale, param_diff};
  const std::vector<double> all = c.gather(mine, 2);
  if (c.is_root())
    std::printf(
        "max relative gradient difference %.3g / %.3g, max parameter difference %.3g / "
        "%.3g (rank 0 / rank 1)\n",
        all[0], all[2], all[1], all[3]);
}

}  // namespace
}  // namespace relmimic
