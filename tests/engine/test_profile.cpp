// The region registry of engine/profile.h on the wall clock: nothing is recorded while it is
// off; nested ranges become a tree keyed by path, with calls and times that add up; start()
// clears it; the CUDA clock says why it cannot run on a machine without a GPU.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "engine/profile.h"
#include "kernels/device.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

using relmimic::testing::error_of;

void busy_ms(double ms) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() <
         ms) {
  }
}

const profile::Region* find(const std::vector<profile::Region>& rs, const std::string& path) {
  for (const profile::Region& r : rs)
    if (r.path == path) return &r;
  return nullptr;
}

TEST(Profile, OffRecordsNothing) {
  profile::start(profile::Clock::wall);
  profile::stop();
  EXPECT_FALSE(profile::timing());
  {
    profile::ScopedRange r("ignored");
    busy_ms(0.1);
  }
  EXPECT_TRUE(profile::regions().empty());
}

TEST(Profile, NestedRangesFormATreeWithCallsAndTimes) {
  profile::start(profile::Clock::wall);
  EXPECT_TRUE(profile::timing());
  for (int i = 0; i < 3; ++i) {
    profile::ScopedRange outer("outer");
    {
      profile::ScopedRange a("a");
      busy_ms(2);
    }
    const int v = profile::in_range("b", [] {
      busy_ms(1);
      return 7;
    });
    EXPECT_EQ(v, 7);
    profile::ScopedRange early("a");  // same name, other parent: "outer > a" is reused
    busy_ms(0.5);
    early.end();
    early.end();  // a second end() does nothing
  }
  {
    profile::ScopedRange other("b");  // same name at the top: its own row
    busy_ms(1);
  }
  profile::stop();
  const std::vector<profile::Region> rs = profile::regions();
  ASSERT_EQ(rs.size(), 4u);
  // Depth first, children in first-opened order.
  EXPECT_EQ(rs[0].path, "outer");
  EXPECT_EQ(rs[1].path, "outer > a");
  EXPECT_EQ(rs[2].path, "outer > b");
  EXPECT_EQ(rs[3].path, "b");
  EXPECT_EQ(rs[1].name, "a");
  EXPECT_EQ(rs[0].depth, 0);
  EXPECT_EQ(rs[1].depth, 1);
  EXPECT_EQ(rs[3].depth, 0);
  EXPECT_EQ(rs[0].calls, 3);
  EXPECT_EQ(rs[1].calls, 6);
  EXPECT_EQ(rs[2].calls, 3);
  EXPECT_EQ(rs[3].calls, 1);
  EXPECT_GE(rs[1].ms, 3 * 2.5);
  EXPECT_GE(rs[2].ms, 3 * 1.0);
  EXPECT_GE(rs[3].ms, 1.0);
  // The children fit in the parent, which holds little else.
  EXPECT_LE(rs[1].ms + rs[2].ms, rs[0].ms);
  EXPECT_LT(rs[0].ms, rs[1].ms + rs[2].ms + 5.0);
}

TEST(Profile, StartClearsAndStopKeeps) {
  profile::start(profile::Clock::wall);
  { profile::ScopedRange r("first"); }
  profile::stop();
  { profile::ScopedRange r("after stop"); }
  std::vector<profile::Region> rs = profile::regions();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].path, "first");
  profile::start(profile::Clock::wall);
  { profile::ScopedRange r("second"); }
  profile::stop();
  rs = profile::regions();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].path, "second");
}

TEST(Profile, RangeOpenAcrossStartDoesNotLeakIntoTheNewRun) {
  profile::start(profile::Clock::wall);
  {
    profile::ScopedRange old("old run");
    profile::start(profile::Clock::wall);
    profile::ScopedRange fresh("new run");
  }
  profile::stop();
  const std::vector<profile::Region> rs = profile::regions();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].path, "new run") << "no parent from the previous run";
  EXPECT_EQ(rs[0].calls, 1);
}

TEST(Profile, OtherThreadsStartTheirOwnTree) {
  profile::start(profile::Clock::wall);
  {
    profile::ScopedRange main_range("main");
    std::thread t([] { profile::ScopedRange w("worker"); });
    t.join();
  }
  profile::stop();
  const std::vector<profile::Region> rs = profile::regions();
  EXPECT_NE(find(rs, "main"), nullptr);
  ASSERT_NE(find(rs, "worker"), nullptr) << "a worker's range is not nested in main's";
  EXPECT_EQ(find(rs, "worker")->calls, 1);
}

TEST(Profile, CudaClockWithoutAGpuSaysWhy) {
  if (kernels::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU (tests/gpu)";
  const std::string e = error_of([] { profile::start(profile::Clock::cuda_events); });
  EXPECT_NE(e.find("the CUDA-event clock needs a CUDA device: "), std::string::npos) << e;
  EXPECT_FALSE(profile::timing());
}

TEST(Profile, NvtxIsOffWithoutATool) {
  if (std::getenv("NVTX_INJECTION64_PATH") || std::getenv("RELMIMIC_NVTX"))
    GTEST_SKIP() << "an NVTX tool is attached";
  EXPECT_FALSE(profile::nvtx_active());
}

}  // namespace
}  // namespace relmimic
