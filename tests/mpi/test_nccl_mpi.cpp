// Two learners averaging gradients in GPU memory through NCCL, as the imitation loop will on
// GPUs: the NCCL backend installed on each rank's local GPU, a device buffer of different values
// per rank averaged with ncclAvg, the result the same on both ranks and equal to the host mean;
// broadcast and gather on device buffers. Skips (on every rank alike) without NCCL or with fewer
// GPUs than ranks.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/comm.h"
#include "kernels/device.h"

namespace relmimic {
namespace {

bool all_ranks_ok(bool ok) {
  int32_t bad = ok ? 0 : 1;
  Comm::world().allreduce_sum(&bad, 1);
  return bad == 0;
}

template <class T>
std::vector<T> download(const Tensor& t) {
  std::vector<T> h(size_t(t.numel()));
  kernels::cuda_memcpy(h.data(), t.raw(), h.size() * sizeof(T), kernels::CopyKind::DeviceToHost);
  return h;
}

template <class T>
void upload(Tensor& t, const std::vector<T>& h) {
  kernels::cuda_memcpy(t.raw(), h.data(), h.size() * sizeof(T), kernels::CopyKind::HostToDevice);
}

TEST(NcclMpi, AveragedDeviceGradientsAreEqualOnBothRanks) {
  Comm& c = Comm::world();
  ASSERT_EQ(c.size(), 2) << "run under mpirun -np 2";
  if (!nccl_available()) GTEST_SKIP() << "no NCCL (" << nccl_missing_reason() << ")";
  const int gpus = kernels::cuda_device_count();
  if (gpus < c.size())
    GTEST_SKIP() << "NCCL with " << c.size() << " ranks needs a GPU per rank; this machine has "
                 << gpus << " (" << kernels::cuda_device_description(0) << ")";

  // Comm::world() is shared by the tests of this program: a communicator of its own.
  Comm comm(make_mpi_backend());
  const DeviceCommChoice choice = install_device_comm(comm, Device::cuda(0));
  ASSERT_EQ(choice.kind, DeviceComm::nccl);
  ASSERT_TRUE(comm.has_device_backend());
  const int r = comm.rank();
  EXPECT_TRUE(all_ranks_ok(choice.device.index == local_device(local_rank_from_env(), gpus)));

  // Rank-dependent gradients; the exact mean of two floats is representable here.
  const int n = 4097;
  std::vector<float> g(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) g[size_t(i)] = float(i % 97) * 0.5f + float(r + 1) * 0.25f;
  Tensor t = Tensor::zeros({n}, DType::f32, choice.device);
  upload(t, g);
  comm.allreduce(t, ReduceOp::mean);
  const std::vector<float> mean = download<float>(t);
  bool ok = true;
  for (int i = 0; i < n; ++i) ok = ok && mean[size_t(i)] == float(i % 97) * 0.5f + 0.375f;
  EXPECT_TRUE(all_ranks_ok(ok)) << "rank " << r << ": device mean differs from the host mean";
  // Bit-identical on both ranks: rank 0's copy sent over the host backend.
  std::vector<float> root = mean;
  comm.broadcast(root.data(), n, 0);
  EXPECT_TRUE(all_ranks_ok(root == mean)) << "rank " << r << ": ranks disagree after the mean";

  // Sum of doubles and a broadcast of int32 from rank 1.
  Tensor d = Tensor::zeros({3}, DType::f64, choice.device);
  upload(d, std::vector<double>{double(r), 1.5, -double(r) * 4});
  comm.allreduce(d, ReduceOp::sum);
  EXPECT_TRUE(all_ranks_ok(download<double>(d) == std::vector<double>{1.0, 3.0, -4.0}));
  Tensor k = Tensor::zeros({2}, DType::i32, choice.device);
  upload(k, std::vector<int32_t>{10 * r + 1, 10 * r + 2});
  comm.broadcast(k, 1);
  EXPECT_TRUE(all_ranks_ok(download<int32_t>(k) == std::vector<int32_t>{11, 12}));
  comm.barrier();
}

}  // namespace
}  // namespace relmimic
