// Comm in one process: the world is one rank when no launcher started us, collectives are the
// identity, bad arguments are refused, learner seeds follow SPEC.md, and the typed front passes
// buffers, types and ops through the backend seam (a recording two-rank backend stands in for MPI
// and NCCL). The real two-rank run lives in tests/mpi/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/comm.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

using relmimic::testing::error_of;

// Sets an environment variable for one scope and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_.c_str(), old_.c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

TEST(Comm, WorldIsOneRankWithoutALauncher) {
  ASSERT_FALSE(launched_by_mpi()) << "run this test without mpirun";
  Comm& c = Comm::world();
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  EXPECT_TRUE(c.is_root());
  EXPECT_STREQ(c.backend_name(), "self");
  EXPECT_FALSE(Comm::world_is_parallel());
  EXPECT_EQ(&Comm::world(), &c);
}

TEST(Comm, SingleProcessCollectivesAreTheIdentity) {
  Comm c(make_self_backend());
  std::vector<float> f = {1.5f, -2.0f, 3.25f};
  std::vector<double> d = {0.1, 1e300, -7.0};
  std::vector<uint8_t> u = {0, 7, 255};
  std::vector<int64_t> l = {-1, int64_t(1) << 40};
  const auto f0 = f;
  const auto d0 = d;
  const auto u0 = u;
  const auto l0 = l;
  c.broadcast(f.data(), long(f.size()));
  c.broadcast(u.data(), long(u.size()));
  c.broadcast(l.data(), long(l.size()));
  c.allreduce_mean(f.data(), long(f.size()));
  c.allreduce_mean(d.data(), long(d.size()));
  c.allreduce_sum(d.data(), long(d.size()));
  c.allreduce_sum(l.data(), long(l.size()));
  c.barrier();
  EXPECT_EQ(f, f0);
  EXPECT_EQ(d, d0);
  EXPECT_EQ(u, u0);
  EXPECT_EQ(l, l0);
  const double vals[2] = {3.0, -4.0};
  EXPECT_EQ(c.gather(vals, 2), (std::vector<double>{3.0, -4.0}));
  Tensor t = Tensor::zeros({2, 2}, DType::f32);
  t.data<float>()[3] = 5.0f;
  c.allreduce(t, ReduceOp::mean);
  c.broadcast(t);
  EXPECT_EQ(t.data<float>()[3], 5.0f);
}

TEST(Comm, RefusesBadArguments) {
  Comm c(make_self_backend());
  float x = 1.0f;
  EXPECT_NE(error_of([&] { c.broadcast(&x, 1, 1); }).find("broadcast: root 1 is not a rank of 1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.allreduce_sum(&x, -3); }).find("negative element count -3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.gather(nullptr, 1, -1); }).find("gather: root -1"), std::string::npos);
  Tensor u = Tensor::zeros({3}, DType::u8);
  EXPECT_NE(error_of([&] { c.allreduce(u, ReduceOp::mean); }).find("float or double tensor"),
            std::string::npos);
  // A CUDA tensor needs a device backend; Comm never dereferences it here.
  Tensor g = Tensor::view(&x, {1}, DType::f32, Device::cuda(0));
  EXPECT_NE(error_of([&] { c.broadcast(g); }).find("no device communication backend"),
            std::string::npos);
}

TEST(Comm, LearnerSeedsFollowTheSpec) {
  EXPECT_EQ(learner_seed(0, 0), 1000000u);
  EXPECT_EQ(learner_seed(7, 0), 1000007u);
  EXPECT_EQ(learner_seed(7, 3), 4000007u);
  EXPECT_NE(learner_seed(1, 0), learner_seed(0, 1));
}

TEST(Comm, LauncherDetection) {
  ScopedEnv force("RELMIMIC_MPI", nullptr);
  ScopedEnv ompi("OMPI_COMM_WORLD_SIZE", nullptr);
  ScopedEnv pmi("PMI_SIZE", nullptr);
  ScopedEnv hydra("MPI_LOCALNRANKS", nullptr);
  ScopedEnv pmix("PMIX_RANK", nullptr);
  EXPECT_FALSE(launched_by_mpi());
  {
    ScopedEnv s("OMPI_COMM_WORLD_SIZE", "4");
    EXPECT_TRUE(launched_by_mpi());
    ScopedEnv off("RELMIMIC_MPI", "0");
    EXPECT_FALSE(launched_by_mpi());
  }
  {
    ScopedEnv s("PMI_SIZE", "2");  // srun, MPICH, Intel MPI
    EXPECT_TRUE(launched_by_mpi());
  }
  {
    ScopedEnv on("RELMIMIC_MPI", "1");
    EXPECT_TRUE(launched_by_mpi());
  }
  ScopedEnv bad("RELMIMIC_MPI", "yes");
  EXPECT_NE(error_of([] { launched_by_mpi(); }).find("RELMIMIC_MPI must be 0 or 1"),
            std::string::npos);
}

// Rank 0 of two, where the other rank holds `other` (as doubles): records each call and reduces
// the way two ranks would.
class TwoRankBackend final : public CommBackend {
 public:
  struct Call {
    std::string what;
    long n;
    CommType type;
    int root;
  };
  explicit TwoRankBackend(std::vector<double> other, std::vector<Call>* log)
      : other_(std::move(other)), log_(log) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  const char* name() const override { return "two-rank test"; }
  void broadcast(void* data, long n, CommType type, int root) override {
    log_->push_back({"broadcast", n, type, root});
    if (root == 1) put(data, n, type, [&](long i, double) { return other_[i]; });
  }
  void allreduce(void* data, long n, CommType type, ReduceOp op) override {
    log_->push_back({op == ReduceOp::sum ? "sum" : "mean", n, type, 0});
    const double s = op == ReduceOp::mean ? 0.5 : 1.0;
    put(data, n, type, [&](long i, double mine) { return s * (mine + other_[i]); });
  }
  void barrier() override { log_->push_back({"barrier", 0, CommType::u8, 0}); }
  void gather(const double* in, long n, double* out, int root) override {
    log_->push_back({"gather", n, CommType::f64, root});
    for (long i = 0; i < n; ++i) out[i] = in[i], out[n + i] = other_[i];
  }
  [[noreturn]] void abort(int code) override { std::exit(code); }

 private:
  template <class F>
  static void put(void* data, long n, CommType type, F f) {
    for (long i = 0; i < n; ++i) {
      switch (type) {
        case CommType::f32: {
          float* p = static_cast<float*>(data);
          p[i] = float(f(i, p[i]));
          break;
        }
        case CommType::f64: {
          double* p = static_cast<double*>(data);
          p[i] = f(i, p[i]);
          break;
        }
        case CommType::u8: {
          uint8_t* p = static_cast<uint8_t*>(data);
          p[i] = uint8_t(f(i, p[i]));
          break;
        }
        case CommType::i32: {
          int32_t* p = static_cast<int32_t*>(data);
          p[i] = int32_t(f(i, p[i]));
          break;
        }
        case CommType::i64: {
          int64_t* p = static_cast<int64_t*>(data);
          p[i] = int64_t(f(i, double(p[i])));
          break;
        }
      }
    }
  }
  std::vector<double> other_;
  std::vector<Call>* log_;
};

TEST(Comm, TypedFrontPassesThroughTheBackend) {
  std::vector<TwoRankBackend::Call> log;
  Comm c(std::make_unique<TwoRankBackend>(std::vector<double>{10, 20, 30}, &log));
  EXPECT_EQ(c.size(), 2);
  EXPECT_TRUE(c.is_root());
  std::vector<float> g = {1, 2, 3};
  c.allreduce_mean(g.data(), 3);
  EXPECT_EQ(g, (std::vector<float>{5.5f, 11.0f, 16.5f}));
  std::vector<int64_t> k = {1, 1, 1};
  c.allreduce_sum(k.data(), 3);
  EXPECT_EQ(k, (std::vector<int64_t>{11, 21, 31}));
  std::vector<uint8_t> u = {0, 0};
  c.broadcast(u.data(), 2, 1);
  EXPECT_EQ(u, (std::vector<uint8_t>{10, 20}));
  c.allreduce_sum(g.data(), 0);  // nothing to move: no call
  c.barrier();
  const double mine[2] = {-1, -2};
  EXPECT_EQ(c.gather(mine, 2), (std::vector<double>{-1, -2, 10, 20}));
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0].what, "mean");
  EXPECT_EQ(log[0].type, CommType::f32);
  EXPECT_EQ(log[0].n, 3);
  EXPECT_EQ(log[1].what, "sum");
  EXPECT_EQ(log[1].type, CommType::i64);
  EXPECT_EQ(log[2].what, "broadcast");
  EXPECT_EQ(log[2].type, CommType::u8);
  EXPECT_EQ(log[2].root, 1);
  EXPECT_EQ(log[3].what, "barrier");
  EXPECT_EQ(log[4].what, "gather");
}

TEST(Comm, TensorsDispatchOnTheirDevice) {
  std::vector<TwoRankBackend::Call> host_log, device_log;
  Comm c(std::make_unique<TwoRankBackend>(std::vector<double>{4, 4}, &host_log));
  Tensor cpu = Tensor::zeros({2}, DType::f64);
  c.allreduce(cpu, ReduceOp::sum);
  EXPECT_EQ(cpu.data<double>()[1], 4.0);
  // A "device" tensor over host memory: the device backend gets it, the host backend does not.
  std::vector<float> mem = {2, 6};
  Tensor dev = Tensor::view(mem.data(), {2}, DType::f32, Device::cuda(0));
  EXPECT_FALSE(c.has_device_backend());
  c.set_device_backend(std::make_unique<TwoRankBackend>(std::vector<double>{0, 2}, &device_log));
  c.allreduce(dev, ReduceOp::mean);
  EXPECT_EQ(mem, (std::vector<float>{1, 4}));
  c.broadcast(dev, 1);
  EXPECT_EQ(mem, (std::vector<float>{0, 2}));
  EXPECT_EQ(host_log.size(), 1u);
  ASSERT_EQ(device_log.size(), 2u);
  EXPECT_EQ(device_log[0].what, "mean");
  EXPECT_EQ(device_log[1].root, 1);
  // A device backend must agree with the host on rank and size.
  EXPECT_NE(error_of([&] {
              c.set_device_backend(make_self_backend());
            }).find("device backend is rank 0 of 1, host is rank 0 of 2"),
            std::string::npos);
}

}  // namespace
}  // namespace relmimic
