// kernels::cpu_overlap: both sides run once, on two threads of one thread each where OpenMP has
// exactly 2 threads, in order on the caller otherwise; exceptions come back to the caller.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/overlap.h"

namespace relmimic {
namespace {

// Sets OpenMP's thread count for one test and restores it.
class OmpThreads {
 public:
  explicit OmpThreads(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~OmpThreads() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

struct Seen {
  std::thread::id thread;
  int max_threads = 0;
  int calls = 0;
};

TEST(CpuOverlap, TwoThreadsRunEachSideOnItsOwnThreadWithOneThreadInside) {
  const OmpThreads two(2);
  ASSERT_TRUE(kernels::cpu_overlap_possible());
  for (int round = 0; round < 3; ++round) {
    Seen a, b;
    kernels::cpu_overlap(
        [&] {
          a.thread = std::this_thread::get_id();
          a.max_threads = omp_get_max_threads();
          ++a.calls;
        },
        [&] {
          b.thread = std::this_thread::get_id();
          b.max_threads = omp_get_max_threads();
          ++b.calls;
        });
    EXPECT_EQ(a.calls, 1);
    EXPECT_EQ(b.calls, 1);
    EXPECT_NE(a.thread, b.thread);
    EXPECT_EQ(a.max_threads, 1);  // the kernels inside stay on their side's thread
    EXPECT_EQ(b.max_threads, 1);
  }
  EXPECT_EQ(omp_get_max_threads(), 2);  // the caller's setting is untouched
}

TEST(CpuOverlap, BothSidesReallyRunAtTheSameTime) {
  // Each side waits for the other to have started: sequential sides would wait forever, so the
  // wait is bounded and its outcome checked.
  const OmpThreads two(2);
  std::atomic<int> started{0};
  bool a_saw_b = false, b_saw_a = false;
  auto side = [&](bool& saw) {
    started.fetch_add(1);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 2 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::yield();
    saw = started.load() == 2;
  };
  kernels::cpu_overlap([&] { side(a_saw_b); }, [&] { side(b_saw_a); });
  EXPECT_TRUE(a_saw_b);
  EXPECT_TRUE(b_saw_a);
}

TEST(CpuOverlap, OneThreadOrANestedCallRunsBothInOrderOnTheCaller) {
  std::vector<std::string> order;
  const std::thread::id caller = std::this_thread::get_id();
  {
    const OmpThreads one(1);
    EXPECT_FALSE(kernels::cpu_overlap_possible());
    kernels::cpu_overlap(
        [&] {
          order.push_back("a");
          EXPECT_EQ(std::this_thread::get_id(), caller);
        },
        [&] {
          order.push_back("b");
          EXPECT_EQ(std::this_thread::get_id(), caller);
        });
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
  const OmpThreads four(4);
  EXPECT_FALSE(kernels::cpu_overlap_possible());  // more threads: the sides keep them all
  const OmpThreads two(2);
  int inner_calls = 0;
  bool nested_possible = true;
  kernels::cpu_overlap(
      [&] {
        nested_possible = kernels::cpu_overlap_possible();
        kernels::cpu_overlap([&] { ++inner_calls; }, [&] { ++inner_calls; });
      },
      [] {});
  EXPECT_FALSE(nested_possible);
  EXPECT_EQ(inner_calls, 2);
}

TEST(CpuOverlap, ExceptionsReachTheCallerAfterBothSidesFinished) {
  for (int threads : {1, 2}) {
    const OmpThreads t(threads);
    bool a_done = false;
    try {
      kernels::cpu_overlap([&] { a_done = true; }, [] { throw std::runtime_error("b failed"); });
      ADD_FAILURE() << "no exception with " << threads << " thread(s)";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "b failed");
    }
    EXPECT_TRUE(a_done);
    bool b_done = false;
    try {
      kernels::cpu_overlap([] { throw std::runtime_error("a failed"); },
                           [&] {
                             b_done = true;
                             throw std::runtime_error("b failed");
                           });
      ADD_FAILURE() << "no exception with " << threads << " thread(s)";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "a failed");  // a's first
    }
    // With one thread a's exception comes first and b still runs: both sides always run.
    EXPECT_TRUE(b_done);
  }
}

}  // namespace
}  // namespace relmimic
