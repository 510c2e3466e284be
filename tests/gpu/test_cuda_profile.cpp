// Region timing on the CUDA clock: events recorded on the stream around device work, resolved
// in profile::regions(); the times are finite, positive and nested ranges fit in their parent.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/profile.h"
#include "kernels/cuda_event.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using testing::DeviceBuffer;

TEST(CudaProfile, EventsTimeDeviceWork) {
  RM_REQUIRE_GPU();
  DeviceBuffer<float> buf(long(64) << 20);  // 256 MB: each clear takes well over a microsecond
  kernels::Event a = kernels::cuda_event_create(), b = kernels::cuda_event_create();
  kernels::cuda_event_record(a, nullptr);
  kernels::cuda_memset_zero(buf.get(), size_t(buf.size()) * sizeof(float));
  kernels::cuda_event_record(b, nullptr);
  const float ms = kernels::cuda_event_elapsed_ms(a, b);
  EXPECT_TRUE(std::isfinite(ms));
  EXPECT_GT(ms, 0.f);
  kernels::cuda_event_destroy(a);
  kernels::cuda_event_destroy(b);
}

TEST(CudaProfile, RegionsResolveAtTheEnd) {
  RM_REQUIRE_GPU();
  DeviceBuffer<float> buf(long(64) << 20);
  const size_t bytes = size_t(buf.size()) * sizeof(float);
  profile::start(profile::Clock::cuda_events);
  for (int i = 0; i < 3; ++i) {
    profile::ScopedRange outer("outer");
    {
      profile::ScopedRange inner("clear");
      kernels::cuda_memset_zero(buf.get(), bytes);
    }
    kernels::cuda_memset_zero(buf.get(), bytes);
  }
  profile::stop();
  const std::vector<profile::Region> rs = profile::regions();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].path, "outer");
  EXPECT_EQ(rs[1].path, "outer > clear");
  EXPECT_EQ(rs[0].calls, 3);
  EXPECT_EQ(rs[1].calls, 3);
  for (const profile::Region& r : rs) {
    EXPECT_TRUE(std::isfinite(r.ms)) << r.path;
    EXPECT_GT(r.ms, 0.0) << r.path;
  }
  EXPECT_LE(rs[1].ms, rs[0].ms) << "the inner clear is one of the outer range's two";
  // A second call finds nothing left to resolve and returns the same times.
  const std::vector<profile::Region> again = profile::regions();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].ms, rs[0].ms);
}

}  // namespace
}  // namespace relmimic
