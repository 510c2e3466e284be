// The RELMIMIC_CUDA_SYNC debug switch (kernels/cuda_types.h): its values, in every build.
#include <gtest/gtest.h>

#include <string>

#include "kernels/common.h"
#include "kernels/cuda_types.h"

namespace relmimic {
namespace {

TEST(CudaSyncSwitch, ParsesZeroOneAndUnset) {
  EXPECT_FALSE(kernels::parse_cuda_sync(nullptr));
  EXPECT_FALSE(kernels::parse_cuda_sync(""));
  EXPECT_FALSE(kernels::parse_cuda_sync("0"));
  EXPECT_TRUE(kernels::parse_cuda_sync("1"));
  for (const char* bad : {"yes", "2", "true", " 1"}) {
    try {
      kernels::parse_cuda_sync(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("RELMIMIC_CUDA_SYNC must be 0 or 1"), std::string::npos)
          << e.what();
    }
  }
}

TEST(CudaSyncSwitch, SetOverridesTheEnvironment) {
  const bool before = kernels::cuda_sync_launches();
  kernels::set_cuda_sync_launches(true);
  EXPECT_TRUE(kernels::cuda_sync_launches());
  kernels::set_cuda_sync_launches(false);
  EXPECT_FALSE(kernels::cuda_sync_launches());
  kernels::set_cuda_sync_launches(before);
}

}  // namespace
}  // namespace relmimic
