// The host side of the device backend: the local rank read from the launcher's environment, the
// GPU each rank takes, which backend a run needs and the errors when it cannot have it (no GPU,
// no NCCL). The NCCL collectives themselves run in tests/gpu (one rank) and tests/mpi (two).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "engine/comm.h"
#include "kernels/device.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

using relmimic::testing::error_of;

// A fake environment for local_rank_from_env (a plain function pointer: no captures).
std::map<std::string, std::string>& fake_env() {
  static std::map<std::string, std::string> env;
  return env;
}
const char* fake_getenv(const char* name) {
  auto it = fake_env().find(name);
  return it == fake_env().end() ? nullptr : it->second.c_str();
}

TEST(DeviceComm, LocalRankComesFromTheLaunchersVariableInOrder) {
  fake_env().clear();
  EXPECT_EQ(local_rank_from_env(fake_getenv), 0) << "no launcher: rank 0";
  fake_env()["MPI_LOCALRANKID"] = "5";
  EXPECT_EQ(local_rank_from_env(fake_getenv), 5);
  fake_env()["SLURM_LOCALID"] = "3";
  EXPECT_EQ(local_rank_from_env(fake_getenv), 3) << "SLURM_LOCALID before MPI_LOCALRANKID";
  fake_env()["OMPI_COMM_WORLD_LOCAL_RANK"] = "1";
  EXPECT_EQ(local_rank_from_env(fake_getenv), 1) << "Open MPI's variable first";
  fake_env().clear();
}

TEST(DeviceComm, MalformedLocalRankNamesTheVariable) {
  for (const char* bad : {"", "x", "-1", "2a", "99999999999"}) {
    fake_env().clear();
    fake_env()["SLURM_LOCALID"] = bad;
    const std::string e = error_of([] { local_rank_from_env(fake_getenv); });
    EXPECT_NE(e.find("SLURM_LOCALID='" + std::string(bad) + "' is not a local rank"),
              std::string::npos)
        << "'" << bad << "': " << e;
  }
  fake_env().clear();
}

TEST(DeviceComm, LocalDeviceIsRoundRobin) {
  EXPECT_EQ(local_device(0, 4), 0);
  EXPECT_EQ(local_device(3, 4), 3);
  EXPECT_EQ(local_device(5, 4), 1);
  EXPECT_EQ(local_device(2, 1), 0);
  EXPECT_NE(error_of([] { local_device(1, 0); }).find("needs a CUDA device and there is none"),
            std::string::npos);
  EXPECT_NE(error_of([] { local_device(-1, 2); }).find("negative"), std::string::npos);
}

TEST(DeviceComm, ChoosesTheBackendARunNeeds) {
  // CPU tensors: no device backend, whatever the machine has.
  DeviceCommChoice c = device_comm_for(Device::cpu(), 4, 2, "no NCCL", 0);
  EXPECT_EQ(c.kind, DeviceComm::none);
  EXPECT_TRUE(c.device.is_cpu());
  // One rank on a GPU: the identity, no NCCL needed, the requested device kept.
  c = device_comm_for(Device::cuda(1), 1, 0, "no NCCL", 2);
  EXPECT_EQ(c.kind, DeviceComm::self);
  EXPECT_EQ(c.device, Device::cuda(1));
  // Several ranks: NCCL, each on its local GPU whatever index was asked for.
  c = device_comm_for(Device::cuda(0), 4, 3, "", 2);
  EXPECT_EQ(c.kind, DeviceComm::nccl);
  EXPECT_EQ(c.device, Device::cuda(1));
  c = device_comm_for(Device::cuda(0), 2, 1, "", 8);
  EXPECT_EQ(c.device, Device::cuda(1));
  EXPECT_STREQ(device_comm_name(DeviceComm::nccl), "nccl");
  EXPECT_STREQ(device_comm_name(DeviceComm::self), "self");
}

TEST(DeviceComm, RefusesWhatTheMachineOrBuildLacks) {
  EXPECT_NE(error_of([] {
              device_comm_for(Device::cuda(0), 1, 0, "", 0);
            }).find("cuda:0 requested, but this machine has no CUDA device"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              device_comm_for(Device::cuda(2), 1, 0, "", 2);
            }).find("cuda:2 requested, but this machine has 2 CUDA device(s)"),
            std::string::npos);
  const std::string e =
      error_of([] { device_comm_for(Device::cuda(0), 2, 0, "libnccl.so.2 missing", 2); });
  EXPECT_NE(e.find("2 learners on cuda:0 average their gradients with NCCL, which cannot run "
                   "here: libnccl.so.2 missing"),
            std::string::npos)
      << e;
  EXPECT_NE(error_of([] { device_comm_for(Device::cpu(), 0, 0, "", 1); }).find("world size 0"),
            std::string::npos);
}

TEST(DeviceComm, InstallOnTheCpuLeavesTheHostBackendAlone) {
  Comm c(make_self_backend());
  const DeviceCommChoice d = install_device_comm(c, Device::cpu());
  EXPECT_EQ(d.kind, DeviceComm::none);
  EXPECT_FALSE(c.has_device_backend());
}

TEST(DeviceComm, InstallOnAMissingGpuSaysSo) {
  if (kernels::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  Comm c(make_self_backend());
  const std::string e = error_of([&] { install_device_comm(c, Device::cuda(0)); });
  EXPECT_NE(e.find("this machine has no CUDA device"), std::string::npos) << e;
  EXPECT_FALSE(c.has_device_backend());
}

TEST(DeviceComm, NcclBackendWithoutNcclOrGpuSaysWhy) {
  Comm c(make_self_backend());
  const std::string e = error_of([&] { make_nccl_backend(c, 0); });
#ifndef RELMIMIC_WITH_NCCL
  EXPECT_FALSE(nccl_available());
  EXPECT_NE(nccl_missing_reason().find("built without NCCL"), std::string::npos);
  EXPECT_NE(e.find("the NCCL backend is not in this relmimic"), std::string::npos) << e;
#else
  EXPECT_EQ(nccl_available(), nccl_missing_reason().empty());
  if (kernels::cuda_device_count() == 0) {
    EXPECT_NE(e.find("NCCL backend: no CUDA device here"), std::string::npos) << e;
  } else if (!nccl_available()) {
    EXPECT_NE(e.find("cannot open NCCL"), std::string::npos) << e;
  } else {
    const std::string past = error_of([&] { make_nccl_backend(c, kernels::cuda_device_count()); });
    EXPECT_NE(past.find("is not one of the"), std::string::npos) << past;
  }
#endif
}

}  // namespace
}  // namespace relmimic
