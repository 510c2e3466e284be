// The agent-next-to-expert video: layout, the shorter video holding its last frame, captions.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "report/side_by_side.h"
#include "tests/test_util.h"

namespace relmimic::report {
namespace {

// n frames of size x size; frame i is filled with base + i.
std::vector<uint8_t> ramp(int n, int size, int base) {
  std::vector<uint8_t> v(size_t(n) * size * size);
  for (int i = 0; i < n; ++i)
    std::fill_n(v.begin() + ptrdiff_t(i) * size * size, size * size, uint8_t(base + i));
  return v;
}

TEST(SideBySide, PlacesBothVideosUnderTheirCaptionsAndHoldsTheShorterOnesLastFrame) {
  const int size = 16, nl = 5, nr = 3;
  const std::vector<uint8_t> l = ramp(nl, size, 10), r = ramp(nr, size, 100);
  const GrayVideo v = side_by_side(l.data(), nl, r.data(), nr, size, "agent", "expert");
  ASSERT_EQ(v.n, 5);
  EXPECT_EQ(v.width, 2 * size + 4);
  const int caption = v.height - size;
  EXPECT_EQ(caption, 7 + 4);  // scale 1 below size 96: 7 font rows + 2 px padding each side
  ASSERT_EQ(v.frames.size(), size_t(v.n) * v.height * v.width);
  for (int i = 0; i < v.n; ++i) {
    const uint8_t* f = v.frames.data() + size_t(i) * v.height * v.width;
    auto px = [&](int y, int x) { return int(f[size_t(y) * v.width + x]); };
    // Corners of each image area, and the black gap between them.
    EXPECT_EQ(px(caption, 0), 10 + i);
    EXPECT_EQ(px(v.height - 1, size - 1), 10 + i);
    EXPECT_EQ(px(caption, size + 4), 100 + std::min(i, nr - 1));
    EXPECT_EQ(px(v.height - 1, v.width - 1), 100 + std::min(i, nr - 1));
    for (int x = size; x < size + 4; ++x) EXPECT_EQ(px(caption + 3, x), 0);
  }
  // Captions: white text on black, on both halves, identical on every frame.
  int lit_left = 0, lit_right = 0;
  for (int y = 0; y < caption; ++y)
    for (int x = 0; x < v.width; ++x) {
      const int p = v.frames[size_t(y) * v.width + x];
      ASSERT_TRUE(p == 0 || p == 255) << "caption pixel " << p;
      (x < size ? lit_left : lit_right) += p == 255;
      EXPECT_EQ(p, v.frames[size_t(v.n - 1) * v.height * v.width + size_t(y) * v.width + x]);
    }
  EXPECT_GT(lit_left, 10);
  EXPECT_GT(lit_right, 10);
}

TEST(SideBySide, CaptionsScaleUpOnLargeFramesAndAreCutToTheirHalf) {
  const int size = 128;
  const std::vector<uint8_t> l = ramp(1, size, 0), r = ramp(2, size, 0);
  EXPECT_EQ(side_by_side(l.data(), 1, r.data(), 2, size, "agent 35", "expert 360").height - size,
            2 * 7 + 8);  // both fit at scale 2
  const GrayVideo v =
      side_by_side(l.data(), 1, r.data(), 2, size, std::string(100, 'W'), "expert 3600");
  EXPECT_EQ(v.n, 2);
  EXPECT_EQ(v.height - size, 7 + 4);  // too long for scale 2: scale 1, cut
  // The over-long left caption stops before the gap: the gap columns stay black.
  for (int y = 0; y < v.height - size; ++y)
    for (int x = size; x < size + 4; ++x) EXPECT_EQ(v.frames[size_t(y) * v.width + x], 0);
}

TEST(SideBySide, RejectsEmptyVideos) {
  const std::vector<uint8_t> l = ramp(1, 16, 0);
  EXPECT_NE(relmimic::testing::error_of([&] {
              side_by_side(l.data(), 1, l.data(), 0, 16, "a", "b");
            }).find("both videos need frames"),
            std::string::npos);
}

}  // namespace
}  // namespace relmimic::report
