// The NCCL device backend on one rank: a one-rank communicator made through the host backend,
// whose collectives on device buffers give what the host computes (the buffer itself for one
// rank), through the backend and through Comm's tensor overloads. Skips without NCCL or a GPU;
// two ranks: tests/mpi/test_nccl_mpi.cpp.
#include <gtest/gtest.h>

#include <vector>

#include "engine/comm.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using testing::DeviceBuffer;

#define RM_REQUIRE_NCCL()                                                        \
  do {                                                                           \
    if (!nccl_available()) GTEST_SKIP() << "no NCCL: " << nccl_missing_reason(); \
  } while (0)

std::vector<float> ramp(int n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[size_t(i)] = scale * float(i) - 3.25f;
  return v;
}

TEST(CudaNccl, OneRankCollectivesMatchTheHost) {
  RM_REQUIRE_GPU();
  RM_REQUIRE_NCCL();
  Comm host(make_self_backend());
  std::unique_ptr<CommBackend> nccl = make_nccl_backend(host, 0);
  EXPECT_STREQ(nccl->name(), "nccl");
  EXPECT_EQ(nccl->size(), 1);
  EXPECT_EQ(nccl->rank(), 0);

  // The host result of each collective over one rank is the buffer itself.
  const std::vector<float> f = ramp(1000, 0.5f);
  DeviceBuffer<float> df(f);
  nccl->allreduce(df.get(), df.size(), CommType::f32, ReduceOp::mean);  // ncclAvg
  EXPECT_EQ(df.download(), f);
  nccl->allreduce(df.get(), df.size(), CommType::f32, ReduceOp::sum);
  EXPECT_EQ(df.download(), f);
  const std::vector<double> d = {1.5, -2.25, 1e300, 0.0};
  DeviceBuffer<double> dd(d);
  nccl->allreduce(dd.get(), dd.size(), CommType::f64, ReduceOp::mean);
  EXPECT_EQ(dd.download(), d);
  const std::vector<int32_t> i = {7, -8, 1 << 30};
  DeviceBuffer<int32_t> di(i);
  nccl->broadcast(di.get(), di.size(), CommType::i32, 0);
  EXPECT_EQ(di.download(), i);
  DeviceBuffer<double> out(long(d.size()));
  out.poison();
  nccl->gather(dd.get(), dd.size(), out.get(), 0);
  EXPECT_EQ(out.download(), d);
  nccl->barrier();
  EXPECT_THROW(nccl->allreduce(di.get(), di.size(), CommType::i32, ReduceOp::mean), Error);
  EXPECT_THROW(nccl->broadcast(di.get(), di.size(), CommType::i32, 1), Error);
}

TEST(CudaNccl, CommTensorsGoThroughTheInstalledBackend) {
  RM_REQUIRE_GPU();
  RM_REQUIRE_NCCL();
  Comm c(make_self_backend());
  Tensor t = Tensor::zeros({4, 5}, DType::f32, Device::cuda(0));
  EXPECT_THROW(c.allreduce(t, ReduceOp::mean), Error) << "no device backend yet";
  const DeviceCommChoice choice = install_device_comm(c, Device::cuda(0));
  EXPECT_EQ(choice.kind, DeviceComm::self) << "one rank needs no NCCL";
  EXPECT_TRUE(c.has_device_backend());
  const std::vector<float> h = ramp(20, 0.25f);
  kernels::cuda_memcpy(t.raw(), h.data(), h.size() * sizeof(float),
                       kernels::CopyKind::HostToDevice);
  c.allreduce(t, ReduceOp::mean);
  c.broadcast(t, 0);
  std::vector<float> back(h.size());
  kernels::cuda_memcpy(back.data(), t.raw(), back.size() * sizeof(float),
                       kernels::CopyKind::DeviceToHost);
  EXPECT_EQ(back, h);
  // The NCCL backend installs into the same seam.
  c.set_device_backend(make_nccl_backend(c, 0));
  c.allreduce(t, ReduceOp::sum);
  kernels::cuda_memcpy(back.data(), t.raw(), back.size() * sizeof(float),
                       kernels::CopyKind::DeviceToHost);
  EXPECT_EQ(back, h);
}

}  // namespace
}  // namespace relmimic
