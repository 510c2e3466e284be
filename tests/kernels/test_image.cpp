#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common.h"
#include "kernels/image.h"

using namespace relmimic;
using namespace relmimic::kernels;

TEST(Image, StandardizeScalesEveryValue) {
  std::vector<uint8_t> x = {0, 1, 127, 128, 254, 255};
  std::vector<float> yf(x.size());
  std::vector<double> yd(x.size());
  standardize_cpu<float>(long(x.size()), x.data(), yf.data(), 1.0f / 255.0f);
  standardize_cpu<double>(long(x.size()), x.data(), yd.data(), 1.0 / 255.0);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_FLOAT_EQ(yf[i], x[i] / 255.0f) << i;
    EXPECT_DOUBLE_EQ(yd[i], x[i] / 255.0) << i;
  }
  EXPECT_EQ(yf.back(), 1.0f);
  EXPECT_EQ(yd.front(), 0.0);
}

TEST(Image, GrayUsesRec601WeightsAndRounds) {
  // One pixel per row so the expected value of each is easy to state.
  const uint8_t rgb[] = {
      255, 255, 255,  // white -> 255
      0,   0,   0,    // black -> 0
      255, 0,   0,    // 76.245 -> 76
      0,   255, 0,    // 149.685 -> 150
      0,   0,   255,  // 29.07 -> 29
      10,  20,  30,   // 2.99 + 11.74 + 3.42 = 18.15 -> 18
      100, 150, 200,  // 29.9 + 88.05 + 22.8 = 140.75 -> 141
  };
  const int h = 7;
  uint8_t gray[h];
  rgb_to_gray_cpu(h, 1, rgb, gray, false);
  const uint8_t expect[h] = {255, 0, 76, 150, 29, 18, 141};
  for (int i = 0; i < h; ++i) EXPECT_EQ(gray[i], expect[i]) << "row " << i;
}

TEST(Image, GrayMatchesFloatFormulaOnAllChannelMixes) {
  // A grid of colours: each gray value is round(0.299R + 0.587G + 0.114B).
  std::vector<uint8_t> rgb;
  for (int r = 0; r < 256; r += 5)
    for (int g = 0; g < 256; g += 7)
      for (int b = 0; b < 256; b += 11) rgb.insert(rgb.end(), {uint8_t(r), uint8_t(g), uint8_t(b)});
  int n = int(rgb.size() / 3);
  std::vector<uint8_t> gray(n);
  rgb_to_gray_cpu(1, n, rgb.data(), gray.data(), false);
  for (int i = 0; i < n; ++i) {
    // Y in thousandths, exact: gray must be the nearest integer, halves rounded up.
    long y1000 = 299L * rgb[3 * i] + 587L * rgb[3 * i + 1] + 114L * rgb[3 * i + 2];
    long g1000 = 1000L * gray[i];
    ASSERT_TRUE(g1000 - 500 <= y1000 && y1000 < g1000 + 500)
        << "pixel " << i << ": Y*1000 = " << y1000 << ", gray = " << int(gray[i]);
  }
}

TEST(Image, GrayFlipReversesRows) {
  const int h = 3, w = 2;
  std::vector<uint8_t> rgb(h * w * 3);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int ch = 0; ch < 3; ++ch) rgb[(r * w + c) * 3 + ch] = uint8_t(10 * r + c);
  std::vector<uint8_t> up(h * w), down(h * w);
  rgb_to_gray_cpu(h, w, rgb.data(), up.data(), false);
  rgb_to_gray_cpu(h, w, rgb.data(), down.data(), true);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      EXPECT_EQ(up[r * w + c], 10 * r + c);
      EXPECT_EQ(down[(h - 1 - r) * w + c], 10 * r + c);
    }
}

TEST(Image, StackResetRepeatsThenPushShiftsOldestOut) {
  const int k = 4;
  const long fs = 3;
  std::vector<uint8_t> stack(k * fs, 99);
  const uint8_t f0[fs] = {1, 2, 3}, f1[fs] = {4, 5, 6}, f2[fs] = {7, 8, 9};
  stack_push_cpu(k, fs, f0, stack.data(), true);
  EXPECT_EQ(stack, (std::vector<uint8_t>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
  stack_push_cpu(k, fs, f1, stack.data(), false);
  EXPECT_EQ(stack, (std::vector<uint8_t>{1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 5, 6}));
  stack_push_cpu(k, fs, f2, stack.data(), false);
  EXPECT_EQ(stack, (std::vector<uint8_t>{1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  stack_push_cpu(k, fs, f0, stack.data(), true);
  EXPECT_EQ(stack, (std::vector<uint8_t>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
}

TEST(Image, StackOfOneKeepsOnlyNewest) {
  uint8_t stack[2] = {0, 0};
  const uint8_t a[2] = {1, 2}, b[2] = {3, 4};
  stack_push_cpu(1, 2, a, stack, true);
  stack_push_cpu(1, 2, b, stack, false);
  EXPECT_EQ(stack[0], 3);
  EXPECT_EQ(stack[1], 4);
}

TEST(Image, BadSizesThrow) {
  uint8_t buf[4] = {};
  EXPECT_THROW(rgb_to_gray_cpu(0, 2, buf, buf, false), Error);
  EXPECT_THROW(stack_push_cpu(0, 2, buf, buf, false), Error);
  EXPECT_THROW(stack_push_cpu(2, 0, buf, buf, false), Error);
}

// Each window moves by its own (dy, dx), its k frames together, with the edges replicated; a
// shift of the whole size or more leaves every pixel the nearest edge's.
TEST(Image, ShiftWindowsMovesEachWindowWithEdgesReplicated) {
  const int n = 4, k = 2, h = 5, w = 7;
  std::vector<uint8_t> x(size_t(n) * k * h * w);
  for (size_t i = 0; i < x.size(); ++i) x[i] = uint8_t(i * 7 + 3);
  const std::vector<int32_t> shifts = {0, 0, 2, -3, -1, 1, 9, -8};
  std::vector<uint8_t> y(x.size(), 0);
  shift_windows_cpu(n, k, h, w, shifts.data(), x.data(), y.data());
  for (int b = 0; b < n; ++b)
    for (int f = 0; f < k; ++f)
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j) {
          const int si = std::clamp(i + shifts[size_t(2 * b)], 0, h - 1);
          const int sj = std::clamp(j + shifts[size_t(2 * b + 1)], 0, w - 1);
          const size_t frame = (size_t(b) * k + size_t(f)) * h * w;
          ASSERT_EQ(y[frame + size_t(i * w + j)], x[frame + size_t(si * w + sj)])
              << "window " << b << " frame " << f << " at " << i << "," << j;
        }
  // Window 0 (no shift) is a copy; window 3 (9, -8) is the bottom-left pixel everywhere.
  EXPECT_TRUE(std::equal(y.begin(), y.begin() + k * h * w, x.begin()));
  const size_t last = size_t(3) * k * h * w;
  EXPECT_EQ(y[last], x[last + size_t((h - 1) * w)]);
  EXPECT_EQ(y[last + size_t(h * w - 1)], x[last + size_t((h - 1) * w)]);
  EXPECT_THROW(shift_windows_cpu(1, 0, h, w, shifts.data(), x.data(), y.data()), Error);
}
