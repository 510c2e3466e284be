// Row gathers and discriminator interpolates on the cpu (the CUDA versions are checked against
// these in tests/gpu/test_cuda_training.cpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/common.h"
#include "kernels/gather.h"

namespace relmimic {
namespace {

TEST(Gather, RowsFollowTheIndexRepeatsIncluded) {
  // 4 source rows of 3 bytes: row r holds r*10 + column.
  std::vector<uint8_t> src(12);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) src[size_t(r * 3 + c)] = uint8_t(r * 10 + c);
  const std::vector<int32_t> idx = {3, 0, 3, 1};
  std::vector<uint8_t> dst(12, 255);
  kernels::gather_rows_cpu(4, 3, idx.data(), src.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<uint8_t>{30, 31, 32, 0, 1, 2, 30, 31, 32, 10, 11, 12}));
}

TEST(Gather, NegativeIndexOrSizeIsRefusedByName) {
  std::vector<uint8_t> src(4), dst(4);
  const std::vector<int32_t> idx = {0, -1};
  EXPECT_THROW(kernels::gather_rows_cpu(2, 2, idx.data(), src.data(), dst.data()), Error);
  try {
    kernels::gather_rows_cpu(-1, 2, idx.data(), src.data(), dst.data());
    ADD_FAILURE() << "negative rows accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gather_rows_cpu"), std::string::npos) << e.what();
  }
  kernels::gather_rows_cpu(0, 2, nullptr, nullptr, nullptr);  // nothing to do
}

TEST(Gather, InterpolatesMixAgentAndExpertPerSample) {
  const std::vector<uint8_t> a = {255, 0, 100, 200}, e = {0, 255, 50, 0};
  const std::vector<double> eps = {1.0, 0.25};
  std::vector<double> x(4);
  kernels::interpolate_frames_cpu(2, 2, eps.data(), a.data(), e.data(), x.data());
  EXPECT_DOUBLE_EQ(x[0], 1.0);  // eps 1: the agent's pixel
  EXPECT_DOUBLE_EQ(x[1], 0.0);
  EXPECT_DOUBLE_EQ(x[2], (0.25 * 100 + 0.75 * 50) / 255.0);
  EXPECT_DOUBLE_EQ(x[3], (0.25 * 200) / 255.0);
}

}  // namespace
}  // namespace relmimic
